// The partition tests' network of namespaces (tests/support/netns.hpp): nodes reach each
// other over it, a cut drops one direction only, a link taken down drops both, healing
// restores them, and nothing the lab made outlives it. Skipped, with the reason, where this
// machine does not let the tests make namespaces.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "support/netns.hpp"

namespace count::test {
namespace {

constexpr int kPort = 7411;
constexpr int kQuickMs = 300;     // a cut connection gets no answer in this long
constexpr int kPatientMs = 5000;  // a working one is made well within it, however busy

// Whether `listener` has a connection waiting, and takes it.
bool accepted(int listener) {
  pollfd ready{listener, POLLIN, 0};
  if (::poll(&ready, 1, kPatientMs) != 1) return false;
  const int fd = ::accept(listener, nullptr, nullptr);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

// Whether node `from` can open a connection to `to`'s listener on kPort.
bool reaches(const NetworkLab& lab, const std::string& from, const std::string& to, int listener,
             int timeout_ms) {
  const int fd = lab.connect_from(from, lab.address(to), kPort, timeout_ms);
  if (fd < 0) return false;
  ::close(fd);
  return accepted(listener);
}

std::size_t namespaces_named(const std::string& start) {
  std::size_t found = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/var/run/netns", ec)) {
    if (entry.path().filename().string().rfind(start, 0) == 0) ++found;
  }
  return found;
}

class NetworkLabTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const auto why = NetworkLab::unavailable()) GTEST_SKIP() << *why;
  }
};

TEST_F(NetworkLabTest, NodesReachEachOtherAndCutsDropOneDirection) {
  std::string prefix;
  {
    NetworkLab lab({"a", "b", "c"});
    EXPECT_EQ(lab.address("a"), "10.213.0.1");
    EXPECT_EQ(lab.address("c"), "10.213.0.3");
    prefix = lab.namespace_of("a").substr(0, lab.namespace_of("a").size() - 1);
    EXPECT_EQ(namespaces_named(prefix), 4U);  // three nodes and the bridge's

    const int listener = lab.listen_in("b", kPort);
    ASSERT_GE(listener, 0);
    EXPECT_TRUE(reaches(lab, "a", "b", listener, kPatientMs));
    EXPECT_TRUE(reaches(lab, "c", "b", listener, kPatientMs));

    // b's answers to a are dropped: a's connection is never made; c is not affected.
    lab.cut("b", "a");
    EXPECT_FALSE(reaches(lab, "a", "b", listener, kQuickMs));
    EXPECT_TRUE(reaches(lab, "c", "b", listener, kPatientMs));
    lab.heal("b", "a");
    EXPECT_TRUE(reaches(lab, "a", "b", listener, kPatientMs));

    // a's own packets to b are dropped.
    lab.cut("a", "b");
    EXPECT_FALSE(reaches(lab, "a", "b", listener, kQuickMs));
    lab.heal_all();
    EXPECT_TRUE(reaches(lab, "a", "b", listener, kPatientMs));

    // b's link down: no one reaches it, until it is up again.
    lab.unplug("b");
    EXPECT_FALSE(reaches(lab, "a", "b", listener, kQuickMs));
    EXPECT_FALSE(reaches(lab, "c", "b", listener, kQuickMs));
    lab.plug("b");
    EXPECT_TRUE(reaches(lab, "a", "b", listener, kPatientMs));
    ::close(listener);
  }
  EXPECT_EQ(namespaces_named(prefix), 0U);
}

TEST_F(NetworkLabTest, ALabThatCannotBeMadeLeavesNothingBehind) {
  // The second "x" cannot get a namespace of the same name.
  EXPECT_THROW(NetworkLab({"x", "x"}), std::runtime_error);
  NetworkLab lab({"y"});
  const std::string& y = lab.namespace_of("y");
  const std::string pid_prefix = y.substr(0, y.find('-') + 1);
  // Only this lab's two namespaces are left of this process's.
  EXPECT_EQ(namespaces_named(pid_prefix), 2U);
}

}  // namespace
}  // namespace count::test
