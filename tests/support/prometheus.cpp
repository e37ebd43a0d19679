// Prometheus for the tests: a generated config, a data folder and a log in a TempDir, the
// process started through setpriv so that it dies with the test, and its HTTP API read with
// a plain socket and a few string searches (no JSON library is a dependency).
#include "support/prometheus.hpp"

#include <arpa/inet.h>
#include <fmt/core.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <vector>

#include "support/other_server.hpp"

namespace count::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr const char* kPrometheusBinary = "/usr/bin/prometheus";
constexpr const char* kPromtoolBinary = "/usr/bin/promtool";
// Starts a program with SIGKILL as its parent-death signal (util-linux, always installed);
// it execs the program, so the PID stays Prometheus's.
constexpr const char* kSetpriv = "/usr/bin/setpriv";
constexpr int kStartAttempts = 3;
constexpr auto kReadyTimeout = 30s;
constexpr auto kQueryTimeout = 5s;
constexpr auto kPollInterval = 100ms;

// Scrapes every second (the timeout may not exceed the interval); nothing else is set up:
// no rules, no alertmanager, no remote write.
std::string config(std::uint16_t target_port) {
  return fmt::format(
      "global:\n"
      "  scrape_interval: 1s\n"
      "  scrape_timeout: 1s\n"
      "  evaluation_interval: 1s\n"
      "scrape_configs:\n"
      "  - job_name: count\n"
      "    metrics_path: /metrics\n"
      "    static_configs:\n"
      "      - targets: ['127.0.0.1:{}']\n",
      target_port);
}

// Percent-encodes everything but RFC 3986's unreserved characters, for a query string.
std::string url_encode(std::string_view text) {
  std::string encoded;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      encoded += c;
    } else {
      encoded += fmt::format("%{:02X}", byte);
    }
  }
  return encoded;
}

// A sample's value as the API writes it: a decimal, or NaN, +Inf, -Inf.
std::optional<double> parse_sample_value(std::string_view text) {
  if (text.starts_with('+')) text.remove_prefix(1);
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// The value of the first sample in an instant query's answer:
// {"status":"success","data":{"resultType":"vector","result":[{"metric":{...},
// "value":[1700000000.1,"42"]}]}}, or for a scalar "result":[1700000000.1,"42"]. A label
// value cannot hold the searched keys: its quotes would be escaped.
std::optional<double> first_sample(std::string_view json) {
  if (json.find(R"("status":"success")") == std::string_view::npos) return std::nullopt;
  std::size_t at = json.find(R"("value":[)");
  if (at != std::string_view::npos) {
    at += std::string_view(R"("value":[)").size();
  } else if (json.find(R"("resultType":"scalar")") != std::string_view::npos &&
             (at = json.find(R"("result":[)")) != std::string_view::npos) {
    at += std::string_view(R"("result":[)").size();
  } else {
    return std::nullopt;
  }
  // [timestamp,"value"]
  const std::size_t open = json.find(",\"", at);
  if (open == std::string_view::npos) return std::nullopt;
  const std::size_t close = json.find('"', open + 2);
  if (close == std::string_view::npos) return std::nullopt;
  return parse_sample_value(json.substr(open + 2, close - open - 2));
}

}  // namespace

HttpReply http_get(std::uint16_t port, const std::string& target,
                   std::chrono::milliseconds timeout) {
  HttpReply reply;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return reply;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  // HTTP/1.0: the answer ends where the connection does, never in chunks.
  const std::string request =
      fmt::format("GET {} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\n\r\n", target, port);
  std::string bytes;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size())) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left <= 0ms) {
        bytes.clear();  // cut short: not a whole reply
        break;
      }
      pollfd readable{fd, POLLIN, 0};
      if (::poll(&readable, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[16384];
      const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n > 0) {
        bytes.append(chunk, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        break;
      }
    }
  }
  ::close(fd);
  // "HTTP/1.x NNN ...", headers, blank line, body.
  const std::size_t end = bytes.find("\r\n\r\n");
  if (!bytes.starts_with("HTTP/1.") || bytes.size() < 12 || end == std::string::npos) return reply;
  int status = 0;
  if (std::from_chars(bytes.data() + 9, bytes.data() + 12, status).ec != std::errc()) return reply;
  reply.status = status;
  reply.body = bytes.substr(end + 4);
  return reply;
}

