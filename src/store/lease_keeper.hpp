// One front end's etcd lease (docs/scale-out.md: its alive key lives on it), kept alive from
// the thread that calls tick(), the round thread between rounds: granted by start(), renewed
// once a third of its TTL has passed since the last renewal, and known to be lost when etcd
// says it ended or when no renewal succeeded for a whole TTL (etcd may have ended it: every
// key on it, and every transaction that puts with it, is then gone or refused).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "store/etcd_txn_kv.hpp"

namespace count {

class LeaseKeeper {
 public:
  using Clock = std::chrono::steady_clock;

  LeaseKeeper(EtcdTxnKv& kv, std::chrono::seconds ttl) : kv_(kv), ttl_(ttl) {}

  // Grants a new lease (after a lost one too); false, with `error`, when etcd did not.
  bool start(std::string* error = nullptr);
  // Renews the lease when due; a call that is not due does nothing. A renewal that etcd did
  // not answer is tried again kRetryPause later.
  void tick();
  // Renews now, due or not: after etcd refused a transaction, to learn whether the lease
  // ended.
  void check();
  // When tick() has work next.
  Clock::time_point next_due() const;
  static constexpr std::chrono::milliseconds kRetryPause{250};
  // The lease, or 0 before start() succeeded.
  std::int64_t id() const { return id_; }
  // Ended, or possibly ended: start() again, under a new ID.
  bool lost() const;
  // Ends it now (its keys are deleted); best effort.
  void revoke();

 private:
  EtcdTxnKv& kv_;
  std::chrono::seconds ttl_;
  std::int64_t id_ = 0;
  bool ended_ = false;
  Clock::time_point renewed_at_{};  // of the last grant or renewal etcd confirmed
  Clock::time_point failed_at_{};   // of the last renewal etcd did not answer
};

}  // namespace count
