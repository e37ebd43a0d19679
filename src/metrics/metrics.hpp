// The pieces every metric is made of (docs/metrics.md): counters and histograms with one
// writer thread each, read by a scrape on another thread, and the Prometheus text format they
// are written in. A count costs the writer a load, an add and a store on memory it alone
// writes: no lock, no locked instruction, no cache line shared with another writer.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace count {

// A metric counter (not the counter the server serves): one thread adds, any thread reads.
class MetricCounter {
 public:
  void add(std::uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// A histogram with fixed upper bounds, one writer thread; any thread reads a snapshot (which
// may be a few observations behind and not a single instant: fine for a scrape).
class MetricHistogram {
 public:
  // Upper bounds, increasing; +Inf is implied.
  explicit MetricHistogram(std::vector<double> bounds);

  void observe(double value);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<std::uint64_t> cumulative;  // per bound, then +Inf
    double sum = 0;
  };
  Snapshot snapshot() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;  // per bound, then +Inf
  std::atomic<double> sum_{0};
};

// One label: name and value.
using Label = std::pair<std::string_view, std::string_view>;

// Writes the Prometheus text exposition format, version 0.0.4.
class MetricsText {
 public:
  // The # HELP and # TYPE lines of a family; its samples follow.
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, std::span<const Label> labels, double value);
  void sample(std::string_view name, std::span<const Label> labels, std::uint64_t value);
  void sample(std::string_view name, double value) { sample(name, {}, value); }
  void sample(std::string_view name, std::uint64_t value) { sample(name, {}, value); }
  // A counter or gauge family of one sample.
  void counter(std::string_view name, std::string_view help, std::uint64_t value);
  void gauge(std::string_view name, std::string_view help, double value);
  void histogram(std::string_view name, std::string_view help,
                 const MetricHistogram::Snapshot& data);

  const std::string& text() const { return text_; }

 private:
  void labels(std::span<const Label> labels);

  std::string text_;
};

}  // namespace count
