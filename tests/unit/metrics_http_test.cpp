// MetricsEndpoint over real loopback sockets: the answers to good, bad and hostile requests,
// the time and connection limits, and destruction while clients are connected. Every wait is
// bounded; clients are plain blocking sockets so that each byte sent is under the test's control.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "metrics/http_endpoint.hpp"

namespace count {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kDemo =
    "# HELP demo_total A demo.\n# TYPE demo_total counter\ndemo_total 42\n";
constexpr std::string_view kGet = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
// What Prometheus 2.42 sends (its Accept header, gzip).
constexpr std::string_view kPrometheusGet =
    "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9100\r\nUser-Agent: Prometheus/2.42.0\r\n"
    "Accept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
    "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n"
    "Accept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 1\r\n\r\n";

// A blocking TCP client on 127.0.0.1, closed with the object.
class RawClient {
 public:
  explicit RawClient(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      if (fd_ >= 0) ::close(fd_);
      throw std::runtime_error("cannot connect to 127.0.0.1");
    }
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // A send that cannot finish (a server that stopped reading) gives up rather than hang.
    const timeval send_timeout{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
  }
  ~RawClient() { ::close(fd_); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  // All of `bytes`; false when the connection refused them (closed or reset) or 10 s passed.
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Everything the server sends until it closes or resets the connection, or `limit` passes;
  // closed() then says which.
  std::string read_to_close(std::chrono::milliseconds limit = 5000ms) {
    std::string bytes;
    const auto deadline = Clock::now() + limit;
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left <= 0ms) return bytes;
      pollfd readable{fd_, POLLIN, 0};
      if (::poll(&readable, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[65536];
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n > 0) {
        bytes.append(chunk, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        closed_ = true;
        return bytes;
      }
    }
  }

  // Whether the server has closed the connection already, without waiting.
  bool closed_now() {
    pollfd readable{fd_, POLLIN, 0};
    if (::poll(&readable, 1, 0) <= 0) return false;
    char byte = 0;
    const ssize_t n = ::recv(fd_, &byte, 1, MSG_PEEK);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR);
  }

  bool closed() const { return closed_; }

 private:
  int fd_;
  bool closed_ = false;
};

struct HttpResponse {
  int status = 0;
  std::string status_line;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  bool closed = false;  // the server closed the connection after it

