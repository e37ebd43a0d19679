// Escrow (O'Neil, 1986) for a counter kept over etcd as a base and one part per front end:
// each front end changes only its own part, and only within the interval it was granted, so
// that front ends never contend; the grants together keep every possible total within the
// 64-bit range. Pure arithmetic, no etcd: the store reads and writes what these decide.
//
// The invariant, over the base and every part that exists:
//   lo_j <= part_j <= hi_j for each part j, and
//   base + sum(hi_j) <= INT64_MAX and base + sum(lo_j) >= INT64_MIN.
// Whatever the parts do within their grants, in any order, the total stays in range: so a
// round whose every step stays within its front end's grant is applied whole without being
// judged against the others (the fast path), and one server holding the whole value would
// have refused none of it. A step that would leave the grant takes the slow path: the whole
// state is frozen and read, the round judged exactly against the total, and everything
// rebalanced (rebalance()).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace count {

// The interval a front end's part may take: [lo, hi], lo <= 0 <= hi after a rebalance.
struct Grant {
  std::int64_t lo = 0;
  std::int64_t hi = 0;
  friend bool operator==(const Grant&, const Grant&) = default;
};

// The fast path: the part's value after all of `deltas`, in order, when the value stays
// within `grant` after each one; nullopt when one step would leave it (or leave int64).
std::optional<std::int64_t> within_grant(std::int64_t part, Grant grant,
                                         std::span<const std::int64_t> deltas);

// The slow path's judgement, exactly as one server: each delta is applied when the running
// total stays in int64, refused (and skipped) otherwise.
struct Judged {
  std::vector<bool> applied;  // one per delta
  std::int64_t total = 0;     // after the applied ones
};
Judged judge(std::int64_t total, std::span<const std::int64_t> deltas);

// A part as the slow path reads it.
struct PartState {
  std::string id;
  std::int64_t value = 0;
  std::optional<Grant> grant;  // none: a front end that has not been granted yet
  bool alive = true;           // its front end's lease key exists
};

// The sum of the base and every part, or nullopt when it leaves int64 (a state no
// front end can have written: not ours).
std::optional<std::int64_t> total_of(std::int64_t base, std::span<const PartState> parts);

// True when the invariant above holds for this state.
bool grants_hold(std::int64_t base, std::span<const PartState> parts);

// What the slow path writes, in one transaction, once it knows the exact total (after the
// caller's round): the base becomes the total, every live part 0 with a new grant, and the
// parts of front ends that are gone are deleted (their values are in the base now). The
// headroom to each end of the range is shared evenly among the live parts; what does not
// divide goes to `caller`, which must be among them.
struct Rebalanced {
  std::int64_t base = 0;
  std::vector<std::pair<std::string, Grant>> grants;  // the live parts', in their order
  std::vector<std::string> folded;                    // the gone parts' ids
};
Rebalanced rebalance(std::int64_t total, std::span<const PartState> parts, std::string_view caller);

}  // namespace count
