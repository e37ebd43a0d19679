// The etcd client's general transactions and leases against a real three-member cluster,
// and the same tests against MemoryEtcd, which must answer as etcd does: conditions on one
// key and on every key of a prefix, a branch that reads its own writes, deletes, what is
// refused before sending, and keys bound to a lease that end with it. Each test has its own
// cluster; every loop is bounded in calls and in time.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "store/etcd_client.hpp"
#include "store/etcd_txn_kv.hpp"
#include "support/etcd_cluster.hpp"
#include "support/memory_etcd.hpp"

namespace count {
namespace {

using namespace std::chrono_literals;
using test::EtcdCluster;
using Clock = std::chrono::steady_clock;

EtcdOperation put(std::string key, std::string value, std::int64_t lease = 0) {
  return {EtcdOperation::Kind::kPut, std::move(key), "", std::move(value), lease};
}
EtcdOperation range(std::string key, std::string range_end = "") {
  return {EtcdOperation::Kind::kRange, std::move(key), std::move(range_end), "", 0};
}
EtcdOperation remove(std::string key, std::string range_end = "") {
  return {EtcdOperation::Kind::kDelete, std::move(key), std::move(range_end), "", 0};
}
EtcdOperation prefix(const std::string& key) { return range(key, etcd_prefix_end(key)); }

// "key=value" for each key a Range returned, in order.
std::vector<std::string> shown(const std::vector<EtcdKeyValue>& kvs) {
  std::vector<std::string> out;
  for (const EtcdKeyValue& kv : kvs) out.push_back(kv.key + "=" + kv.value);
  return out;
}

std::vector<std::string> read_prefix(EtcdTxnKv& client, const std::string& key) {
  const EtcdTransacted read = client.read_ranges({prefix(key)});
  EXPECT_EQ(read.status, TransactStatus::kThen) << read.error;
  return read.ranges.empty() ? std::vector<std::string>{} : shown(read.ranges[0]);
}

// The real cluster (through EtcdClient), or the one in memory.
class EtcdTxn : public ::testing::TestWithParam<std::string> {
 protected:
  EtcdTxn() {
    if (GetParam() == "cluster") {
      cluster_ = std::make_unique<EtcdCluster>();
      kv_ = std::make_unique<EtcdClientTxnKv>(
          EtcdClientOptions{.endpoints = cluster_->endpoints(), .timeout = 5s});
    } else {
      kv_ = std::make_unique<test::MemoryEtcd>();
    }
  }
  EtcdTxnKv& kv() { return *kv_; }

