#include "net/server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <new>
#include <span>
#include <string_view>
#include <system_error>
#include <utility>

#include "commands/commands.hpp"
#include "log/log.hpp"
#include "metrics/metrics.hpp"
#include "net/service_notify.hpp"
#include "net/session.hpp"

namespace count {
namespace {

constexpr auto kAsTuple = asio::experimental::as_tuple(asio::use_awaitable);

// Descriptors beyond the connections: listening socket, data file, epoll, signals, logs.
constexpr rlim_t kSpareDescriptors = 64;

// Owns an accepted descriptor until a session takes it.
class UniqueFd {
 public:
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&&) = delete;
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// Counts a live session for the connection limit, for as long as it exists.
class ConnectionSlot {
 public:
  explicit ConnectionSlot(std::atomic<std::size_t>& count) : count_(&count) {}
  ConnectionSlot(ConnectionSlot&& other) noexcept : count_(std::exchange(other.count_, nullptr)) {}
  ConnectionSlot& operator=(ConnectionSlot&&) = delete;
  ~ConnectionSlot() {
    if (count_ != nullptr) count_->fetch_sub(1, std::memory_order_relaxed);
  }

 private:
  std::atomic<std::size_t>* count_;  // owned by the server
};

// True for a peer on this machine: 127.0.0.0/8, ::1, or ::ffff:127.0.0.0/104.
bool is_loopback(const sockaddr_storage& peer) {
  if (peer.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(peer);
    return (ntohl(v4.sin_addr.s_addr) >> 24) == 127;
  }
  if (peer.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(peer);
    return IN6_IS_ADDR_LOOPBACK(&v6.sin6_addr) ||
           (IN6_IS_ADDR_V4MAPPED(&v6.sin6_addr) && v6.sin6_addr.s6_addr[12] == 127);
  }
  return false;
}

// Lets the process hold as many descriptors as the connection limit needs, up to the hard limit.
void raise_descriptor_limit(std::size_t max_connections) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  const rlim_t wanted = static_cast<rlim_t>(max_connections) + kSpareDescriptors;
  if (limit.rlim_cur >= wanted) return;
  limit.rlim_cur = std::min(wanted, limit.rlim_max);
  ::setrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur < wanted) {
    log(LogLevel::kWarning,
        "the descriptor limit ({}) is below what {} connections need; new connections will "
        "wait while it is reached",
        limit.rlim_cur, max_connections);
  }
}

// The peer of an accepted connection, for the log.
std::string peer_text(const sockaddr_storage& peer) {
  char text[INET6_ADDRSTRLEN] = "?";
  if (peer.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(peer);
    ::inet_ntop(AF_INET, &v4.sin_addr, text, sizeof text);
    return fmt::format("{}:{}", text, ntohs(v4.sin_port));
  }
  const auto& v6 = reinterpret_cast<const sockaddr_in6&>(peer);
  ::inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof text);
  return fmt::format("[{}]:{}", text, ntohs(v6.sin6_port));
}

SessionPolicy make_policy(const ServerOptions& options, const std::string& password,
                          RejectionLog& rejections, const RespSettings& resp,
                          std::atomic<std::uint64_t>& client_ids) {
  SessionPolicy policy;
  policy.resp = &resp;
  policy.next_client_id = &client_ids;
  policy.password = password.empty() ? nullptr : &password;
  policy.rejections = &rejections;
  policy.idle_timeout = options.idle_timeout;
  policy.stall_timeout = options.stall_timeout;
  policy.handshake_timeout = options.handshake_timeout;
  return policy;
}

}  // namespace

Server::Server(const ServerOptions& options, std::unique_ptr<Store> store)
    : options_(options),
      resp_{options.resp_key, options.version, 0},
      policy_(make_policy(options_, options_.password, rejections_, resp_, next_client_id_)),
      store_(std::move(store)),
      loops_(options.threads, options.local_threads, policy_),
      acceptor_(loops_.at(0).context()),
      tls_acceptor_(loops_.at(0).context()),
      accept_retry_(loops_.at(0).context()),
      protocol_(asio::ip::make_address(options.bind_address).is_v6() ? asio::ip::tcp::v6()
                                                                     : asio::ip::tcp::v4()) {
  std::signal(SIGPIPE, SIG_IGN);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  raise_descriptor_limit(options_.max_connections);

  if (options_.plain) listen(acceptor_, options_.port);
  if (options_.tls) listen(tls_acceptor_, options_.tls_port);
  resp_.port = options_.plain ? local_port() : local_tls_port();  // before any session starts

  store_->on_durable([this] {
    for (std::size_t i = 0; i < loops_.size(); ++i) loops_.at(i).notify_durable();
  });
}

