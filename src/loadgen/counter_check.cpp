// The expected and the observed movement of the counter, compared; and the servers' reads.
#include "loadgen/counter_check.hpp"

#include <limits>

namespace count {
namespace {

std::optional<std::int64_t> to_int64(std::uint64_t count) {
  if (count > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    return std::nullopt;
  return static_cast<std::int64_t>(count);
}

std::optional<std::int64_t> expected_delta(const Acknowledged& acked, std::int64_t add_value) {
  const auto incr = to_int64(acked.incr);
  const auto decr = to_int64(acked.decr);
  const auto add = to_int64(acked.add);
  if (!incr || !decr || !add) return std::nullopt;
  std::int64_t added = 0;
  std::int64_t sum = 0;
  if (__builtin_mul_overflow(*add, add_value, &added)) return std::nullopt;
  if (__builtin_sub_overflow(*incr, *decr, &sum)) return std::nullopt;
  if (__builtin_add_overflow(sum, added, &sum)) return std::nullopt;
  return sum;
}

}  // namespace

CounterCheck check_counter(std::int64_t before, std::int64_t after, const Acknowledged& acked,
                           std::int64_t add_value) {
  CounterCheck check;
  check.expected_delta = expected_delta(acked, add_value);
  std::int64_t actual = 0;
  if (!__builtin_sub_overflow(after, before, &actual)) check.actual_delta = actual;

  const std::string acked_text = "acknowledged incr " + std::to_string(acked.incr) + ", decr " +
                                 std::to_string(acked.decr) + ", add " + std::to_string(acked.add) +
                                 " x " + std::to_string(add_value);
  if (!check.expected_delta || !check.actual_delta) {
    check.message = "counter check impossible: the movement does not fit in 64 bits (before " +
                    std::to_string(before) + ", after " + std::to_string(after) + ", " +
                    acked_text + ")";
    return check;
  }
  check.ok = *check.expected_delta == *check.actual_delta;
  const std::string moved = "counter went from " + std::to_string(before) + " to " +
                            std::to_string(after) + " (" + std::to_string(*check.actual_delta) +
                            "); " + acked_text + " = " + std::to_string(*check.expected_delta);
  if (check.ok) {
    check.message = "counter check passed: " + moved;
  } else {
    std::int64_t missing = 0;
    const bool fits = !__builtin_sub_overflow(*check.expected_delta, *check.actual_delta, &missing);
    check.message = "COUNTER MISMATCH: " + moved;
    if (fits) {
      check.message += "; off by " + std::to_string(missing) +
                       (missing > 0 ? " (acknowledged updates lost)"
                                    : " (the counter moved more than acknowledged)");
    }
  }
  return check;
}

AgreementCheck check_agreement(std::string_view first_server, std::int64_t first_value,
                               const std::vector<ServerRead>& others) {
  AgreementCheck check;
  std::string wrong;
  for (const ServerRead& read : others) {
    if (read.value == first_value) continue;
    wrong += wrong.empty() ? "" : "; ";
    wrong += read.value ? read.server + " read " + std::to_string(*read.value)
                        : read.server + " could not be read (" + read.problem + ")";
  }
  const std::string first = std::string(first_server) + " read " + std::to_string(first_value);
  check.ok = wrong.empty();
  check.message = check.ok ? "all " + std::to_string(others.size() + 1) +
                                 " servers agree after the run: " + first
                           : "SERVERS DISAGREE after the run: " + first + ", but " + wrong;
  return check;
}

}  // namespace count
