// The history recorder, and the linearizability checker for one counter. The checker's
// algorithm and why it is right are told next to the code, step by step; it never blocks and
// every search it runs is bounded by CheckOptions::max_search_steps.
#include "support/history.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cassert>
#include <limits>
#include <queue>
#include <random>
#include <unordered_set>
#include <utility>
#include <variant>

namespace count::test {

// ---------------------------------------------------------------------------------------------
// Recording

History::History(std::int64_t initial_value)
    : start_(Clock::now()), initial_value_(initial_value) {}

History::OpId History::push(Operation op) {
  const std::lock_guard lock(mutex_);
  ops_.push_back(op);
  return ops_.size() - 1;
}

History::OpId History::begin_get() {
  Operation op;
  op.kind = Operation::Kind::kGet;
  op.invoked = since_start();
  return push(op);
}

void History::end_get(OpId op, std::int64_t value) {
  const Clock::duration now = since_start();
  const std::lock_guard lock(mutex_);
  Operation& get = ops_.at(op);
  assert(get.kind == Operation::Kind::kGet && get.outcome == Outcome::kPending);
  get.value = value;
  get.outcome = Outcome::kOk;
  get.completed = now;
}

History::OpId History::begin_add(std::int64_t delta) {
  Operation op;
  op.kind = Operation::Kind::kAdd;
  op.delta = delta;
  op.invoked = since_start();
  return push(op);
}

void History::end_add(OpId op, Outcome outcome) {
  assert(outcome != Outcome::kPending);
  const Clock::duration now = since_start();
  const std::lock_guard lock(mutex_);
  Operation& add = ops_.at(op);
  assert(add.kind == Operation::Kind::kAdd && add.outcome == Outcome::kPending);
  add.outcome = outcome;
  add.completed = now;
}

void History::abandon(OpId op) {
  const Clock::duration now = since_start();
  const std::lock_guard lock(mutex_);
  Operation& abandoned = ops_.at(op);
  assert(abandoned.outcome == Outcome::kPending);
  abandoned.outcome = Outcome::kUnknown;
  abandoned.completed = now;
}

void History::set_final_value(std::int64_t value) {
  const std::lock_guard lock(mutex_);
  final_value_ = value;
}

History::OpId History::record_get(Clock::duration invoked, Clock::duration completed,
                                  std::int64_t value) {
  Operation op;
  op.kind = Operation::Kind::kGet;
  op.value = value;
  op.outcome = Outcome::kOk;
  op.invoked = invoked;
  op.completed = completed;
  return push(op);
}

History::OpId History::record_add(std::int64_t delta, Clock::duration invoked,
                                  Clock::duration completed, Outcome outcome) {
  Operation op;
  op.kind = Operation::Kind::kAdd;
  op.delta = delta;
  op.outcome = outcome;
  op.invoked = invoked;
  op.completed = completed;
  return push(op);
}

std::optional<std::int64_t> History::final_value() const {
  const std::lock_guard lock(mutex_);
  return final_value_;
}

std::vector<Operation> History::operations() const {
  const std::lock_guard lock(mutex_);
  return ops_;
}

const char* verdict_name(Verdict verdict) {
  switch (verdict) {
    case Verdict::kLinearizable:
      return "linearizable";
    case Verdict::kViolation:
      return "violation";
    case Verdict::kUndecided:
      return "undecided";
  }
  return "?";
}

// ---------------------------------------------------------------------------------------------
// Checking
//
// The model. Err'd mutations and mutations of delta 0 are dropped: neither changes any value,
// and dropping an operation that changes nothing cannot make an order impossible (it fits
// between its last real-time predecessor and its first successor, which are ordered anyway).
// A mutation without a reply gets completion time "never": it may then be ordered after
// everything, which is the same as never applied. The final value is a get invoked after every
// recorded time. Gets without a reply are dropped.
//
// An order is a sequence of gets with the mutations between them. The one fact used throughout
// (call it the pairwise rule): a grouping of the operations into consecutive groups (here:
// runs of mutations between gets) can be turned into a full order respecting real time if and
// only if no operation A completed before an operation B was invoked while A's group comes after
// B's. (Within a group any linear extension of the real-time order will do, and the real-time
// order is a partial order, so one exists.)

namespace {

__extension__ using Wide = __int128;  // sums of int64 deltas cannot overflow it
__extension__ using UnsignedWide = unsigned __int128;

constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();
constexpr std::size_t kFinalRead = std::numeric_limits<std::size_t>::max();
constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();
// A witness lists at most this many operations and counts the rest.
constexpr std::size_t kListed = 6;

std::string wide_string(Wide v) {
  if (v == 0) return "0";
  UnsignedWide magnitude =
      v < 0 ? UnsignedWide(0) - static_cast<UnsignedWide>(v) : static_cast<UnsignedWide>(v);
  std::string digits;
  while (magnitude != 0) {
    digits.push_back(static_cast<char>('0' + static_cast<int>(magnitude % 10)));
    magnitude /= 10;
  }
  if (v < 0) digits.push_back('-');
  std::reverse(digits.begin(), digits.end());
  return digits;
}

std::int64_t nanoseconds(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

struct Mutation {
  Wide delta = 0;                   // times Problem::sign
  std::int64_t invoked = 0;         // ns since the history's start
  std::int64_t completed = kNever;  // kNever: no reply
  std::size_t id = 0;               // index in Problem::ops
};

struct Read {
  Wide value = 0;  // times Problem::sign
  std::int64_t invoked = 0;
  std::int64_t completed = 0;
  std::size_t id = 0;  // index in Problem::ops, or kFinalRead
};

// A history in the checker's terms. When every delta is negative, values and deltas are negated
// (sign = -1) so that the same-sign code deals with increases only; explanations show the
// recorded numbers.
struct Problem {
  Wide initial = 0;
  int sign = 1;
  std::vector<Mutation> mutations;
  std::vector<Read> reads;
  std::vector<Operation> ops;  // as recorded
  std::int64_t final_value = 0;
};

Problem build_problem(const History& history) {
  Problem p;
  p.ops = history.operations();
  p.initial = history.initial_value();
  std::int64_t last = 0;
  for (std::size_t i = 0; i < p.ops.size(); ++i) {
    const Operation& op = p.ops[i];
    const std::int64_t invoked = nanoseconds(op.invoked);
    last = std::max(last, invoked);
    if (op.outcome != Outcome::kPending) last = std::max(last, nanoseconds(op.completed));
    if (op.kind == Operation::Kind::kGet) {
      if (op.outcome == Outcome::kOk) {
        p.reads.push_back({op.value, invoked, nanoseconds(op.completed), i});
      }
    } else if (op.delta != 0 && op.outcome != Outcome::kErr) {
      const bool acked = op.outcome == Outcome::kOk;
      p.mutations.push_back({op.delta, invoked, acked ? nanoseconds(op.completed) : kNever, i});
    }
  }
  if (const auto final_value = history.final_value()) {
    p.final_value = *final_value;
    p.reads.push_back({*final_value, last + 1, last + 2, kFinalRead});
  }
  return p;
}

void negate(Problem& p) {
  p.sign = -p.sign;
  p.initial = -p.initial;
  for (Mutation& m : p.mutations) m.delta = -m.delta;
  for (Read& r : p.reads) r.value = -r.value;
}

// ---------------------------------------------------------------------------------------------
// Explanations: operations by name, times in ms since the start, numbers as recorded.

class Namer {
 public:
  explicit Namer(const Problem& p) : p_(p) {}

  static std::string time(std::int64_t ns) {
    return fmt::format("{:.3f}ms", static_cast<double>(ns) / 1e6);
  }

  std::string value(Wide normalised) const { return wide_string(normalised * p_.sign); }

  std::string read(const Read& r) const {
    if (r.id == kFinalRead) {
      return fmt::format("the final get (after {}) read {}", time(r.invoked), p_.final_value);
    }
    return fmt::format("get#{} [{}, {}] read {}", r.id, time(r.invoked), time(r.completed),
                       p_.ops[r.id].value);
  }

  std::string mutation(const Mutation& m) const {
    const Operation& op = p_.ops[m.id];
    const std::string name = op.delta == 1    ? fmt::format("incr#{}", m.id)
                             : op.delta == -1 ? fmt::format("decr#{}", m.id)
                                              : fmt::format("add({})#{}", op.delta, m.id);
    if (m.completed == kNever) {
      return fmt::format("{} [{}, no reply]", name, time(m.invoked));
    }
    return fmt::format("{} ok [{}, {}]", name, time(m.invoked), time(m.completed));
  }

  // "a, b, c and 12 more", at most kListed named.
  std::string mutations(const std::vector<const Mutation*>& list) const {
    std::string text;
    for (std::size_t i = 0; i < list.size() && i < kListed; ++i) {
      if (i > 0) text += "; ";
      text += mutation(*list[i]);
    }
    if (list.size() > kListed) text += fmt::format("; and {} more", list.size() - kListed);
    return text.empty() ? "none" : text;
  }

 private:
  const Problem& p_;
};

CheckResult violation(std::string explanation) {
  return {Verdict::kViolation, "not linearizable: " + std::move(explanation)};
}

// ---------------------------------------------------------------------------------------------
// Check 1, any signs: each get alone. A get g can be preceded only by mutations invoked before
// g completed, and must be preceded by every acknowledged one that completed before g was
// invoked. So g's value minus the initial value lies between (must-sum of increases + every
// decrease that may precede) and (must-sum of decreases + every increase that may precede).
// Outside that range no order exists: sound. Catches stale reads and reads from the future.

std::optional<CheckResult> check_each_read_alone(const Problem& p, const Namer& name) {
  // Every mutation by invocation, and acknowledged ones by completion, with prefix sums of
  // the positive and of the negative deltas.
  struct Prefix {
    std::vector<std::int64_t> times;
    std::vector<Wide> up{0};
    std::vector<Wide> down{0};
    std::vector<const Mutation*> order;
  };
  const auto build = [&](bool by_completion) {
    Prefix prefix;
    for (const Mutation& m : p.mutations) {
      if (!by_completion || m.completed != kNever) prefix.order.push_back(&m);
    }
    std::sort(prefix.order.begin(), prefix.order.end(), [&](const Mutation* a, const Mutation* b) {
      return by_completion ? a->completed < b->completed : a->invoked < b->invoked;
    });
    for (const Mutation* m : prefix.order) {
      prefix.times.push_back(by_completion ? m->completed : m->invoked);
      prefix.up.push_back(prefix.up.back() + std::max<Wide>(m->delta, 0));
      prefix.down.push_back(prefix.down.back() + std::min<Wide>(m->delta, 0));
    }
    return prefix;
  };
  const Prefix by_invocation = build(false);
  const Prefix by_completion = build(true);

  for (const Read& r : p.reads) {
    // Acknowledged before r was invoked: completed < r.invoked.
    const auto must = static_cast<std::size_t>(
        std::lower_bound(by_completion.times.begin(), by_completion.times.end(), r.invoked) -
        by_completion.times.begin());
    // Invoked no later than r completed.
    const auto may = static_cast<std::size_t>(
        std::upper_bound(by_invocation.times.begin(), by_invocation.times.end(), r.completed) -
        by_invocation.times.begin());
    const Wide low = p.initial + by_completion.up[must] + by_invocation.down[may];
    const Wide high = p.initial + by_completion.down[must] + by_invocation.up[may];
    if (r.value >= low && r.value <= high) continue;
    // Stale when it misses acknowledged mutations that pull the other way; otherwise it counts
    // mutations that had not been invoked yet.
    const bool too_low = r.value < low;
    const bool stale = too_low ? by_completion.up[must] > 0 : by_completion.down[must] < 0;
    if (stale) {
      std::vector<const Mutation*> before(by_completion.order.begin(),
                                          by_completion.order.begin() + static_cast<long>(must));
      std::reverse(before.begin(), before.end());
      return violation(fmt::format(
          "stale read: {}, but the {} mutations acknowledged before it was invoked keep the "
          "counter at {} {}, even with every mutation that could precede it (the last "
          "acknowledged: {})",
          name.read(r), must, too_low ? "least" : "most", name.value(too_low ? low : high),
          name.mutations(before)));
    }
    std::vector<const Mutation*> after(by_invocation.order.begin() + static_cast<long>(may),
                                       by_invocation.order.end());
    return violation(fmt::format(
        "read from the future: {}, but the mutations invoked before it completed take the "
        "counter to {} {} (the first invoked after it completed: {})",
        name.read(r), too_low ? "at least" : "at most", name.value(too_low ? low : high),
        name.mutations(after)));
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Same-sign histories (after negation, every delta > 0). The value only grows, so in any order
// the gets appear sorted by value, and all gets of one value form one "level" with no mutation
// between them. Levels 1..K hold the distinct values v_1 < ... < v_K; v_0 is the initial value.
// Gap j (0 <= j <= K) is the run of mutations between level j and level j+1 (gap K: after the
// last level). Gap j < K must add exactly v_{j+1} - v_j; gap K is free. A mutation placed in
// gap K is the same as an unacknowledged mutation never applied.
//
// By the pairwise rule, an assignment of mutations to gaps is an order if and only if
//   (a) get g1 completed before get g2 was invoked => level(g1) <= level(g2);
//   (b) get g completed before mutation m was invoked => gap(m) >= level(g);
//       m completed before g was invoked => gap(m) <= level(g) - 1;
//   (c) mutation m1 completed before m2 was invoked => gap(m1) <= gap(m2);
//   (d) each gap j < K adds up to v_{j+1} - v_j.
// (b) gives each mutation a window [lo, hi] of gaps; (a) and empty windows are checked first.

struct Level {
  Wide value = 0;
  std::vector<std::size_t> reads;  // indices in Problem::reads
  std::int64_t latest_invoked = 0;
  std::int64_t earliest_completed = kNever;
};

struct Levels {
  std::vector<Level> levels;          // levels[0] is level 1
  std::vector<std::size_t> level_of;  // per read: its level, 1-based
};

Levels make_levels(const Problem& p) {
  Levels out;
  std::vector<std::size_t> order(p.reads.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return p.reads[a].value < p.reads[b].value; });
  out.level_of.assign(p.reads.size(), 0);
  for (const std::size_t i : order) {
    const Read& r = p.reads[i];
    if (out.levels.empty() || out.levels.back().value != r.value) {
      out.levels.push_back({});
      out.levels.back().value = r.value;
    }
    Level& level = out.levels.back();
    level.reads.push_back(i);
    level.latest_invoked = std::max(level.latest_invoked, r.invoked);
    level.earliest_completed = std::min(level.earliest_completed, r.completed);
    out.level_of[i] = out.levels.size();
  }
  return out;
}

// (a): no get completed before another was invoked yet read more.
std::optional<CheckResult> check_reads_in_order(const Problem& p, const Namer& name) {
  std::vector<std::size_t> by_completion(p.reads.size());
  for (std::size_t i = 0; i < by_completion.size(); ++i) by_completion[i] = i;
  std::sort(by_completion.begin(), by_completion.end(), [&](std::size_t a, std::size_t b) {
    return p.reads[a].completed < p.reads[b].completed;
  });
  std::vector<std::int64_t> completions;
  std::vector<std::size_t> highest;  // prefix: the read of highest value so far
  for (const std::size_t i : by_completion) {
    completions.push_back(p.reads[i].completed);
    highest.push_back(
        highest.empty() || p.reads[i].value > p.reads[highest.back()].value ? i : highest.back());
  }
  for (const Read& later : p.reads) {
    const auto before = static_cast<std::size_t>(
        std::lower_bound(completions.begin(), completions.end(), later.invoked) -
        completions.begin());
    if (before == 0) continue;
    const Read& earlier = p.reads[highest[before - 1]];
    if (earlier.value > later.value) {
      return violation(fmt::format(
          "reads go backwards: {} completed before {} was invoked, and every mutation {} the "
          "counter",
          name.read(earlier), name.read(later), p.sign > 0 ? "increases" : "decreases"));
    }
  }
  return std::nullopt;
}

// Per mutation, its window of gaps from (b), and the gets that bound it.
struct Windows {
  std::vector<std::size_t> lo, hi;
  std::vector<std::size_t> lo_read, hi_read;  // the read setting each bound, or kNone
};

std::variant<Windows, CheckResult> compute_windows(const Problem& p, const Levels& l,
                                                   const Namer& name) {
  const std::size_t k = l.levels.size();
  std::vector<std::size_t> by_completion(p.reads.size()), by_invocation(p.reads.size());
  for (std::size_t i = 0; i < p.reads.size(); ++i) by_completion[i] = by_invocation[i] = i;
  std::sort(by_completion.begin(), by_completion.end(), [&](std::size_t a, std::size_t b) {
    return p.reads[a].completed < p.reads[b].completed;
  });
  std::sort(by_invocation.begin(), by_invocation.end(),
            [&](std::size_t a, std::size_t b) { return p.reads[a].invoked < p.reads[b].invoked; });
  // Prefix by completion: the read of highest level; suffix by invocation: of lowest level.
  std::vector<std::int64_t> completions, invocations;
  std::vector<std::size_t> highest, lowest(p.reads.size() + 1, kNone);
  for (const std::size_t i : by_completion) {
    completions.push_back(p.reads[i].completed);
    highest.push_back(
        highest.empty() || l.level_of[i] > l.level_of[highest.back()] ? i : highest.back());
  }
  for (const std::size_t i : by_invocation) invocations.push_back(p.reads[i].invoked);
  for (std::size_t pos = p.reads.size(); pos-- > 0;) {
    const std::size_t i = by_invocation[pos];
    lowest[pos] = lowest[pos + 1] == kNone || l.level_of[i] < l.level_of[lowest[pos + 1]]
                      ? i
                      : lowest[pos + 1];
  }

  Windows w;
  const std::size_t n = p.mutations.size();
  w.lo.assign(n, 0);
  w.hi.assign(n, k);
  w.lo_read.assign(n, kNone);
  w.hi_read.assign(n, kNone);
  for (std::size_t i = 0; i < n; ++i) {
    const Mutation& m = p.mutations[i];
    // Reads completed before m was invoked: m comes after their levels.
    const auto before = static_cast<std::size_t>(
        std::lower_bound(completions.begin(), completions.end(), m.invoked) - completions.begin());
    if (before > 0) {
      w.lo_read[i] = highest[before - 1];
      w.lo[i] = l.level_of[w.lo_read[i]];
    }
    // Reads invoked after m completed: m comes before their levels.
    if (m.completed != kNever) {
      const auto after = static_cast<std::size_t>(
          std::upper_bound(invocations.begin(), invocations.end(), m.completed) -
          invocations.begin());
      if (lowest[after] != kNone) {
        w.hi_read[i] = lowest[after];
        w.hi[i] = l.level_of[w.hi_read[i]] - 1;
      }
    }
    if (w.lo[i] > w.hi[i]) {
      // With (a) holding, both bounding reads are on one level: m must lie strictly between two
      // gets of the same value, and it changes the value.
      return violation(fmt::format(
          "{} was invoked after {} completed and acknowledged before {} was invoked, so it lies "
          "between them, yet they read the same value",
          name.mutation(m), name.read(p.reads[w.lo_read[i]]), name.read(p.reads[w.hi_read[i]])));
    }
  }
  return w;
}

// ---------------------------------------------------------------------------------------------
// Same-sign histories: filling the gaps earliest deadline first. O(n log n); exact when every
// mutation has the same delta d, a necessary condition otherwise.
//
// With equal deltas, (c) can be ignored: if an assignment obeys the windows but m1 completed
// before m2 was invoked while gap(m1) > gap(m2), swap their gaps. Both windows stay obeyed,
// because m1's window lies below m2's at both ends (any get before m1 is before m2, any get
// after m2 is after m1), and the sums stay (equal deltas). Each swap raises
// sum(gap(m) * rank of m by invocation) (m1 is invoked first), so swapping ends, with (c) true.
// So the question is a matching of mutations to gaps in their windows, exactly
// (v_{j+1} - v_j) / d in each gap j < K (a remainder is a violation), every acknowledged
// mutation matched (gap K takes any number), unacknowledged ones optional (their window always
// reaches K). Earliest deadline first decides it: sweep the gaps in order, keep the mutations
// whose window has opened, and fill gap j from those of lowest hi. If too few are open, or an
// acknowledged mutation with hi = j is left over, no assignment exists. Proof: take a valid
// assignment agreeing with the sweep on gaps before j. If at gap j it uses x where the sweep
// used y (y's hi lower), y sits in some later gap (or unapplied, then hi(y) = K = hi(x)); swap
// x and y: y fits gap j, x fits y's gap since hi(x) >= hi(y). Repeating makes it agree at gap j
// too. So the sweep fails only when no assignment exists.
//
// With several deltas the same sweep runs on a relaxation: every mutation may be split into
// pieces that land in different gaps of its window, and (c) is dropped. Any order gives a
// solution of the relaxation, so when the sweep fails (the same exchange proof holds for
// pieces) no order exists; when it succeeds, the search below decides. A gap whose rise is not
// a multiple of the deltas' greatest common divisor is a violation too. With one delta the
// sweep never splits a mutation (every rise is a multiple of d), so it is the exact sweep.
//
// When it fails, the witness is a range of gaps [a, j] that Hall's condition rules out: either
// the mutations that can reach it add less than it needs, or the acknowledged ones that must
// land in it add more than it takes. The sweep's record of what it used where gives the
// largest such a.

class GapFill {
 public:
  GapFill(const Problem& p, const Levels& l, const Windows& w, const Namer& name)
      : p_(p), l_(l), w_(w), name_(name) {}

  std::optional<CheckResult> run() {
    const std::size_t k = l_.levels.size();
    Wide step = 0;  // the greatest common divisor of the deltas
    for (const Mutation& m : p_.mutations) step = gcd(step, m.delta);
    need_.resize(k);
    for (std::size_t j = 0; j < k; ++j) {
      need_[j] = value(j + 1) - value(j);
      // No mutations (step 0): every get reads the initial value, which check 1 made sure of.
      if (step != 0 && need_[j] % step != 0) {
        return violation(fmt::format(
            "every mutation changes the counter by a multiple of {}, but {} and {} differ by {}",
            name_.value(step), lower_end(j), name_.read(p_.reads[l_.levels[j].reads.front()]),
            name_.value(need_[j])));
      }
    }

    const std::size_t n = p_.mutations.size();
    left_.resize(n);
    for (std::size_t i = 0; i < n; ++i) left_[i] = p_.mutations[i].delta;
    std::vector<std::size_t> by_lo(n);
    for (std::size_t i = 0; i < n; ++i) by_lo[i] = i;
    std::sort(by_lo.begin(), by_lo.end(),
              [&](std::size_t a, std::size_t b) { return w_.lo[a] < w_.lo[b]; });
    // Open mutations, lowest hi on top (ties by index, for a deterministic witness).
    const auto later = [&](std::size_t a, std::size_t b) {
      return w_.hi[a] != w_.hi[b] ? w_.hi[a] > w_.hi[b] : a > b;
    };
    std::priority_queue<std::size_t, std::vector<std::size_t>, decltype(later)> open(later);
    Wide open_sum = 0;
    std::size_t next = 0;
    for (std::size_t j = 0; j < k; ++j) {
      while (next < n && w_.lo[by_lo[next]] <= j) {
        open_sum += left_[by_lo[next]];
        open.push(by_lo[next++]);
      }
      gap_start_.push_back(used_.size());
      if (open_sum < need_[j]) return too_little(j, open_sum);
      std::size_t highest = 0;
      for (Wide missing = need_[j]; missing > 0;) {
        const std::size_t i = open.top();
        const Wide taken = std::min(missing, left_[i]);
        highest = std::max(highest, w_.hi[i]);
        used_.push_back(i);
        left_[i] -= taken;
        open_sum -= taken;
        missing -= taken;
        if (left_[i] == 0) open.pop();
      }
      highest_hi_.push_back(highest);
      if (!open.empty() && w_.hi[open.top()] == j) {
        std::vector<std::size_t> stuck;
        while (!open.empty() && w_.hi[open.top()] == j) {
          stuck.push_back(open.top());
          open.pop();
        }
        return too_much(j, stuck);
      }
    }
    return std::nullopt;
  }

 private:
  static Wide gcd(Wide a, Wide b) {
    if (a < 0) a = -a;
    if (b < 0) b = -b;
    while (b != 0) a = std::exchange(b, a % b);
    return a;
  }

  Wide value(std::size_t level) const {
    return level == 0 ? p_.initial : l_.levels[level - 1].value;
  }

  std::string lower_end(std::size_t a) const {
    return a == 0 ? fmt::format("the initial value {}", name_.value(p_.initial))
                  : name_.read(p_.reads[l_.levels[a - 1].reads.front()]);
  }

  // Among levels first..last (1-based, inclusive), the read invoked last / completed first.
  const Read& latest_invoked(std::size_t first, std::size_t last) const {
    const Read* best = nullptr;
    for (std::size_t level = first; level <= last; ++level) {
      for (const std::size_t i : l_.levels[level - 1].reads) {
        if (best == nullptr || p_.reads[i].invoked > best->invoked) best = &p_.reads[i];
      }
    }
    return *best;
  }
  const Read& earliest_completed(std::size_t first, std::size_t last) const {
    const Read* best = nullptr;
    for (std::size_t level = first; level <= last; ++level) {
      for (const std::size_t i : l_.levels[level - 1].reads) {
        if (best == nullptr || p_.reads[i].completed < best->completed) best = &p_.reads[i];
      }
    }
    return *best;
  }

  // The distinct mutations in `indices`, in order of first appearance.
  std::vector<const Mutation*> distinct(const std::vector<std::size_t>& indices) const {
    std::vector<const Mutation*> out;
    std::unordered_set<std::size_t> seen;
    for (const std::size_t i : indices) {
      if (seen.insert(i).second) out.push_back(&p_.mutations[i]);
    }
    return out;
  }

  // Gap j cannot be filled. Take the largest a <= j such that everything used before gap a has
  // hi < a: then the mutations whose window meets [a, j] are exactly those used in gaps a..j-1
  // and those still open, and they add less than gaps a..j need.
  CheckResult too_little(std::size_t j, Wide open_sum) const {
    std::vector<std::size_t> highest_before(j + 1, 0);  // [a]: 1 + max hi used in gaps < a
    for (std::size_t a = 1; a <= j; ++a) {
      highest_before[a] = std::max(highest_before[a - 1], highest_hi_[a - 1] + 1);
    }
    std::size_t a = j;
    while (a > 0 && highest_before[a] > a) --a;
    Wide reach = open_sum;
    for (std::size_t g = a; g < j; ++g) reach += need_[g];
    const std::vector<std::size_t> used(used_.begin() + static_cast<long>(gap_start_[a]),
                                        used_.end());
    std::string bounds;
    if (a > 0) {
      bounds +=
          fmt::format("acknowledged before {} was invoked, or ", name_.read(latest_invoked(1, a)));
    }
    bounds += fmt::format("invoked after {} completed",
                          name_.read(earliest_completed(j + 1, l_.levels.size())));
    return violation(fmt::format(
        "from {} to {} the counter must change by {}, but the mutations that can fall in "
        "between change it by {} at most (any other was {}){}{}",
        lower_end(a), name_.read(p_.reads[l_.levels[j].reads.front()]),
        name_.value(value(j + 1) - value(a)), name_.value(reach), bounds,
        used.empty() ? "" : "; used between earlier values: ",
        used.empty() ? "" : name_.mutations(distinct(used))));
  }

  // Acknowledged mutations with hi = j are left after gap j was filled. Let a be 1 + the last
  // gap before j that used a mutation with hi > j (or 0): every mutation used in gaps a..j has
  // hi <= j (the sweep prefers lower hi) and lo >= a (else gap a-1 would have preferred it),
  // so together with those left they must all fall in gaps a..j, more than those take.
  CheckResult too_much(std::size_t j, const std::vector<std::size_t>& stuck) const {
    std::size_t a = j;
    while (a > 0 && highest_hi_[a - 1] <= j) --a;
    std::vector<std::size_t> trapped = stuck;
    trapped.insert(trapped.end(), used_.begin() + static_cast<long>(gap_start_[a]), used_.end());
    Wide total = 0;
    for (const std::size_t i : stuck) total += left_[i];
    for (std::size_t g = a; g <= j; ++g) total += need_[g];
    const std::string invoked =
        a == 0 ? std::string()
               : fmt::format("invoked after {} completed and ",
                             name_.read(earliest_completed(a, l_.levels.size())));
    return violation(fmt::format(
        "acknowledged mutations that must all fall between {} and {} change the counter by {}, "
        "but those values differ by {}: each was {}acknowledged before {} was invoked: {}",
        lower_end(a), name_.read(p_.reads[l_.levels[j].reads.front()]), name_.value(total),
        name_.value(value(j + 1) - value(a)), invoked, name_.read(latest_invoked(1, j + 1)),
        name_.mutations(distinct(trapped))));
  }

  const Problem& p_;
  const Levels& l_;
  const Windows& w_;
  const Namer& name_;
  std::vector<Wide> need_;               // per gap j < K: the rise it must hold
  std::vector<Wide> left_;               // per mutation: the part not yet placed
  std::vector<std::size_t> used_;        // mutation indices, gap by gap (split ones repeat)
  std::vector<std::size_t> gap_start_;   // per gap: its first entry in used_
  std::vector<std::size_t> highest_hi_;  // per gap: the highest hi among those it used
};

// ---------------------------------------------------------------------------------------------
// Everything else: mutations of several sizes, or of both signs. An exhaustive search, exact
// when it ends.
//
// It builds the order one get (or one level of equal gets, for same-sign histories) at a time.
// A state is the set of gets placed and the set A of mutations placed before the last of them,
// with tau = the latest invocation in A. Placing get g next adds a set D of mutations before it:
//   - g must be "minimal": no unplaced get completed before g was invoked. For same-sign
//     histories the levels go in value order instead (that order is forced; (a) was checked).
//   - D holds every unplaced mutation that completed before g was invoked (forced);
//   - tau after adding D is no later than the completion of g, nor of any get still unplaced:
//     a mutation invoked after a get completed cannot precede it, and every unplaced get comes
//     later, after A + D (so D holds only mutations invoked by then);
//   - A + D is closed downwards: with every member, it holds every mutation that completed
//     before that member was invoked (the (c) of above, in any sign);
//   - the initial value plus the deltas of A + D is g's value.
// These are the pairwise rule's conditions for the runs of mutations between consecutive gets,
// so a search that tries every such D for every minimal g is exact. When every get is placed,
// the mutations left go last: none must precede a get (they were not forced).
//
// To try fewer D: among mutations of the same delta that could go in D, it suffices to try those
// that take the earliest completions first. Precisely, a solution can be assumed in which no D
// holds a mutation x while a mutation y of the same delta with an earlier (completion, index) is
// left out of it and y was invoked no later than tau after D. Proof: swap x and y in the whole
// order (y takes x's run, x takes y's later run, or the end). Values stay. y in x's run: any get
// after that run that completed before y was invoked would have completed before tau, the
// invocation of some mutation before it, which was wrong already; mutations that completed
// before y was invoked completed before tau too, so they were in the run or earlier. x in y's
// later run: a get or mutation that x had to precede, y (completing earlier) had to precede too.
// Each swap moves the earlier-completing mutation to an earlier run, which increases
// sum(run index * rank by completion); so swapping ends. This collapses the many equivalent
// choices among mutations of one size.
//
// How D is enumerated: by its threshold first. Write tau' for the latest invocation in A + D.
// Closure holds exactly when every unplaced mutation left out completed no earlier than tau',
// so once tau' is fixed the rest is free: D = (mutations that completed before tau') + any
// choice among those invoked by tau', and by the rule above, within each delta that choice is
// the ones completing first. The thresholds tried are the invocations of the candidates, from
// the latest down (the largest choice first: earliest deadlines first, which on real histories
// mostly succeeds at once). For one threshold, a depth-first walk over the candidates in
// completion order includes before it excludes; excluding one closes its delta for the rest of
// the walk (the rule above), and the walk is pruned by the range the open deltas can still add.
// One D is valid for a range of thresholds; it is taken at the largest only, so that no D is
// tried twice. Memory of states already ruled out (by 128-bit hash) keeps different orders of
// gets, or different D, that end in the same state from being searched twice.

struct StateKey {
  std::uint64_t a = 0, b = 0;
  bool operator==(const StateKey&) const = default;
};
struct StateKeyHash {
  std::size_t operator()(const StateKey& key) const { return key.a ^ (key.b * 0x9e3779b97f4a7c15); }
};

// The gets placed in one move: a level of equal gets, or a single get.
struct Slot {
  Wide value = 0;
  std::int64_t latest_invoked = 0;
  std::int64_t earliest_completed = kNever;
  std::size_t read = 0;  // one of its reads, for explanations
};

class Search {
 public:
  enum class Result { kFound, kExhausted, kOutOfSteps };

  // `ordered`: slots must be placed in the given order (same-sign levels); otherwise any
  // minimal slot may come next.
  Search(const Problem& p, std::vector<Slot> slots, bool ordered, std::uint64_t max_steps)
      : p_(p), slots_(std::move(slots)), ordered_(ordered), max_steps_(max_steps) {
    const std::size_t n = p_.mutations.size();
    std::vector<std::size_t> by_invocation(n);
    for (std::size_t i = 0; i < n; ++i) by_invocation[i] = i;
    std::sort(by_invocation.begin(), by_invocation.end(), [&](std::size_t a, std::size_t b) {
      return p_.mutations[a].invoked < p_.mutations[b].invoked;
    });
    // A doubly linked list of unplaced mutations by invocation, node n is the head.
    next_.resize(n + 1);
    prev_.resize(n + 1);
    std::size_t last = n;
    for (const std::size_t i : by_invocation) {
      next_[last] = i;
      prev_[i] = last;
      last = i;
    }
    next_[last] = n;
    prev_[n] = last;
    done_.assign(slots_.size(), false);
    std::mt19937_64 random(0x6c696e6561726973);
    mutation_key_.resize(n);
    for (StateKey& key : mutation_key_) key = {random(), random()};
    slot_key_.resize(slots_.size());
    for (StateKey& key : slot_key_) key = {random(), random()};
    value_ = p_.initial;
  }

  Result run();

  std::uint64_t steps() const { return steps_; }
  std::size_t states() const { return seen_.size(); }
  // The most slots any partial order placed, and a slot that could not come next there.
  std::size_t deepest() const { return deepest_; }
  std::size_t stuck_slot() const { return stuck_slot_; }

 private:
  // The choices of D for placing one slot from the current state.
  class Choices {
   public:
    // `cap`: the earliest completion among the unplaced slots, this one included.
    Choices(Search& s, std::size_t slot, std::int64_t cap);
    // Moves to the next D; false when there is none left or steps ran out.
    bool next();
    // The current D: appended to `out`.
    void chosen(std::vector<std::size_t>& out) const;
    // The latest invocation among the placed mutations once D is added.
    std::int64_t tau() const { return leaf_tau_; }
    std::size_t slot() const { return slot_; }

   private:
    enum Choice : signed char { kUntried, kIncluded, kExcluded, kSkipped };
    bool next_threshold();   // sets up the walk for the next threshold worth walking
    bool walk(bool resume);  // to the next accepted D under the current threshold
    bool enter(std::size_t depth) const;
    bool backtrack();
    bool taken_at_this_threshold();

    Search& s_;
    const std::size_t slot_;
    bool dead_ = false;
    std::vector<std::size_t> forced_;    // completed before the slot's latest invocation
    std::vector<std::size_t> optional_;  // the other candidates, by (completion, index)
    std::vector<std::size_t> class_of_;  // per optional_: index of its delta
    std::size_t classes_ = 0;
    Wide target_ = 0;                       // what D minus forced_ must add
    std::int64_t base_tau_ = 0;             // tau after A + forced_
    std::vector<std::int64_t> thresholds_;  // from the latest down
    std::size_t next_threshold_ = 0;
    std::int64_t threshold_ = 0;
    // For the quick range test of a threshold: optional_ by invocation and by completion,
    // with prefix sums of the positive and the negative deltas.
    std::vector<std::int64_t> invocations_, completions_;
    std::vector<Wide> invoked_up_, invoked_down_, completed_up_, completed_down_;
    // The walk under the current threshold, over positions in optional_.
    bool walking_ = false;
    std::vector<std::size_t> list_;
    std::vector<bool> must_;                 // per list_: completed before the threshold
    std::vector<Wide> rest_up_, rest_down_;  // per list_: its delta's sums further on
    std::vector<Choice> choice_;
    std::vector<Wide> sum_, up_, down_;  // per depth: sum so far, range still addable
    std::vector<bool> closed_;           // per delta: one was left out, so are the rest
    std::size_t depth_ = 0;
    std::vector<bool> in_d_;  // per optional_, for the current D
    bool resumed_ = false;
    std::int64_t leaf_tau_ = 0;
  };

  struct Frame {
    std::vector<std::size_t> candidates;  // slots that may come next
    std::int64_t cap = kNever;            // earliest completion among the unplaced slots
    std::size_t next_candidate = 0;
    std::optional<Choices> choices;
    std::vector<std::size_t> applied;  // mutations placed by the current choice
    Wide saved_value = 0;
    std::int64_t saved_tau = 0;
    bool holds_choice = false;
  };

  void start(Frame& f) const;  // fills f.candidates and f.cap
  void apply(Frame& f);
  void undo(Frame& f);
  // Counts `n` steps of work; false (and out_of_steps_ set) once past the limit.
  bool step(std::size_t n = 1) {
    steps_ += n;
    if (steps_ > max_steps_) out_of_steps_ = true;
    return !out_of_steps_;
  }

  const Problem& p_;
  const std::vector<Slot> slots_;
  const bool ordered_;
  const std::uint64_t max_steps_;
  std::uint64_t steps_ = 0;
  bool out_of_steps_ = false;

  std::vector<std::size_t> next_, prev_;  // the list of unplaced mutations
  std::vector<bool> done_;
  std::size_t done_count_ = 0;
  Wide value_ = 0;
  std::int64_t tau_ = std::numeric_limits<std::int64_t>::min();
  StateKey key_;
  std::vector<StateKey> mutation_key_, slot_key_;
  std::unordered_set<StateKey, StateKeyHash> seen_;
  std::size_t deepest_ = 0;
  std::size_t stuck_slot_ = kNone;
};

Search::Choices::Choices(Search& s, std::size_t slot, std::int64_t cap) : s_(s), slot_(slot) {
  const Slot& g = s.slots_[slot];
  assert(cap <= g.earliest_completed);
  const std::vector<Mutation>& mutations = s.p_.mutations;
  const std::size_t head = mutations.size();
  base_tau_ = s.tau_;
  Wide forced_sum = 0;
  const std::int64_t reach = std::max(cap, g.latest_invoked);
  for (std::size_t i = s.next_[head]; i != head; i = s.next_[i]) {
    const Mutation& m = mutations[i];
    if (m.invoked > reach) break;
    if (!s.step()) {
      dead_ = true;
      return;
    }
    if (m.completed < g.latest_invoked) {
      forced_.push_back(i);
      forced_sum += m.delta;
      base_tau_ = std::max(base_tau_, m.invoked);
    } else if (m.invoked <= cap) {
      optional_.push_back(i);
    }
  }
  if (base_tau_ > cap) {
    dead_ = true;
    return;
  }
  target_ = g.value - s.value_ - forced_sum;
  std::sort(optional_.begin(), optional_.end(), [&](std::size_t a, std::size_t b) {
    const std::int64_t ca = mutations[a].completed, cb = mutations[b].completed;
    return ca != cb ? ca < cb : a < b;
  });
  const std::size_t n = optional_.size();
  std::vector<Wide> deltas;
  for (const std::size_t i : optional_) deltas.push_back(mutations[i].delta);
  std::sort(deltas.begin(), deltas.end());
  deltas.erase(std::unique(deltas.begin(), deltas.end()), deltas.end());
  classes_ = deltas.size();
  class_of_.resize(n);
  for (std::size_t k = 0; k < n; ++k) {
    class_of_[k] = static_cast<std::size_t>(
        std::lower_bound(deltas.begin(), deltas.end(), mutations[optional_[k]].delta) -
        deltas.begin());
  }

  std::vector<std::size_t> by_invocation = optional_;
  std::sort(by_invocation.begin(), by_invocation.end(), [&](std::size_t a, std::size_t b) {
    return mutations[a].invoked < mutations[b].invoked;
  });
  invoked_up_.assign(1, 0);
  invoked_down_.assign(1, 0);
  for (const std::size_t i : by_invocation) {
    invocations_.push_back(mutations[i].invoked);
    invoked_up_.push_back(invoked_up_.back() + std::max<Wide>(mutations[i].delta, 0));
    invoked_down_.push_back(invoked_down_.back() + std::min<Wide>(mutations[i].delta, 0));
  }
  completed_up_.assign(1, 0);
  completed_down_.assign(1, 0);
  for (const std::size_t i : optional_) {
    completions_.push_back(mutations[i].completed);
    completed_up_.push_back(completed_up_.back() + std::max<Wide>(mutations[i].delta, 0));
    completed_down_.push_back(completed_down_.back() + std::min<Wide>(mutations[i].delta, 0));
  }
  for (std::size_t k = invocations_.size(); k-- > 0;) {
    const std::int64_t invoked = invocations_[k];
    if (invoked <= base_tau_) break;
    if (thresholds_.empty() || thresholds_.back() != invoked) thresholds_.push_back(invoked);
  }
  thresholds_.push_back(base_tau_);
  in_d_.assign(n, false);
}

void Search::Choices::chosen(std::vector<std::size_t>& out) const {
  out.insert(out.end(), forced_.begin(), forced_.end());
  for (std::size_t d = 0; d < list_.size(); ++d) {
    if (choice_[d] == kIncluded) out.push_back(optional_[list_[d]]);
  }
}

bool Search::Choices::next_threshold() {
  const std::vector<Mutation>& mutations = s_.p_.mutations;
  while (next_threshold_ < thresholds_.size()) {
    threshold_ = thresholds_[next_threshold_++];
    if (!s_.step()) return false;
    // Invoked by the threshold: may join. Completed before it: must.
    const auto may = static_cast<std::size_t>(
        std::upper_bound(invocations_.begin(), invocations_.end(), threshold_) -
        invocations_.begin());
    const auto must = static_cast<std::size_t>(
        std::lower_bound(completions_.begin(), completions_.end(), threshold_) -
        completions_.begin());
    const Wide low = completed_up_[must] + invoked_down_[may];
    const Wide high = completed_down_[must] + invoked_up_[may];
    if (target_ < low || target_ > high) continue;

    list_.clear();
    must_.clear();
    for (std::size_t k = 0; k < optional_.size(); ++k) {
      const Mutation& m = mutations[optional_[k]];
      if (m.invoked > threshold_) continue;
      list_.push_back(k);
      must_.push_back(m.completed < threshold_);
    }
    if (!s_.step(list_.size())) return false;
    const std::size_t n = list_.size();
    rest_up_.assign(n, 0);
    rest_down_.assign(n, 0);
    std::vector<Wide> class_up(classes_, 0), class_down(classes_, 0);
    for (std::size_t d = n; d-- > 0;) {
      const std::size_t c = class_of_[list_[d]];
      rest_up_[d] = class_up[c];
      rest_down_[d] = class_down[c];
      const Wide delta = mutations[optional_[list_[d]]].delta;
      class_up[c] += std::max<Wide>(delta, 0);
      class_down[c] += std::min<Wide>(delta, 0);
    }
    choice_.assign(n + 1, kUntried);
    sum_.assign(n + 1, 0);
    up_.assign(n + 1, 0);
    down_.assign(n + 1, 0);
    for (std::size_t c = 0; c < classes_; ++c) {
      up_[0] += class_up[c];
      down_[0] += class_down[c];
    }
    closed_.assign(classes_, false);
    walking_ = true;
    return true;
  }
  return false;
}

bool Search::Choices::enter(std::size_t depth) const {
  const Wide missing = target_ - sum_[depth];
  return missing >= down_[depth] && missing <= up_[depth];
}

// Back to the deepest node with a choice left; false when none is.
bool Search::Choices::backtrack() {
  while (depth_ > 0) {
    const std::size_t d = --depth_;
    if (choice_[d] == kIncluded && !must_[d]) return true;
    if (choice_[d] == kExcluded) closed_[class_of_[list_[d]]] = false;
  }
  return false;
}

bool Search::Choices::walk(bool resume) {
  const std::vector<Mutation>& mutations = s_.p_.mutations;
  const std::size_t n = list_.size();
  if (resume) {
    if (!backtrack()) return false;
  } else {
    depth_ = 0;
    if (!enter(0)) return false;
  }
  for (;;) {
    if (!s_.step()) return false;
    const std::size_t d = depth_;
    if (d == n) {
      if (sum_[n] == target_ && taken_at_this_threshold()) return true;
      if (!backtrack()) return false;
      continue;
    }
    const std::size_t c = class_of_[list_[d]];
    const Wide delta = mutations[optional_[list_[d]]].delta;
    bool entered = false;
    if (choice_[d] == kUntried && closed_[c]) {
      choice_[d] = kSkipped;  // already out of the ranges
      sum_[d + 1] = sum_[d];
      up_[d + 1] = up_[d];
      down_[d + 1] = down_[d];
      entered = enter(d + 1);
    } else if (choice_[d] == kUntried) {
      choice_[d] = kIncluded;
      sum_[d + 1] = sum_[d] + delta;
      up_[d + 1] = up_[d] - std::max<Wide>(delta, 0);
      down_[d + 1] = down_[d] - std::min<Wide>(delta, 0);
      entered = enter(d + 1);
    } else if (choice_[d] == kIncluded && !must_[d]) {
      choice_[d] = kExcluded;
      closed_[c] = true;
      sum_[d + 1] = sum_[d];
      up_[d + 1] = up_[d] - std::max<Wide>(delta, 0) - rest_up_[d];
      down_[d + 1] = down_[d] - std::min<Wide>(delta, 0) - rest_down_[d];
      entered = enter(d + 1);
    } else {
      // Every choice here has been tried.
      if (choice_[d] == kExcluded) closed_[c] = false;
      if (!backtrack()) return false;
      continue;
    }
    if (entered) {
      ++depth_;
      choice_[depth_] = kUntried;
    }
    // Else stay at d: its next choice, or back.
  }
}

// The D at the leaf is also valid under the previous (larger) threshold unless something
// completed before that threshold is left out, or something invoked between the two would
// come before a member of the same delta; then it is taken here, else it was taken there.
bool Search::Choices::taken_at_this_threshold() {
  const std::vector<Mutation>& mutations = s_.p_.mutations;
  std::fill(in_d_.begin(), in_d_.end(), false);
  leaf_tau_ = base_tau_;
  std::vector<std::size_t> last_in(classes_, 0);  // per delta: 1 + the last position in D
  for (std::size_t d = 0; d < list_.size(); ++d) {
    if (choice_[d] != kIncluded) continue;
    const std::size_t k = list_[d];
    in_d_[k] = true;
    leaf_tau_ = std::max(leaf_tau_, mutations[optional_[k]].invoked);
    last_in[class_of_[k]] = k + 1;
  }
  if (next_threshold_ < 2) return true;  // the largest threshold
  const std::int64_t larger = thresholds_[next_threshold_ - 2];
  for (std::size_t k = 0; k < optional_.size(); ++k) {
    const Mutation& m = mutations[optional_[k]];
    if (!in_d_[k] && m.completed < larger) return true;
    if (m.invoked > threshold_ && m.invoked <= larger && k < last_in[class_of_[k]]) return true;
  }
  return false;
}

bool Search::Choices::next() {
  if (dead_) return false;
  for (;;) {
    if (walking_) {
      if (walk(resumed_)) {
        resumed_ = true;
        return true;
      }
      if (s_.out_of_steps_) return false;
      walking_ = false;
    }
    resumed_ = false;
    if (!next_threshold()) return false;
  }
}

void Search::start(Frame& f) const {
  f.cap = kNever;
  for (std::size_t slot = 0; slot < slots_.size(); ++slot) {
    if (!done_[slot]) f.cap = std::min(f.cap, slots_[slot].earliest_completed);
  }
  if (ordered_) {
    f.candidates.push_back(done_count_);
    return;
  }
  for (std::size_t slot = 0; slot < slots_.size(); ++slot) {
    if (!done_[slot] && slots_[slot].latest_invoked <= f.cap) f.candidates.push_back(slot);
  }
  std::sort(f.candidates.begin(), f.candidates.end(), [&](std::size_t a, std::size_t b) {
    return slots_[a].earliest_completed < slots_[b].earliest_completed;
  });
}

void Search::apply(Frame& f) {
  const Choices& c = *f.choices;
  f.applied.clear();
  c.chosen(f.applied);
  f.saved_value = value_;
  f.saved_tau = tau_;
  for (const std::size_t i : f.applied) {
    next_[prev_[i]] = next_[i];
    prev_[next_[i]] = prev_[i];
    key_.a ^= mutation_key_[i].a;
    key_.b ^= mutation_key_[i].b;
    value_ += p_.mutations[i].delta;
  }
  tau_ = c.tau();
  done_[c.slot()] = true;
  ++done_count_;
  key_.a ^= slot_key_[c.slot()].a;
  key_.b ^= slot_key_[c.slot()].b;
  assert(value_ == slots_[c.slot()].value);
  f.holds_choice = true;
}

void Search::undo(Frame& f) {
  const std::size_t slot = f.choices->slot();
  for (std::size_t k = f.applied.size(); k-- > 0;) {  // the reverse order restores the list
    const std::size_t i = f.applied[k];
    next_[prev_[i]] = i;
    prev_[next_[i]] = i;
    key_.a ^= mutation_key_[i].a;
    key_.b ^= mutation_key_[i].b;
  }
  value_ = f.saved_value;
  tau_ = f.saved_tau;
  done_[slot] = false;
  --done_count_;
  key_.a ^= slot_key_[slot].a;
  key_.b ^= slot_key_[slot].b;
  f.holds_choice = false;
}

Search::Result Search::run() {
  if (slots_.empty()) return Result::kFound;
  std::vector<Frame> stack;
  stack.emplace_back();
  start(stack.back());
  while (!stack.empty()) {
    Frame& f = stack.back();
    if (f.holds_choice) undo(f);
    bool found = false;
    for (;;) {
      if (!f.choices) {
        if (f.next_candidate == f.candidates.size()) break;
        f.choices.emplace(*this, f.candidates[f.next_candidate++], f.cap);
      }
      if (f.choices->next()) {
        found = true;
        break;
      }
      if (out_of_steps_) return Result::kOutOfSteps;
      if (done_count_ >= deepest_ && stuck_slot_ == kNone) stuck_slot_ = f.choices->slot();
      f.choices.reset();
    }
    if (!found) {
      stack.pop_back();
      continue;
    }
    apply(f);
    if (done_count_ == slots_.size()) return Result::kFound;
    if (!seen_.insert(key_).second) continue;  // ruled out before
    if (done_count_ > deepest_) {
      deepest_ = done_count_;
      stuck_slot_ = kNone;
    }
    if (!step()) return Result::kOutOfSteps;
    stack.emplace_back();
    start(stack.back());
  }
  return Result::kExhausted;
}

// ---------------------------------------------------------------------------------------------

CheckResult linearizable(const Problem& p, const std::string& how) {
  return {Verdict::kLinearizable,
          fmt::format("linearizable: {} gets and {} mutations that may have been applied ({})",
                      p.reads.size(), p.mutations.size(), how)};
}

CheckResult run_search(const Problem& p, std::vector<Slot> slots, bool ordered,
                       const CheckOptions& options, const Namer& name) {
  const std::size_t total = slots.size();
  std::vector<std::size_t> reads;
  reads.reserve(slots.size());
  for (const Slot& slot : slots) reads.push_back(slot.read);
  Search search(p, std::move(slots), ordered, options.max_search_steps);
  switch (search.run()) {
    case Search::Result::kFound:
      return linearizable(p, fmt::format("found by search in {} steps", search.steps()));
    case Search::Result::kExhausted: {
      std::string stuck;
      if (search.stuck_slot() != kNone) {
        stuck = fmt::format(", where {} cannot come next",
                            name.read(p.reads[reads[search.stuck_slot()]]));
      }
      return violation(fmt::format(
          "an exhaustive search ({} steps, {} states) found no order; the furthest any order "
          "got is {} of {} {}{}",
          search.steps(), search.states(), search.deepest(), total,
          ordered ? "distinct values read" : "gets", stuck));
    }
    case Search::Result::kOutOfSteps:
      break;
  }
  return {Verdict::kUndecided,
          fmt::format("undecided: the search for an order stopped after {} steps (max_search_steps)"
                      "; the furthest any order got is {} of {} {}",
                      options.max_search_steps, search.deepest(), total,
                      ordered ? "distinct values read" : "gets")};
}

}  // namespace

CheckResult check_linearizable(const History& history, const CheckOptions& options) {
  Problem p = build_problem(history);
  const Namer name(p);
  if (auto result = check_each_read_alone(p, name)) return *result;

  const bool increases = std::any_of(p.mutations.begin(), p.mutations.end(),
                                     [](const Mutation& m) { return m.delta > 0; });
  const bool decreases = std::any_of(p.mutations.begin(), p.mutations.end(),
                                     [](const Mutation& m) { return m.delta < 0; });
  if (increases && decreases) {
    std::vector<Slot> slots;
    for (std::size_t i = 0; i < p.reads.size(); ++i) {
      const Read& r = p.reads[i];
      slots.push_back({r.value, r.invoked, r.completed, i});
    }
    return run_search(p, std::move(slots), false, options, name);
  }

  if (decreases) negate(p);
  const Levels levels = make_levels(p);
  if (auto result = check_reads_in_order(p, name)) return *result;
  auto windows = compute_windows(p, levels, name);
  if (auto* result = std::get_if<CheckResult>(&windows)) return *result;

  if (auto result = GapFill(p, levels, std::get<Windows>(windows), name).run()) return *result;
  const bool one_size = std::all_of(p.mutations.begin(), p.mutations.end(), [&](const Mutation& m) {
    return m.delta == p.mutations.front().delta;
  });
  if (one_size) {
    return linearizable(p, p.mutations.empty()
                               ? "no mutations"
                               : "one mutation size: decided by earliest deadline first");
  }
  std::vector<Slot> slots;
  for (const Level& level : levels.levels) {
    slots.push_back(
        {level.value, level.latest_invoked, level.earliest_completed, level.reads.front()});
  }
  return run_search(p, std::move(slots), true, options, name);
}

}  // namespace count::test