void Server::listen(asio::ip::tcp::acceptor& acceptor, std::uint16_t port) {
  const asio::ip::tcp::endpoint endpoint(asio::ip::make_address(options_.bind_address), port);
  try {
    acceptor.open(endpoint.protocol());
    acceptor.set_option(asio::ip::tcp::acceptor::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(asio::socket_base::max_listen_connections);
    acceptor.non_blocking(true);
  } catch (const std::system_error& e) {
    throw std::system_error(e.code(),
                            fmt::format("cannot listen on {}:{}{}", options_.bind_address, port,
                                        &acceptor == &tls_acceptor_ ? " (TLS)" : ""));
  }
}

Server::~Server() { ::close(wake_fd_); }

std::uint16_t Server::local_port() const {
  return acceptor_.is_open() ? acceptor_.local_endpoint().port() : 0;
}

std::uint16_t Server::local_tls_port() const {
  return tls_acceptor_.is_open() ? tls_acceptor_.local_endpoint().port() : 0;
}

bool Server::run(ServerSignals& signals) {
  if (acceptor_.is_open()) {
    asio::co_spawn(loops_.at(0).context(), accept_loop(acceptor_, false), asio::detached);
  }
  if (tls_acceptor_.is_open()) {
    asio::co_spawn(loops_.at(0).context(), accept_loop(tls_acceptor_, true), asio::detached);
  }
  loops_running_.store(loops_.size());
  loops_.start([this] {
    loops_running_.fetch_sub(1);
    wake();
  });

  // Takes every pending signal and says whether one asked to stop (and SIGQUIT: to hurry).
  bool hurry = false;
  const auto stop_signalled = [&] {
    bool stop = false;
    for (auto taken = signals.take(); taken.request != ServerSignals::Request::kNone;
         taken = signals.take()) {
      if (taken.request == ServerSignals::Request::kIgnore) {
        log(LogLevel::kInfo, "{}: nothing to reload; still serving",
            ServerSignals::name(taken.signal));
        continue;
      }
      stop = true;
      hurry = hurry || taken.request == ServerSignals::Request::kFast;
      log(LogLevel::kInfo, "{}: shutting down", ServerSignals::name(taken.signal));
    }
    return stop;
  };

  // At --log-level debug, a line every 10 seconds says what the server did meanwhile.
  constexpr std::chrono::seconds kDebugInterval{10};
  Activity last = activity();
  auto next_debug_line = std::chrono::steady_clock::now() + kDebugInterval;
  while (!stop_signalled() && !stop_requested_.load()) {
    if (!log_enabled(LogLevel::kDebug)) {
      wait_for_event(signals, std::chrono::milliseconds(-1));
      continue;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_debug_line) {
      const Activity current = activity();
      log(LogLevel::kDebug,
          "in the last {} s: {} requests ({} err), {} connections accepted, {} refused; {} open",
          kDebugInterval.count(), current.requests - last.requests, current.errors - last.errors,
          current.accepted - last.accepted, current.refused - last.refused, current.open);
      last = current;
      next_debug_line = now + kDebugInterval;
    }
    wait_for_event(signals, std::chrono::ceil<std::chrono::milliseconds>(next_debug_line - now));
  }

  notify_stopping();  // systemd: the stop has begun

  // Stop accepting first, then let every session finish what it has received.
  asio::post(loops_.at(0).context(), [this] {
    asio::error_code ignored;
    acceptor_.close(ignored);
    tls_acceptor_.close(ignored);
    accept_retry_.cancel();
  });
  for (std::size_t i = 0; i < loops_.size(); ++i) loops_.at(i).shut_down();

  // A signal during the grace time is no error: it only means "do not wait" (as SIGQUIT).
  const auto deadline = std::chrono::steady_clock::now() + options_.shutdown_grace;
  while (loops_running_.load() > 0) {
    const auto now = std::chrono::steady_clock::now();
    if (hurry || now >= deadline) {
      log(LogLevel::kWarning, "closing the connections still open{}",
          hurry ? "" : fmt::format(" after {} ms", options_.shutdown_grace.count()));
      for (std::size_t i = 0; i < loops_.size(); ++i) loops_.at(i).context().stop();
      break;
    }
    wait_for_event(signals, std::chrono::ceil<std::chrono::milliseconds>(deadline - now));
    hurry = stop_signalled() || hurry;
  }
  loops_.join();
  rejections_.flush();
  return store_->close();
}

void Server::stop() {
  stop_requested_.store(true);
  wake();
}

void Server::wake() const {
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

void Server::wait_for_event(const ServerSignals& signals, std::chrono::milliseconds timeout) const {
  std::array<pollfd, 2> fds{{{signals.fd(), POLLIN, 0}, {wake_fd_, POLLIN, 0}}};
  const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(timeout.count()));
  if (ready > 0 && (fds[1].revents & POLLIN) != 0) {
    std::uint64_t count = 0;
    [[maybe_unused]] const ssize_t n = ::read(wake_fd_, &count, sizeof count);
  }
}

asio::awaitable<void> Server::accept_loop(asio::ip::tcp::acceptor& acceptor, bool tls) {
  for (;;) {
    const auto [ec] = co_await acceptor.async_wait(asio::socket_base::wait_read, kAsTuple);
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    // Take every connection that is waiting: one wake-up, many accepts.
    for (;;) {
      sockaddr_storage peer{};
      socklen_t peer_length = sizeof peer;
      const int fd = ::accept4(acceptor.native_handle(), reinterpret_cast<sockaddr*>(&peer),
                               &peer_length, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        if (connections_.load(std::memory_order_relaxed) >= options_.max_connections) {
          refuse(fd, peer);
          continue;
        }
        connections_.fetch_add(1, std::memory_order_relaxed);
        LoopMetrics& counted = loops_.at(0).metrics();  // this coroutine runs on loop 0
        counted.accepted.add();
        if (tls) counted.accepted_tls.add();
        Loop& loop = loops_.next(is_loopback(peer));
        asio::post(loop.context(), [this, &loop, tls, owned = UniqueFd(fd)]() mutable {
          start_session(loop, owned.release(), tls);
        });
        continue;
      }
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors or memory: leave the connection in the backlog and retry soon,
        // rather than spin on a listening socket that stays readable.
        accept_retry_.expires_after(std::chrono::milliseconds(50));
        co_await accept_retry_.async_wait(kAsTuple);
        if (!acceptor.is_open()) co_return;
        continue;
      }
      log(LogLevel::kError, "accept failed: {}", std::strerror(errno));
      break;
    }
  }
}

