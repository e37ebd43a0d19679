// A counter kept over etcd as a base and one part per front end (docs/scale-out.md): the keys,
// what each holds, the state read back from them, and the three transactions that change
// them. Only the key and the bytes: the arithmetic is escrow.hpp's, the calls EtcdClient's.
//
//   KEY               the base: a count-server value (the single key of earlier versions,
//                     read unchanged)
//   KEY/part/ID       front end ID's part: "VALUE TXN", TXN the number of the last of its
//                     transactions that wrote it (how it learns whether an unknown one landed)
//   KEY/grant/ID      the interval its part may take: "LO HI"
//   KEY/alive/ID      empty, on the front end's lease: gone with it
//   KEY/folded        the TXNs of every part folded into the base, added up (the version's
//                     share of front ends that are gone)
//   KEY/front-end/ID  records of earlier versions: deleted by the first rebalance
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/escrow.hpp"
#include "store/etcd_client.hpp"

namespace count {

class PartsKeys {
 public:
  explicit PartsKeys(std::string key);

  const std::string& base() const { return base_; }
  std::string part(std::string_view id) const { return part_prefix_ + std::string(id); }
  std::string grant(std::string_view id) const { return grant_prefix_ + std::string(id); }
  std::string alive(std::string_view id) const { return alive_prefix_ + std::string(id); }
  const std::string& folded() const { return folded_; }
  // Every key of the counter but the base: "KEY/" and what follows.
  const std::string& children() const { return children_; }
  const std::string& children_end() const { return children_end_; }
  const std::string& grant_prefix() const { return grant_prefix_; }

  // The two Ranges that read the whole state at one revision: the base, then its children.
  std::vector<EtcdOperation> read_all() const;

 private:
  std::string base_;
  std::string children_;
  std::string children_end_;
  std::string part_prefix_;
  std::string grant_prefix_;
  std::string alive_prefix_;
  std::string folded_;
};

std::string encode_part(std::int64_t value, std::uint64_t txn);
struct PartValue {
  std::int64_t value = 0;
  std::uint64_t txn = 0;
};
std::optional<PartValue> decode_part(std::string_view bytes);
std::string encode_grant(Grant grant);
std::optional<Grant> decode_grant(std::string_view bytes);

// One front end's keys as read.
struct PartRecord {
  PartValue part;
  std::int64_t part_mod_revision = 0;  // 0: no part key (a front end not yet written)
  std::optional<Grant> grant;
  std::int64_t grant_mod_revision = 0;
  bool alive = false;
};

// The whole state at one revision.
struct PartsState {
  std::int64_t revision = 0;
  std::int64_t base = 0;
  std::int64_t base_mod_revision = 0;
  std::map<std::string, PartRecord> front_ends;  // by ID
  std::uint64_t folded = 0;                      // KEY/folded
  std::vector<std::string> old_records;          // KEY/front-end/* keys, to delete
  std::int64_t total() const;                    // base + every part (checked by parse)
  // Moves with every transaction that applies a mutation, whichever front end sends it, and
  // never comes back: KEY/folded plus every part's TXN (what WATCH remembers).
  std::uint64_t version() const;
  // Front end `id`'s keys; nullptr when it has none.
  const PartRecord* find(std::string_view id) const;
  // As escrow.hpp sees it; with `caller` among the live front ends, added when absent (one
  // that has written nothing yet).
  std::vector<PartState> escrow_view(std::string_view caller = {}) const;
};

// The state from the two Ranges of read_all() (or of a transaction's branch that ends with
// them); nullopt with `error` set when a key holds bytes that are not ours, or the sum leaves
// int64.
std::optional<PartsState> parse_parts(const PartsKeys& keys, std::int64_t revision,
                                      const std::vector<EtcdKeyValue>& base,
                                      const std::vector<EtcdKeyValue>& children,
                                      std::string* error);

// The fast path of front end `id`: if its grant is still the one read (its mod revision),
// its part becomes `part`, then the whole state is read back (the total at the commit's
// revision). Otherwise the whole state is read, to go on from.
EtcdTransaction fast_path(const PartsKeys& keys, std::string_view id,
                          std::int64_t grant_mod_revision, PartValue part, std::int64_t lease);

// The slow path's first step: if no grant changed since `state` was read, every grant is
// written again as it is (which moves its revision, so that no other front end's fast path
// can commit from here on), then the whole state is read: the exact state to judge against.
// Otherwise the whole state is read, to try again from.
EtcdTransaction freeze(const PartsKeys& keys, const PartsState& frozen_from);

// The slow path's second step, on the state the freeze read: if nothing of the counter
// changed since, the base becomes `rebalanced.base`, every live part 0 (its txn kept; the
// caller's `txn`), every live grant the new one, and gone front ends' keys and old records
// are deleted (their TXNs added to KEY/folded); then the whole state is read. `caller` is
// live (with its lease).
EtcdTransaction rebalance_transaction(const PartsKeys& keys, const PartsState& frozen,
                                      const Rebalanced& rebalanced, std::string_view caller,
                                      std::uint64_t txn, std::int64_t lease);

}  // namespace count
