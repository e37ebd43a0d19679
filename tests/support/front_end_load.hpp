// Clients of front ends that share one counter (over etcd), for the tests that make faults
// under load: each client sends pipelined batches of `get` and `incr` on one front end and
// moves to the next when its connection breaks; every operation goes into a History for the
// linearizability check, and the replies are tallied. Every loop is bounded in count and in
// time.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "client/client.hpp"
#include "support/history.hpp"

namespace count::test {

// What the clients saw. Deltas are positive, so a value can only grow.
struct Tally {
  std::int64_t acknowledged = 0;   // sum of the mutations answered ok
  std::int64_t refused = 0;        // sum of those answered err: never applied
  std::int64_t unknown = 0;        // sum of those whose connection broke first
  std::int64_t ok_after_heal = 0;  // oks sent after the fault was over
  std::int64_t err_replies = 0;
  std::string problem;
};

// When each front end answered its probe (one `get` at a time on a connection of its own,
// every 50 ms) after the fault and after the healing, from their instants: the first `err`
// to a probe sent after the fault, and the first value to one sent after the healing. (The
// load's own requests may wait out a fault instead: those of a transaction whose outcome is
// unknown wait until it is known, and a pipelined client's later replies come after them.)
struct Availability {
  std::optional<std::chrono::milliseconds> first_err;
  std::optional<std::chrono::milliseconds> first_ok_after_heal;
};

// After a load: `history`, ending at `final_value` (what every front end read once it was
// over), is linearizable and has at least `min_operations` operations.
void expect_linearizable(History& history, std::int64_t final_value, std::size_t min_operations);
// And more: `final_value` is exactly the sum of the acknowledged mutations (nothing answered
// err was applied, nothing was applied twice), every client had every reply, and the load
// went on after the healing.
void expect_exact(const Tally& tally, History& history, std::int64_t final_value,
                  std::size_t min_operations);

class FrontEndLoad {
 public:
  // A client connected to front end `index`, replies waited for long enough; nothing when
  // that front end cannot be reached now.
  using Connect = std::function<std::optional<Client>(int index)>;

  FrontEndLoad(History& history, int front_ends, Connect connect, int clients = 6,
               std::size_t pipeline = 8);

  // Runs the clients (client c starts on front end c % front_ends) for a third of `length`,
  // then calls `fault`, runs them a third more, calls `heal`, and runs them the last third;
  // a fault or a healing that takes its time (a link that flaps) delays what follows.
  // Returns the tallies added up.
  Tally run(std::chrono::milliseconds length, const std::function<void()>& fault,
            const std::function<void()>& heal);

  // Per front end, after run().
  const std::vector<Availability>& availability() const { return availability_; }

 private:
  void client_loop(int index, Tally& tally);
  void probe_loop(int front_end, Tally& tally);
  void saw(int front_end, bool ok, std::chrono::steady_clock::time_point sent);

  History& history_;
  int front_ends_;
  Connect connect_;
  int clients_;
  std::size_t pipeline_;

  std::atomic<bool> stop_{false};  // the clients' end
  std::mutex mutex_;               // guards what follows, written by every client
  std::optional<std::chrono::steady_clock::time_point> fault_at_;
  std::optional<std::chrono::steady_clock::time_point> heal_at_;
  std::vector<Availability> availability_;
};

}  // namespace count::test