void Server::start_session(Loop& loop, int fd, bool tls) {
  ConnectionSlot slot(connections_);
  asio::error_code ec;
  Socket socket(loop.context());
  socket.assign(protocol_, fd, ec);
  if (ec) {
    ::close(fd);
    return;
  }
  std::unique_ptr<Session> session;
  try {
    session = std::make_unique<Session>(loop, std::move(socket), *store_,
                                        tls ? options_.tls->native() : nullptr);
  } catch (const std::bad_alloc&) {
    return;  // out of memory for this connection's TLS state: it is closed, the rest go on
  }
  Session& serving = *session;
  // The completion handler owns the session and its slot: both end when run() returns.
  asio::co_spawn(loop.context(), serving.run(),
                 [owned = std::move(session), held = std::move(slot)](std::exception_ptr) {});
}

// Past the limit: one `err`, then close. Best effort: the socket is new and empty, so the
// short reply fits its send buffer. (On the TLS port the client reads it as a failed
// handshake: a TLS alert would cost a handshake's work, which is what the limit spares.)
void Server::refuse(int fd, const sockaddr_storage& peer) {
  LoopMetrics& counted = loops_.at(0).metrics();  // called on loop 0, by the accept loop
  counted.refused.add();
  counted.errors[static_cast<std::size_t>(ErrCause::kConnectionLimit)].add();
  rejections_.note(
      Rejection::kConnectionLimit, [&] { return peer_text(peer); },
      [&] { return fmt::format("{} open", options_.max_connections); });
  static constexpr char kErr[] = "err\n";
  [[maybe_unused]] const ssize_t n = ::send(fd, kErr, sizeof kErr - 1, MSG_NOSIGNAL);
  ::shutdown(fd, SHUT_WR);
  ::close(fd);
}

