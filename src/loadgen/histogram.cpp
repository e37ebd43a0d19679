// The histogram's reading side: quantiles, merging, bucket bounds. Never allocates after
// construction.
#include "loadgen/histogram.hpp"

#include <algorithm>
#include <cmath>

namespace count {

std::size_t Histogram::bucket_count() {
  return bucket_of(std::numeric_limits<std::uint64_t>::max()) + 1;
}

Histogram::Histogram() : counts_(bucket_count(), 0) {}

std::uint64_t Histogram::bucket_low(std::size_t bucket) {
  const auto index = static_cast<std::uint64_t>(bucket);
  if (index < 2 * kSubBuckets) return index;
  const std::uint64_t shift = index / kSubBuckets - 1;
  const std::uint64_t top = index - shift * kSubBuckets;  // in [kSubBuckets, 2 * kSubBuckets)
  return top << shift;
}

std::uint64_t Histogram::bucket_high(std::size_t bucket) {
  if (bucket + 1 >= bucket_count()) return std::numeric_limits<std::uint64_t>::max();
  return bucket_low(bucket + 1) - 1;
}

void Histogram::merge(const Histogram& other) {
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  total_ += other.total_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

double Histogram::mean() const {
  return total_ == 0 ? 0.0 : static_cast<double>(sum_) / static_cast<double>(total_);
}

std::uint64_t Histogram::value_at_quantile(double q) const {
  if (total_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  // The rank of the value asked for, 1-based: at least the first, at most the last.
  auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total_)));
  rank = std::clamp<std::uint64_t>(rank, 1, total_);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      // The middle of the bucket: within half a bucket width of every value in it.
      const std::uint64_t low = bucket_low(i);
      const std::uint64_t middle = low + (bucket_high(i) - low) / 2;
      return std::clamp(middle, min(), max_);
    }
  }
  return max_;
}

}  // namespace count
