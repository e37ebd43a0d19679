// The metrics page of a real count-server (docs/metrics.md): after a scripted mix of
// requests, errors of every cause, refused connections, TLS and syncs, each counter equals
// what was sent; promtool accepts the page; a real Prometheus scrapes it.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "support/certs.hpp"
#include "support/process.hpp"
#include "support/prometheus.hpp"
#include "support/resp.hpp"
#include "support/wire.hpp"

namespace count::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// Scrapes until `series` reads `expected` (5 s at most): some counts land once a connection
// has closed on the server's side.
bool reaches(const ServerProcess& server, const std::string& series, double expected) {
  const auto deadline = steady_clock::now() + std::chrono::seconds(5);
  do {
    if (sample(scrape(server.metrics_port()), series) == expected) return true;
    std::this_thread::sleep_for(milliseconds(20));
  } while (steady_clock::now() < deadline);
  return false;
}

TEST(MetricsE2E, EveryCounterEqualsWhatWasSent) {
  TempDir dir;
  write_file(dir.path() / "password", "pw\n");
  const TestCertificates& certs = test_certificates();
  ServerProcess server({"--password-file", (dir.path() / "password").string(), "--metrics",
                        "127.0.0.1:0", "--max-connections", "3", "--tls-port", "0", "--tls-cert",
                        certs.server_cert, "--tls-key", certs.server_key});
  ASSERT_NE(server.metrics_port(), 0);
  const std::string initial = scrape(server.metrics_port());
  EXPECT_EQ(promtool_check_metrics(initial), "") << initial;

  std::size_t sent = 0;
  std::size_t received = 0;
  Client a = server.connect();
  const auto call = [&](const std::string& line, const std::string& expected) {
    EXPECT_EQ(a.call(line), expected) << line;
    sent += line.size() + 1;
    received += expected.size() + 1;
  };
  call("get", "err");         // not authenticated
  call("auth wrong", "err");  // wrong password (and a second's pause)
  call("auth pw", "ok");
  for (int i = 0; i < 10; ++i) call("incr", "ok");
  for (int i = 0; i < 3; ++i) call("decr", "ok");
  call("add 5", "ok");
  call("add +5", "ok");
  for (int i = 0; i < 4; ++i) call("get", "val 17");
  call("add 9223372036854775807", "err");  // overflow
  call("add x", "err");                    // bad argument
  call("get 5", "err");                    // bad argument
  call("bogus", "err");                    // unknown command
  call("", "err");                         // blank: unknown command
  call(std::string(5000, 'x'), "err");     // line too long
  call("get\x01", "err");                  // not printable

  Client b = server.connect();
  ClientTls tls;
  tls.ca_file = certs.ca;
  Client c = Client::connect("127.0.0.1", server.tls_port(), std::chrono::seconds(10), &tls);
  c.set_receive_timeout(std::chrono::seconds(10));
  EXPECT_EQ(c.call("auth pw"), "ok");
  Client refused = server.connect();  // the fourth: past --max-connections 3
  EXPECT_EQ(refused.read_line(), "err");
  EXPECT_TRUE(closed_by_peer(refused));
  call("quit", "quit");
  EXPECT_TRUE(closed_by_peer(a));

  ASSERT_TRUE(reaches(server, R"(count_server_connections_closed_total{cause="quit"})", 1));
  // The connection leaves the open count a moment after it is counted as closed.
  ASSERT_TRUE(reaches(server, "count_server_connections_open", 2));
  const std::string page = scrape(server.metrics_port());
  EXPECT_EQ(promtool_check_metrics(page), "") << page;
  const std::vector<std::pair<std::string, double>> expected{
      {R"(count_server_requests_total{protocol="line",command="get",reply="val"})", 4},
      {R"(count_server_requests_total{protocol="line",command="get",reply="err"})", 2},
      {R"(count_server_requests_total{protocol="line",command="incr",reply="ok"})", 10},
      {R"(count_server_requests_total{protocol="line",command="decr",reply="ok"})", 3},
      {R"(count_server_requests_total{protocol="line",command="add",reply="ok"})", 2},
      {R"(count_server_requests_total{protocol="line",command="add",reply="err"})", 2},
      {R"(count_server_requests_total{protocol="line",command="auth",reply="ok"})", 2},
      {R"(count_server_requests_total{protocol="line",command="auth",reply="err"})", 1},
      {R"(count_server_requests_total{protocol="line",command="quit",reply="quit"})", 1},
      {R"(count_server_requests_total{protocol="line",command="none",reply="err"})", 4},
      {R"(count_server_errors_total{cause="not_authenticated"})", 1},
      {R"(count_server_errors_total{cause="wrong_password"})", 1},
      {R"(count_server_errors_total{cause="overflow"})", 1},
      {R"(count_server_errors_total{cause="bad_argument"})", 2},
      {R"(count_server_errors_total{cause="unknown_command"})", 2},
      {R"(count_server_errors_total{cause="line_too_long"})", 1},
      {R"(count_server_errors_total{cause="not_printable"})", 1},
      {R"(count_server_errors_total{cause="connection_limit"})", 1},
      {R"(count_server_errors_total{cause="no_password"})", 0},
      {R"(count_server_connections_accepted_total{port="plain"})", 2},
      {R"(count_server_connections_accepted_total{port="tls"})", 1},
      {"count_server_connections_refused_total", 1},
      {"count_server_connections_open", 2},
      {R"(count_server_connections_closed_total{cause="quit"})", 1},
      {"count_server_tls_handshakes_total", 1},
      {"count_server_received_bytes_total", static_cast<double>(sent + 8)},  // + c's auth
      {"count_server_sent_bytes_total", static_cast<double>(received + 3)},
      {"count_server_value", 17},
      {"count_server_durable_value", 17},
      // 15 mutations made durable, whatever number of syncs carried them.
      {"count_server_data_file_sync_mutations_sum", 15},
  };
  for (const auto& [series, value] : expected) {
    EXPECT_EQ(sample(page, series), value) << series << "\n" << page;
  }
  EXPECT_GE(sample(page, "count_server_data_file_syncs_total").value_or(0), 1);
  EXPECT_EQ(sample(page, "count_server_data_file_sync_duration_seconds_count"),
            sample(page, "count_server_data_file_syncs_total"));
  EXPECT_EQ(sample(page, R"(count_server_build_info{version="0.1.0"})"), 1);
  EXPECT_GT(sample(page, "count_server_uptime_seconds").value_or(0), 0);

  EXPECT_EQ(http_get(server.metrics_port(), "/").status, 404);
  EXPECT_EQ(http_get(server.metrics_port(), "/metrics/x").status, 404);
}

