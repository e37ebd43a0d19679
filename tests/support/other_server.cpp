#include "support/other_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <regex>
#include <stdexcept>
#include <thread>

namespace count::test {

using namespace std::chrono_literals;

std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

bool connectable(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return ok;
}

OtherServer::OtherServer(std::vector<std::string> argv, std::uint16_t port) : port_(port) {
  pid_ = spawn(argv, "/dev/null", dir_.path() / "stdout", dir_.path() / "stderr");
  static const std::regex kListening(R"(listening on 127\.0\.0\.1:(\d+))");
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    std::smatch match;
    const std::string text = read_file(dir_.path() / "stderr");
    if (port_ == 0 && std::regex_search(text, match, kListening)) {
      port_ = static_cast<std::uint16_t>(std::stoi(match[1].str()));
    }
    if (port_ != 0 && connectable(port_)) return;
    std::this_thread::sleep_for(10ms);
  }
  stop();
  throw std::runtime_error(argv[0] + " did not start listening: " + output());
}

std::string OtherServer::output() const {
  return read_file(dir_.path() / "stdout") + read_file(dir_.path() / "stderr");
}

void OtherServer::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  wait_for_exit(pid_, 5s);
  pid_ = -1;
}

}  // namespace count::test
