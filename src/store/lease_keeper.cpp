#include "store/lease_keeper.hpp"

#include <algorithm>

namespace count {

bool LeaseKeeper::start(std::string* error) {
  // Taken before the call: the lease's TTL runs from when etcd granted it, at most this late.
  const Clock::time_point asked_at = Clock::now();
  const EtcdLease lease = kv_.grant_lease(ttl_.count());
  if (!lease.ok) {
    if (error != nullptr) *error = lease.error;
    return false;
  }
  id_ = lease.id;
  ended_ = false;
  renewed_at_ = asked_at;
  return true;
}

LeaseKeeper::Clock::time_point LeaseKeeper::next_due() const {
  if (id_ == 0 || ended_) return Clock::time_point::max();  // nothing to renew
  return std::max(renewed_at_ + ttl_ / 3, failed_at_ + kRetryPause);
}

void LeaseKeeper::tick() {
  if (Clock::now() >= next_due()) check();
}

void LeaseKeeper::check() {
  if (id_ == 0 || ended_) return;
  const Clock::time_point asked_at = Clock::now();
  const EtcdLease renewed = kv_.keep_alive(id_);
  if (!renewed.ok) {  // tried again later; lost() tells when it is too late
    failed_at_ = Clock::now();
    return;
  }
  if (renewed.ttl <= 0) {
    ended_ = true;
    return;
  }
  renewed_at_ = asked_at;
}

bool LeaseKeeper::lost() const { return id_ == 0 || ended_ || Clock::now() >= renewed_at_ + ttl_; }

void LeaseKeeper::revoke() {
  if (id_ == 0) return;
  kv_.revoke_lease(id_, nullptr);
  ended_ = true;
}

}  // namespace count
