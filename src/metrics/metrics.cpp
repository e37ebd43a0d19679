#include "metrics/metrics.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>

namespace count {

MetricHistogram::MetricHistogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      counts_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {}

void MetricHistogram::observe(double value) {
  const auto bucket = static_cast<std::size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  std::atomic<std::uint64_t>& count = counts_[bucket];
  count.store(count.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  sum_.store(sum_.load(std::memory_order_relaxed) + value, std::memory_order_relaxed);
}

MetricHistogram::Snapshot MetricHistogram::snapshot() const {
  Snapshot snapshot;
  snapshot.bounds = bounds_;
  snapshot.cumulative.resize(bounds_.size() + 1);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    snapshot.cumulative[i] = running;
  }
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

namespace {

// Label values escape backslash, double quote and newline; HELP escapes backslash and newline.
void append_escaped(std::string& out, std::string_view text, bool quotes) {
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quotes) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

std::string number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", value);
}

}  // namespace

void MetricsText::family(std::string_view name, std::string_view type, std::string_view help) {
  text_ += "# HELP ";
  text_ += name;
  text_ += ' ';
  append_escaped(text_, help, false);
  text_ += "\n# TYPE ";
  text_ += name;
  text_ += ' ';
  text_ += type;
  text_ += '\n';
}

void MetricsText::labels(std::span<const Label> labels) {
  if (labels.empty()) return;
  text_ += '{';
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first) text_ += ',';
    first = false;
    text_ += name;
    text_ += "=\"";
    append_escaped(text_, value, true);
    text_ += '"';
  }
  text_ += '}';
}

void MetricsText::sample(std::string_view name, std::span<const Label> labels, double value) {
  text_ += name;
  this->labels(labels);
  text_ += ' ';
  text_ += number(value);
  text_ += '\n';
}

void MetricsText::sample(std::string_view name, std::span<const Label> labels,
                         std::uint64_t value) {
  text_ += name;
  this->labels(labels);
  text_ += fmt::format(" {}\n", value);
}

void MetricsText::counter(std::string_view name, std::string_view help, std::uint64_t value) {
  family(name, "counter", help);
  sample(name, value);
}

void MetricsText::gauge(std::string_view name, std::string_view help, double value) {
  family(name, "gauge", help);
  sample(name, value);
}

void MetricsText::histogram(std::string_view name, std::string_view help,
                            const MetricHistogram::Snapshot& data) {
  family(name, "histogram", help);
  const std::string bucket = std::string(name) + "_bucket";
  for (std::size_t i = 0; i < data.bounds.size(); ++i) {
    const std::string le = number(data.bounds[i]);
    const std::array<Label, 1> labels{Label{"le", le}};
    sample(bucket, labels, data.cumulative[i]);
  }
  const std::array<Label, 1> inf{Label{"le", "+Inf"}};
  sample(bucket, inf, data.cumulative.back());
  sample(std::string(name) + "_sum", data.sum);
  sample(std::string(name) + "_count", data.cumulative.back());
}

}  // namespace count
