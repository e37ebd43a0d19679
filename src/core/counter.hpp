// The counter's value and its one rule: a mutation whose result would leave the signed
// 64-bit range is refused and changes nothing (docs/protocol.md, "Commands"). It also counts
// the mutations applied (its version, what WATCH remembers) and runs a transaction's steps
// with nothing between them. Safe to call from any thread; reads never wait.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <span>
#include <thread>
#include <utility>

namespace count {

// a + b, or nothing when the sum leaves the int64 range. The range check lives here only.
constexpr std::optional<std::int64_t> checked_add(std::int64_t a, std::int64_t b) {
  std::int64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum)) return std::nullopt;
  return sum;
}

// One step of a transaction (MULTI ... EXEC): a read, or a mutation under the range rule.
struct Step {
  std::int64_t delta = 0;
  bool is_get = false;
};

// What a step did: a read's value; a mutation's new value, or ok false when it was refused.
struct StepResult {
  bool ok = true;
  std::int64_t value = 0;
};

// Runs `steps` from `value` in order: each result goes to on_result(index, StepResult); a
// refused mutation changes nothing and the others still run (as Redis runs a transaction).
// Returns the value after them and how many mutations were applied.
template <typename OnResult>
constexpr std::pair<std::int64_t, std::uint64_t> run_steps(std::int64_t value,
                                                           std::span<const Step> steps,
                                                           OnResult&& on_result) {
  std::uint64_t applied = 0;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    if (steps[i].is_get) {
      on_result(i, StepResult{true, value});
      continue;
    }
    const std::optional<std::int64_t> next = checked_add(value, steps[i].delta);
    if (!next) {
      on_result(i, StepResult{false, value});
      continue;
    }
    value = *next;
    ++applied;
    on_result(i, StepResult{true, value});
  }
  return {value, applied};
}

class Counter {
 public:
  explicit Counter(std::int64_t initial = 0) : value_(initial) {}

  std::int64_t load() const { return value_.load(std::memory_order_acquire); }

  // How many mutations have been applied: each applied one counts, even one that adds 0;
  // a refused one does not.
  std::uint64_t version() const { return version_.load(std::memory_order_acquire); }

  // Adds delta atomically and returns the new value, or returns nothing and leaves the
  // value as it was when the result would be out of range.
  std::optional<std::int64_t> add(std::int64_t delta) {
    const Guard guard(lock_);
    const std::optional<std::int64_t> next = checked_add(value_.load(std::memory_order_relaxed), delta);
    if (!next) return std::nullopt;
    value_.store(*next, std::memory_order_release);
    version_.store(version_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    return next;
  }

  // Runs the steps of a transaction with no other mutation between them (see run_steps), or
  // none of them, returning false, when `expected_version` is given (not null) and the
  // version has moved from it.
  template <typename OnResult>
  bool transact(std::span<const Step> steps, const std::uint64_t* expected_version,
                OnResult&& on_result) {
    const Guard guard(lock_);
    const std::uint64_t version = version_.load(std::memory_order_relaxed);
    if (expected_version != nullptr && *expected_version != version) return false;
    const auto [value, applied] =
        run_steps(value_.load(std::memory_order_relaxed), steps, on_result);
    value_.store(value, std::memory_order_release);
    version_.store(version + applied, std::memory_order_release);
    return true;
  }

 private:
  // Mutations hold a spin lock for a few instructions: one locked instruction to take it and
  // a plain store to give it back, as cheap as a compare-and-swap, and the value and its
  // version change together. A holder that was preempted is waited for by yielding.
  class Guard {
   public:
    explicit Guard(std::atomic<bool>& lock) : lock_(lock) {
      for (int spins = 0; lock_.exchange(true, std::memory_order_acquire);) {
        while (lock_.load(std::memory_order_relaxed)) {
          if (++spins > 64) std::this_thread::yield();
        }
      }
    }
    ~Guard() { lock_.store(false, std::memory_order_release); }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;

   private:
    std::atomic<bool>& lock_;
  };

  // Their own cache line: written by every loop thread, and nothing else should be
  // invalidated with them. Both are written under the lock only, and read without it.
  alignas(64) std::atomic<std::int64_t> value_;
  std::atomic<std::uint64_t> version_{0};
  mutable std::atomic<bool> lock_{false};
  [[maybe_unused]] char pad_[64 - 2 * sizeof(std::int64_t) - sizeof(std::atomic<bool>)]{};
};

}  // namespace count
