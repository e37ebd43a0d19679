#include "support/memory_etcd.hpp"

#include <algorithm>
#include <set>
#include <utility>

namespace count::test {
namespace {

bool in_range(const std::string& key, const std::string& begin, const std::string& end) {
  if (end.empty()) return key == begin;
  if (end == std::string(1, '\0')) return key >= begin;  // every key from `begin` on
  return key >= begin && key < end;
}

template <typename T>
bool compare(const T& a, EtcdCondition::Relation relation, const T& b) {
  switch (relation) {
    case EtcdCondition::Relation::kEqual:
      return a == b;
    case EtcdCondition::Relation::kNotEqual:
      return a != b;
    case EtcdCondition::Relation::kLess:
      return a < b;
    case EtcdCondition::Relation::kGreater:
      return a > b;
  }
  return false;
}

bool holds_for(const EtcdKeyValue& kv, bool exists, const EtcdCondition& condition) {
  switch (condition.target) {
    case EtcdCondition::Target::kModRevision:
      return compare(kv.mod_revision, condition.relation, condition.number);
    case EtcdCondition::Target::kCreateRevision:
      return compare(kv.create_revision, condition.relation, condition.number);
    case EtcdCondition::Target::kVersion:
      return compare(kv.version, condition.relation, condition.number);
    case EtcdCondition::Target::kValue:
      return exists && compare(kv.value, condition.relation, condition.value);
  }
  return false;
}

EtcdLease unreachable_lease() {
  EtcdLease lease;
  lease.error = "UNAVAILABLE: no etcd member could be reached";
  return lease;
}

}  // namespace

std::vector<EtcdKeyValue> MemoryEtcd::range(const std::string& key,
                                            const std::string& range_end) const {
  std::vector<EtcdKeyValue> out;
  for (auto it = keys_.lower_bound(key); it != keys_.end(); ++it) {
    if (!in_range(it->first, key, range_end)) break;
    out.push_back(it->second);
  }
  return out;
}

bool MemoryEtcd::holds(const EtcdCondition& condition) const {
  const std::vector<EtcdKeyValue> matched = range(condition.key, condition.range_end);
  // No key: compared as one whose revisions and version are 0 (never a value).
  if (matched.empty()) return holds_for(EtcdKeyValue{}, false, condition);
  for (const EtcdKeyValue& kv : matched) {
    if (!holds_for(kv, true, condition)) return false;
  }
  return true;
}

void MemoryEtcd::end_lease(std::int64_t id) {
  if (leases_.erase(id) == 0) return;
  const std::int64_t next = revision_ + 1;
  bool deleted = false;
  for (auto it = keys_.begin(); it != keys_.end();) {
    if (it->second.lease == id) {
      remember(it->first, std::nullopt, next);
      it = keys_.erase(it);
      deleted = true;
    } else {
      ++it;
    }
  }
  if (deleted) revision_ = next;
}

void MemoryEtcd::remember(const std::string& key, std::optional<EtcdKeyValue> kv,
                          std::int64_t revision) {
  history_[key].emplace_back(revision, std::move(kv));
}

std::vector<EtcdKeyValue> MemoryEtcd::range_at(const std::string& key, const std::string& range_end,
                                               std::int64_t revision) const {
  std::vector<EtcdKeyValue> out;
  for (auto it = history_.lower_bound(key); it != history_.end(); ++it) {
    if (!in_range(it->first, key, range_end)) break;
    const std::optional<EtcdKeyValue>* state = nullptr;
    for (const auto& [began, kv] : it->second) {
      if (began > revision) break;
      state = &kv;
    }
    if (state != nullptr && state->has_value()) out.push_back(**state);
  }
  return out;
}

void MemoryEtcd::expire_due() {
  const Clock::time_point now = Clock::now();
  std::vector<std::int64_t> due;
  for (const auto& [id, lease] : leases_) {
    if (lease.expires <= now) due.push_back(id);
  }
  for (const std::int64_t id : due) end_lease(id);
}

EtcdTransacted MemoryEtcd::transact(const EtcdTransaction& transaction) {
  const std::lock_guard lock(mutex_);
  expire_due();
  const Fault fault = std::exchange(next_fault_, Fault::kNone);
  EtcdTransacted unknown;
  unknown.status = TransactStatus::kUnknown;
  unknown.error = "DEADLINE_EXCEEDED: the answer did not come";
  if (unreachable_ || fault == Fault::kUnreachable) {
    EtcdTransacted refused;
    refused.status = TransactStatus::kFailedNotSent;
    refused.error = "no etcd member could be connected to";
    return refused;
  }
  switch (fault) {
    case Fault::kLostAnswer: {
      const EtcdTransacted applied = apply(transaction);
      if (applied.status == TransactStatus::kFailedNotSent) return applied;
      return unknown;
    }
    case Fault::kDropped:
      return unknown;
    case Fault::kDelayed:
      delayed_ = transaction;
      return unknown;
    case Fault::kNone:
    case Fault::kUnreachable:
      break;
  }
  return apply(transaction);
}

void MemoryEtcd::fault_next(Fault fault) {
  const std::lock_guard lock(mutex_);
  next_fault_ = fault;
}

void MemoryEtcd::set_unreachable(bool unreachable) {
  const std::lock_guard lock(mutex_);
  unreachable_ = unreachable;
}

bool MemoryEtcd::apply_delayed() {
  const std::lock_guard lock(mutex_);
  if (!delayed_) return false;
  const EtcdTransaction transaction = std::move(*delayed_);
  delayed_.reset();
  expire_due();
  apply(transaction);
  return true;
}

EtcdTransacted MemoryEtcd::apply(const EtcdTransaction& transaction) {
  EtcdTransacted result;
  // What etcd refuses before sending (the client's checks), in either branch.
  for (const std::vector<EtcdOperation>* branch : {&transaction.then, &transaction.otherwise}) {
    std::set<std::string> puts;
    for (const EtcdOperation& op : *branch) {
      if (op.key.empty() || (op.kind == EtcdOperation::Kind::kPut &&
                             (!op.range_end.empty() || !puts.insert(op.key).second))) {
        result.status = TransactStatus::kFailedNotSent;
        result.error = "not sent: refused";
        return result;
      }
    }
  }
  bool all = true;
  for (const EtcdCondition& condition : transaction.conditions) all = all && holds(condition);
  const std::vector<EtcdOperation>& branch = all ? transaction.then : transaction.otherwise;
  // etcd checks the leases of the branch it runs, before applying any of it: "requested
  // lease not found", an answer that is not OK, which the client reports as unknown.
  for (const EtcdOperation& op : branch) {
    if (op.kind == EtcdOperation::Kind::kPut && op.lease != 0 && leases_.count(op.lease) == 0) {
      result.status = TransactStatus::kUnknown;
      result.error = "NOT_FOUND: etcdserver: requested lease not found";
      return result;
    }
  }
  const std::int64_t next = revision_ + 1;
  bool changed = false;
  result.ranges.assign(branch.size(), {});
  result.deleted.assign(branch.size(), 0);
  for (std::size_t i = 0; i < branch.size(); ++i) {
    const EtcdOperation& op = branch[i];
    switch (op.kind) {
      case EtcdOperation::Kind::kRange:
        result.ranges[i] = range(op.key, op.range_end);
        break;
      case EtcdOperation::Kind::kPut: {
        EtcdKeyValue& kv = keys_[op.key];
        if (kv.key.empty()) {
          kv.key = op.key;
          kv.create_revision = next;
          kv.version = 0;
        }
        kv.value = op.value;
        kv.mod_revision = next;
        ++kv.version;
        kv.lease = op.lease;
        remember(op.key, kv, next);
        changed = true;
        break;
      }
      case EtcdOperation::Kind::kDelete: {
        for (const EtcdKeyValue& kv : range(op.key, op.range_end)) {
          remember(kv.key, std::nullopt, next);
          keys_.erase(kv.key);
          ++result.deleted[i];
          changed = true;
        }
        break;
      }
    }
  }
  if (changed) revision_ = next;
  result.status = all ? TransactStatus::kThen : TransactStatus::kOtherwise;
  result.revision = revision_;
  return result;
}

EtcdTransacted MemoryEtcd::read_ranges(const std::vector<EtcdOperation>& ranges,
                                       std::int64_t at_revision) {
  EtcdTransacted result;
  result.status = TransactStatus::kFailedNotSent;
  const std::lock_guard lock(mutex_);
  if (unreachable_) {
    result.error = "UNAVAILABLE: no etcd member could be reached";
    return result;
  }
  for (const EtcdOperation& op : ranges) {
    if (op.kind != EtcdOperation::Kind::kRange || op.key.empty()) {
      result.error = "not sent: a read of ranges holds ranges of non-empty keys only";
      return result;
    }
  }
  expire_due();
  if (at_revision > revision_) {
    result.error = "OUT_OF_RANGE: etcdserver: mvcc: required revision is a future revision";
    return result;
  }
  // A read meets no fault meant for a transaction.
  for (const EtcdOperation& op : ranges) {
    result.ranges.push_back(at_revision > 0 ? range_at(op.key, op.range_end, at_revision)
                                            : range(op.key, op.range_end));
  }
  result.deleted.assign(ranges.size(), 0);
  result.status = TransactStatus::kThen;
  result.revision = revision_;
  return result;
}

EtcdLease MemoryEtcd::grant_lease(std::int64_t ttl_seconds) {
  const std::lock_guard lock(mutex_);
  expire_due();
  if (unreachable_) return unreachable_lease();
  EtcdLease lease;
  lease.ok = true;
  lease.id = next_lease_++;
  lease.ttl = ttl_seconds;
  leases_[lease.id] = {ttl_seconds, Clock::now() + std::chrono::seconds(ttl_seconds)};
  return lease;
}

EtcdLease MemoryEtcd::keep_alive(std::int64_t id) {
  const std::lock_guard lock(mutex_);
  expire_due();
  if (unreachable_) return unreachable_lease();
  EtcdLease lease;
  lease.ok = true;
  lease.id = id;
  const auto it = leases_.find(id);
  if (it == leases_.end()) return lease;  // ttl 0: ended
  it->second.expires = Clock::now() + std::chrono::seconds(it->second.ttl);
  lease.ttl = it->second.ttl;
  return lease;
}

bool MemoryEtcd::revoke_lease(std::int64_t id, std::string* error) {
  const std::lock_guard lock(mutex_);
  expire_due();
  if (unreachable_) {
    if (error != nullptr) *error = "UNAVAILABLE: no etcd member could be reached";
    return false;
  }
  end_lease(id);
  return true;
}

void MemoryEtcd::expire(std::int64_t id) {
  const std::lock_guard lock(mutex_);
  end_lease(id);
}

std::int64_t MemoryEtcd::revision() const {
  const std::lock_guard lock(mutex_);
  return revision_;
}

}  // namespace count::test
