// ok-server: the ceiling for a one-line-request, one-line-reply protocol on this machine.
// One thread, epoll, answers "ok\n" to every line and does nothing else: no parsing, no
// state but unsent replies. It is a measuring stick, never a counter server.
#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <string>
#include <unordered_map>

namespace {

constexpr std::size_t kReadBytes = 64 * 1024;
constexpr int kMaxEvents = 256;
// A client that stops reading is not read from once this many reply bytes wait for it.
constexpr std::size_t kMaxPendingBytes = 1024 * 1024;

struct Peer {
  std::string pending;  // replies the socket would not take yet
};

class OkServer {
 public:
  OkServer(int listener, int epoll) : listener_(listener), epoll_(epoll) {}

  [[noreturn]] void run() {
    std::array<epoll_event, kMaxEvents> events{};
    for (;;) {
      const int ready = ::epoll_wait(epoll_, events.data(), kMaxEvents, -1);
      if (ready < 0 && errno != EINTR) fail("epoll_wait");
      for (int i = 0; i < ready; ++i) {
        const epoll_event& event = events[static_cast<std::size_t>(i)];
        if (event.data.fd == listener_) {
          accept_all();
        } else {
          serve(event.data.fd, event.events);
        }
      }
    }
  }

 private:
  [[noreturn]] static void fail(const char* what) {
    fmt::print(stderr, "ok-server: {}: {}\n", what, std::strerror(errno));
    std::exit(1);
  }

  void accept_all() {
    for (;;) {
      const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN, or a connection that went away: nothing to do
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      epoll_event event{};
      event.events = EPOLLIN | EPOLLRDHUP;
      event.data.fd = fd;
      ::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &event);
      peers_[fd];
    }
  }

  void close_peer(int fd) {
    ::epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    peers_.erase(fd);
  }

  // Level-triggered: one read per readiness, all its replies in one write.
  void serve(int fd, std::uint32_t events) {
    Peer& peer = peers_[fd];
    if ((events & EPOLLOUT) != 0 && !flush(fd, peer)) return;
    if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) == 0) return;
    if (peer.pending.size() >= kMaxPendingBytes) return;
    const ssize_t got = ::read(fd, input_.data(), input_.size());
    if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
      close_peer(fd);
      return;
    }
    if (got < 0) return;
    const auto lines = std::count(input_.data(), input_.data() + got, '\n');
    for (long i = 0; i < lines; ++i) peer.pending.append("ok\n");
    flush(fd, peer);
  }

  // Writes what is pending; false when the peer is gone.
  bool flush(int fd, Peer& peer) {
    if (!peer.pending.empty()) {
      const ssize_t put = ::send(fd, peer.pending.data(), peer.pending.size(), MSG_NOSIGNAL);
      if (put < 0 && errno != EAGAIN && errno != EINTR) {
        close_peer(fd);
        return false;
      }
      if (put > 0) peer.pending.erase(0, static_cast<std::size_t>(put));
    }
    epoll_event event{};
    event.events =
        EPOLLIN | EPOLLRDHUP | (peer.pending.empty() ? 0U : static_cast<std::uint32_t>(EPOLLOUT));
    event.data.fd = fd;
    ::epoll_ctl(epoll_, EPOLL_CTL_MOD, fd, &event);
    return true;
  }

  int listener_;
  int epoll_;
  std::array<char, kReadBytes> input_{};
  std::unordered_map<int, Peer> peers_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string bind_address = "127.0.0.1";
  std::uint16_t port = 0;
  CLI::App app{"ok-server: answers ok to every line; the ceiling for count-bench.", "ok-server"};
  app.add_option("--bind", bind_address, "IPv4 address to listen on")->capture_default_str();
  app.add_option("--port", port, "TCP port (0: any free port)")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    fmt::print(stderr, "ok-server: {} (see --help)\n", e.what());
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);

  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  if (::inet_pton(AF_INET, bind_address.c_str(), &address.sin_addr) != 1) {
    fmt::print(stderr, "ok-server: '{}' is not an IPv4 address\n", bind_address);
    return 2;
  }
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  socklen_t length = sizeof address;
  if (::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listener, SOMAXCONN) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    fmt::print(stderr, "ok-server: cannot listen on {}:{}: {}\n", bind_address, port,
               std::strerror(errno));
    return 1;
  }
  const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = listener;
  ::epoll_ctl(epoll, EPOLL_CTL_ADD, listener, &event);

  fmt::print(stderr, "ok-server: listening on {}:{}\n", bind_address, ntohs(address.sin_port));
  OkServer(listener, epoll).run();
}
