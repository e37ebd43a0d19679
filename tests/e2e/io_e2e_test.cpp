// The event loops' two ways of waiting (--io): io_uring where the kernel allows it, epoll
// otherwise or when asked, and one clear line whenever io_uring cannot be had. A seccomp filter
// (tests/support/without_io_uring.cpp) makes io_uring_setup fail as a container profile does.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <filesystem>
#include <string>
#include <vector>

#include "net/ring.hpp"
#include "support/process.hpp"

namespace count::test {
namespace {

// The io_uring instances the process holds open.
std::size_t rings_of(pid_t pid) {
  std::size_t rings = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::filesystem::path("/proc") / std::to_string(pid) / "fd")) {
    std::error_code ec;
    const auto target = std::filesystem::read_symlink(entry.path(), ec);
    if (!ec && target.string() == "anon_inode:[io_uring]") ++rings;
  }
  return rings;
}

void serves(ServerProcess& server) {
  Client client = server.connect();
  EXPECT_EQ(client.call("incr"), "ok");
  EXPECT_EQ(client.call("get"), "val 1");
}

TEST(IoE2E, AutoPicksIoUringWhereTheKernelAllowsIt) {
  if (const auto unavailable = io_uring_unavailable()) GTEST_SKIP() << *unavailable;
  ServerProcess server({"--in-memory", "--io", "auto", "--threads", "2"});
  EXPECT_TRUE(server.log_shows("2 event loops on io_uring,")) << server.log();
  EXPECT_EQ(rings_of(server.pid()), 2U);  // one per loop; the probe's is gone
  EXPECT_EQ(server.log().find("io_uring cannot"), std::string::npos) << server.log();
  serves(server);
}

TEST(IoE2E, EpollWhenAskedFor) {
  ServerProcess server({"--in-memory", "--io", "epoll"});
  EXPECT_TRUE(server.log_shows(" on epoll,")) << server.log();
  EXPECT_EQ(rings_of(server.pid()), 0U);
  serves(server);
}

// Docker's default profile refuses io_uring_setup with EPERM; others say ENOSYS.
TEST(IoE2E, AutoFallsBackToEpollWithOneLineThatSaysWhy) {
  // Where io_uring is already off, the line names that reason instead.
  if (const auto unavailable = io_uring_unavailable()) GTEST_SKIP() << *unavailable;
  const std::vector<std::pair<std::string, std::string>> cases{
      {"EPERM", "io_uring_setup was refused (a seccomp profile, such as Docker's default)"},
      {"ENOSYS", "io_uring_setup does not exist here"}};
  for (const auto& [error, says] : cases) {
    ServerProcess server({"--in-memory", "--io", "auto"},
                         {binary("without_io_uring"), "--errno", error});
    EXPECT_TRUE(server.log_shows(" on epoll,")) << server.log();
    EXPECT_EQ(occurrences(server.log(), "io_uring cannot be used here, so epoll: " + says), 1U)
        << server.log();
    EXPECT_EQ(rings_of(server.pid()), 0U);
    serves(server);
    EXPECT_EQ(server.stop(), 0);
  }
}

TEST(IoE2E, IoUringAskedForWhereItCannotRunStopsTheStartWithOneClearLine) {
  if (const auto unavailable = io_uring_unavailable()) GTEST_SKIP() << *unavailable;
  const RunResult result = run({binary("without_io_uring"), binary("count-server"), "--bind",
                                "127.0.0.1", "--port", "0", "--in-memory", "--io", "io_uring"});
  EXPECT_TRUE(exited_with(result, 1)) << result.err;
  EXPECT_EQ(result.err,
            "count-server: error: --io io_uring: io_uring_setup was refused (a seccomp profile, "
            "such as Docker's default)\n");
}

TEST(IoE2E, AnUnknownBackendIsAUsageError) {
  const RunResult result = run({binary("count-server"), "--port", "0", "--in-memory", "--io", "kqueue"});
  EXPECT_TRUE(exited_with(result, 2)) << result.err;
  EXPECT_NE(result.err.find("--io"), std::string::npos) << result.err;
}

// More connections with a request waiting than one loop has receive buffers (1,024): every
// request is answered, on either backend.
TEST(IoE2E, MoreConnectionsThanReceiveBuffersAreAllServed) {
  constexpr std::size_t kConnections = 1100;
  rlimit limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &limit), 0);
  if (limit.rlim_max < kConnections + 64) GTEST_SKIP() << "descriptor limit " << limit.rlim_max;
  limit.rlim_cur = std::max<rlim_t>(limit.rlim_cur, kConnections + 64);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &limit), 0);

  ServerProcess server({"--in-memory", "--threads", "1"});
  std::vector<Client> clients;
  clients.reserve(kConnections);
  for (std::size_t i = 0; i < kConnections; ++i) clients.push_back(server.connect());
  for (Client& client : clients) client.send("incr\n");
  for (Client& client : clients) EXPECT_EQ(client.read_line(), "ok");
  EXPECT_EQ(clients.front().call("get"), "val " + std::to_string(kConnections));
}

}  // namespace
}  // namespace count::test
