// The final check of a run: did the counter move by exactly the sum of the mutations the
// server acknowledged? Pure arithmetic, every overflow checked.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace count {

// Mutations the server acknowledged during a run, by kind.
struct Acknowledged {
  std::uint64_t incr = 0;
  std::uint64_t decr = 0;
  std::uint64_t add = 0;  // each moved the counter by the run's add value

  Acknowledged& operator+=(const Acknowledged& other) {
    incr += other.incr;
    decr += other.decr;
    add += other.add;
    return *this;
  }
};

struct CounterCheck {
  bool ok = false;
  std::optional<std::int64_t> expected_delta;  // none when it does not fit in int64
  std::optional<std::int64_t> actual_delta;    // none when it does not fit in int64
  std::string message;                         // one line, for people
};

// `before` and `after` are the values read on a separate connection before and after the
// run. The check passes only when after - before equals the acknowledged sum exactly.
CounterCheck check_counter(std::int64_t before, std::int64_t after, const Acknowledged& acked,
                           std::int64_t add_value);

}  // namespace count
