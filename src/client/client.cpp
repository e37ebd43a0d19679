// Plain TCP goes straight to send() and recv(). TLS runs OpenSSL over the same socket, made
// non-blocking so that every wait is a poll() with a deadline; a mutex lets one thread send
// while another reads, which OpenSSL alone does not allow on one connection.
#include "client/client.hpp"

#include <fcntl.h>
#include <fmt/core.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <memory>
#include <mutex>
#include <utility>

#include "client/tls_context.hpp"

namespace count {

using Clock = std::chrono::steady_clock;

struct SslFree {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};

struct Client::Tls {
  SslContextPtr context;
  std::unique_ptr<SSL, SslFree> ssl;
  // One OpenSSL call at a time on `ssl`: count-client sends on one thread while it reads on
  // another. Never held while waiting for the socket.
  std::mutex mutex;
  std::chrono::milliseconds receive_timeout{0};  // 0: wait for ever; set by the reading thread
  bool clean_close = false;  // the server ended with close_notify; written by the reading thread
};

namespace {

// Connects one resolved address within the time left; returns the descriptor or -1 with errno.
int connect_within(const addrinfo& address, std::chrono::steady_clock::time_point deadline) {
  const int fd = ::socket(address.ai_family, address.ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                          address.ai_protocol);
  if (fd < 0) return -1;
  if (::connect(fd, address.ai_addr, address.ai_addrlen) != 0) {
    if (errno != EINPROGRESS) {
      const int saved = errno;
      ::close(fd);
      errno = saved;
      return -1;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd waiting{fd, POLLOUT, 0};
    const int ready = ::poll(&waiting, 1, static_cast<int>(std::max<long>(left.count(), 0)));
    int error = 0;
    socklen_t length = sizeof error;
    if (ready == 0) {
      error = ETIMEDOUT;
    } else if (ready < 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) {
      error = errno;
    }
    if (error != 0) {
      ::close(fd);
      errno = error;
      return -1;
    }
  }
  // Back to blocking for plain reads and writes; requests leave at once.
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// SIGPIPE held back while OpenSSL may write to the socket (it uses write(), not
// send(MSG_NOSIGNAL)): a server that went away is an error to report, not the end of the
// process. A SIGPIPE raised meanwhile is taken out again, unless one was pending before.
class SigpipeHeld {
 public:
  SigpipeHeld() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &previous_);
  }
  ~SigpipeHeld() {
    sigset_t pending;
    sigpending(&pending);
    if (!was_pending_ && sigismember(&pending, SIGPIPE) == 1) {
      const timespec no_wait{};
      sigtimedwait(&pipe_, nullptr, &no_wait);
    }
    pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
  }
  SigpipeHeld(const SigpipeHeld&) = delete;
  SigpipeHeld& operator=(const SigpipeHeld&) = delete;

 private:
  sigset_t pipe_{};
  sigset_t previous_{};
  bool was_pending_ = false;
};

// How an OpenSSL call on the non-blocking socket ended.
struct TlsOutcome {
  int result = 0;              // the call's own result; > 0: done
  int error = SSL_ERROR_NONE;  // SSL_get_error()'s answer when not done
  unsigned long code = 0;      // OpenSSL's queued error, for tls_failure_reason()
  int system_error = 0;        // errno, for SSL_ERROR_SYSCALL
  bool timed_out = false;      // the deadline passed while waiting for the socket
};

// How long one wait for the socket lasts at most: the other thread's call may have taken
// the bytes this one waits for, or made room for them, without the socket showing it.
constexpr std::chrono::milliseconds kTlsWaitSlice{100};

// Runs `step` (one OpenSSL call on `ssl`, returning > 0 when done) again and again, waiting
// for the socket as OpenSSL asks in between, until it is done, fails, or `deadline` passes.
template <typename Step>
TlsOutcome run_tls(std::mutex& mutex, SSL* ssl, int fd, Clock::time_point deadline, Step step) {
  for (;;) {
    TlsOutcome outcome;
    {
      const std::lock_guard lock(mutex);
      const SigpipeHeld held;
      ERR_clear_error();
      errno = 0;
      outcome.result = step(ssl);
      outcome.system_error = errno;
      if (outcome.result > 0) return outcome;
      outcome.error = SSL_get_error(ssl, outcome.result);
      outcome.code = ERR_get_error();
      ERR_clear_error();
    }
    pollfd waiting{fd, 0, 0};
    if (outcome.error == SSL_ERROR_WANT_READ) {
      waiting.events = POLLIN;
    } else if (outcome.error == SSL_ERROR_WANT_WRITE) {
      waiting.events = POLLOUT;
    } else {
      return outcome;
    }
    const auto now = Clock::now();
    if (now >= deadline) {
      outcome.timed_out = true;
      return outcome;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    ::poll(&waiting, 1, static_cast<int>(std::min(left, kTlsWaitSlice).count()) + 1);
  }
}

Clock::time_point deadline_after(std::chrono::milliseconds timeout) {
  return timeout.count() > 0 ? Clock::now() + timeout : Clock::time_point::max();
}

// Why a call failed, for people.
std::string describe(const TlsOutcome& outcome, const SSL* ssl) {
  if (outcome.timed_out) return "timed out";
  if (outcome.error == SSL_ERROR_SYSCALL && outcome.code == 0) {
    return outcome.system_error != 0 ? std::strerror(outcome.system_error)
                                     : "the server closed the connection";
  }
  return tls_failure_reason(outcome.code, ssl, "the server closed the connection");
}

}  // namespace

Client::Client(int fd, std::string peer) : fd_(fd), peer_(std::move(peer)) {}

Client Client::adopt(int fd, std::string peer) { return Client(fd, std::move(peer)); }

Client Client::connect(const std::string& host, std::uint16_t port,
                       std::chrono::milliseconds timeout, const ClientTls* tls) {
  std::string peer = fmt::format("{}:{}", host, port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    throw ClientError(fmt::format("cannot resolve {}: {}", host, ::gai_strerror(rc)));
  }
  const std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, ::freeaddrinfo);
  // Certificates load before the connection opens: a bad file is not the server's fault.
  std::unique_ptr<Tls> prepared;
  if (tls != nullptr) {
    prepared = std::make_unique<Tls>();
    prepared->context = make_client_context(*tls);
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int error = 0;
  for (const addrinfo* address = found; address != nullptr; address = address->ai_next) {
    const int fd = connect_within(*address, deadline);
    if (fd < 0) {
      error = errno;
      continue;
    }
    Client client(fd, std::move(peer));
    if (tls != nullptr) {
      client.start_tls(std::move(prepared), tls->server_name.empty() ? host : tls->server_name,
                       deadline);
    }
    return client;
  }
  throw ClientError(fmt::format("cannot connect to {}: {}", peer,
                                error == ETIMEDOUT ? "timed out" : std::strerror(error)));
}

void Client::start_tls(std::unique_ptr<Tls> tls, const std::string& server_name,
                       Clock::time_point deadline) {
  tls->ssl.reset(SSL_new(tls->context.get()));
  if (!tls->ssl || SSL_set_fd(tls->ssl.get(), fd_) != 1) {
    throw ClientError(fmt::format("TLS with {} failed: {}", peer_,
                                  tls_failure_reason(ERR_get_error(), nullptr, "out of memory")));
  }
  expect_server_name(tls->ssl.get(), server_name);
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
  const TlsOutcome outcome =
      run_tls(tls->mutex, tls->ssl.get(), fd_, deadline, [](SSL* ssl) { return SSL_connect(ssl); });
  if (outcome.result <= 0) {
    throw ClientError(
        fmt::format("TLS with {} failed: {}", peer_, describe(outcome, tls->ssl.get())));
  }
  tls_ = std::move(tls);
}

Client::Client(Client&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      peer_(std::move(other.peer_)),
      tls_(std::move(other.tls_)),
      input_(std::move(other.input_)),
      input_pos_(other.input_pos_) {}

Client& Client::operator=(Client&& other) noexcept {
  if (this != &other) {
    close_connection();
    fd_ = std::exchange(other.fd_, -1);
    peer_ = std::move(other.peer_);
    tls_ = std::move(other.tls_);
    input_ = std::move(other.input_);
    input_pos_ = other.input_pos_;
  }
  return *this;
}

Client::~Client() { close_connection(); }

void Client::close_connection() noexcept {
  if (tls_ && fd_ >= 0 && (SSL_get_shutdown(tls_->ssl.get()) & SSL_SENT_SHUTDOWN) == 0) {
    // close_notify, if the socket takes it now, so that the server sees a clean end; no
    // waiting for its answer.
    const std::lock_guard lock(tls_->mutex);
    const SigpipeHeld held;
    SSL_shutdown(tls_->ssl.get());
    ERR_clear_error();
  }
  tls_.reset();
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
}

void Client::fail(std::string_view what) const {
  throw ClientError(fmt::format("connection to {} {}", peer_, what));
}

void Client::send(std::string_view bytes) {
  if (tls_) return tls_send(bytes);
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(fmt::format("failed: {}", std::strerror(errno)));
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

void Client::tls_send(std::string_view bytes) {
  if (bytes.empty()) return;
  std::size_t written = 0;
  const TlsOutcome outcome =
      run_tls(tls_->mutex, tls_->ssl.get(), fd_, Clock::time_point::max(),
              [&](SSL* ssl) { return SSL_write_ex(ssl, bytes.data(), bytes.size(), &written); });
  if (outcome.result <= 0) fail(fmt::format("failed: {}", describe(outcome, tls_->ssl.get())));
}

void Client::send_line(std::string_view line) {
  std::string request;
  request.reserve(line.size() + 1);
  request.append(line).push_back('\n');
  send(request);
}

std::size_t Client::read_some(char* data, std::size_t size) {
  if (tls_) return tls_read_some(data, size);
  for (;;) {
    const ssize_t n = ::recv(fd_, data, size, 0);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) fail("timed out waiting for a reply");
    fail(fmt::format("failed: {}", std::strerror(errno)));
  }
}

std::size_t Client::tls_read_some(char* data, std::size_t size) {
  std::size_t got = 0;
  const TlsOutcome outcome =
      run_tls(tls_->mutex, tls_->ssl.get(), fd_, deadline_after(tls_->receive_timeout),
              [&](SSL* ssl) { return SSL_read_ex(ssl, data, size, &got); });
  if (outcome.result > 0) return got;
  if (outcome.timed_out) fail("timed out waiting for a reply");
  if (outcome.error == SSL_ERROR_ZERO_RETURN) {
    tls_->clean_close = true;
    return 0;
  }
  // A server that closes without close_notify has still closed, as it would over TCP;
  // read_line() refuses to take what it left inside a line as a reply.
  if ((ERR_GET_LIB(outcome.code) == ERR_LIB_SSL &&
       ERR_GET_REASON(outcome.code) == SSL_R_UNEXPECTED_EOF_WHILE_READING) ||
      (outcome.error == SSL_ERROR_SYSCALL && outcome.code == 0 && outcome.system_error == 0)) {
    return 0;
  }
  fail(fmt::format("failed: {}", describe(outcome, tls_->ssl.get())));
}

std::optional<std::string> Client::read_line() {
  for (;;) {
    const std::size_t newline = input_.find('\n', input_pos_);
    if (newline != std::string::npos) {
      std::string line = input_.substr(input_pos_, newline - input_pos_);
      input_pos_ = newline + 1;
      if (input_pos_ == input_.size()) {
        input_.clear();
        input_pos_ = 0;
      }
      return line;
    }
    std::array<char, 16 * 1024> chunk{};
    const std::size_t n = read_some(chunk.data(), chunk.size());
    if (n == 0) {
      if (input_pos_ == input_.size()) return std::nullopt;
      // Over TLS, only close_notify proves that the end was the server's: a cut made by
      // anyone else could turn "val 123" into "val 12".
      if (tls_ && !tls_->clean_close) fail("ended inside a reply, without TLS close_notify");
      std::string last = input_.substr(input_pos_);
      input_.clear();
      input_pos_ = 0;
      return last;
    }
    input_.append(chunk.data(), n);
  }
}

std::string Client::call(std::string_view line) {
  send_line(line);
  std::optional<std::string> reply = read_line();
  if (!reply) fail("was closed before the reply");
  return *std::move(reply);
}

void Client::shutdown_send() {
  if (tls_) return tls_shutdown_send();
  if (::shutdown(fd_, SHUT_WR) != 0) fail(fmt::format("failed: {}", std::strerror(errno)));
}

void Client::tls_shutdown_send() {
  // SSL_shutdown() answers 0 once its close_notify is out, 1 when the server's came first.
  const TlsOutcome outcome =
      run_tls(tls_->mutex, tls_->ssl.get(), fd_, Clock::time_point::max(), [](SSL* ssl) {
        const int done = SSL_shutdown(ssl);
        return done == 0 ? 1 : done;
      });
  if (outcome.result <= 0) fail(fmt::format("failed: {}", describe(outcome, tls_->ssl.get())));
  if (::shutdown(fd_, SHUT_WR) != 0) fail(fmt::format("failed: {}", std::strerror(errno)));
}

void Client::set_receive_timeout(std::chrono::milliseconds timeout) {
  if (tls_) tls_->receive_timeout = timeout;
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

}  // namespace count