// Requests over the Redis protocol are counted under protocol="resp", by the Redis command.
TEST(MetricsE2E, RedisRequestsAreCountedByCommandAndReply) {
  ServerProcess server({"--in-memory", "--metrics", "127.0.0.1:0"});
  Client client = server.connect();
  client.send(resp_requests({{"INCR", "count"},
                             {"INCR", "count"},
                             {"INCRBY", "count", "x"},
                             {"GET", "count"},
                             {"GET", "other"},
                             {"FOO"},
                             {"PING"},
                             {"MULTI"},
                             {"INCR", "count"},
                             {"EXEC"},
                             {"EXEC"}}));
  client.send("*1\r\n+bad\r\n");
  RespReader reader(client);
  EXPECT_EQ(reader.next(13).size(), 12U);  // the last one is the protocol error; then closed
  Client line = server.connect();
  EXPECT_EQ(line.call("incr"), "ok");
  const std::string page = scrape(server.metrics_port());
  EXPECT_EQ(promtool_check_metrics(page), "") << page;
  const std::vector<std::pair<std::string, double>> expected{
      // The INCR queued inside MULTI counts too: its reply was +QUEUED.
      {R"(count_server_requests_total{protocol="resp",command="incr",reply="ok"})", 3},
      {R"(count_server_requests_total{protocol="resp",command="incrby",reply="err"})", 1},
      {R"(count_server_requests_total{protocol="resp",command="get",reply="val"})", 1},
      {R"(count_server_requests_total{protocol="resp",command="get",reply="err"})", 1},
      {R"(count_server_requests_total{protocol="resp",command="none",reply="err"})", 2},
      {R"(count_server_requests_total{protocol="resp",command="ping",reply="ok"})", 1},
      {R"(count_server_requests_total{protocol="resp",command="multi",reply="ok"})", 1},
      {R"(count_server_requests_total{protocol="resp",command="exec",reply="ok"})", 1},
      {R"(count_server_requests_total{protocol="resp",command="exec",reply="err"})", 1},
      {R"(count_server_requests_total{protocol="line",command="incr",reply="ok"})", 1},
      {R"(count_server_errors_total{cause="bad_argument"})", 1},
      {R"(count_server_errors_total{cause="no_such_key"})", 1},
      {R"(count_server_errors_total{cause="unknown_command"})", 1},
      {R"(count_server_errors_total{cause="transaction"})", 1},
      {R"(count_server_errors_total{cause="bad_request"})", 1},
      {"count_server_value", 4},
  };
  for (const auto& [series, value] : expected) {
    EXPECT_EQ(sample(page, series), value) << series << "\n" << page;
  }
}

TEST(MetricsE2E, ARealPrometheusReadsTheRequestCounters) {
  ServerProcess server({"--in-memory", "--metrics", "127.0.0.1:0"});
  const Prometheus prometheus(server.metrics_port());
  Client client = server.connect();
  constexpr int kIncrements = 123;
  const auto replies =
      exchange(client, repeat_line("incr", kIncrements) + "get\n", kIncrements + 1);
  ASSERT_EQ(replies.size(), kIncrements + 1U);
  EXPECT_EQ(replies.back(), "val 123");
  EXPECT_TRUE(prometheus.wait_for(
      R"(count_server_requests_total{protocol="line",command="incr",reply="ok"})", kIncrements,
      std::chrono::seconds(30)))
      << prometheus.log();
  EXPECT_TRUE(prometheus.wait_for("count_server_value", kIncrements, std::chrono::seconds(30)));
}

}  // namespace
}  // namespace count::test
