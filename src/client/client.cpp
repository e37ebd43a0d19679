#include "client/client.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fmt/core.h>
#include <memory>
#include <utility>

namespace count {
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

}  // namespace

Client Client::connect(const std::string& host, std::uint16_t port,
                       std::chrono::milliseconds timeout) {
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
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int error = 0;
  for (const addrinfo* address = found; address != nullptr; address = address->ai_next) {
    const int fd = connect_within(*address, deadline);
    if (fd >= 0) return Client(fd, std::move(peer));
    error = errno;
  }
  throw ClientError(fmt::format("cannot connect to {}: {}", peer,
                                error == ETIMEDOUT ? "timed out" : std::strerror(error)));
}

Client::Client(Client&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      peer_(std::move(other.peer_)),
      input_(std::move(other.input_)),
      input_pos_(other.input_pos_) {}

Client& Client::operator=(Client&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    peer_ = std::move(other.peer_);
    input_ = std::move(other.input_);
    input_pos_ = other.input_pos_;
  }
  return *this;
}

Client::~Client() {
  if (fd_ >= 0) ::close(fd_);
}

void Client::fail(std::string_view what) const {
  throw ClientError(fmt::format("connection to {} {}", peer_, what));
}

void Client::send(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(fmt::format("failed: {}", std::strerror(errno)));
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

void Client::send_line(std::string_view line) {
  std::string request;
  request.reserve(line.size() + 1);
  request.append(line).push_back('\n');
  send(request);
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
    const ssize_t n = ::recv(fd_, chunk.data(), chunk.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) fail("timed out waiting for a reply");
      fail(fmt::format("failed: {}", std::strerror(errno)));
    }
    if (n == 0) {
      if (input_pos_ == input_.size()) return std::nullopt;
      std::string last = input_.substr(input_pos_);
      input_.clear();
      input_pos_ = 0;
      return last;
    }
    input_.append(chunk.data(), static_cast<std::size_t>(n));
  }
}

std::string Client::call(std::string_view line) {
  send_line(line);
  std::optional<std::string> reply = read_line();
  if (!reply) fail("was closed before the reply");
  return *std::move(reply);
}

void Client::shutdown_send() {
  if (::shutdown(fd_, SHUT_WR) != 0) fail(fmt::format("failed: {}", std::strerror(errno)));
}

void Client::set_receive_timeout(std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

}  // namespace count
