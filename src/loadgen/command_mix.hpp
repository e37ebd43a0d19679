// The commands count-bench sends and in which proportion ("incr:get=9:1"). Pure: parsing
// and a precomputed cycle; next() never allocates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace count {

enum class Op : std::uint8_t { kIncr, kDecr, kAdd, kGet };

inline constexpr std::size_t kOpCount = 4;

std::string_view op_name(Op op);

// True for the ops that change the counter.
inline bool mutates(Op op) { return op != Op::kGet; }

class CommandMix {
 public:
  // The sum of the weights, and so the length of the cycle, is kept small so that the
  // cycle stays a few cache lines.
  static constexpr std::uint32_t kMaxTotalWeight = 1000;

  // "incr", "incr:get=9:1", "incr:decr:add:get=4:2:2:2". On a bad text, returns nothing
  // and sets `error` to say why.
  static std::optional<CommandMix> parse(std::string_view text, std::string& error);

  // The op at position `pos` of the cycle; positions wrap around.
  Op at(std::size_t pos) const { return cycle_[pos % cycle_.size()]; }
  std::size_t cycle_length() const { return cycle_.size(); }

  // Whether any request of the mix is `op`.
  bool uses(Op op) const { return weights_[static_cast<std::size_t>(op)] > 0; }
  std::uint32_t weight(Op op) const { return weights_[static_cast<std::size_t>(op)]; }

  // The canonical spelling, e.g. "incr:get=9:1".
  std::string text() const;

 private:
  std::uint32_t weights_[kOpCount] = {};
  std::vector<Op> cycle_;  // ops interleaved as evenly as their weights allow
};

}  // namespace count
