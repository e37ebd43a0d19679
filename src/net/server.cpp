#include "net/server.hpp"

#include <fcntl.h>
#include <fmt/core.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
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
#include <vector>

#include "commands/commands.hpp"
#include "log/log.hpp"
#include "metrics/metrics.hpp"
#include "net/peer.hpp"
#include "net/service_notify.hpp"
#include "net/session.hpp"
#include "protocol/password.hpp"

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

SessionPolicy make_policy(const ServerOptions& options, const ServerPassword* password,
                          RejectionLog& rejections, const RespSettings& resp,
                          std::atomic<std::uint64_t>& client_ids) {
  SessionPolicy policy;
  policy.resp = &resp;
  policy.next_client_id = &client_ids;
  policy.password = password;
  policy.rejections = &rejections;
  policy.idle_timeout = options.idle_timeout;
  policy.stall_timeout = options.stall_timeout;
  policy.handshake_timeout = options.handshake_timeout;
  return policy;
}

bool out_of_resources(int error) {
  return error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM;
}

// Out of descriptors or memory: the connection stays in the backlog while the accept waits this
// long, rather than spin on a listening socket that stays readable.
constexpr std::chrono::milliseconds kAcceptBackOff{50};

}  // namespace

// An io_uring loop's accept (on loop 0): one multishot accept per listening socket, re-armed
// when the kernel ends it.
class Server::RingAccept final : public RingTarget {
 public:
  RingAccept(Server& server, Loop& loop, int fd, bool tls)
      : server_(server), loop_(loop), fd_(fd), tls_(tls) {}

  void arm() {
    if (closed_ || armed_) return;
    io_uring_prep_multishot_accept(loop_.ring().prepare(this, 1), fd_, nullptr, nullptr,
                                   SOCK_NONBLOCK | SOCK_CLOEXEC);
    armed_ = true;
  }

  // No more accepts; a connection the kernel accepted meanwhile is closed.
  void close() {
    closed_ = true;
    if (armed_) {
      io_uring_prep_cancel64(loop_.ring().prepare_untracked(),
                             reinterpret_cast<std::uint64_t>(this) | 1U, 0);
    }
  }

  void on_completion(unsigned /*op*/, int result, std::uint32_t flags) override {
    if ((flags & IORING_CQE_F_MORE) == 0) armed_ = false;
    if (result >= 0) {
      if (closed_) {
        ::close(result);
      } else {
        sockaddr_storage peer{};
        socklen_t length = sizeof peer;
        ::getpeername(result, reinterpret_cast<sockaddr*>(&peer), &length);
        server_.admit(result, peer, tls_);
      }
    } else if (out_of_resources(-result)) {
      if (!armed_) {
        loop_.call_at(std::chrono::steady_clock::now() + kAcceptBackOff, [this] { arm(); });
      }
      return;
    } else if (result != -ECANCELED && result != -EINTR && result != -ECONNABORTED) {
      log(LogLevel::kError, "accept failed: {}", std::strerror(-result));
    }
    arm();
  }

 private:
  Server& server_;
  Loop& loop_;
  int fd_;
  bool tls_;
  bool armed_ = false;
  bool closed_ = false;
};

