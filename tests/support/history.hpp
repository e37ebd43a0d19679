// Records what clients saw of the counter (when each request was sent, when its reply came
// back, what it said) and decides whether that history is linearizable. Test support only: it
// never talks to a server. Recording is safe from any number of threads; checking never blocks.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace count::test {

using Clock = std::chrono::steady_clock;

// How a request ended, as its client saw it.
enum class Outcome {
  kPending,  // begun, not ended yet; checked as kUnknown
  kOk,       // a get's `val N`, or a mutation's `ok`: applied
  kErr,      // a mutation's `err`: never applied (the contract says it has no effect)
  kUnknown,  // no reply (the connection broke): a mutation may or may not have been applied,
             // at any moment after its invocation; a get tells nothing
};

struct Operation {
  enum class Kind { kGet, kAdd };
  Kind kind = Kind::kGet;
  std::int64_t delta = 0;  // kAdd: +1 for incr, -1 for decr, N for add N
  std::int64_t value = 0;  // kGet with kOk: the value read
  Outcome outcome = Outcome::kPending;
  Clock::duration invoked{};    // since History::start(): just before the request was sent
  Clock::duration completed{};  // since start(): just after the reply was read, or when the
                                // client gave up on it (kUnknown); unset while kPending
};

// One counter's history. Each begin_* takes the time just before the caller sends its request;
// each end_* or abandon() takes it just after the reply was read (or given up on), so call them
// right there. Any thread may call any member at any time.
class History {
 public:
  using OpId = std::size_t;

  // `initial_value`: the counter's value before the first operation of this history.
  explicit History(std::int64_t initial_value = 0);
  History(const History&) = delete;
  History& operator=(const History&) = delete;

  OpId begin_get();
  void end_get(OpId op, std::int64_t value);

  // incr is begin_add(1), decr begin_add(-1), add N begin_add(N).
  OpId begin_add(std::int64_t delta);
  // `outcome`: kOk, kErr or kUnknown.
  void end_add(OpId op, Outcome outcome);

  // No reply will come (the connection broke): a mutation becomes kUnknown, a get is ignored.
  void abandon(OpId op);

  // The value read once every operation of the history has completed or been abandoned.
  void set_final_value(std::int64_t value);

  // Operations with hand-chosen times (since start()), for histories written out in tests.
  // For kUnknown, `completed` is when the client gave up.
  OpId record_get(Clock::duration invoked, Clock::duration completed, std::int64_t value);
  OpId record_add(std::int64_t delta, Clock::duration invoked, Clock::duration completed,
                  Outcome outcome);

  Clock::time_point start() const { return start_; }
  std::int64_t initial_value() const { return initial_value_; }
  std::optional<std::int64_t> final_value() const;
  // A copy of every operation so far, indexed by OpId.
  std::vector<Operation> operations() const;

 private:
  Clock::duration since_start() const { return Clock::now() - start_; }
  OpId push(Operation op);

  const Clock::time_point start_;
  const std::int64_t initial_value_;
  mutable std::mutex mutex_;
  std::vector<Operation> ops_;               // guarded by mutex_
  std::optional<std::int64_t> final_value_;  // guarded by mutex_
};

enum class Verdict {
  kLinearizable,  // an order exists; it was found
  kViolation,     // proven: no order exists
  kUndecided,     // the search hit CheckOptions::max_search_steps first
};

const char* verdict_name(Verdict verdict);

struct CheckResult {
  Verdict verdict = Verdict::kUndecided;
  // For a violation: a witness, the reads and mutations that cannot all be ordered, with times
  // in milliseconds since History::start(); otherwise a one-line summary.
  std::string explanation;

  bool ok() const { return verdict == Verdict::kLinearizable; }
};

struct CheckOptions {
  // Bounds the search that histories with mutations of several sizes may need; a step is about
  // one decision to place or skip one mutation, and the default takes up to about a second.
  // Histories whose mutations all have one size never search.
  std::uint64_t max_search_steps = 4'000'000;
};

// Decides whether a total order of the history's operations exists that respects real time (an
// operation that completed before another was invoked comes first) in which every get reads the
// initial value plus the deltas of the applied mutations before it: every kOk mutation applied,
// every kErr one not, each kUnknown one either way (when applied, at any point after its
// invocation); the final value, if set, is a get after everything else. A pending get is
// ignored; a pending mutation counts as kUnknown. How: history.cpp.
//
// What the verdict guarantees:
// - kViolation is a proof, for every history: no such order exists. Its explanation names a
//   witness: a get, or a few, and the mutations that make their values impossible (after an
//   exhaustive search: the get at which every order stops).
// - kLinearizable is always true: such an order exists (the checker found one).
// - When every mutation not kErr has the same delta, of either sign (only incr, or only decr,
//   or only add N for one N), the answer is always kLinearizable or kViolation, exact, in
//   O(n log n) time; 50,000 operations take tens of milliseconds.
// - Otherwise (several sizes, or both signs) checks that need no search come first: each get
//   alone against what must and what may precede it; for same-sign histories also gets in
//   real-time order, each mutation between the values it must fall between, and the same
//   earliest-deadline sweep with mutations allowed to split (a necessary condition). Stale
//   reads, reads from the future, reads going backwards and too much or too little between two
//   values are found there, with their witness. What passes goes to an exhaustive search,
//   exact when it ends, which answers kUndecided when it would need more than
//   max_search_steps: the problem is NP-hard in general (subset sum reduces to it). Measured on
//   histories of 50,000 operations from a sequential execution: increases (or decreases) of
//   several sizes with about 300 operations in flight are decided in a few hundred
//   milliseconds; both signs are decided with a few operations in flight, and with tens in
//   flight mostly come back kUndecided.
// The search remembers the states it has ruled out by a 128-bit hash of their content: a hash
// collision (about 2^-128 per pair of states) is the one way in which a kViolation found by the
// search could be wrong.
CheckResult check_linearizable(const History& history, const CheckOptions& options = {});

}  // namespace count::test
