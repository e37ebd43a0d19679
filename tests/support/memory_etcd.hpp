// One etcd's key space in memory, for tests of what is built on EtcdTxnKv: revisions,
// transactions with conditions on a key or a range, puts (with a lease), deletes and ranges
// in a branch that reads its own writes, and leases that end when revoked or when their TTL
// passes without a keep-alive. The same tests run it and a real cluster
// (tests/e2e/etcd_txn_e2e_test.cpp), so that it answers as etcd does. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "store/etcd_txn_kv.hpp"

namespace count::test {

class MemoryEtcd final : public EtcdTxnKv {
 public:
  EtcdTransacted transact(const EtcdTransaction& transaction) override;
  EtcdTransacted read_ranges(const std::vector<EtcdOperation>& ranges,
                             std::int64_t at_revision = 0) override;
  EtcdLease grant_lease(std::int64_t ttl_seconds) override;
  EtcdLease keep_alive(std::int64_t id) override;
  bool revoke_lease(std::int64_t id, std::string* error) override;
  std::string where() const override { return "memory"; }

  // Ends a lease now, as its TTL passing would (its keys deleted).
  void expire(std::int64_t id);
  std::int64_t revision() const;

  // Faults, for the stores' tests. What the next transaction that is sent (not refused
  // before sending) meets:
  enum class Fault {
    kNone,
    kUnreachable,  // kFailedNotSent: no member answered; nothing applied
    kLostAnswer,   // applied, but the answer is lost: kUnknown
    kDropped,      // never applied: kUnknown
    kDelayed,      // kUnknown now; applied later, by apply_delayed() (its conditions judged
                   // then, as a transaction waiting in a raft log)
  };
  void fault_next(Fault fault);
  // While set, every call fails as kUnreachable does (reads too).
  void set_unreachable(bool unreachable);
  // Applies the transaction kDelayed held back; false when there is none.
  bool apply_delayed();

 private:
  using Clock = std::chrono::steady_clock;
  struct Lease {
    std::int64_t ttl = 0;
    Clock::time_point expires;
  };
  // Under mutex_.
  void expire_due();
  void end_lease(std::int64_t id);
  bool holds(const EtcdCondition& condition) const;
  std::vector<EtcdKeyValue> range(const std::string& key, const std::string& range_end) const;
  // The same as it was at `revision`, from the history.
  std::vector<EtcdKeyValue> range_at(const std::string& key, const std::string& range_end,
                                     std::int64_t revision) const;
  // Records a key's new state (nullopt: deleted) at `revision`.
  void remember(const std::string& key, std::optional<EtcdKeyValue> kv, std::int64_t revision);

  // Under mutex_: the transaction's outcome, without faults.
  EtcdTransacted apply(const EtcdTransaction& transaction);

  mutable std::mutex mutex_;
  Fault next_fault_ = Fault::kNone;
  bool unreachable_ = false;
  std::optional<EtcdTransaction> delayed_;
  std::int64_t revision_ = 1;  // etcd starts at 1
  std::map<std::string, EtcdKeyValue> keys_;
  // Every state each key has had, oldest first, with the revision it began at (no
  // compaction: etcd's default).
  std::map<std::string, std::vector<std::pair<std::int64_t, std::optional<EtcdKeyValue>>>> history_;
  std::map<std::int64_t, Lease> leases_;
  std::int64_t next_lease_ = 0x1000;
};

}  // namespace count::test
