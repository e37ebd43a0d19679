// A real Prometheus (Debian's /usr/bin/prometheus) that scrapes one /metrics page, and
// promtool's check of the text format, for end-to-end tests of the metrics. Every wait here
// is bounded, and the process it starts is stopped by its PID.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "support/process.hpp"

namespace count::test {

class Prometheus {
 public:
  // Prometheus dies with the thread that started it (its parent-death signal), so that a
  // test that crashes leaves none running: create it on a thread that outlives it (the
  // main thread, for one shared by a test binary's tests).
  //
  // Starts Prometheus on a free 127.0.0.1 port, with its own data folder and a config that
  // scrapes http://127.0.0.1:target_port/metrics every second (job "count"), and waits, 30 s
  // at most, until /-/ready answers. Throws std::runtime_error, with its log, when it is
  // missing or does not come up. Its first scrape comes about 6 s after the start: Prometheus
  // passes discovered targets on to its scrapers every 5 s, and no flag of 2.42 changes that.
  explicit Prometheus(std::uint16_t target_port);
  ~Prometheus();  // SIGTERM, then SIGKILL after 10 s
  Prometheus(const Prometheus&) = delete;
  Prometheus& operator=(const Prometheus&) = delete;

  std::uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }

  // An instant query through the HTTP API: the value of its first sample (a vector's first
  // series, or a scalar), or nullopt when there is none, the query fails, or no answer
  // comes within 5 s.
  std::optional<double> query(const std::string& promql) const;

  // Asks `promql` again, every 100 ms, until its value is `expected`; false when `timeout`
  // passes first.
  bool wait_for(const std::string& promql, double expected, std::chrono::seconds timeout) const;

  // What it has logged so far.
  std::string log() const;

 private:
  bool start(int attempt);
  void stop();

  TempDir dir_;
  std::uint16_t target_port_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
  std::string log_path_;
};

struct HttpReply {
  int status = 0;  // 0: no whole reply
  std::string body;
};

// One HTTP/1.0 GET of `target` (path and query, already encoded) from 127.0.0.1:port,
// read until the server closes the connection or `timeout` passes.
HttpReply http_get(std::uint16_t port, const std::string& target,
                   std::chrono::milliseconds timeout = std::chrono::seconds(5));

// The /metrics page of a server whose metrics are on 127.0.0.1:port (a status other than
// 200 fails the test that asks).
std::string scrape(std::uint16_t port);

// The value of the sample `series` (name and labels exactly as written), if on the page.
std::optional<double> sample(const std::string& page, const std::string& series);

// `promtool check metrics` with `text` on its standard input: "" when promtool accepts it,
// otherwise its exit status and what it wrote (1: the text does not parse; 3: lint
// problems such as a counter without _total or a metric without HELP).
std::string promtool_check_metrics(const std::string& text);

}  // namespace count::test
