// The counter's value and its one rule: a mutation whose result would leave the signed
// 64-bit range is refused and changes nothing (docs/protocol.md, "Commands").
// Lock-free; safe to call from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>

namespace count {

// a + b, or nothing when the sum leaves the int64 range. The range check lives here only.
constexpr std::optional<std::int64_t> checked_add(std::int64_t a, std::int64_t b) {
  std::int64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum)) return std::nullopt;
  return sum;
}

class Counter {
 public:
  explicit Counter(std::int64_t initial = 0) : value_(initial) {}

  std::int64_t load() const { return value_.load(std::memory_order_acquire); }

  // Adds delta atomically and returns the new value, or returns nothing and leaves the
  // value as it was when the result would be out of range.
  std::optional<std::int64_t> add(std::int64_t delta) {
    std::int64_t current = value_.load(std::memory_order_relaxed);
    for (;;) {
      const std::optional<std::int64_t> next = checked_add(current, delta);
      if (!next) return std::nullopt;
      if (value_.compare_exchange_weak(current, *next, std::memory_order_acq_rel,
                                       std::memory_order_relaxed)) {
        return next;
      }
    }
  }

 private:
  // Its own cache line: the value is written by every loop thread, and nothing else
  // should be invalidated with it.
  alignas(64) std::atomic<std::int64_t> value_;
  [[maybe_unused]] char pad_[64 - sizeof(std::atomic<std::int64_t>)]{};
};

}  // namespace count