namespace {

constexpr std::array<std::string_view, kReplyKinds> kReplyNames{"ok", "val", "err", "quit"};

std::string_view err_cause_name(ErrCause cause) {
  switch (cause) {
    case ErrCause::kNone:
      return "other";
    case ErrCause::kUnknownCommand:
      return "unknown_command";
    case ErrCause::kBadArgument:
      return "bad_argument";
    case ErrCause::kOverflow:
      return "overflow";
    case ErrCause::kLineTooLong:
      return "line_too_long";
    case ErrCause::kNotPrintable:
      return "not_printable";
    case ErrCause::kNotAuthenticated:
      return "not_authenticated";
    case ErrCause::kWrongPassword:
      return "wrong_password";
    case ErrCause::kNoPassword:
      return "no_password";
    case ErrCause::kStoreUnavailable:
      return "store_unavailable";
    case ErrCause::kConnectionLimit:
      return "connection_limit";
    case ErrCause::kBadRequest:
      return "bad_request";
    case ErrCause::kNoSuchKey:
      return "no_such_key";
    case ErrCause::kTransaction:
      return "transaction";
    case ErrCause::kCount:
      break;
  }
  return "?";
}

std::string_view close_cause_name(CloseCause cause) {
  switch (cause) {
    case CloseCause::kClient:
      return "client";
    case CloseCause::kQuit:
      return "quit";
    case CloseCause::kBroken:
      return "broken";
    case CloseCause::kShutdown:
      return "shutdown";
    case CloseCause::kIdle:
      return "idle_timeout";
    case CloseCause::kStalledLine:
      return "stalled_line";
    case CloseCause::kUnreadReplies:
      return "unread_replies";
    case CloseCause::kHandshakeTimeout:
      return "handshake_timeout";
    case CloseCause::kHandshakeFailed:
      return "handshake_failed";
    case CloseCause::kCount:
      break;
  }
  return "?";
}

}  // namespace

Server::Activity Server::activity() const {
  Activity totals;
  for (std::size_t i = 0; i < loops_.size(); ++i) {
    const LoopMetrics& m = loops_.at(i).metrics();
    for (const auto& row : m.requests) {
      for (const MetricCounter& counter : row) totals.requests += counter.get();
    }
    for (const auto& row : m.resp_requests) {
      for (const MetricCounter& counter : row) totals.requests += counter.get();
    }
    for (const MetricCounter& counter : m.errors) totals.errors += counter.get();
    totals.accepted += m.accepted.get();
    totals.refused += m.refused.get();
  }
  totals.open = connections_.load(std::memory_order_relaxed);
  return totals;
}

