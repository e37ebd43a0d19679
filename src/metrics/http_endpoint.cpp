// The metrics page's HTTP/1.1 server: one io_context on one thread, a coroutine per
// connection, a response and then close (no keep-alive). Never blocks on a client: every
// socket operation is asynchronous and every connection has a deadline.
#include "metrics/http_endpoint.hpp"

#include <fmt/core.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <cerrno>
#include <exception>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_set>
#include <utility>

namespace count {
namespace {

constexpr auto kAsTuple = asio::experimental::as_tuple(asio::use_awaitable);

// Prometheus's text exposition format, version 0.0.4.
constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";
constexpr std::string_view kTextContentType = "text/plain; charset=utf-8";
constexpr std::string_view kMetricsPath = "/metrics";

// Out of descriptors or memory when accepting: how long to leave connections in the backlog
// before trying again, rather than spin on a listening socket that stays readable.
constexpr std::chrono::milliseconds kAcceptRetry{50};

// An ordinary connection's head always passes in one read of this size.
constexpr std::size_t kReadChunk = 2048;

// RFC 9110's token characters, which a method and a header name are made of.
bool is_token_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), is_token_char);
}

// Visible ASCII, no space: what a request target may hold.
bool is_target(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c > ' ' && c < '\x7f'; });
}

// The request line and headers, as far as they have arrived.
struct RequestHead {
  enum class State { kIncomplete, kBad, kComplete };
  State state = State::kIncomplete;
  std::string_view method;
  std::string_view target;
  int major = 0;  // HTTP version
};

// Takes the next line (without its CRLF or bare LF) from `rest`; false when no whole line
// has arrived yet.
bool take_line(std::string_view& rest, std::string_view& line) {
  const std::size_t end = rest.find('\n');
  if (end == std::string_view::npos) return false;
  line = rest.substr(0, end);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  rest.remove_prefix(end + 1);
  return true;
}

// "METHOD SP target SP HTTP/d.d", each part checked; false when malformed.
bool parse_request_line(std::string_view line, RequestHead& head) {
  const std::size_t first = line.find(' ');
  if (first == std::string_view::npos) return false;
  const std::size_t second = line.find(' ', first + 1);
  if (second == std::string_view::npos) return false;
  head.method = line.substr(0, first);
  head.target = line.substr(first + 1, second - first - 1);
  const std::string_view version = line.substr(second + 1);
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (!is_token(head.method) || !is_target(head.target) || version.size() != 8 ||
      !version.starts_with("HTTP/") || !digit(version[5]) || version[6] != '.' ||
      !digit(version[7])) {
    return false;
  }
  head.major = version[5] - '0';
  return true;
}

// Parses what has arrived of a request. The request line is judged as soon as it is whole,
// so that a client speaking something else gets its 400 without waiting for a blank line;
// headers are only checked for a name and a colon, since none of them changes the answer.
RequestHead parse_head(std::string_view bytes) {
  RequestHead head;
  std::string_view line;
  // A server should ignore empty lines before the request line (RFC 9112, 2.2).
  do {
    if (!take_line(bytes, line)) return head;
  } while (line.empty());
  if (!parse_request_line(line, head)) {
    head.state = RequestHead::State::kBad;
    return head;
  }
  for (;;) {
    if (!take_line(bytes, line)) return head;
    if (line.empty()) break;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) {
      head.state = RequestHead::State::kBad;
      return head;
    }
  }
  head.state = RequestHead::State::kComplete;
  return head;
}

// The path of an origin-form ("/metrics?x") or absolute-form ("http://host/metrics")
// target, without its query.
std::string_view target_path(std::string_view target) {
  for (const std::string_view scheme : {"http://", "https://"}) {
    if (target.starts_with(scheme)) {
      const std::size_t slash = target.find('/', scheme.size());
      target = slash == std::string_view::npos ? "/" : target.substr(slash);
      break;
    }
  }
  return target.substr(0, target.find_first_of("?#"));
}

struct Response {
  std::string head;  // status line and headers
  std::string body;  // empty for HEAD
};

Response make_response(std::string_view status, std::string_view content_type, std::string body,
                       bool head_only = false, std::string_view extra_headers = {}) {
  Response response;
  response.head = fmt::format(
      "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}Connection: close\r\n\r\n",
      status, content_type, body.size(), extra_headers);
  if (!head_only) response.body = std::move(body);
  return response;
}

