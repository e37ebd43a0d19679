// The Prometheus harness itself, against a MetricsEndpoint serving a fixed page: promtool
// accepts good text and refuses broken text, and a real Prometheus scrapes the page and
// answers queries on it.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <optional>
#include <string>

#include "metrics/http_endpoint.hpp"
#include "support/prometheus.hpp"

namespace count::test {
namespace {

using namespace std::chrono_literals;

// Prometheus's first scrape comes about 6 s after its start (see prometheus.hpp); the rest is
// room for a sanitized build on a busy two-core machine.
constexpr auto kScrapeBound = 30s;

std::string demo_text(long value) {
  return "# HELP demo_total A demo.\n# TYPE demo_total counter\ndemo_total " +
         std::to_string(value) + "\n";
}

TEST(Promtool, AcceptsTheDemoText) { EXPECT_EQ(promtool_check_metrics(demo_text(42)), ""); }

TEST(Promtool, RefusesTextThatDoesNotParse) {
  const std::string problems = promtool_check_metrics("demo_total{ 42\n");
  EXPECT_NE(problems.find("exited 1"), std::string::npos) << problems;
}

TEST(Promtool, RefusesTextWithLintProblems) {
  // A counter without the _total suffix, and no HELP.
  const std::string problems = promtool_check_metrics("# TYPE demo counter\ndemo 42\n");
  EXPECT_NE(problems.find("_total"), std::string::npos) << problems;
}

// The page, and a Prometheus that scrapes it. Each test has its own: ctest runs every test
// in a process of its own anyway, so sharing one would save nothing there; what costs time
// is waiting for scrapes, and only one test does.
class PrometheusHarness : public ::testing::Test {
 protected:
  std::atomic<long> value_{42};
  MetricsEndpoint endpoint_{MetricsEndpointOptions{}, [this] { return demo_text(value_.load()); }};
  Prometheus prometheus_{endpoint_.local_port()};
};

TEST_F(PrometheusHarness, HttpGetReadsThePageAsPrometheusWould) {
  const HttpReply reply = http_get(endpoint_.local_port(), "/metrics");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, demo_text(value_.load()));
  EXPECT_EQ(http_get(endpoint_.local_port(), "/nothing").status, 404);
}

// Every wait for a scrape sits in this one test.
TEST_F(PrometheusHarness, ScrapesThePageAndFollowsItsValue) {
  ASSERT_TRUE(prometheus_.wait_for("demo_total", 42, kScrapeBound)) << prometheus_.log();
  EXPECT_EQ(prometheus_.query("demo_total"), 42.0);
  // The scrape itself succeeded, for the one target of the job.
  EXPECT_EQ(prometheus_.query(R"(up{job="count"})"), 1.0);
  EXPECT_EQ(prometheus_.query("count(up)"), 1.0);
  EXPECT_EQ(prometheus_.query("demo_total * 2 + 1"), 85.0);

  value_.store(43);
  // One scrape a second: the new value shows within a few.
  EXPECT_TRUE(prometheus_.wait_for("demo_total", 43, kScrapeBound)) << prometheus_.log();
  value_.store(42);
}

TEST_F(PrometheusHarness, QueryWithoutASampleOrWithAnErrorIsEmpty) {
  EXPECT_EQ(prometheus_.query("no_such_metric_total"), std::nullopt);
  EXPECT_EQ(prometheus_.query("demo_total{"), std::nullopt);  // does not parse
  EXPECT_EQ(prometheus_.query("vector(7)"), 7.0);
  EXPECT_EQ(prometheus_.query("scalar(vector(2.5))"), 2.5);  // a scalar answer
}

TEST(PrometheusProcess, DestructorStopsItByPid) {
  const MetricsEndpoint endpoint(MetricsEndpointOptions{}, [] { return demo_text(1); });
  pid_t pid = -1;
  {
    const Prometheus prometheus(endpoint.local_port());
    pid = prometheus.pid();
    ASSERT_GT(pid, 0);
    EXPECT_EQ(::kill(pid, 0), 0);
  }
  // Waited for and reaped: the PID names no process of ours any more.
  EXPECT_EQ(::kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
}

}  // namespace
}  // namespace count::test
