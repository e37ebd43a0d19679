#include "store/escrow.hpp"

#include <algorithm>
#include <limits>

namespace count {
namespace {

constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

// 128 bits: sums of int64 values, and the headroom of 2^64 - 1 at most, without overflow.
__extension__ using Wide = __int128;

}  // namespace

std::optional<std::int64_t> within_grant(std::int64_t part, Grant grant,
                                         std::span<const std::int64_t> deltas) {
  Wide value = part;
  for (const std::int64_t delta : deltas) {
    value += delta;
    if (value < grant.lo || value > grant.hi) return std::nullopt;
  }
  return static_cast<std::int64_t>(value);
}

Judged judge(std::int64_t total, std::span<const std::int64_t> deltas) {
  Judged judged;
  judged.applied.reserve(deltas.size());
  judged.total = total;
  for (const std::int64_t delta : deltas) {
    std::int64_t next = 0;
    const bool fits = !__builtin_add_overflow(judged.total, delta, &next);
    judged.applied.push_back(fits);
    if (fits) judged.total = next;
  }
  return judged;
}

std::optional<std::int64_t> total_of(std::int64_t base, std::span<const PartState> parts) {
  Wide total = base;
  for (const PartState& part : parts) total += part.value;
  if (total < kMin || total > kMax) return std::nullopt;
  return static_cast<std::int64_t>(total);
}

bool grants_hold(std::int64_t base, std::span<const PartState> parts) {
  Wide lowest = base;
  Wide highest = base;
  for (const PartState& part : parts) {
    // A part without a grant may not move: it counts as [value, value].
    const Grant grant = part.grant.value_or(Grant{part.value, part.value});
    if (part.value < grant.lo || part.value > grant.hi) return false;
    lowest += grant.lo;
    highest += grant.hi;
  }
  return lowest >= kMin && highest <= kMax;
}

Rebalanced rebalance(std::int64_t total, std::span<const PartState> parts,
                     std::string_view caller) {
  Rebalanced result;
  result.base = total;
  std::size_t live = 0;
  for (const PartState& part : parts) {
    if (part.alive) {
      ++live;
    } else {
      result.folded.push_back(part.id);
    }
  }
  if (live == 0) return result;
  // The headroom to each end, at most 2^64 - 1, shared evenly.
  const auto up = static_cast<std::uint64_t>(Wide{kMax} - total);
  const auto down = static_cast<std::uint64_t>(Wide{total} - kMin);
  const std::uint64_t up_share = up / live;
  const std::uint64_t down_share = down / live;
  for (const PartState& part : parts) {
    if (!part.alive) continue;
    std::uint64_t up_here = up_share;
    std::uint64_t down_here = down_share;
    if (part.id == caller) {
      up_here += up % live;
      down_here += down % live;
    }
    // A share past int64 is cut to it: a smaller grant only keeps more in reserve.
    Grant grant;
    grant.hi = static_cast<std::int64_t>(std::min<std::uint64_t>(up_here, kMax));
    grant.lo = down_here >= std::uint64_t{1} << 63 ? kMin : -static_cast<std::int64_t>(down_here);
    result.grants.emplace_back(part.id, grant);
  }
  return result;
}

}  // namespace count
