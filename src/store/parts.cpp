#include "store/parts.hpp"

#include <fmt/core.h>

#include <charconv>

namespace count {
namespace {

EtcdOperation put(std::string key, std::string value, std::int64_t lease = 0) {
  return {EtcdOperation::Kind::kPut, std::move(key), "", std::move(value), lease};
}

EtcdOperation remove(std::string key) {
  return {EtcdOperation::Kind::kDelete, std::move(key), "", "", 0};
}

EtcdCondition not_changed_since(std::string key, std::string range_end, std::int64_t revision) {
  return {std::move(key),
          std::move(range_end),
          EtcdCondition::Target::kModRevision,
          EtcdCondition::Relation::kLess,
          revision + 1,
          ""};
}

// Two decimal numbers separated by one space, each in its one spelling.
template <typename First, typename Second>
bool decode_pair(std::string_view bytes, First& first, Second& second) {
  const std::size_t space = bytes.find(' ');
  if (space == std::string_view::npos) return false;
  const std::string_view a = bytes.substr(0, space);
  const std::string_view b = bytes.substr(space + 1);
  const auto [end_a, error_a] = std::from_chars(a.data(), a.data() + a.size(), first);
  const auto [end_b, error_b] = std::from_chars(b.data(), b.data() + b.size(), second);
  return !a.empty() && !b.empty() && error_a == std::errc{} && error_b == std::errc{} &&
         end_a == a.data() + a.size() && end_b == b.data() + b.size() &&
         fmt::format("{} {}", first, second) == bytes;
}

}  // namespace

PartsKeys::PartsKeys(std::string key)
    : base_(std::move(key)),
      children_(base_ + "/"),
      children_end_(etcd_prefix_end(children_)),
      part_prefix_(children_ + "part/"),
      grant_prefix_(children_ + "grant/"),
      alive_prefix_(children_ + "alive/"),
      folded_(children_ + "folded") {}

std::vector<EtcdOperation> PartsKeys::read_all() const {
  return {{EtcdOperation::Kind::kRange, base_, "", "", 0},
          {EtcdOperation::Kind::kRange, children_, children_end_, "", 0}};
}

std::string encode_part(std::int64_t value, std::uint64_t txn) {
  return fmt::format("{} {}", value, txn);
}

std::optional<PartValue> decode_part(std::string_view bytes) {
  PartValue part;
  if (!decode_pair(bytes, part.value, part.txn)) return std::nullopt;
  return part;
}

std::string encode_grant(Grant grant) { return fmt::format("{} {}", grant.lo, grant.hi); }

std::optional<Grant> decode_grant(std::string_view bytes) {
  Grant grant;
  if (!decode_pair(bytes, grant.lo, grant.hi) || grant.lo > grant.hi) return std::nullopt;
  return grant;
}

std::int64_t PartsState::total() const { return total_of(base, escrow_view()).value_or(0); }

std::uint64_t PartsState::version() const {
  std::uint64_t version = folded;
  for (const auto& [id, record] : front_ends) version += record.part.txn;
  return version;
}

const PartRecord* PartsState::find(std::string_view id) const {
  const auto it = front_ends.find(std::string(id));
  return it == front_ends.end() ? nullptr : &it->second;
}

std::vector<PartState> PartsState::escrow_view(std::string_view caller) const {
  std::vector<PartState> parts;
  parts.reserve(front_ends.size() + 1);
  bool caller_seen = caller.empty();
  for (const auto& [id, record] : front_ends) {
    const bool is_caller = !caller.empty() && id == caller;
    caller_seen = caller_seen || is_caller;
    parts.push_back({id, record.part.value, record.grant, record.alive || is_caller});
  }
  if (!caller_seen) parts.push_back({std::string(caller), 0, std::nullopt, true});
  return parts;
}

std::optional<PartsState> parse_parts(const PartsKeys& keys, std::int64_t revision,
                                      const std::vector<EtcdKeyValue>& base,
                                      const std::vector<EtcdKeyValue>& children,
                                      std::string* error) {
  const auto refuse = [&](const std::string& what) -> std::optional<PartsState> {
    if (error != nullptr) *error = what;
    return std::nullopt;
  };
  PartsState state;
  state.revision = revision;
  if (!base.empty()) {
    const std::optional<std::int64_t> value = decode_counter(base.front().value);
    if (!value)
      return refuse(fmt::format("{} holds bytes that are not a count-server value", keys.base()));
    state.base = *value;
    state.base_mod_revision = base.front().mod_revision;
  }
  const std::string part = keys.part("");
  const std::string grant = keys.grant("");
  const std::string alive = keys.alive("");
  const std::string old_record = keys.children() + "front-end/";
  for (const EtcdKeyValue& kv : children) {
    const std::string_view key = kv.key;
    if (key.starts_with(part)) {
      const std::optional<PartValue> value = decode_part(kv.value);
      if (!value) return refuse(fmt::format("{} holds bytes that are not a part", kv.key));
      PartRecord& record = state.front_ends[std::string(key.substr(part.size()))];
      record.part = *value;
      record.part_mod_revision = kv.mod_revision;
    } else if (key.starts_with(grant)) {
      const std::optional<Grant> value = decode_grant(kv.value);
      if (!value) return refuse(fmt::format("{} holds bytes that are not a grant", kv.key));
      PartRecord& record = state.front_ends[std::string(key.substr(grant.size()))];
      record.grant = *value;
      record.grant_mod_revision = kv.mod_revision;
    } else if (key.starts_with(alive)) {
      state.front_ends[std::string(key.substr(alive.size()))].alive = true;
    } else if (key == keys.folded()) {
      const auto [end, failed] =
          std::from_chars(kv.value.data(), kv.value.data() + kv.value.size(), state.folded);
      if (failed != std::errc{} || end != kv.value.data() + kv.value.size() ||
          fmt::format("{}", state.folded) != kv.value) {
        return refuse(fmt::format("{} holds bytes that are not a count", kv.key));
      }
    } else if (key.starts_with(old_record)) {
      state.old_records.push_back(kv.key);
    }
  }
  if (!total_of(state.base, state.escrow_view())) {
    return refuse(fmt::format("the parts of {} add up past the 64-bit range", keys.base()));
  }
  return state;
}

EtcdTransaction fast_path(const PartsKeys& keys, std::string_view id,
                          std::int64_t grant_mod_revision, PartValue part, std::int64_t lease) {
  EtcdTransaction transaction;
  transaction.conditions = {{keys.grant(id), "", EtcdCondition::Target::kModRevision,
                             EtcdCondition::Relation::kEqual, grant_mod_revision, ""}};
  // The lease key too: with a lease that has ended, none of it is applied.
  transaction.then = {put(keys.part(id), encode_part(part.value, part.txn)),
                      put(keys.alive(id), "", lease)};
  for (EtcdOperation& read : keys.read_all()) transaction.then.push_back(std::move(read));
  transaction.otherwise = keys.read_all();
  return transaction;
}

EtcdTransaction freeze(const PartsKeys& keys, const PartsState& frozen_from) {
  EtcdTransaction transaction;
  transaction.conditions = {not_changed_since(
      keys.grant_prefix(), etcd_prefix_end(keys.grant_prefix()), frozen_from.revision)};
  for (const auto& [id, record] : frozen_from.front_ends) {
    if (record.grant) transaction.then.push_back(put(keys.grant(id), encode_grant(*record.grant)));
  }
  for (EtcdOperation& read : keys.read_all()) transaction.then.push_back(std::move(read));
  transaction.otherwise = keys.read_all();
  return transaction;
}

EtcdTransaction rebalance_transaction(const PartsKeys& keys, const PartsState& frozen,
                                      const Rebalanced& rebalanced, std::string_view caller,
                                      std::uint64_t txn, std::int64_t lease) {
  EtcdTransaction transaction;
  transaction.conditions = {
      not_changed_since(keys.base(), "", frozen.revision),
      not_changed_since(keys.children(), keys.children_end(), frozen.revision)};
  transaction.then.push_back(put(keys.base(), encode_counter(rebalanced.base)));
  for (const auto& [id, grant] : rebalanced.grants) {
    const auto record = frozen.front_ends.find(id);
    const std::uint64_t kept = record == frozen.front_ends.end() ? 0 : record->second.part.txn;
    transaction.then.push_back(put(keys.part(id), encode_part(0, id == caller ? txn : kept)));
    transaction.then.push_back(put(keys.grant(id), encode_grant(grant)));
  }
  transaction.then.push_back(put(keys.alive(caller), "", lease));
  std::uint64_t folded = frozen.folded;
  for (const std::string& id : rebalanced.folded) {
    if (const PartRecord* record = frozen.find(id)) folded += record->part.txn;
    transaction.then.push_back(remove(keys.part(id)));
    transaction.then.push_back(remove(keys.grant(id)));
  }
  if (folded != frozen.folded) transaction.then.push_back(put(keys.folded(), fmt::format("{}", folded)));
  for (const std::string& old : frozen.old_records) transaction.then.push_back(remove(old));
  for (EtcdOperation& read : keys.read_all()) transaction.then.push_back(std::move(read));
  transaction.otherwise = keys.read_all();
  return transaction;
}

}  // namespace count