 private:
  std::unique_ptr<EtcdCluster> cluster_;
  std::unique_ptr<EtcdTxnKv> kv_;
};

INSTANTIATE_TEST_SUITE_P(Etcd, EtcdTxn, ::testing::Values("cluster", "memory"),
                         [](const ::testing::TestParamInfo<std::string>& etcd) {
                           return etcd.param;
                         });

TEST_P(EtcdTxn, ABranchReadsItsOwnWritesAtTheRevisionItCommits) {
  EtcdTxnKv& client = kv();
  EtcdTransaction setup;
  setup.then = {put("c/part/a", "5"), put("c/part/b", "7"), put("c/grant/a", "g")};
  const EtcdTransacted first = client.transact(setup);
  ASSERT_EQ(first.status, TransactStatus::kThen) << first.error;
  ASSERT_EQ(first.ranges.size(), 3U);

  // As a front end's round would: its grant unchanged, put its part, read every part.
  EtcdTransaction round;
  round.conditions = {{"c/grant/a", "", EtcdCondition::Target::kModRevision,
                       EtcdCondition::Relation::kEqual, first.revision, ""}};
  round.then = {put("c/part/a", "9"), prefix("c/part/")};
  round.otherwise = {range("c/grant/a")};
  const EtcdTransacted committed = client.transact(round);
  ASSERT_EQ(committed.status, TransactStatus::kThen) << committed.error;
  EXPECT_EQ(committed.revision, first.revision + 1);
  ASSERT_EQ(committed.ranges.size(), 2U);
  EXPECT_TRUE(committed.ranges[0].empty());
  EXPECT_EQ(shown(committed.ranges[1]), (std::vector<std::string>{"c/part/a=9", "c/part/b=7"}));
  EXPECT_EQ(committed.ranges[1][0].mod_revision, committed.revision);
  EXPECT_EQ(committed.ranges[1][0].version, 2);

  // The grant moved: the same round now takes the other branch and changes nothing.
  EtcdTransaction regrant;
  regrant.then = {put("c/grant/a", "g2")};
  ASSERT_EQ(client.transact(regrant).status, TransactStatus::kThen);
  round.then = {put("c/part/a", "100"), prefix("c/part/")};
  const EtcdTransacted refused = client.transact(round);
  ASSERT_EQ(refused.status, TransactStatus::kOtherwise) << refused.error;
  ASSERT_EQ(refused.ranges.size(), 1U);
  EXPECT_EQ(shown(refused.ranges[0]), std::vector<std::string>{"c/grant/a=g2"});
  EXPECT_EQ(read_prefix(client, "c/part/"), (std::vector<std::string>{"c/part/a=9", "c/part/b=7"}));
}

TEST_P(EtcdTxn, AConditionOnAPrefixHoldsOnlyWhileNoKeyOfItChanged) {
  EtcdTxnKv& client = kv();
  EtcdTransaction setup;
  setup.then = {put("c/grant/a", "1"), put("c/grant/b", "2"), put("c/other", "x")};
  const EtcdTransacted written = client.transact(setup);
  ASSERT_EQ(written.status, TransactStatus::kThen) << written.error;

  const auto unchanged_since = [](std::int64_t revision) {
    EtcdTransaction freeze;
    freeze.conditions = {{"c/grant/", etcd_prefix_end("c/grant/"),
                          EtcdCondition::Target::kModRevision, EtcdCondition::Relation::kLess,
                          revision + 1, ""}};
    freeze.then = {put("c/frozen", std::to_string(revision))};
    return freeze;
  };
  // A key outside the prefix changing does not matter.
  EtcdTransaction outside;
  outside.then = {put("c/other", "y")};
  ASSERT_EQ(client.transact(outside).status, TransactStatus::kThen);
  EXPECT_EQ(client.transact(unchanged_since(written.revision)).status, TransactStatus::kThen);
  // One key of the prefix changing does.
  EtcdTransaction inside;
  inside.then = {put("c/grant/b", "3")};
  const EtcdTransacted moved = client.transact(inside);
  ASSERT_EQ(moved.status, TransactStatus::kThen);
  EXPECT_EQ(client.transact(unchanged_since(written.revision)).status, TransactStatus::kOtherwise);
  EXPECT_EQ(client.transact(unchanged_since(moved.revision)).status, TransactStatus::kThen);
  // A prefix with no key at all compares as one key whose revisions are 0.
  const auto empty_prefix = [](EtcdCondition::Relation relation, std::int64_t revision) {
    EtcdTransaction empty;
    empty.conditions = {{"c/none/", etcd_prefix_end("c/none/"), EtcdCondition::Target::kModRevision,
                         relation, revision, ""}};
    return empty;
  };
  EXPECT_EQ(client.transact(empty_prefix(EtcdCondition::Relation::kEqual, 0)).status,
            TransactStatus::kThen);
  EXPECT_EQ(client.transact(empty_prefix(EtcdCondition::Relation::kLess, 1)).status,
            TransactStatus::kThen);
  EXPECT_EQ(client.transact(empty_prefix(EtcdCondition::Relation::kEqual, 12345)).status,
            TransactStatus::kOtherwise);
}

TEST_P(EtcdTxn, TheRevisionMovesWithEveryWriteAndOnlyThen) {
  EtcdTxnKv& client = kv();
  const auto at = [&] {
    const EtcdTransacted read = client.read_ranges({range("x")});
    EXPECT_EQ(read.status, TransactStatus::kThen) << read.error;
    return read;
  };
  const std::int64_t r0 = at().revision;
  EXPECT_EQ(at().revision, r0);
  EtcdTransaction only_reads;
  only_reads.conditions = {
      {"x", "", EtcdCondition::Target::kVersion, EtcdCondition::Relation::kGreater, 5, ""}};
  only_reads.otherwise = {range("x")};
  EXPECT_EQ(client.transact(only_reads).status, TransactStatus::kOtherwise);
  EXPECT_EQ(at().revision, r0);

  EtcdTransaction write;
  write.then = {put("x", "1")};
  EXPECT_EQ(client.transact(write).revision, r0 + 1);
  EXPECT_EQ(client.transact(write).revision, r0 + 2);  // the same value: a write all the same
  EtcdTransacted read = at();
  ASSERT_EQ(read.ranges.at(0).size(), 1U);
  EXPECT_EQ(read.ranges[0][0].create_revision, r0 + 1);
  EXPECT_EQ(read.ranges[0][0].mod_revision, r0 + 2);
  EXPECT_EQ(read.ranges[0][0].version, 2);

  EtcdTransaction erase;
  erase.then = {remove("x")};
  EXPECT_EQ(client.transact(erase).revision, r0 + 3);
  EXPECT_EQ(client.transact(erase).revision, r0 + 3);  // nothing to delete: no write
  EXPECT_EQ(client.transact(write).revision, r0 + 4);
  read = at();
  ASSERT_EQ(read.ranges.at(0).size(), 1U);
  EXPECT_EQ(read.ranges[0][0].create_revision, r0 + 4);  // created anew
  EXPECT_EQ(read.ranges[0][0].version, 1);
}

// How a front end recovers the total at the revision of a transaction whose answer was lost.
TEST_P(EtcdTxn, APastRevisionShowsTheKeysAsTheyWere) {
  EtcdTxnKv& client = kv();
  EtcdTransaction first;
  first.then = {put("c/part/a", "1"), put("c/part/b", "10")};
  const std::int64_t r1 = client.transact(first).revision;
  EtcdTransaction second;
  second.then = {put("c/part/a", "2"), remove("c/part/b"), put("c/part/c", "5")};
  const std::int64_t r2 = client.transact(second).revision;
  EtcdTransaction third;
  third.then = {put("c/part/a", "3")};
  const std::int64_t r3 = client.transact(third).revision;
  ASSERT_EQ(r2, r1 + 1);
  ASSERT_EQ(r3, r2 + 1);

  const auto at = [&](std::int64_t revision) {
    const EtcdTransacted read = client.read_ranges({prefix("c/part/")}, revision);
    EXPECT_EQ(read.status, TransactStatus::kThen) << read.error;
    EXPECT_EQ(read.revision, r3);  // the header: the current revision
    return read.ranges.empty() ? std::vector<std::string>{} : shown(read.ranges[0]);
  };
  EXPECT_TRUE(at(r1 - 1).empty());
  EXPECT_EQ(at(r1), (std::vector<std::string>{"c/part/a=1", "c/part/b=10"}));
  EXPECT_EQ(at(r2), (std::vector<std::string>{"c/part/a=2", "c/part/c=5"}));
  EXPECT_EQ(at(r3), (std::vector<std::string>{"c/part/a=3", "c/part/c=5"}));
  EXPECT_EQ(at(0), at(r3));
  // A revision still to come is refused, saying so.
  const EtcdTransacted future = client.read_ranges({prefix("c/part/")}, r3 + 100);
  EXPECT_EQ(future.status, TransactStatus::kFailedNotSent);
  EXPECT_NE(future.error.find("future revision"), std::string::npos) << future.error;
}

TEST_P(EtcdTxn, DeletesCountWhatTheyRemoved) {
  EtcdTxnKv& client = kv();
  EtcdTransaction setup;
  setup.then = {put("c/part/a", "1"), put("c/part/b", "2"), put("c/base", "10")};
  ASSERT_EQ(client.transact(setup).status, TransactStatus::kThen);
  // Folding a part into the base: one transaction.
  EtcdTransaction fold;
  fold.conditions = {
      {"c/part/a", "", EtcdCondition::Target::kValue, EtcdCondition::Relation::kEqual, 0, "1"}};
  fold.then = {put("c/base", "11"), remove("c/part/a"), remove("c/missing"), prefix("c/")};
  const EtcdTransacted folded = client.transact(fold);
  ASSERT_EQ(folded.status, TransactStatus::kThen) << folded.error;
  ASSERT_EQ(folded.deleted.size(), 4U);
  EXPECT_EQ(folded.deleted[1], 1);
  EXPECT_EQ(folded.deleted[2], 0);
  EXPECT_EQ(shown(folded.ranges[3]), (std::vector<std::string>{"c/base=11", "c/part/b=2"}));
  EtcdTransaction all;
  all.then = {remove("c/", etcd_prefix_end("c/"))};
  const EtcdTransacted removed = client.transact(all);
  ASSERT_EQ(removed.status, TransactStatus::kThen);
  EXPECT_EQ(removed.deleted[0], 2);
  EXPECT_TRUE(read_prefix(client, "c/").empty());
}

TEST_P(EtcdTxn, WhatEtcdWouldRefuseIsNotSent) {
  EtcdTxnKv& client = kv();
  EtcdTransaction twice;
  twice.then = {put("c/a", "1"), put("c/a", "2")};
  EXPECT_EQ(client.transact(twice).status, TransactStatus::kFailedNotSent);
  EtcdTransaction empty_key;
  empty_key.otherwise = {put("", "1")};
  EXPECT_EQ(client.transact(empty_key).status, TransactStatus::kFailedNotSent);
  EtcdTransaction ranged_put;
  ranged_put.then = {{EtcdOperation::Kind::kPut, "c/a", "c/b", "1", 0}};
  EXPECT_EQ(client.transact(ranged_put).status, TransactStatus::kFailedNotSent);
  EXPECT_EQ(client.read_ranges({put("c/a", "1")}).status, TransactStatus::kFailedNotSent);
  EXPECT_TRUE(read_prefix(client, "c/").empty());
}

TEST_P(EtcdTxn, KeysOnALeaseEndWithItAndAnEndedLeaseTakesNoMore) {
  EtcdTxnKv& client = kv();
  const EtcdLease lease = client.grant_lease(30);
  ASSERT_TRUE(lease.ok) << lease.error;
  EXPECT_GE(lease.ttl, 30);
  EtcdTransaction alive;
  alive.then = {put("c/alive/a", "a", lease.id), put("c/part/a", "5")};
  ASSERT_EQ(client.transact(alive).status, TransactStatus::kThen);
  const EtcdTransacted read = client.read_ranges({range("c/alive/a")});
  ASSERT_EQ(read.ranges.at(0).size(), 1U);
  EXPECT_EQ(read.ranges[0][0].lease, lease.id);

  const EtcdLease renewed = client.keep_alive(lease.id);
  ASSERT_TRUE(renewed.ok) << renewed.error;
  EXPECT_GT(renewed.ttl, 0);

  ASSERT_TRUE(client.revoke_lease(lease.id, nullptr));
  EXPECT_EQ(read_prefix(client, "c/"), std::vector<std::string>{"c/part/a=5"});
  const EtcdLease gone = client.keep_alive(lease.id);
  ASSERT_TRUE(gone.ok) << gone.error;
  EXPECT_EQ(gone.ttl, 0);
  EXPECT_TRUE(client.revoke_lease(lease.id, nullptr));  // again: already ended

  // A transaction that puts with an ended lease is not applied, none of it.
  EtcdTransaction late;
  late.then = {put("c/alive/a", "a", lease.id), put("c/part/a", "6")};
  EXPECT_NE(client.transact(late).status, TransactStatus::kThen);
  EXPECT_EQ(read_prefix(client, "c/"), std::vector<std::string>{"c/part/a=5"});
}

TEST_P(EtcdTxn, ALeaseNotKeptAliveEndsByItself) {
  EtcdTxnKv& client = kv();
  const EtcdLease lease = client.grant_lease(3);
  ASSERT_TRUE(lease.ok) << lease.error;
  EtcdTransaction alive;
  alive.then = {put("c/alive/a", "a", lease.id)};
  ASSERT_EQ(client.transact(alive).status, TransactStatus::kThen);
  // Its TTL, what etcd may add to it (it grants at least its minimum), and a busy machine.
  const auto deadline = Clock::now() + std::chrono::seconds(lease.ttl) + 10s;
  std::vector<std::string> keys = read_prefix(client, "c/");
  for (int i = 0; i < 200 && !keys.empty() && Clock::now() < deadline; ++i) {
    std::this_thread::sleep_for(100ms);
    keys = read_prefix(client, "c/");
  }
  EXPECT_TRUE(keys.empty());
  EXPECT_EQ(client.keep_alive(lease.id).ttl, 0);
}

}  // namespace
}  // namespace count
