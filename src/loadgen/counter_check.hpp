// The final checks of a run: did the counter move by exactly the sum of the mutations the
// server acknowledged, and does every server read the same value afterwards? Pure
// arithmetic, every overflow checked.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

// The counter as one server read it after the run, or why it could not.
struct ServerRead {
  std::string server;                 // as the report names it, e.g. "127.0.0.1:4445"
  std::optional<std::int64_t> value;  // none when the read failed
  std::string problem;                // why, when it failed
};

struct AgreementCheck {
  bool ok = false;
  std::string message;  // one line, for people
};

// Front ends that share one counter must all read the value the first one read after the
// run: passes when every read in `others` succeeded with `first_value`.
AgreementCheck check_agreement(std::string_view first_server, std::int64_t first_value,
                               const std::vector<ServerRead>& others);

}  // namespace count