Response text_response(std::string_view status, std::string body,
                       std::string_view extra_headers = {}) {
  return make_response(status, kTextContentType, std::move(body), false, extra_headers);
}

}  // namespace

struct MetricsEndpoint::Impl {
  // One accepted connection, shared by its serving coroutine and its deadline's handler:
  // whichever ends last frees it. Lives and dies on the endpoint's thread.
  struct Connection {
    Connection(Impl& owner_in, asio::ip::tcp::socket accepted)
        : owner(owner_in), socket(std::move(accepted)), deadline(owner_in.io) {
      owner.connections.insert(this);
    }
    ~Connection() { owner.connections.erase(this); }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // Ends whatever the connection is waiting for; its coroutine then returns.
    void close() {
      asio::error_code ignored;
      socket.close(ignored);
      deadline.cancel();
    }

    Impl& owner;  // outlives every connection: its thread ends only once they are gone
    asio::ip::tcp::socket socket;
    asio::steady_timer deadline;
    std::array<char, kReadChunk> chunk{};  // what each read brings
  };

  Impl(MetricsEndpointOptions options_in, std::function<std::string()> render_in)
      : options(std::move(options_in)), render(std::move(render_in)) {}

  void listen();
  asio::awaitable<void> accept_loop();
  void take(int fd);
  void refuse(int fd);
  asio::awaitable<void> serve(std::shared_ptr<Connection> connection);
  Response respond(const RequestHead& head);
  void stop();

  const MetricsEndpointOptions options;
  const std::function<std::string()> render;
  // Set before the thread starts, read-only after.
  std::uint16_t port = 0;
  asio::ip::tcp protocol = asio::ip::tcp::v4();
  // Every open connection, for the limit and for stop(). Touched only on the thread; declared
  // before `io` so that it outlives any connection io's destructor might still free.
  std::unordered_set<Connection*> connections;
  asio::io_context io{1};
  asio::ip::tcp::acceptor acceptor{io};
  asio::steady_timer accept_retry{io};
  std::thread thread;
};

// The listening socket and every accepted one are close-on-exec, so that a program this
// process starts (a test's Prometheus) never holds a connection open.
void MetricsEndpoint::Impl::listen() {
  asio::error_code ec;
  const asio::ip::address address = asio::ip::make_address(options.address, ec);
  if (!ec) {
    const asio::ip::tcp::endpoint endpoint(address, options.port);
    protocol = endpoint.protocol();
    const int fd = ::socket(protocol.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) ec.assign(errno, asio::system_category());
    if (!ec) {
      acceptor.assign(protocol, fd, ec);
      if (ec) ::close(fd);
    }
    if (!ec) acceptor.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (!ec) port = acceptor.local_endpoint(ec).port();
  }
  if (ec) {
    // Asio's system category does not compare equal to std::errc; the standard one does.
    const std::error_code code = ec.category() == asio::system_category()
                                     ? std::error_code(ec.value(), std::system_category())
                                     : ec;
    const bool v6 = options.address.find(':') != std::string::npos;
    throw std::system_error(code, fmt::format("metrics: cannot listen on {}{}{}:{}", v6 ? "[" : "",
                                              options.address, v6 ? "]" : "", options.port));
  }
}

asio::awaitable<void> MetricsEndpoint::Impl::accept_loop() {
  for (;;) {
    const auto [ec] = co_await acceptor.async_wait(asio::socket_base::wait_read, kAsTuple);
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    // Take every connection that is waiting: one wake-up, many accepts.
    for (;;) {
      const int fd =
          ::accept4(acceptor.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        take(fd);
        continue;
      }
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      // Out of descriptors or memory (or worse): leave the connections in the backlog for a
      // moment rather than spin on a listening socket that stays readable.
      accept_retry.expires_after(kAcceptRetry);
      co_await accept_retry.async_wait(kAsTuple);
      if (!acceptor.is_open()) co_return;
    }
  }
}

void MetricsEndpoint::Impl::take(int fd) {
  if (connections.size() >= options.max_connections) {
    refuse(fd);
    return;
  }
  asio::ip::tcp::socket socket(io);
  asio::error_code ec;
  socket.assign(protocol, fd, ec);
  if (ec) {
    ::close(fd);
    return;
  }
  auto connection = std::make_shared<Connection>(*this, std::move(socket));
  connection->deadline.expires_after(options.timeout);
  connection->deadline.async_wait([connection](const asio::error_code&) { connection->close(); });
  // The coroutine owns its connection; an exception (out of memory) closes just that one.
  asio::co_spawn(io, serve(connection), [](const std::exception_ptr&) {});
}

