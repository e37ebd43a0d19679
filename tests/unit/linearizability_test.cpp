// The linearizability checker of tests/support/history.hpp: hand-written histories with chosen
// times, agreement with a brute-force search on small random histories, large generated
// histories, and a deliberately broken two-front-end counter run by real threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <limits>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/history.hpp"

namespace count {
namespace {

using namespace std::chrono_literals;
using test::CheckOptions;
using test::CheckResult;
using test::Clock;
using test::History;
using test::Outcome;
using test::Verdict;

testing::AssertionResult verdict_is(Verdict expected, const History& history,
                                    const CheckOptions& options = {}) {
  const CheckResult result = test::check_linearizable(history, options);
  if (result.verdict == expected) return testing::AssertionSuccess() << result.explanation;
  return testing::AssertionFailure()
         << "expected " << test::verdict_name(expected) << ", got " << result.explanation;
}

testing::AssertionResult linearizable(const History& history) {
  return verdict_is(Verdict::kLinearizable, history);
}

// A violation whose explanation names every one of `witnesses` (e.g. "get#3").
testing::AssertionResult violation(const History& history,
                                   const std::vector<std::string>& witnesses = {}) {
  const CheckResult result = test::check_linearizable(history);
  if (result.verdict != Verdict::kViolation) {
    return testing::AssertionFailure() << "expected a violation, got " << result.explanation;
  }
  for (const std::string& witness : witnesses) {
    if (result.explanation.find(witness) == std::string::npos) {
      return testing::AssertionFailure()
             << "the explanation does not name " << witness << ": " << result.explanation;
    }
  }
  return testing::AssertionSuccess() << result.explanation;
}

// Shorthands for hand-written histories; times in milliseconds since the start.
void get(History& h, std::int64_t from, std::int64_t to, std::int64_t value) {
  h.record_get(std::chrono::milliseconds(from), std::chrono::milliseconds(to), value);
}
void add(History& h, std::int64_t delta, std::int64_t from, std::int64_t to,
         Outcome outcome = Outcome::kOk) {
  h.record_add(delta, std::chrono::milliseconds(from), std::chrono::milliseconds(to), outcome);
}
void incr(History& h, std::int64_t from, std::int64_t to, Outcome outcome = Outcome::kOk) {
  add(h, 1, from, to, outcome);
}

// ---------------------------------------------------------------------------------------------
// Hand-written histories

TEST(Linearizability, EmptyHistoryAndLoneMutationsPass) {
  History empty;
  EXPECT_TRUE(linearizable(empty));
  History mutations(7);
  incr(mutations, 0, 1);
  add(mutations, -4, 0, 1, Outcome::kErr);
  EXPECT_TRUE(linearizable(mutations));
}

TEST(Linearizability, GetsAloneMustReadTheInitialValue) {
  History h(5);
  get(h, 0, 1, 5);
  get(h, 0, 2, 5);
  h.set_final_value(5);
  EXPECT_TRUE(linearizable(h));
  History other(5);
  get(other, 0, 1, 5);
  get(other, 2, 3, 6);
  EXPECT_TRUE(violation(other, {"get#1"}));
}

TEST(Linearizability, SequentialHistoriesPass) {
  History increments(10);
  get(increments, 0, 1, 10);
  incr(increments, 2, 3);
  get(increments, 4, 5, 11);
  incr(increments, 6, 7);
  incr(increments, 8, 9);
  get(increments, 10, 11, 13);
  EXPECT_TRUE(linearizable(increments));

  History sizes;
  incr(sizes, 0, 1);
  add(sizes, 5, 2, 3);
  get(sizes, 4, 5, 6);
  add(sizes, 2, 6, 7);
  get(sizes, 8, 9, 8);
  EXPECT_TRUE(linearizable(sizes));

  History signs;
  incr(signs, 0, 1);
  add(signs, -5, 2, 3);
  get(signs, 4, 5, -4);
  add(signs, 2, 6, 7);
  get(signs, 8, 9, -2);
  EXPECT_TRUE(linearizable(signs));
}

TEST(Linearizability, OverlappingMutationsMayTakeEffectInEitherOrder) {
  // add 1 and add 2 overlap each other and the get: it may see none, either, or both.
  for (const std::int64_t seen : {0, 1, 2, 3}) {
    History h;
    add(h, 1, 0, 10);
    add(h, 2, 0, 10);
    get(h, 1, 9, seen);
    EXPECT_TRUE(linearizable(h)) << "read " << seen;
  }
  // Two overlapping gets may see two overlapping increments in either order.
  History h;
  incr(h, 0, 10);
  incr(h, 0, 10);
  get(h, 1, 8, 2);
  get(h, 2, 9, 1);
  EXPECT_TRUE(linearizable(h));
}

TEST(Linearizability, StaleReadFails) {
  History h;
  incr(h, 0, 1);
  get(h, 2, 3, 0);  // invoked after the increment was acknowledged
  EXPECT_TRUE(violation(h, {"stale read", "get#1", "incr#0"}));
}

TEST(Linearizability, ReadFromTheFutureFails) {
  History h;
  get(h, 0, 1, 1);
  incr(h, 2, 3);  // invoked after the get completed
  EXPECT_TRUE(violation(h, {"from the future", "get#0", "incr#1"}));
}

TEST(Linearizability, ReadsGoingBackwardsInRealTimeFail) {
  // Each get alone is fine: the increment overlaps both. Together, the later reads less.
  History h;
  incr(h, 0, 10);
  get(h, 2, 3, 1);
  get(h, 4, 5, 0);
  EXPECT_TRUE(violation(h, {"backwards", "get#1", "get#2"}));
}

TEST(Linearizability, ReadsPossibleAloneButNotTogetherFail) {
  // r1 reads 3, counting three long increments; i runs entirely between r1 and r2, so r2 must
  // read more than r1, yet it reads 3. Each get alone is within its bounds.
  History h;
  incr(h, 0, 20);
  incr(h, 0, 20);
  incr(h, 0, 20);
  get(h, 1, 2, 3);  // r1: get#3
  incr(h, 3, 4);    // i: incr#4
  get(h, 5, 6, 3);  // r2: get#5
  EXPECT_TRUE(violation(h, {"incr#4", "get#3", "get#5"}));

  History fine;
  incr(fine, 0, 20);
  incr(fine, 0, 20);
  incr(fine, 0, 20);
  get(fine, 1, 2, 3);
  incr(fine, 3, 4);
  get(fine, 5, 6, 4);
  EXPECT_TRUE(linearizable(fine));
}

TEST(Linearizability, ErrMutationCountedInAValueFails) {
  History h;
  add(h, 5, 0, 1, Outcome::kErr);
  get(h, 2, 3, 5);
  EXPECT_TRUE(violation(h, {"get#1"}));

  History fine;
  add(fine, 5, 0, 1, Outcome::kErr);
  incr(fine, 0, 1);
  get(fine, 2, 3, 1);
  EXPECT_TRUE(linearizable(fine));
}

TEST(Linearizability, UnknownMutationMayOrMayNotCount) {
  for (const std::int64_t seen : {0, 1}) {
    History h;
    incr(h, 0, 1, Outcome::kUnknown);
    get(h, 2, 3, seen);
    EXPECT_TRUE(linearizable(h)) << "read " << seen;
  }
  // It may take effect long after its client gave up on it.
  History late;
  incr(late, 0, 1, Outcome::kUnknown);
  get(late, 2, 3, 0);
  get(late, 4, 5, 1);
  EXPECT_TRUE(linearizable(late));
  // But only once.
  History twice;
  incr(twice, 0, 1, Outcome::kUnknown);
  get(twice, 2, 3, 2);
  EXPECT_TRUE(violation(twice, {"get#1"}));
  // And not before it was invoked.
  History early;
  get(early, 0, 1, 1);
  incr(early, 2, 3, Outcome::kUnknown);
  EXPECT_TRUE(violation(early, {"get#0"}));
}

TEST(Linearizability, FinalValueMustMatchTheAcknowledgedMutations) {
  const auto history = [](std::int64_t final_value, bool with_unknown) {
    auto h = std::make_unique<History>(100);
    incr(*h, 0, 1);
    add(*h, 5, 0, 2);
    add(*h, 7, 1, 2, Outcome::kErr);
    if (with_unknown) add(*h, 3, 2, 3, Outcome::kUnknown);
    incr(*h, 4, 5);
    h->set_final_value(final_value);
    return h;
  };
  EXPECT_TRUE(linearizable(*history(107, false)));
  EXPECT_TRUE(violation(*history(106, false), {"final get"}));  // an acknowledged one missing
  EXPECT_TRUE(violation(*history(114, false), {"final get"}));  // the err'd one counted
  EXPECT_TRUE(linearizable(*history(107, true)));
  EXPECT_TRUE(linearizable(*history(110, true)));
  EXPECT_TRUE(violation(*history(109, true), {"final get"}));
}

TEST(Linearizability, EqualReadsAndReadsBeforeAnyMutation) {
  History h(4);
  get(h, 0, 1, 4);  // before any mutation
  get(h, 0, 2, 4);
  incr(h, 3, 20);
  get(h, 4, 5, 4);  // equal reads around an increment still in flight
  get(h, 6, 7, 4);
  get(h, 8, 9, 5);
  get(h, 10, 11, 5);
  EXPECT_TRUE(linearizable(h));

  History before(4);
  get(before, 0, 1, 5);  // before the only mutation was invoked
  incr(before, 2, 3);
  EXPECT_TRUE(violation(before, {"get#0"}));
}

TEST(Linearizability, AcknowledgedMutationsAfterEveryGetMaySitAfterTheLast) {
  History h;
  incr(h, 0, 1);
  get(h, 2, 10, 1);
  incr(h, 3, 4);      // overlaps the last get: may come after it
  add(h, 5, 11, 12);  // after every get
  EXPECT_TRUE(linearizable(h));
}

TEST(Linearizability, DecrementsAloneAreCheckedLikeIncrements) {
  History h(10);
  add(h, -1, 0, 1);
  get(h, 2, 3, 9);
  add(h, -1, 4, 20);
  add(h, -1, 4, 20);
  get(h, 5, 6, 8);
  get(h, 7, 8, 8);
  get(h, 21, 22, 7);
  EXPECT_TRUE(linearizable(h));

  History stale(10);
  add(stale, -1, 0, 1);
  get(stale, 2, 3, 10);
  EXPECT_TRUE(violation(stale, {"stale read", "decr#0"}));

  History together(0);  // the "alone but not together" case, mirrored
  add(together, -1, 0, 20);
  get(together, 1, 2, -1);
  add(together, -1, 3, 4);
  get(together, 5, 6, -1);
  EXPECT_TRUE(violation(together, {"decr#2", "get#1", "get#3"}));
}

TEST(Linearizability, SeveralSizesNeedAnExactSubset) {
  // add 2 and add 3 overlap the get: it may read 0, 2, 3 or 5, never 4.
  for (const std::int64_t seen : {0, 2, 3, 5}) {
    History h;
    add(h, 2, 0, 10);
    add(h, 3, 0, 10);
    get(h, 1, 9, seen);
    EXPECT_TRUE(linearizable(h)) << "read " << seen;
  }
  History h;
  add(h, 2, 0, 10);
  add(h, 3, 0, 10);
  get(h, 1, 9, 4);
  EXPECT_TRUE(violation(h, {"get#2"}));
}

TEST(Linearizability, SeveralSizesKeepTheirRealTimeOrder) {
  // add 1 completes before add 2 is invoked: the counter goes 0, 1, 3 and never shows 2.
  for (const std::int64_t seen : {0, 1, 3}) {
    History h;
    add(h, 1, 1, 2);
    add(h, 2, 3, 4);
    get(h, 0, 10, seen);
    EXPECT_TRUE(linearizable(h)) << "read " << seen;
  }
  History h;
  add(h, 1, 1, 2);
  add(h, 2, 3, 4);
  get(h, 0, 10, 2);
  EXPECT_TRUE(violation(h, {"get#2"}));
}

TEST(Linearizability, MixedSignsAreSearchedExactly) {
  // incr, decr and add 5 all overlap the get: reachable are 0, 1, -1, 5, 6, 4; not 3 or 2.
  for (const std::int64_t seen : {-1, 0, 1, 4, 5, 6}) {
    History h;
    incr(h, 0, 10);
    add(h, -1, 0, 10);
    add(h, 5, 0, 10);
    get(h, 1, 9, seen);
    EXPECT_TRUE(linearizable(h)) << "read " << seen;
  }
  for (const std::int64_t seen : {2, 3}) {
    History h;
    incr(h, 0, 10);
    add(h, -1, 0, 10);
    add(h, 5, 0, 10);
    get(h, 1, 9, seen);
    EXPECT_TRUE(violation(h, {"get#3"})) << "read " << seen;
  }
  // The gets' order is not known in advance with both signs: 1 then 0 is fine here, because
  // the decrement may fall between them.
  History order;
  incr(order, 0, 10);
  add(order, -1, 0, 10);
  get(order, 1, 2, 1);
  get(order, 3, 4, 0);
  EXPECT_TRUE(linearizable(order));
}

TEST(Linearizability, SearchOutOfStepsIsUndecidedNotAViolation) {
  // Twelve overlapping adds of 100 to 111 and a get reading 350: three add 303 to 330, four at
  // least 406, so no subset reaches it, which only an exhaustive search can tell.
  History h;
  for (std::int64_t size = 100; size <= 111; ++size) add(h, size, 0, 10);
  get(h, 1, 9, 350);
  EXPECT_TRUE(verdict_is(Verdict::kUndecided, h, CheckOptions{.max_search_steps = 50}));
  EXPECT_TRUE(verdict_is(Verdict::kViolation, h));
}

TEST(Linearizability, SeveralSizesReachOnlyMultiplesOfTheirCommonDivisor) {
  History h;
  add(h, 4, 0, 10);
  add(h, 6, 0, 10);
  get(h, 1, 9, 5);
  EXPECT_TRUE(violation(h, {"multiple of 2", "get#2"}));
}

TEST(Linearizability, RecordsFromTheClock) {
  History h(3);
  const History::OpId a = h.begin_add(2);
  const History::OpId g = h.begin_get();
  h.end_add(a, Outcome::kOk);
  h.end_get(g, 5);
  const History::OpId lost = h.begin_add(1);
  h.abandon(lost);
  const History::OpId no_reply = h.begin_get();
  h.abandon(no_reply);
  h.begin_add(10);  // never ended: checked as unknown
  h.set_final_value(6);
  const std::vector<test::Operation> ops = h.operations();
  ASSERT_EQ(ops.size(), 5U);
  EXPECT_EQ(ops[0].outcome, Outcome::kOk);
  EXPECT_LE(ops[0].invoked, ops[1].invoked);
  EXPECT_LE(ops[1].invoked, ops[0].completed);
  EXPECT_EQ(ops[1].value, 5);
  EXPECT_EQ(ops[2].outcome, Outcome::kUnknown);
  EXPECT_EQ(ops[3].outcome, Outcome::kUnknown);
  EXPECT_EQ(ops[4].outcome, Outcome::kPending);
  EXPECT_EQ(h.final_value(), 6);
  EXPECT_TRUE(linearizable(h));
}

// ---------------------------------------------------------------------------------------------
// Random histories

struct Recorded {
  bool is_get = false;
  std::int64_t delta = 0;
  std::int64_t value = 0;
  std::int64_t invoked = 0;  // ns
  std::int64_t completed = 0;
  Outcome outcome = Outcome::kOk;
};

void fill(History& h, const std::vector<Recorded>& ops) {
  for (const Recorded& op : ops) {
    if (op.is_get) {
      h.record_get(std::chrono::nanoseconds(op.invoked), std::chrono::nanoseconds(op.completed),
                   op.value);
    } else {
      h.record_add(op.delta, std::chrono::nanoseconds(op.invoked),
                   std::chrono::nanoseconds(op.completed), op.outcome);
    }
  }
}

// A history linearizable by construction: a sequential execution in which operation i takes
// effect at time (i + 1) * `step`, each seen by its client over an interval around that time
// of up to `spread` either side. 1% of mutations err (no effect), 1% get no reply (half of
// those took effect).
std::vector<Recorded> sequential_execution(std::mt19937_64& random, std::int64_t initial,
                                           std::size_t count, const std::vector<int>& deltas,
                                           int get_percent, std::int64_t step,
                                           std::int64_t spread) {
  std::vector<Recorded> ops;
  std::int64_t value = initial;
  std::uniform_int_distribution<std::int64_t> around(0, spread);
  std::uniform_int_distribution<int> percent(0, 99);
  std::uniform_int_distribution<std::size_t> pick(0, deltas.size() - 1);
  for (std::size_t i = 0; i < count; ++i) {
    Recorded op;
    const std::int64_t at = spread + static_cast<std::int64_t>(i + 1) * step;
    op.invoked = at - around(random);
    op.completed = at + around(random);
    if (percent(random) < get_percent) {
      op.is_get = true;
      op.value = value;
    } else {
      op.delta = deltas[pick(random)];
      const int fate = percent(random);
      if (fate == 0) {
        op.outcome = Outcome::kErr;
      } else if (fate == 1) {
        op.outcome = Outcome::kUnknown;
        if (percent(random) < 50) value += op.delta;
      } else {
        value += op.delta;
      }
    }
    ops.push_back(op);
  }
  return ops;
}

// Sum of acknowledged deltas completed before `get` was invoked.
std::int64_t acknowledged_before(const std::vector<Recorded>& ops, const Recorded& get) {
  std::int64_t sum = 0;
  for (const Recorded& op : ops) {
    if (!op.is_get && op.outcome == Outcome::kOk && op.completed < get.invoked) sum += op.delta;
  }
  return sum;
}

// Checks `ops` (50,000 of them with ~300 in flight at once) and reports the time it took:
// information only, since speed is measured by benchmarks, never asserted in tests.
CheckResult timed_check(const History& h, const char* what) {
  const auto began = Clock::now();
  CheckResult result = test::check_linearizable(h);
  const auto took = Clock::now() - began;
  std::printf("[ timing   ] %s: %s in %.1f ms\n", what, test::verdict_name(result.verdict),
              std::chrono::duration<double, std::milli>(took).count());
  return result;
}

constexpr std::size_t kLargeHistory = 50'000;
// One operation takes effect every 1 us; intervals reach 300 us either side, so about 300 are
// in flight at any moment, as with 300 clients.
constexpr std::int64_t kStep = 1'000;
constexpr std::int64_t kSpread = 300'000;

TEST(Linearizability, LargeIncrementHistoryPassesAndOneStaleReadFails) {
  const std::uint64_t seed = 20240611;
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 random(seed);
  std::vector<Recorded> ops =
      sequential_execution(random, 1000, kLargeHistory, {1}, 3, kStep, kSpread);
  History h(1000);
  fill(h, ops);
  const CheckResult result = timed_check(h, "50,000 incr/get");
  EXPECT_TRUE(result.ok()) << result.explanation;

  // A get in the middle now misses an increment acknowledged before it was invoked.
  std::size_t victim = ops.size() / 2;
  while (!ops[victim].is_get) ++victim;
  ops[victim].value = 1000 + acknowledged_before(ops, ops[victim]) - 1;
  History stale(1000);
  fill(stale, ops);
  const CheckResult caught = timed_check(stale, "50,000 incr/get, one stale");
  EXPECT_EQ(caught.verdict, Verdict::kViolation) << caught.explanation;
  EXPECT_NE(caught.explanation.find("get#" + std::to_string(victim)), std::string::npos)
      << caught.explanation;
}

TEST(Linearizability, LargeHistoryOfSeveralSizesPasses) {
  const std::uint64_t seed = 7;
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 random(seed);
  std::vector<Recorded> ops =
      sequential_execution(random, 0, kLargeHistory, {1, 2, 3, 5, 10, 100}, 3, kStep, kSpread);
  History h;
  fill(h, ops);
  const CheckResult result = timed_check(h, "50,000 add N/get, six sizes");
  EXPECT_TRUE(result.ok()) << result.explanation;

  std::size_t victim = ops.size() / 2;
  while (!ops[victim].is_get) ++victim;
  ops[victim].value = acknowledged_before(ops, ops[victim]) - 1;
  History stale;
  fill(stale, ops);
  EXPECT_EQ(timed_check(stale, "50,000 add N/get, six sizes, one stale").verdict,
            Verdict::kViolation);
}

TEST(Linearizability, LargeHistoryOfBothSignsPasses) {
  const std::uint64_t seed = 11;
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 random(seed);
  // With both signs the gets' order is open too, so the search is much wider: this is the
  // concurrency it decides at this size (a few operations in flight), see history.hpp.
  const std::vector<Recorded> ops =
      sequential_execution(random, 0, kLargeHistory, {1, -1, 5, -3}, 3, kStep, 3'000);
  History h;
  fill(h, ops);
  const CheckResult result = timed_check(h, "50,000 incr/decr/add N/get, ~3 in flight");
  EXPECT_TRUE(result.ok()) << result.explanation;
}

TEST(Linearizability, SearchBeyondItsReachIsUndecidedNeverAViolation) {
  // Both signs and ~100 operations in flight: beyond what the search decides in its steps.
  for (const std::uint64_t seed : {12, 13, 14}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 random(seed);
    const std::vector<Recorded> ops =
        sequential_execution(random, 0, 5'000, {1, -1, 5, -3}, 3, kStep, 100'000);
    History h;
    fill(h, ops);
    const CheckResult result =
        test::check_linearizable(h, CheckOptions{.max_search_steps = 200'000});
    EXPECT_NE(result.verdict, Verdict::kViolation) << result.explanation;
  }
}

// ---------------------------------------------------------------------------------------------
// Agreement with a brute-force search, on small random histories

// Tries every order of the operations that respects real time, and both fates of every
// mutation without a reply; err'd mutations are ordered too, and change nothing.
bool brute_force_linearizable(const std::vector<Recorded>& ops, std::int64_t initial,
                              std::optional<std::int64_t> final_value) {
  const std::size_t n = ops.size();
  const auto completed = [&](std::size_t i) {
    return !ops[i].is_get && ops[i].outcome == Outcome::kUnknown
               ? std::numeric_limits<std::int64_t>::max()
               : ops[i].completed;
  };
  std::vector<bool> placed(n, false);
  const std::function<bool(std::size_t, std::int64_t)> extend = [&](std::size_t count,
                                                                    std::int64_t value) {
    if (count == n) return !final_value || *final_value == value;
    for (std::size_t i = 0; i < n; ++i) {
      if (placed[i]) continue;
      bool minimal = true;
      for (std::size_t j = 0; j < n && minimal; ++j) {
        minimal = placed[j] || j == i || completed(j) >= ops[i].invoked;
      }
      if (!minimal) continue;
      placed[i] = true;
      const Recorded& op = ops[i];
      bool found = false;
      if (op.is_get) {
        found = op.value == value && extend(count + 1, value);
      } else if (op.outcome == Outcome::kErr) {
        found = extend(count + 1, value);
      } else {
        found = extend(count + 1, value + op.delta) ||
                (op.outcome == Outcome::kUnknown && extend(count + 1, value));
      }
      placed[i] = false;
      if (found) return true;
    }
    return false;
  };
  return extend(0, initial);
}

// Small histories on a coarse clock (many equal times), with gets read from a random sequential
// execution and then often disturbed, so that both verdicts are common.
void agree_with_brute_force(std::uint64_t seed, const std::vector<int>& deltas) {
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 random(seed);
  std::uniform_int_distribution<int> percent(0, 99);
  std::uniform_int_distribution<std::size_t> size(1, 7);
  std::uniform_int_distribution<std::size_t> pick(0, deltas.size() - 1);
  std::uniform_int_distribution<std::int64_t> time(0, 12), length(0, 6), nudge(-2, 2);
  int violations = 0;
  constexpr int kHistories = 3000;
  for (int round = 0; round < kHistories; ++round) {
    const std::size_t n = size(random);
    std::vector<Recorded> ops(n);
    // Effect times: a random order of points, each inside its interval.
    std::vector<std::pair<std::int64_t, std::size_t>> effect;
    for (std::size_t i = 0; i < n; ++i) {
      Recorded& op = ops[i];
      op.invoked = time(random);
      op.completed = op.invoked + length(random);
      op.is_get = percent(random) < 40;
      if (!op.is_get) {
        op.delta = deltas[pick(random)];
        const int fate = percent(random);
        op.outcome = fate < 10 ? Outcome::kErr : fate < 25 ? Outcome::kUnknown : Outcome::kOk;
      }
      std::uniform_int_distribution<std::int64_t> inside(op.invoked, op.completed);
      effect.emplace_back(inside(random), i);
    }
    std::sort(effect.begin(), effect.end());
    std::int64_t value = 0;
    for (const auto& [at, i] : effect) {
      Recorded& op = ops[i];
      if (op.is_get) {
        op.value = value + (percent(random) < 30 ? nudge(random) : 0);
      } else if (op.outcome == Outcome::kOk ||
                 (op.outcome == Outcome::kUnknown && percent(random) < 50)) {
        value += op.delta;
      }
    }
    std::optional<std::int64_t> final_value;
    if (percent(random) < 30) final_value = value + (percent(random) < 30 ? nudge(random) : 0);

    History h;
    fill(h, ops);
    if (final_value) h.set_final_value(*final_value);
    const CheckResult result = test::check_linearizable(h);
    const bool expected = brute_force_linearizable(ops, 0, final_value);
    ASSERT_NE(result.verdict, Verdict::kUndecided)
        << "round " << round << ": " << result.explanation;
    ASSERT_EQ(result.ok(), expected) << "round " << round << ": " << result.explanation;
    if (!expected) ++violations;
  }
  // Both verdicts were exercised.
  EXPECT_GT(violations, kHistories / 10);
  EXPECT_LT(violations, kHistories * 9 / 10);
}

TEST(Linearizability, AgreesWithBruteForceOnIncrements) { agree_with_brute_force(1, {1}); }

TEST(Linearizability, AgreesWithBruteForceOnDecrements) { agree_with_brute_force(2, {-1}); }

TEST(Linearizability, AgreesWithBruteForceOnOneSize) { agree_with_brute_force(3, {3}); }

TEST(Linearizability, AgreesWithBruteForceOnSeveralSizes) {
  agree_with_brute_force(4, {1, 2, 3});
  agree_with_brute_force(5, {-1, -2, -5});
}

TEST(Linearizability, AgreesWithBruteForceOnBothSigns) {
  agree_with_brute_force(6, {1, -1});
  agree_with_brute_force(7, {1, -1, 2, -3});
}

// ---------------------------------------------------------------------------------------------
// A deliberately broken counter, run by real threads

// The one shared value, as the store behind every front end: each request is atomic.
class SharedCounter {
 public:
  void add(std::int64_t delta) {
    const std::lock_guard lock(mutex_);
    value_ += delta;
  }
  std::int64_t get() const {
    const std::lock_guard lock(mutex_);
    return value_;
  }

 private:
  mutable std::mutex mutex_;
  std::int64_t value_ = 0;  // guarded by mutex_
};

// A front end over the shared counter. With a cache, it answers gets from a copy it refreshes
// only every `refresh_every` requests it serves: the bug the checker must catch.
class FrontEnd {
 public:
  FrontEnd(SharedCounter& shared, int refresh_every)
      : shared_(shared), refresh_every_(refresh_every), cached_(shared.get()) {}

  void add(std::int64_t delta) {
    shared_.add(delta);
    const std::lock_guard lock(mutex_);
    ++served_;
  }

  std::int64_t get() {
    if (refresh_every_ == 0) return shared_.get();
    const std::lock_guard lock(mutex_);
    if (served_++ % refresh_every_ == 0) cached_ = shared_.get();
    return cached_;
  }

 private:
  SharedCounter& shared_;  // owned by the caller, outlives this
  const int refresh_every_;
  std::mutex mutex_;
  std::int64_t cached_;  // guarded by mutex_
  int served_ = 0;       // guarded by mutex_
};

// Eight clients, each making 2,000 requests to either front end at random (one in ten a get);
// one increment in a hundred "loses its connection": applied or not, its reply never read.
void run_clients(History& history, FrontEnd& first, FrontEnd& second, std::uint64_t seed) {
  constexpr int kClients = 8;
  constexpr int kRequests = 2'000;
  std::vector<std::thread> clients;
  clients.reserve(kClients);
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      std::mt19937_64 random(seed + static_cast<std::uint64_t>(c));
      std::uniform_int_distribution<int> percent(0, 99);
      for (int i = 0; i < kRequests; ++i) {
        FrontEnd& front = percent(random) < 50 ? first : second;
        const int kind = percent(random);
        if (kind < 10) {
          const History::OpId op = history.begin_get();
          history.end_get(op, front.get());
        } else if (kind == 10) {
          const History::OpId op = history.begin_add(1);
          if (percent(random) < 50) front.add(1);
          history.abandon(op);
        } else {
          const History::OpId op = history.begin_add(1);
          front.add(1);
          history.end_add(op, Outcome::kOk);
        }
      }
    });
  }
  for (std::thread& client : clients) client.join();
}

TEST(Linearizability, TwoHonestFrontEndsPass) {
  const std::uint64_t seed = 99;
  SCOPED_TRACE("seed " + std::to_string(seed));
  SharedCounter shared;
  FrontEnd first(shared, 0), second(shared, 0);
  History history;
  run_clients(history, first, second, seed);
  history.set_final_value(shared.get());
  const CheckResult result = test::check_linearizable(history);
  EXPECT_TRUE(result.ok()) << result.explanation;
}

TEST(Linearizability, FrontEndAnsweringFromAStaleCacheIsCaught) {
  const std::uint64_t seed = 99;
  SCOPED_TRACE("seed " + std::to_string(seed));
  SharedCounter shared;
  FrontEnd honest(shared, 0), cached(shared, 64);
  History history;
  run_clients(history, honest, cached, seed);
  history.set_final_value(shared.get());
  const CheckResult result = test::check_linearizable(history);
  EXPECT_EQ(result.verdict, Verdict::kViolation) << result.explanation;
  std::printf("[ witness  ] %s\n", result.explanation.c_str());
}

}  // namespace
}  // namespace count
