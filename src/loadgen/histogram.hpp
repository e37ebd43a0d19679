// A latency histogram in the HDR style: log-linear buckets whose width is at most 1/128 of
// their lower bound, so any reported value is within 1% of a recorded one. record() is O(1)
// and never allocates; all memory is taken at construction. One thread at a time.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace count {

class Histogram {
 public:
  // Each power of two is cut into 2^kSubBucketBits equal buckets; values below
  // 2^(kSubBucketBits + 1) get one bucket each (exact).
  static constexpr unsigned kSubBucketBits = 7;
  static constexpr std::uint64_t kSubBuckets = std::uint64_t{1} << kSubBucketBits;
  // Worst-case distance between a recorded value and the value reported for it, relative
  // to the recorded value: half a bucket's width.
  static constexpr double kMaxRelativeError = 0.5 / static_cast<double>(kSubBuckets);

  Histogram();

  void record(std::uint64_t value) {
    ++counts_[bucket_of(value)];
    ++total_;
    sum_ += value;
    if (value < min_) min_ = value;
    if (value > max_) max_ = value;
  }

  // Adds every value recorded in `other`.
  void merge(const Histogram& other);

  std::uint64_t count() const { return total_; }
  std::uint64_t min() const { return total_ == 0 ? 0 : min_; }
  std::uint64_t max() const { return max_; }
  double mean() const;

  // The value below or at which a fraction q (0..1) of the recorded values lie, within
  // kMaxRelativeError of a recorded value; never below min() nor above max(). 0 when empty.
  std::uint64_t value_at_quantile(double q) const;

  // Bucket arithmetic, public for the tests.
  static std::size_t bucket_of(std::uint64_t value);
  static std::uint64_t bucket_low(std::size_t bucket);
  static std::uint64_t bucket_high(std::size_t bucket);  // inclusive
  static std::size_t bucket_count();

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t total_ = 0;
  std::uint64_t sum_ = 0;  // wraps only past ~584 years of nanoseconds
  std::uint64_t min_ = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t max_ = 0;
};

inline std::size_t Histogram::bucket_of(std::uint64_t value) {
  if (value < 2 * kSubBuckets) return static_cast<std::size_t>(value);
  // The top kSubBucketBits + 1 bits of the value name the bucket within its power of two.
  const unsigned top_bit = static_cast<unsigned>(std::numeric_limits<std::uint64_t>::digits) - 1U -
                           static_cast<unsigned>(__builtin_clzll(value));
  const unsigned shift = top_bit - kSubBucketBits;
  return static_cast<std::size_t>(shift * kSubBuckets + (value >> shift));
}

}  // namespace count