// Past the limit: a 503 when it fits the new socket's empty send buffer, then close. Taking
// the connection (rather than leaving it in the backlog) keeps the backlog from filling.
void MetricsEndpoint::Impl::refuse(int fd) {
  static constexpr std::string_view kBusy =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  [[maybe_unused]] const ssize_t n = ::send(fd, kBusy.data(), kBusy.size(), MSG_NOSIGNAL);
  ::shutdown(fd, SHUT_WR);
  ::close(fd);
}

asio::awaitable<void> MetricsEndpoint::Impl::serve(std::shared_ptr<Connection> connection) {
  asio::ip::tcp::socket& socket = connection->socket;
  std::array<char, kReadChunk>& chunk = connection->chunk;
  std::string request;
  Response response;
  for (;;) {
    const RequestHead head = parse_head(request);
    if (head.state != RequestHead::State::kIncomplete) {
      response = respond(head);
      break;
    }
    if (request.size() >= options.max_request_bytes) {
      response = text_response("431 Request Header Fields Too Large",
                               "request line and headers too large\n");
      break;
    }
    const std::size_t room = std::min(chunk.size(), options.max_request_bytes - request.size());
    const auto [ec, n] =
        co_await socket.async_read_some(asio::buffer(chunk.data(), room), kAsTuple);
    if (ec) {
      connection->close();  // the client left, or its time ran out
      co_return;
    }
    request.append(chunk.data(), n);
  }

  const std::array<asio::const_buffer, 2> buffers{asio::buffer(response.head),
                                                  asio::buffer(response.body)};
  const auto [write_ec, written] = co_await asio::async_write(socket, buffers, kAsTuple);
  if (!write_ec) {
    // Closing with unread bytes (a body, the rest of an oversized head) would reset the
    // connection and could destroy the response before the client reads it: end our side,
    // then discard what comes until the client closes or the deadline closes it for us.
    asio::error_code ignored;
    socket.shutdown(asio::socket_base::shutdown_send, ignored);
    for (;;) {
      const auto [ec, n] = co_await socket.async_read_some(asio::buffer(chunk), kAsTuple);
      if (ec) break;
    }
  }
  connection->close();
}

Response MetricsEndpoint::Impl::respond(const RequestHead& head) {
  if (head.state == RequestHead::State::kBad) {
    return text_response("400 Bad Request", "bad request\n");
  }
  if (head.major != 1) {
    return text_response("505 HTTP Version Not Supported", "only HTTP/1.0 and HTTP/1.1\n");
  }
  if (target_path(head.target) != kMetricsPath) {
    return text_response("404 Not Found", "not found; the metrics are at /metrics\n");
  }
  const bool head_only = head.method == "HEAD";
  if (head.method != "GET" && !head_only) {
    return text_response("405 Method Not Allowed", "method not allowed\n", "Allow: GET, HEAD\r\n");
  }
  std::string body;
  try {
    body = render();
  } catch (const std::exception& e) {
    return text_response("500 Internal Server Error", fmt::format("metrics: {}\n", e.what()));
  } catch (...) {
    return text_response("500 Internal Server Error", "metrics: render failed\n");
  }
  return make_response("200 OK", kMetricsContentType, std::move(body), head_only);
}

// Runs on the thread: after it, no operation is left, so io.run() returns.
void MetricsEndpoint::Impl::stop() {
  asio::error_code ignored;
  acceptor.close(ignored);
  accept_retry.cancel();
  for (Connection* connection : connections) connection->close();
}

MetricsEndpoint::MetricsEndpoint(const MetricsEndpointOptions& options,
                                 std::function<std::string()> render)
    : impl_(std::make_unique<Impl>(options, std::move(render))) {
  impl_->listen();
  asio::co_spawn(impl_->io, impl_->accept_loop(), [](const std::exception_ptr&) {});
  impl_->thread = std::thread([&io = impl_->io] {
    // A handler that throws must not end the thread while connections still need it.
    for (;;) {
      try {
        io.run();
        return;
      } catch (...) {
      }
    }
  });
}

MetricsEndpoint::~MetricsEndpoint() {
  asio::post(impl_->io, [impl = impl_.get()] { impl->stop(); });
  impl_->thread.join();
}

std::uint16_t MetricsEndpoint::local_port() const { return impl_->port; }

}  // namespace count
