// The metric pieces alone: counters, histograms, and the text format they are written in.
#include "metrics/metrics.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <thread>

#include "metrics/loop_metrics.hpp"

namespace count {
namespace {

TEST(MetricsText, WritesFamiliesSamplesAndEscapedLabels) {
  MetricsText out;
  out.counter("demo_total", "A demo\\counter\nwith two lines.", 42);
  out.family("demo_labelled_total", "counter", "Labelled.");
  const std::array<Label, 2> labels{Label{"a", "x\"y"}, Label{"b", "back\\slash\nnew"}};
  out.sample("demo_labelled_total", labels, std::uint64_t{7});
  out.gauge("demo_gauge", "A gauge.", -1.5);
  EXPECT_EQ(out.text(),
            "# HELP demo_total A demo\\\\counter\\nwith two lines.\n"
            "# TYPE demo_total counter\n"
            "demo_total 42\n"
            "# HELP demo_labelled_total Labelled.\n"
            "# TYPE demo_labelled_total counter\n"
            "demo_labelled_total{a=\"x\\\"y\",b=\"back\\\\slash\\nnew\"} 7\n"
            "# HELP demo_gauge A gauge.\n"
            "# TYPE demo_gauge gauge\n"
            "demo_gauge -1.5\n");
}

TEST(MetricHistogram, CountsEachObservationInItsBucketCumulatively) {
  MetricHistogram histogram({1, 2, 5});
  for (const double value : {0.5, 1.0, 1.5, 2.0, 3.0, 7.0, 100.0}) histogram.observe(value);
  const MetricHistogram::Snapshot snapshot = histogram.snapshot();
  EXPECT_EQ(snapshot.cumulative, (std::vector<std::uint64_t>{2, 4, 5, 7}));
  EXPECT_DOUBLE_EQ(snapshot.sum, 115.0);
  MetricsText out;
  out.histogram("demo_seconds", "Demo.", snapshot);
  EXPECT_EQ(out.text(),
            "# HELP demo_seconds Demo.\n"
            "# TYPE demo_seconds histogram\n"
            "demo_seconds_bucket{le=\"1\"} 2\n"
            "demo_seconds_bucket{le=\"2\"} 4\n"
            "demo_seconds_bucket{le=\"5\"} 5\n"
            "demo_seconds_bucket{le=\"+Inf\"} 7\n"
            "demo_seconds_sum 115\n"
            "demo_seconds_count 7\n");
}

// One writer, one reader at the same time: the reader sees counts that only grow, and the
// last one. (ThreadSanitizer checks that this is no data race.)
TEST(MetricCounter, OneWriterAndAConcurrentReaderAgree) {
  MetricCounter counter;
  constexpr std::uint64_t kAdds = 200'000;
  std::thread writer([&] {
    for (std::uint64_t i = 0; i < kAdds; ++i) counter.add();
  });
  std::uint64_t last = 0;
  for (int i = 0; i < 100'000 && last < kAdds; ++i) {
    const std::uint64_t now = counter.get();
    ASSERT_GE(now, last);
    last = now;
  }
  writer.join();
  EXPECT_EQ(counter.get(), kAdds);
}

TEST(LoopMetrics, EachLoopsBlockStartsOnACacheLineOfItsOwn) {
  EXPECT_EQ(alignof(LoopMetrics) % 64, 0U);
  LoopMetrics metrics;
  metrics.count(Reply::ok(0), 2);
  metrics.count(Reply::err(ErrCause::kOverflow), 2);
  metrics.count(Reply::err(ErrCause::kUnknownCommand), 0);
  EXPECT_EQ(metrics.requests[2][0].get(), 1U);
  EXPECT_EQ(metrics.requests[2][2].get(), 1U);
  EXPECT_EQ(metrics.requests[0][2].get(), 1U);
  EXPECT_EQ(metrics.errors[static_cast<std::size_t>(ErrCause::kOverflow)].get(), 1U);
}

}  // namespace
}  // namespace count
