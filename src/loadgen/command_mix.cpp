// Parsing the command mix and spreading its ops evenly over one cycle.
#include "loadgen/command_mix.hpp"

#include <charconv>

namespace count {
namespace {

std::optional<Op> op_from_name(std::string_view name) {
  if (name == "incr") return Op::kIncr;
  if (name == "decr") return Op::kDecr;
  if (name == "add") return Op::kAdd;
  if (name == "get") return Op::kGet;
  return std::nullopt;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  for (;;) {
    const std::size_t at = text.find(separator);
    parts.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return parts;
    text.remove_prefix(at + 1);
  }
}

}  // namespace

std::string_view op_name(Op op) {
  switch (op) {
    case Op::kIncr:
      return "incr";
    case Op::kDecr:
      return "decr";
    case Op::kAdd:
      return "add";
    case Op::kGet:
      return "get";
  }
  return "?";
}

std::optional<CommandMix> CommandMix::parse(std::string_view text, std::string& error) {
  const std::size_t equals = text.find('=');
  const std::vector<std::string_view> names = split(text.substr(0, equals), ':');
  std::vector<std::uint32_t> weights(names.size(), 1);
  if (equals != std::string_view::npos) {
    const std::vector<std::string_view> numbers = split(text.substr(equals + 1), ':');
    if (numbers.size() != names.size()) {
      error = "the mix names " + std::to_string(names.size()) + " command(s) but gives " +
              std::to_string(numbers.size()) + " weight(s)";
      return std::nullopt;
    }
    for (std::size_t i = 0; i < numbers.size(); ++i) {
      const char* const end = numbers[i].data() + numbers[i].size();
      const auto [ptr, ec] = std::from_chars(numbers[i].data(), end, weights[i]);
      if (numbers[i].empty() || ec != std::errc{} || ptr != end) {
        error = "weight '" + std::string(numbers[i]) + "' is not a whole number";
        return std::nullopt;
      }
    }
  }

  CommandMix mix;
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::optional<Op> op = op_from_name(names[i]);
    if (!op) {
      error = "unknown command '" + std::string(names[i]) + "' (use incr, decr, add, get)";
      return std::nullopt;
    }
    std::uint32_t& weight = mix.weights_[static_cast<std::size_t>(*op)];
    if (weight != 0) {
      error = "command '" + std::string(names[i]) + "' is named twice";
      return std::nullopt;
    }
    weight = weights[i];
    total += weights[i];
  }
  if (total == 0 || total > kMaxTotalWeight) {
    error = "the weights must add up to between 1 and " + std::to_string(kMaxTotalWeight);
    return std::nullopt;
  }

  // Smooth weighted round robin: each step, every op gains its weight and the richest op
  // is picked and pays the total. Spreads "9:1" as nine incr then one get, and "1:1"
  // alternating, so any stretch of the cycle is close to the mix.
  std::int64_t credit[kOpCount] = {};
  mix.cycle_.reserve(total);
  for (std::uint64_t step = 0; step < total; ++step) {
    std::size_t best = kOpCount;
    for (std::size_t i = 0; i < kOpCount; ++i) {
      if (mix.weights_[i] == 0) continue;
      credit[i] += mix.weights_[i];
      if (best == kOpCount || credit[i] > credit[best]) best = i;
    }
    credit[best] -= static_cast<std::int64_t>(total);
    mix.cycle_.push_back(static_cast<Op>(best));
  }
  return mix;
}

std::string CommandMix::text() const {
  std::string names;
  std::string weights;
  for (std::size_t i = 0; i < kOpCount; ++i) {
    if (weights_[i] == 0) continue;
    if (!names.empty()) {
      names += ':';
      weights += ':';
    }
    names += op_name(static_cast<Op>(i));
    weights += std::to_string(weights_[i]);
  }
  return names + "=" + weights;
}

}  // namespace count
