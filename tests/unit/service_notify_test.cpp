// The notifications of a Type=notify service, read as systemd reads them: from a unix
// datagram socket the test binds in a temporary folder and names in NOTIFY_SOCKET.
#include "net/service_notify.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "support/process.hpp"

namespace count {
namespace {

class ServiceNotifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (dir_.path() / "notify").string();
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    ASSERT_LT(path_.size(), sizeof address.sun_path);
    std::memcpy(address.sun_path, path_.c_str(), path_.size() + 1);
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd_, 0) << std::strerror(errno);
    ASSERT_EQ(::bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0)
        << std::strerror(errno);
    ASSERT_EQ(::setenv("NOTIFY_SOCKET", path_.c_str(), 1), 0);
  }

  void TearDown() override {
    ::unsetenv("NOTIFY_SOCKET");
    if (fd_ >= 0) ::close(fd_);
  }

  // The next datagram, or "(none)" when none comes within two seconds.
  std::string receive() const {
    pollfd waiting{fd_, POLLIN, 0};
    if (::poll(&waiting, 1, 2000) != 1) return "(none)";
    std::array<char, 4096> buffer{};
    const ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), 0);
    return n < 0 ? "(none)" : std::string(buffer.data(), static_cast<std::size_t>(n));
  }

  bool nothing_waiting() const {
    std::array<char, 16> buffer{};
    return ::recv(fd_, buffer.data(), buffer.size(), MSG_DONTWAIT) < 0 && errno == EAGAIN;
  }

  test::TempDir dir_;
  std::string path_;
  int fd_ = -1;
};

TEST_F(ServiceNotifyTest, ReadySendsReadyAndStatusInOneDatagram) {
  notify_ready("listening on 127.0.0.1:4444");
  EXPECT_EQ(receive(), "READY=1\nSTATUS=listening on 127.0.0.1:4444");
  EXPECT_TRUE(nothing_waiting());
}

TEST_F(ServiceNotifyTest, StoppingSendsStoppingAlone) {
  notify_stopping();
  EXPECT_EQ(receive(), "STOPPING=1");
  EXPECT_TRUE(nothing_waiting());
}

TEST_F(ServiceNotifyTest, ReadyThenStoppingArriveInOrderAndLeaveTheVariableSet) {
  notify_ready("up");
  notify_stopping();
  EXPECT_EQ(receive(), "READY=1\nSTATUS=up");
  EXPECT_EQ(receive(), "STOPPING=1");
  const char* still = std::getenv("NOTIFY_SOCKET");
  ASSERT_NE(still, nullptr);
  EXPECT_EQ(still, path_);
}

TEST_F(ServiceNotifyTest, ANewlineInTheStatusCannotStartAnotherField) {
  notify_ready("first line\nWATCHDOG=1");
  EXPECT_EQ(receive(), "READY=1\nSTATUS=first line WATCHDOG=1");
}

TEST_F(ServiceNotifyTest, WithoutNotifySocketBothSendNothing) {
  ::unsetenv("NOTIFY_SOCKET");
  notify_ready("listening");
  notify_stopping();
  EXPECT_TRUE(nothing_waiting());
}

TEST_F(ServiceNotifyTest, ASocketNobodyListensOnIsNoError) {
  ::close(fd_);
  fd_ = -1;
  // The socket file stays, but nothing is bound to it any more: the send fails, is logged,
  // and the server goes on.
  notify_ready("listening");
  notify_stopping();
}

}  // namespace
}  // namespace count