Prometheus::Prometheus(std::uint16_t target_port) : target_port_(target_port) {
  if (!std::filesystem::exists(kPrometheusBinary)) {
    throw std::runtime_error(fmt::format(
        "{} is missing: scripts/test installs it (Debian package prometheus)", kPrometheusBinary));
  }
  write_file(dir_.path() / "prometheus.yml", config(target_port_));
  try {
    for (int attempt = 1; attempt <= kStartAttempts; ++attempt) {
      if (start(attempt)) return;
    }
    throw std::runtime_error(
        fmt::format("prometheus did not start in {} attempts:\n{}", kStartAttempts, log()));
  } catch (...) {
    stop();  // no destructor runs for an object whose constructor throws
    throw;
  }
}

Prometheus::~Prometheus() { stop(); }

// False when the port was taken between free_port() and Prometheus's bind: worth another try.
bool Prometheus::start(int attempt) {
  stop();
  port_ = free_port();
  log_path_ = (dir_.path() / fmt::format("prometheus.run{}.log", attempt)).string();
  const std::vector<std::string> argv = {
      kSetpriv,
      "--pdeathsig=KILL",
      "--",
      kPrometheusBinary,
      "--config.file=" + (dir_.path() / "prometheus.yml").string(),
      "--storage.tsdb.path=" + (dir_.path() / "data").string(),
      fmt::format("--web.listen-address=127.0.0.1:{}", port_),
  };
  pid_ = spawn(argv, "/dev/null", "/dev/null", log_path_);

  const auto deadline = Clock::now() + kReadyTimeout;
  while (Clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      const std::string text = log();
      if (text.find("address already in use") != std::string::npos) return false;
      throw std::runtime_error("prometheus exited at start:\n" + text);
    }
    if (http_get(port_, "/-/ready", 1s).status == 200) return true;
    std::this_thread::sleep_for(50ms);
  }
  throw std::runtime_error(
      fmt::format("prometheus was not ready within {} s:\n{}", kReadyTimeout.count(), log()));
}

void Prometheus::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  wait_for_exit(pid_, 10s);
  pid_ = -1;
}

std::optional<double> Prometheus::query(const std::string& promql) const {
  const HttpReply reply =
      http_get(port_, "/api/v1/query?query=" + url_encode(promql), kQueryTimeout);
  if (reply.status != 200) return std::nullopt;
  return first_sample(reply.body);
}

bool Prometheus::wait_for(const std::string& promql, double expected,
                          std::chrono::seconds timeout) const {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const std::optional<double> value = query(promql);
    if (value && std::abs(*value - expected) <= 1e-9 * std::max(1.0, std::abs(expected))) {
      return true;
    }
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(kPollInterval);
  }
}

std::string Prometheus::log() const { return log_path_.empty() ? "" : read_file(log_path_); }

std::string promtool_check_metrics(const std::string& text) {
  if (!std::filesystem::exists(kPromtoolBinary)) {
    return fmt::format("{} is missing: scripts/test installs it (Debian package prometheus)",
                       kPromtoolBinary);
  }
  const RunResult result = run({kPromtoolBinary, "check", "metrics"}, text);
  if (result.status == 0) return "";
  return fmt::format("promtool check metrics exited {}:\n{}{}", result.status, result.out,
                     result.err);
}

std::string scrape(std::uint16_t port) {
  const HttpReply reply = http_get(port, "/metrics");
  EXPECT_EQ(reply.status, 200);
  return reply.body;
}

std::optional<double> sample(const std::string& page, const std::string& series) {
  const std::string start = series + " ";
  for (std::size_t at = page.find(start); at != std::string::npos; at = page.find(start, at + 1)) {
    if (at == 0 || page[at - 1] == '\n') {
      return std::stod(page.substr(at + start.size(), page.find('\n', at) - at - start.size()));
    }
  }
  return std::nullopt;
}

}  // namespace count::test