std::string Server::metrics_text() const {
  // Sum every loop's counters; each is read once, relaxed: a scrape is a moment, not a lock.
  const auto sum = [this](auto&& pick) {
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < loops_.size(); ++i) total += pick(loops_.at(i).metrics()).get();
    return total;
  };
  MetricsText out;
  const std::span<const CommandSpec> commands = command_table();
  out.family("count_server_requests_total", "counter",
             "Requests answered, by protocol, by command (none: no known command word) and by "
             "reply.");
  // The replies a command can get: err, and its own (only err for no command).
  const auto own_reply = [](std::size_t row, std::string_view command) -> std::string_view {
    if (row == 0) return "err";
    if (command == "get") return "val";
    if (command == "quit") return "quit";
    return "ok";
  };
  for (std::size_t row = 0; row <= commands.size() && row < kMaxCommandRows; ++row) {
    const std::string_view command = row == 0 ? "none" : commands[row - 1].name;
    for (std::size_t kind = 0; kind < kReplyKinds; ++kind) {
      const std::uint64_t count =
          sum([&](const LoopMetrics& m) -> const MetricCounter& { return m.requests[row][kind]; });
      if (count == 0 && kReplyNames[kind] != "err" && kReplyNames[kind] != own_reply(row, command)) {
        continue;
      }
      const std::array<Label, 3> labels{Label{"protocol", "line"}, Label{"command", command},
                                        Label{"reply", kReplyNames[kind]}};
      out.sample("count_server_requests_total", labels, count);
    }
  }
  for (std::size_t row = 0; row <= resp_command_count() && row < kMaxRespCommandRows; ++row) {
    const std::string_view command = resp_command_name(row);
    for (std::size_t kind = 0; kind < kReplyKinds; ++kind) {
      const std::uint64_t count = sum(
          [&](const LoopMetrics& m) -> const MetricCounter& { return m.resp_requests[row][kind]; });
      // Only what was seen: the Redis table is long, and most of it is rarely asked.
      if (count == 0) continue;
      const std::array<Label, 3> labels{Label{"protocol", "resp"}, Label{"command", command},
                                        Label{"reply", kReplyNames[kind]}};
      out.sample("count_server_requests_total", labels, count);
    }
  }
  out.family("count_server_errors_total", "counter", "Replies err, by cause.");
  for (std::size_t cause = 1; cause < static_cast<std::size_t>(ErrCause::kCount); ++cause) {
    const std::array<Label, 1> labels{Label{"cause", err_cause_name(static_cast<ErrCause>(cause))}};
    out.sample("count_server_errors_total", labels,
               sum([&](const LoopMetrics& m) -> const MetricCounter& { return m.errors[cause]; }));
  }
  out.gauge("count_server_connections_open", "Client connections open now.",
            static_cast<double>(connections_.load(std::memory_order_relaxed)));
  const std::uint64_t accepted_tls =
      sum([](const LoopMetrics& m) -> const MetricCounter& { return m.accepted_tls; });
  out.family("count_server_connections_accepted_total", "counter",
             "Client connections accepted, by port.");
  const std::array<Label, 1> plain{Label{"port", "plain"}};
  const std::array<Label, 1> tls{Label{"port", "tls"}};
  out.sample(
      "count_server_connections_accepted_total", plain,
      sum([](const LoopMetrics& m) -> const MetricCounter& { return m.accepted; }) - accepted_tls);
  out.sample("count_server_connections_accepted_total", tls, accepted_tls);
  out.counter("count_server_connections_refused_total",
              "Connections refused past --max-connections (each got err and was closed).",
              sum([](const LoopMetrics& m) -> const MetricCounter& { return m.refused; }));
  out.family("count_server_connections_closed_total", "counter",
             "Client connections ended, by cause.");
  for (std::size_t cause = 0; cause < static_cast<std::size_t>(CloseCause::kCount); ++cause) {
    const std::array<Label, 1> labels{
        Label{"cause", close_cause_name(static_cast<CloseCause>(cause))}};
    out.sample("count_server_connections_closed_total", labels,
               sum([&](const LoopMetrics& m) -> const MetricCounter& { return m.closed[cause]; }));
  }
  out.counter("count_server_tls_handshakes_total", "TLS handshakes completed.",
              sum([](const LoopMetrics& m) -> const MetricCounter& { return m.handshakes; }));
  out.counter("count_server_received_bytes_total", "Bytes received from clients (inside TLS).",
              sum([](const LoopMetrics& m) -> const MetricCounter& { return m.received_bytes; }));
  out.counter("count_server_sent_bytes_total", "Bytes sent to clients (inside TLS).",
              sum([](const LoopMetrics& m) -> const MetricCounter& { return m.sent_bytes; }));
  store_->write_metrics(out);
  const double started = std::chrono::duration<double>(started_.time_since_epoch()).count();
  out.gauge("count_server_start_time_seconds", "When the server started, in Unix time.", started);
  out.gauge("count_server_uptime_seconds", "Seconds since the server started.",
            std::chrono::duration<double>(std::chrono::system_clock::now() - started_).count());
  out.family("count_server_build_info", "gauge", "The server's version, as a label; always 1.");
  const std::array<Label, 1> version{Label{"version", options_.version}};
  out.sample("count_server_build_info", version, std::uint64_t{1});
  return out.text();
}

}  // namespace count