Server::Server(const ServerOptions& options, std::unique_ptr<Store> store)
    : options_(options),
      password_(options.password.empty() ? nullptr
                                         : std::make_unique<ServerPassword>(options.password)),
      tls_(options.tls),
      resp_{options.resp_key, options.version, 0, RespShortcuts(options.resp_key)},
      policy_(make_policy(options_, password_.get(), rejections_, resp_, next_client_id_)),
      store_(std::move(store)),
      loops_(options.threads, options.local_threads, policy_, options.io),
      acceptor_(options.io == IoBackend::kIoUring ? listen_context_ : loops_.at(0).context()),
      tls_acceptor_(options.io == IoBackend::kIoUring ? listen_context_ : loops_.at(0).context()),
      accept_retry_(options.io == IoBackend::kIoUring ? listen_context_ : loops_.at(0).context()),
      protocol_(asio::ip::make_address(options.bind_address).is_v6() ? asio::ip::tcp::v6()
                                                                     : asio::ip::tcp::v4()) {
  std::signal(SIGPIPE, SIG_IGN);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  raise_descriptor_limit(options_.max_connections);

  if (options_.plain) listen(acceptor_, options_.port);
  if (tls_) listen(tls_acceptor_, options_.tls_port);
  resp_.port = options_.plain ? local_port() : local_tls_port();  // before any session starts

  store_->on_durable([this] {  // any thread
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
  Loop& first = loops_.at(0);
  if (first.on_ring()) {
    for (auto* acceptor : {&acceptor_, &tls_acceptor_}) {
      if (!acceptor->is_open()) continue;
      ring_accepts_.push_back(std::make_unique<RingAccept>(*this, first, acceptor->native_handle(),
                                                           acceptor == &tls_acceptor_));
    }
    first.post([this] {
      for (auto& accept : ring_accepts_) accept->arm();
    });
  } else {
    if (acceptor_.is_open()) {
      asio::co_spawn(first.context(), accept_loop(acceptor_, false), asio::detached);
    }
    if (tls_acceptor_.is_open()) {
      asio::co_spawn(first.context(), accept_loop(tls_acceptor_, true), asio::detached);
    }
  }
  loops_running_.store(loops_.size());
  loops_.start([this] {
    loops_running_.fetch_sub(1);
    wake();
  });

  // Takes every pending signal and says whether one asked to stop (and SIGQUIT: to hurry).
  bool hurry = false;
  auto next_expiry_check = std::chrono::steady_clock::now();
  const auto stop_signalled = [&] {
    bool stop = false;
    for (auto taken = signals.take(); taken.request != ServerSignals::Request::kNone;
         taken = signals.take()) {
      if (taken.request == ServerSignals::Request::kReload) {
        reload(ServerSignals::name(taken.signal));
        next_expiry_check = std::chrono::steady_clock::now();  // the certificate may be new
        continue;
      }
      stop = true;
      hurry = hurry || taken.request == ServerSignals::Request::kFast;
      log(LogLevel::kInfo, "{}: shutting down", ServerSignals::name(taken.signal));
    }
    return stop;
  };

  // At --log-level debug, a line every 10 seconds says what the server did meanwhile; with
  // TLS, the certificate's expiry is looked at now and then.
  constexpr std::chrono::seconds kDebugInterval{10};
  LoopTotals last = loop_totals();
  auto next_debug_line = std::chrono::steady_clock::now() + kDebugInterval;
  while (!stop_signalled() && !stop_requested_.load()) {
    auto now = std::chrono::steady_clock::now();
    if (now >= next_expiry_check) next_expiry_check = check_certificate_expiry();
    auto wake_at = next_expiry_check;
    if (log_enabled(LogLevel::kDebug)) {
      if (now >= next_debug_line) {
        const LoopTotals current = loop_totals();
        log(LogLevel::kDebug,
            "in the last {} s: {} requests ({} err), {} connections accepted, {} refused; {} "
            "open",
            kDebugInterval.count(), current.all_requests() - last.all_requests(),
            current.all_errors() - last.all_errors(), current.accepted - last.accepted,
            current.refused - last.refused, connections_.load(std::memory_order_relaxed));
        last = current;
        next_debug_line = now + kDebugInterval;
      }
      wake_at = std::min(wake_at, next_debug_line);
    }
    now = std::chrono::steady_clock::now();
    wait_for_event(signals, wake_at == std::chrono::steady_clock::time_point::max()
                                ? std::chrono::milliseconds(-1)
                                : std::chrono::ceil<std::chrono::milliseconds>(
                                      std::max(wake_at - now, std::chrono::nanoseconds(0))));
  }

  notify_stopping();  // systemd: the stop has begun

  // Stop accepting first, then let every session finish what it has received.
  loops_.at(0).post([this] {
    for (auto& accept : ring_accepts_) accept->close();
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
      for (std::size_t i = 0; i < loops_.size(); ++i) loops_.at(i).stop();
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
        admit(fd, peer, tls);
        continue;
      }
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (out_of_resources(errno)) {
        accept_retry_.expires_after(kAcceptBackOff);
        co_await accept_retry_.async_wait(kAsTuple);
        if (!acceptor.is_open()) co_return;
        continue;
      }
      log(LogLevel::kError, "accept failed: {}", std::strerror(errno));
      break;
    }
  }
}

void Server::admit(int fd, const sockaddr_storage& peer, bool tls) {
  if (connections_.load(std::memory_order_relaxed) >= options_.max_connections) {
    refuse(fd, peer);
    return;
  }
  connections_.fetch_add(1, std::memory_order_relaxed);
  LoopMetrics& counted = loops_.at(0).metrics();  // accepts run on loop 0
  counted.accepted.add();
  if (tls) counted.accepted_tls.add();
  Loop& loop = loops_.next(is_loopback(peer));
  loop.post([this, &loop, tls, owned = UniqueFd(fd)]() mutable {
    start_session(loop, owned.release(), tls);
  });
}

void Server::start_session(Loop& loop, int fd, bool tls) {
  ConnectionSlot slot(connections_);
  if (loop.on_ring()) {
    try {
      const std::shared_ptr<TlsContext> context = tls ? tls_context() : nullptr;
      loop.adopt(std::make_unique<Session>(loop, fd, *store_, context ? context->native() : nullptr,
                                           std::move(slot)));
    } catch (const std::bad_alloc&) {
      // Out of memory for this connection's TLS state: it is closed, the rest go on.
    }
    return;
  }
  asio::error_code ec;
  Socket socket(loop.context());
  socket.assign(protocol_, fd, ec);
  if (ec) {
    ::close(fd);
    return;
  }
  std::unique_ptr<Session> session;
  try {
    // The context current now: the session's TLS state keeps it alive past any reload.
    const std::shared_ptr<TlsContext> context = tls ? tls_context() : nullptr;
    session = std::make_unique<Session>(loop, std::move(socket), *store_,
                                        context ? context->native() : nullptr, std::move(slot));
  } catch (const std::bad_alloc&) {
    return;  // out of memory for this connection's TLS state: it is closed, the rest go on
  }
  Session& serving = *session;
  // The completion handler owns the session (and so its slot): it ends when run() returns.
  asio::co_spawn(loop.context(), serving.run(),
                 [owned = std::move(session)](std::exception_ptr) {});
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

LoopTotals Server::loop_totals() const {
  LoopTotals totals;
  for (std::size_t i = 0; i < loops_.size(); ++i) totals.add(loops_.at(i).metrics());
  return totals;
}

std::shared_ptr<TlsContext> Server::tls_context() const {
  const std::lock_guard lock(tls_mutex_);
  return tls_;
}

std::string Server::metrics_text() const {
  MetricsText out;
  static const std::vector<std::string_view> line_names = [] {
    std::vector<std::string_view> names;
    for (const CommandSpec& command : command_table()) names.push_back(command.name);
    return names;
  }();
  static const std::vector<std::string_view> resp_names = [] {
    std::vector<std::string_view> names;
    for (std::size_t row = 1; row <= resp_command_count(); ++row) {
      names.push_back(resp_command_name(row));
    }
    return names;
  }();
  write_loop_metrics(out, loop_totals(), CommandRows{line_names, resp_names},
                     connections_.load(std::memory_order_relaxed));
  store_->write_metrics(out);
  ServerState state;
  state.started = started_;
  state.version = options_.version;
  state.reloads = reloads_.load(std::memory_order_relaxed);
  state.failed_reloads = failed_reloads_.load(std::memory_order_relaxed);
  if (const auto context = tls_context())
    state.certificate_expiry = context->certificate().not_after;
  write_server_metrics(out, state);
  return out.text();
}

bool Server::reload(std::string_view why) {
  const bool tls_files = tls_ && !options_.tls_files.cert.empty();
  const bool password_file = password_ && !options_.password_file.empty();
  if (!tls_files && !password_file) {
    log(LogLevel::kInfo, "{}: nothing to reload; still serving", why);
    return true;
  }
  // Everything is loaded before anything changes: all of it takes effect, or none.
  std::shared_ptr<TlsContext> context;
  std::string password;
  try {
    if (tls_files) context = std::make_shared<TlsContext>(options_.tls_files);
    if (password_file) password = read_password_file(options_.password_file);
  } catch (const TlsConfigError& e) {
    failed_reloads_.fetch_add(1, std::memory_order_relaxed);
    log(LogLevel::kError, "{}: reload failed, nothing changed: {}", why, e.what());
    return false;
  } catch (const PasswordFileError& e) {
    failed_reloads_.fetch_add(1, std::memory_order_relaxed);
    log(LogLevel::kError, "{}: reload failed, nothing changed: --password-file: {}", why, e.what());
    return false;
  }
  std::string what;
  if (context) {
    const CertificateInfo& certificate = context->certificate();
    what = fmt::format("TLS certificate {} (SHA-256 {}), valid until {}{}", certificate.subject,
                       certificate.fingerprint, certificate.not_after_text,
                       context->requires_client_certificates() ? ", client CA reloaded" : "");
    const std::lock_guard lock(tls_mutex_);
    tls_ = std::move(context);
  }
  if (password_file) {
    const bool changed = password_->replace(std::move(password));
    what +=
        fmt::format("{}password {}", what.empty() ? "" : "; ", changed ? "changed" : "unchanged");
  }
  reloads_.fetch_add(1, std::memory_order_relaxed);
  log(LogLevel::kInfo, "{}: reloaded: {}", why, what);
  return true;
}

std::chrono::steady_clock::time_point Server::check_certificate_expiry() const {
  const std::shared_ptr<TlsContext> context = tls_context();
  if (!context) return std::chrono::steady_clock::time_point::max();
  constexpr auto kWarnBefore = std::chrono::hours(24 * 7);
  constexpr auto kDay = std::chrono::hours(24);
  const CertificateInfo& certificate = context->certificate();
  const auto left = certificate.not_after - std::chrono::system_clock::now();
  const auto now = std::chrono::steady_clock::now();
  if (left >= kWarnBefore) {
    // Look again when the week begins (the wall clock may move meanwhile: a day at most).
    return now + std::min<std::chrono::system_clock::duration>(
                     left - kWarnBefore + std::chrono::seconds(1), kDay);
  }
  if (left <= std::chrono::system_clock::duration::zero()) {
    log(LogLevel::kWarning,
        "the TLS certificate {} expired on {}: clients will refuse it; install a new one and "
        "reload (SIGHUP)",
        certificate.subject, certificate.not_after_text);
  } else {
    log(LogLevel::kWarning,
        "the TLS certificate {} expires in {} h, on {}: install a new one and reload (SIGHUP)",
        certificate.subject, std::chrono::duration_cast<std::chrono::hours>(left).count(),
        certificate.not_after_text);
  }
  return now + kDay;  // said again every day until it is replaced
}

}  // namespace count