  std::string header(const std::string& name) const {
    const auto found = headers.find(name);
    return found == headers.end() ? "<missing>" : found->second;
  }
};

HttpResponse parse_response(const std::string& bytes) {
  HttpResponse response;
  const std::size_t end = bytes.find("\r\n\r\n");
  if (end == std::string::npos) return response;
  std::string_view head(bytes.data(), end);
  response.body = bytes.substr(end + 4);
  std::size_t line_end = head.find("\r\n");
  response.status_line = std::string(head.substr(0, line_end));
  if (response.status_line.starts_with("HTTP/1.1 ") && response.status_line.size() >= 12) {
    response.status = std::stoi(response.status_line.substr(9, 3));
  }
  while (line_end != std::string_view::npos) {
    head.remove_prefix(line_end + 2);
    line_end = head.find("\r\n");
    const std::string_view line = head.substr(0, line_end);
    const std::size_t colon = line.find(": ");
    if (colon == std::string_view::npos) continue;
    std::string name(line.substr(0, colon));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    response.headers[name] = std::string(line.substr(colon + 2));
  }
  return response;
}

// One request on a new connection, and what came back until the server closed it.
HttpResponse exchange(std::uint16_t port, std::string_view request) {
  RawClient client(port);
  client.send(request);
  HttpResponse response = parse_response(client.read_to_close());
  response.closed = client.closed();
  return response;
}

MetricsEndpointOptions loopback(std::chrono::milliseconds timeout = 5000ms,
                                std::size_t max_connections = 16) {
  MetricsEndpointOptions options;
  options.address = "127.0.0.1";
  options.port = 0;
  options.timeout = timeout;
  options.max_connections = max_connections;
  return options;
}

std::string demo() { return std::string(kDemo); }

TEST(MetricsHttp, GetAnswersRenderedTextWithPrometheusHeadersAndCloses) {
  MetricsEndpoint endpoint(loopback(), demo);
  ASSERT_NE(endpoint.local_port(), 0);
  const HttpResponse response = exchange(endpoint.local_port(), kGet);
  EXPECT_EQ(response.status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(response.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(response.header("content-length"), std::to_string(kDemo.size()));
  EXPECT_EQ(response.header("connection"), "close");
  EXPECT_EQ(response.body, kDemo);
  EXPECT_TRUE(response.closed);
}

TEST(MetricsHttp, GetOverHttp10WithQueryStringOrAbsoluteTargetAnswers200) {
  MetricsEndpoint endpoint(loopback(), demo);
  const std::string_view requests[] = {
      "GET /metrics HTTP/1.0\r\n\r\n",
      "GET /metrics?name[]=up&x=1 HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET /metrics HTTP/1.1\n\n",
      "\r\nGET /metrics HTTP/1.0\r\n\r\n",
      "GET http://127.0.0.1/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
      kPrometheusGet};
  for (const std::string_view request : requests) {
    const HttpResponse response = exchange(endpoint.local_port(), request);
    EXPECT_EQ(response.status, 200) << request;
    EXPECT_EQ(response.body, kDemo) << request;
  }
}

TEST(MetricsHttp, RequestSentOneByteAtATimeAnswers200) {
  MetricsEndpoint endpoint(loopback(), demo);
  RawClient client(endpoint.local_port());
  for (const char byte : kGet) {
    ASSERT_TRUE(client.send(std::string_view(&byte, 1)));
    std::this_thread::sleep_for(1ms);
  }
  const HttpResponse response = parse_response(client.read_to_close());
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, kDemo);
}

TEST(MetricsHttp, HeadAnswersTheSameHeadersWithoutBody) {
  MetricsEndpoint endpoint(loopback(), demo);
  const HttpResponse response =
      exchange(endpoint.local_port(), "HEAD /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  EXPECT_EQ(response.status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(response.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(response.header("content-length"), std::to_string(kDemo.size()));
  EXPECT_EQ(response.header("connection"), "close");
  EXPECT_EQ(response.body, "");
  EXPECT_TRUE(response.closed);
}

TEST(MetricsHttp, OtherPathsAnswer404WithAShortText) {
  MetricsEndpoint endpoint(loopback(), demo);
  for (const std::string_view target :
       {"/", "/metricsx", "/metrics/", "/Metrics", "/api?/metrics", "*", "/favicon.ico"}) {
    const HttpResponse response =
        exchange(endpoint.local_port(), "GET " + std::string(target) + " HTTP/1.1\r\n\r\n");
    EXPECT_EQ(response.status_line, "HTTP/1.1 404 Not Found") << target;
    EXPECT_FALSE(response.body.empty()) << target;
    EXPECT_EQ(response.header("content-length"), std::to_string(response.body.size())) << target;
    EXPECT_TRUE(response.closed) << target;
  }
}

TEST(MetricsHttp, OtherMethodsAnswer405WithAllow) {
  MetricsEndpoint endpoint(loopback(), demo);
  for (const std::string_view method : {"POST", "PUT", "DELETE", "OPTIONS", "PATCH", "get"}) {
    const HttpResponse response =
        exchange(endpoint.local_port(),
                 std::string(method) + " /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(response.status_line, "HTTP/1.1 405 Method Not Allowed") << method;
    EXPECT_EQ(response.header("allow"), "GET, HEAD") << method;
    EXPECT_TRUE(response.closed) << method;
  }
}

TEST(MetricsHttp, PostWithABodyStillGets405BeforeTheClose) {
  MetricsEndpoint endpoint(loopback(), demo);
  // The body is never read: the response must still reach the client, not a reset.
  const std::string body(100000, 'x');
  const HttpResponse response =
      exchange(endpoint.local_port(), "POST /metrics HTTP/1.1\r\nContent-Length: " +
                                          std::to_string(body.size()) + "\r\n\r\n" + body);
  EXPECT_EQ(response.status, 405);
}

TEST(MetricsHttp, MalformedRequestsAnswer400) {
  MetricsEndpoint endpoint(loopback(), demo);
  for (const std::string_view request :
       {"GARBAGE\r\n\r\n", "GET /metrics\r\n\r\n", "GET  /metrics HTTP/1.1\r\n\r\n",
        "GET /metrics HTTP/1.1 extra\r\n\r\n", "GET /metrics FTP/1.0\r\n\r\n",
        "GET /metrics HTTP/11\r\n\r\n", "GET /met\x01rics HTTP/1.1\r\n\r\n",
        "G(T /metrics HTTP/1.1\r\n\r\n", "GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n",
        "GET /metrics HTTP/1.1\r\n: empty name\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nBad Name: x\r\n\r\n"}) {
    const HttpResponse response = exchange(endpoint.local_port(), request);
    EXPECT_EQ(response.status_line, "HTTP/1.1 400 Bad Request") << request;
    EXPECT_TRUE(response.closed) << request;
  }
}

TEST(MetricsHttp, MalformedRequestLineAnswers400WithoutWaitingForTheHeaders) {
  MetricsEndpoint endpoint(loopback(), demo);
  RawClient client(endpoint.local_port());
  client.send("SSH-2.0-OpenSSH_9.2\r\n");  // no blank line ever follows
  const HttpResponse response = parse_response(client.read_to_close(2000ms));
  EXPECT_EQ(response.status, 400);
  EXPECT_TRUE(client.closed());
}

TEST(MetricsHttp, OtherHttpVersionsAnswer505) {
  MetricsEndpoint endpoint(loopback(), demo);
  const HttpResponse response = exchange(endpoint.local_port(), "GET /metrics HTTP/2.0\r\n\r\n");
  EXPECT_EQ(response.status, 505);
}

TEST(MetricsHttp, OversizedRequestAnswers431AndCloses) {
  MetricsEndpointOptions options = loopback();
  options.max_request_bytes = 1024;
  MetricsEndpoint endpoint(options, demo);
  std::string endless = "GET /metrics HTTP/1.1\r\n";
  while (endless.size() < 2 * options.max_request_bytes) endless += "X-Header: value\r\n";
  // A header past the limit, a request line past it, and headers that never end.
  for (const std::string& request :
       {"GET /metrics HTTP/1.1\r\nX-Filler: " + std::string(4000, 'a') + "\r\n\r\n",
        "GET /" + std::string(2000, 'm') + " HTTP/1.1\r\n\r\n", endless}) {
    RawClient client(endpoint.local_port());
    client.send(request);
    const HttpResponse response = parse_response(client.read_to_close());
    EXPECT_EQ(response.status, 431) << response.status_line;
    EXPECT_TRUE(client.closed());
  }
  // A request just under the limit still passes.
  const std::string header = "GET /metrics HTTP/1.1\r\nX-Filler: ";
  const std::string fits = header + std::string(1024 - header.size() - 4, 'a') + "\r\n\r\n";
  ASSERT_EQ(fits.size(), 1024u);
  EXPECT_EQ(exchange(endpoint.local_port(), fits).status, 200);
}

TEST(MetricsHttp, RenderThatThrowsAnswers500AndTheNextScrapeWorks) {
  std::atomic<int> calls{0};
  MetricsEndpoint endpoint(loopback(), [&]() -> std::string {
    if (calls.fetch_add(1) == 0) throw std::runtime_error("store unavailable");
    return demo();
  });
  const HttpResponse failed = exchange(endpoint.local_port(), kGet);
  EXPECT_EQ(failed.status_line, "HTTP/1.1 500 Internal Server Error");
  EXPECT_NE(failed.body.find("store unavailable"), std::string::npos) << failed.body;
  EXPECT_TRUE(failed.closed);
  EXPECT_EQ(exchange(endpoint.local_port(), kGet).body, kDemo);
  EXPECT_EQ(calls.load(), 2);
}

TEST(MetricsHttp, StalledClientDoesNotDelayOthersAndIsClosedAfterTheTimeout) {
  constexpr auto kTimeout = 1000ms;
  MetricsEndpoint endpoint(loopback(kTimeout), demo);
  const auto start = Clock::now();
  RawClient stalled(endpoint.local_port());
  ASSERT_TRUE(stalled.send("GET /metrics HTTP/1.1\r\nHost: 12"));
  RawClient silent(endpoint.local_port());  // connects and sends nothing at all

  // Others are answered while those two wait, and long before the timeout.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(exchange(endpoint.local_port(), kGet).status, 200);
  EXPECT_LT(Clock::now() - start, kTimeout);
  EXPECT_FALSE(stalled.closed_now());

  EXPECT_EQ(stalled.read_to_close(kTimeout + 5000ms), "");
  EXPECT_TRUE(stalled.closed());
  EXPECT_GE(Clock::now() - start, kTimeout);
  EXPECT_EQ(silent.read_to_close(5000ms), "");
  EXPECT_TRUE(silent.closed());
}

TEST(MetricsHttp, TimeoutCoversTheWholeRequestNotEachRead) {
  constexpr auto kTimeout = 1000ms;
  MetricsEndpoint endpoint(loopback(kTimeout), demo);
  const auto start = Clock::now();
  RawClient drip(endpoint.local_port());
  drip.send("GET /metrics HTTP/1.1\r\n");
  // One header byte every 50 ms: each read is quick, the request never ends.
  while (!drip.closed_now() && Clock::now() - start < kTimeout + 5000ms) {
    drip.send("X");
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(drip.closed_now());
  EXPECT_LT(Clock::now() - start, kTimeout + 5000ms);
}

TEST(MetricsHttp, ClientThatDoesNotReadDoesNotDelayOthers) {
  // A response far larger than the socket buffers, so that its writer waits on the client.
  // The stuck writer is cut only after a minute: a scrape served while it is still open was
  // not made to wait for it, however long the 8 MiB take on a loaded machine.
  const std::string big(8 << 20, '#');
  MetricsEndpoint endpoint(loopback(60000ms), [&big] { return std::string(big); });
  RawClient reader_that_never_reads(endpoint.local_port());
  ASSERT_TRUE(reader_that_never_reads.send(kGet));
  std::this_thread::sleep_for(100ms);  // its write is under way and stuck
  RawClient other(endpoint.local_port());
  ASSERT_TRUE(other.send(kGet));
  const HttpResponse response = parse_response(other.read_to_close(30000ms));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body.size(), big.size());
  EXPECT_FALSE(reader_that_never_reads.closed_now()) << "served only once the stuck one was cut";
}

TEST(MetricsHttp, ConnectionsPastTheLimitAreClosedAtOnceAndServiceResumes) {
  constexpr std::size_t kMax = 2;
  MetricsEndpoint endpoint(loopback(30000ms, kMax), demo);
  std::vector<std::unique_ptr<RawClient>> holders;
  for (std::size_t i = 0; i < kMax; ++i) {
    holders.push_back(std::make_unique<RawClient>(endpoint.local_port()));
    ASSERT_TRUE(holders.back()->send("GET /metrics HTTP/1.1\r\n"));
  }
  // The backlog is taken in order: these come after the holders, and all are over the limit.
  for (int i = 0; i < 5; ++i) {
    RawClient extra(endpoint.local_port());
    const auto start = Clock::now();
    const std::string bytes = extra.read_to_close(5000ms);
    EXPECT_TRUE(extra.closed()) << i;
    EXPECT_LT(Clock::now() - start, 3000ms) << i;
    EXPECT_TRUE(bytes.empty() || bytes.starts_with("HTTP/1.1 503 ")) << bytes;
  }
  EXPECT_NE(exchange(endpoint.local_port(), kGet).status, 200);
  for (const auto& holder : holders) EXPECT_FALSE(holder->closed_now());

  // Once the holders leave, scrapes work again (the endpoint sees them go a moment later).
  holders.clear();
  int status = 0;
  const auto deadline = Clock::now() + 5000ms;
  while (status != 200 && Clock::now() < deadline) {
    status = exchange(endpoint.local_port(), kGet).status;
    if (status != 200) std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(status, 200);
}

TEST(MetricsHttp, ManySequentialScrapesNeverRunOutOfConnections) {
  MetricsEndpoint endpoint(loopback(5000ms, 2), demo);
  for (int i = 0; i < 200; ++i) ASSERT_EQ(exchange(endpoint.local_port(), kGet).status, 200) << i;
}

TEST(MetricsHttp, ConcurrentScrapersAllGetTheText) {
  std::atomic<int> renders{0};
  MetricsEndpoint endpoint(loopback(5000ms, 16), [&] {
    renders.fetch_add(1);
    return demo();
  });
  constexpr int kThreads = 4;
  constexpr int kScrapes = 25;
  std::atomic<int> ok{0};
  std::vector<std::thread> scrapers;
  scrapers.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    scrapers.emplace_back([&] {
      for (int i = 0; i < kScrapes; ++i) {
        const HttpResponse response = exchange(endpoint.local_port(), kGet);
        if (response.status == 200 && response.body == kDemo) ok.fetch_add(1);
      }
    });
  }
  for (std::thread& scraper : scrapers) scraper.join();
  EXPECT_EQ(ok.load(), kThreads * kScrapes);
  EXPECT_EQ(renders.load(), kThreads * kScrapes);
}

TEST(MetricsHttp, DestroyedWhileClientsAreConnectedStopsAtOnceAndClosesThem) {
  const std::string big(8 << 20, '#');
  auto endpoint =
      std::make_unique<MetricsEndpoint>(loopback(60000ms), [&big] { return std::string(big); });
  const std::uint16_t port = endpoint->local_port();
  RawClient silent(port);
  RawClient stalled(port);
  ASSERT_TRUE(stalled.send("GET /metr"));
  RawClient not_reading(port);  // its response is being written when the endpoint goes
  ASSERT_TRUE(not_reading.send(kGet));
  std::this_thread::sleep_for(100ms);

  const auto start = Clock::now();
  endpoint.reset();
  EXPECT_LT(Clock::now() - start, 2000ms);

  EXPECT_EQ(silent.read_to_close(2000ms), "");
  EXPECT_TRUE(silent.closed());
  EXPECT_EQ(stalled.read_to_close(2000ms), "");
  EXPECT_TRUE(stalled.closed());
  not_reading.read_to_close(5000ms);
  EXPECT_TRUE(not_reading.closed());
  // Nothing listens there any more.
  EXPECT_THROW(RawClient{port}, std::runtime_error);
}

TEST(MetricsHttp, PortInUseThrowsSystemErrorNamingAddressAndPort) {
  MetricsEndpoint first(loopback(), demo);
  MetricsEndpointOptions options = loopback();
  options.port = first.local_port();
  try {
    MetricsEndpoint second(options, demo);
    FAIL() << "a second endpoint bound the same port";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::address_in_use);
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(options.port)),
              std::string::npos)
        << e.what();
  }
}

TEST(MetricsHttp, UnusableAddressThrowsSystemErrorNamingIt) {
  MetricsEndpointOptions options = loopback();
  options.address = "300.1.2.3";
  options.port = 9100;
  try {
    MetricsEndpoint endpoint(options, demo);
    FAIL() << "bound to " << options.address;
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("300.1.2.3:9100"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace count
