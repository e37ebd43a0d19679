// The server stays up and bounded whatever a client sends: over-long lines, a huge line,
// a client that never reads, too many connections, many idle ones.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "protocol/line_splitter.hpp"
#include "support/process.hpp"
#include "support/wire.hpp"

namespace count::test {
namespace {

#if defined(COUNT_SANITIZED)
// Sanitizer runtimes keep freed memory aside, so resident memory says little there; the
// plain build checks the bounds.
constexpr bool kCheckMemory = false;
constexpr std::size_t kHugeLineBytes = std::size_t{64} << 20;
#else
constexpr bool kCheckMemory = true;
constexpr std::size_t kHugeLineBytes = std::size_t{1} << 30;
#endif
constexpr long kMaxGrowthKiB = 4 * 1024;

TEST(LimitsE2E, ALineOfTheLimitIsServedAndOneByteMoreGetsOneErr) {
  ServerProcess server;
  Client client = server.connect();
  std::string longest = "add " + std::string(kMaxLineBytes - 5, '0') + "7";
  ASSERT_EQ(longest.size(), kMaxLineBytes);
  EXPECT_EQ(client.call(longest), "ok");
  EXPECT_EQ(client.call("0" + longest), "err");
  EXPECT_EQ(client.call("get"), "val 7");
}

TEST(LimitsE2E, AHugeLineGetsOneErrWithoutGrowingMemory) {
  ServerProcess server;
  Client client = server.connect();
  EXPECT_EQ(client.call("incr"), "ok");
  const long before = server.rss_kib();
  const std::string chunk(1 << 20, 'x');
  for (std::size_t sent = 0; sent < kHugeLineBytes; sent += chunk.size()) client.send(chunk);
  const long after = server.rss_kib();
  client.send("\nget\n");
  EXPECT_EQ(client.read_line(), "err");
  EXPECT_EQ(client.read_line(), "val 1");
  if (kCheckMemory) {
    EXPECT_LT(after - before, kMaxGrowthKiB) << before << " KiB before, " << after << " after";
  }
}

TEST(LimitsE2E, AClientThatNeverReadsIsThrottledAndOthersAreStillServed) {
  ServerProcess server;
  Client slow = server.connect();
  EXPECT_EQ(slow.call("get"), "val 0");
  // A first flood, answered in full, sets up what heavy traffic needs once (the allocator's
  // per-thread caches, the store's buffers); growth is measured over the second.
  const Flood first = flood(slow, std::chrono::milliseconds(500), std::chrono::seconds(20));
  for (std::size_t i = 0; i < first.requests; ++i) ASSERT_EQ(slow.read_line(), "ok");
  slow.send(first.rest);
  const std::size_t warm = first.requests + (first.rest.empty() ? 0 : 1);
  if (!first.rest.empty()) {
    ASSERT_EQ(slow.read_line(), "ok");
  }
  EXPECT_EQ(slow.call("get"), "val " + std::to_string(warm));
  const long before = server.rss_kib();
  const std::size_t sent =
      flood_until_stalled(slow, std::chrono::milliseconds(500), std::chrono::seconds(20));
  const long after = server.rss_kib();
  // The server stopped reading: far fewer than the flood's requests were taken in.
  EXPECT_GT(sent, 1000U);
  if (kCheckMemory) {
    EXPECT_LT(after - before, kMaxGrowthKiB) << before << " KiB before, " << after << " after";
  }

  Client other = server.connect();
  EXPECT_EQ(other.call("incr"), "ok");
  const std::string value = other.call("get");
  ASSERT_EQ(value.rfind("val ", 0), 0U);
  const std::int64_t applied_so_far =
      std::stoll(value.substr(4)) - 1 - static_cast<std::int64_t>(warm);
  EXPECT_LT(applied_so_far, static_cast<std::int64_t>(sent));

  // Once the slow client reads, the server resumes it and answers every request it sent.
  std::size_t oks = 0;
  while (oks < sent) {
    const auto line = slow.read_line();
    ASSERT_TRUE(line.has_value());
    ASSERT_EQ(*line, "ok");
    ++oks;
  }
  EXPECT_EQ(other.call("get"), "val " + std::to_string(warm + sent + 1));
}

TEST(LimitsE2E, PastTheConnectionLimitANewConnectionGetsErrAndIsClosed) {
  ServerProcess server({"--in-memory", "--max-connections", "4"});
  std::vector<std::unique_ptr<Client>> open;
  for (int i = 0; i < 4; ++i) {
    open.push_back(std::make_unique<Client>(server.connect()));
    EXPECT_EQ(open.back()->call("incr"), "ok");
  }
  Client refused = server.connect();
  EXPECT_EQ(refused.read_line(), "err");
  EXPECT_TRUE(closed_by_peer(refused));
  for (auto& client : open) EXPECT_EQ(client->call("get"), "val 4");

  // A slot frees when a connection ends; the server notices within moments.
  open.pop_back();
  bool admitted = false;
  for (int attempt = 0; attempt < 100 && !admitted; ++attempt) {
    Client again = server.connect();
    admitted = again.call("get") == "val 4";
    if (!admitted) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(admitted);
}

TEST(LimitsE2E, TwoHundredIdleConnectionsDoNotSlowAnActiveOne) {
  ServerProcess server;
  std::vector<std::unique_ptr<Client>> idle;
  for (int i = 0; i < 200; ++i) idle.push_back(std::make_unique<Client>(server.connect()));
  idle.front()->send("inc");  // one of them even holds half a request
  Client active = server.connect();
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(active.call("incr"), "ok");
  EXPECT_EQ(active.call("get"), "val 1000");
  idle.front()->send("r\n");
  EXPECT_EQ(idle.front()->read_line(), "ok");
  for (auto& client : idle) EXPECT_EQ(client->call("get"), "val 1001");
}

}  // namespace
}  // namespace count::test
