#include "store/lease_keeper.hpp"

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

void LeaseKeeper::tick() {
  if (id_ == 0 || ended_ || Clock::now() < next_due()) return;
  const Clock::time_point asked_at = Clock::now();
  const EtcdLease renewed = kv_.keep_alive(id_);
  if (!renewed.ok) return;  // tried again at the next tick; lost() tells when it is too late
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
