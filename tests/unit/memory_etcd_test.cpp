// MemoryEtcd's faults, which the stores' tests use to reach every outcome a real cluster can
// give: an answer lost after the transaction applied, a transaction dropped, one applied late
// (its conditions judged then), and no member reachable. (Its answers without faults are held
// to a real cluster's by tests/e2e/etcd_txn_e2e_test.cpp.)
#include "support/memory_etcd.hpp"

#include <gtest/gtest.h>

namespace count {
namespace {

using test::MemoryEtcd;

EtcdTransaction put_if_unchanged(const std::string& value, std::int64_t mod_revision) {
  EtcdTransaction transaction;
  transaction.conditions = {{"k", "", EtcdCondition::Target::kModRevision,
                             EtcdCondition::Relation::kEqual, mod_revision, ""}};
  transaction.then = {{EtcdOperation::Kind::kPut, "k", "", value, 0}};
  return transaction;
}

std::string value_of(MemoryEtcd& etcd) {
  const EtcdTransacted read = etcd.read_ranges({{EtcdOperation::Kind::kRange, "k", "", "", 0}});
  EXPECT_EQ(read.status, TransactStatus::kThen);
  return read.ranges.at(0).empty() ? "(none)" : read.ranges[0][0].value;
}

TEST(MemoryEtcdFaults, ALostAnswerHidesATransactionThatApplied) {
  MemoryEtcd etcd;
  etcd.fault_next(MemoryEtcd::Fault::kLostAnswer);
  EXPECT_EQ(etcd.transact(put_if_unchanged("1", 0)).status, TransactStatus::kUnknown);
  EXPECT_EQ(value_of(etcd), "1");
  // The fault was for one transaction only.
  EXPECT_EQ(etcd.transact(put_if_unchanged("2", etcd.revision())).status, TransactStatus::kThen);
  EXPECT_EQ(value_of(etcd), "2");
}

TEST(MemoryEtcdFaults, ADroppedTransactionNeverApplies) {
  MemoryEtcd etcd;
  etcd.fault_next(MemoryEtcd::Fault::kDropped);
  EXPECT_EQ(etcd.transact(put_if_unchanged("1", 0)).status, TransactStatus::kUnknown);
  EXPECT_EQ(value_of(etcd), "(none)");
  EXPECT_FALSE(etcd.apply_delayed());
}

TEST(MemoryEtcdFaults, ADelayedTransactionIsJudgedWhenItApplies) {
  MemoryEtcd etcd;
  etcd.fault_next(MemoryEtcd::Fault::kDelayed);
  EXPECT_EQ(etcd.transact(put_if_unchanged("late", 0)).status, TransactStatus::kUnknown);
  EXPECT_EQ(value_of(etcd), "(none)");
  EXPECT_TRUE(etcd.apply_delayed());
  EXPECT_EQ(value_of(etcd), "late");

  // Held back while another write moves the key: its condition fails when it applies.
  const std::int64_t at = etcd.revision();
  etcd.fault_next(MemoryEtcd::Fault::kDelayed);
  EXPECT_EQ(etcd.transact(put_if_unchanged("stale", at)).status, TransactStatus::kUnknown);
  EXPECT_EQ(etcd.transact(put_if_unchanged("won", at)).status, TransactStatus::kThen);
  EXPECT_TRUE(etcd.apply_delayed());
  EXPECT_EQ(value_of(etcd), "won");
}

TEST(MemoryEtcdFaults, WhileUnreachableNothingIsSentOrRead) {
  MemoryEtcd etcd;
  etcd.set_unreachable(true);
  EXPECT_EQ(etcd.transact(put_if_unchanged("1", 0)).status, TransactStatus::kFailedNotSent);
  EXPECT_EQ(etcd.read_ranges({{EtcdOperation::Kind::kRange, "k", "", "", 0}}).status,
            TransactStatus::kFailedNotSent);
  EXPECT_FALSE(etcd.grant_lease(10).ok);
  EXPECT_FALSE(etcd.keep_alive(1).ok);
  std::string error;
  EXPECT_FALSE(etcd.revoke_lease(1, &error));
  EXPECT_FALSE(error.empty());
  etcd.set_unreachable(false);
  EXPECT_EQ(value_of(etcd), "(none)");
  // One unreachable attempt, then served again.
  etcd.fault_next(MemoryEtcd::Fault::kUnreachable);
  EXPECT_EQ(etcd.transact(put_if_unchanged("1", 0)).status, TransactStatus::kFailedNotSent);
  EXPECT_EQ(etcd.transact(put_if_unchanged("1", 0)).status, TransactStatus::kThen);
}

TEST(MemoryEtcdFaults, AReadMeetsNoFaultMeantForATransaction) {
  MemoryEtcd etcd;
  etcd.fault_next(MemoryEtcd::Fault::kDropped);
  EXPECT_EQ(value_of(etcd), "(none)");
  EXPECT_EQ(etcd.transact(put_if_unchanged("1", 0)).status, TransactStatus::kUnknown);
  EXPECT_EQ(value_of(etcd), "(none)");
}

}  // namespace
}  // namespace count
