// Persistence through the real server (docs/storage.md): kill -9 under load never loses an
// acknowledged mutation, a graceful stop keeps the exact value, and a data file that cannot
// be used stops the server at start with a clear message and its bytes untouched.
#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/process.hpp"

namespace count::test {
namespace {

using namespace std::chrono_literals;

std::int64_t value_of(const ServerProcess& server) {
  Client client = server.connect();
  const std::string reply = client.call("get");
  EXPECT_TRUE(reply.starts_with("val ")) << reply;
  return std::stoll(reply.substr(4));
}


// Runs count-server on `data` expecting it to refuse to start.
RunResult start_expecting_failure(const std::filesystem::path& data) {
  return run(
      {binary("count-server"), "--bind", "127.0.0.1", "--port", "0", "--data", data.string()}, "",
      10s);
}

struct Load {
  std::int64_t sent = 0;          // incr requests handed to the socket (or about to be)
  std::int64_t acknowledged = 0;  // `ok` replies received
  int unexpected = 0;             // replies other than `ok`
};

// 16 clients send `incr` one after another as fast as the server answers, until the server
// is killed with SIGKILL after `kill_after`.
Load incr_until_killed(ServerProcess& server, std::chrono::milliseconds kill_after) {
  constexpr int kClients = 16;
  constexpr int kMaxPerClient = 1'000'000;  // a bound; the kill comes long before
  std::atomic<bool> killed{false};
  std::atomic<std::int64_t> sent{0};
  std::atomic<std::int64_t> acknowledged{0};
  std::atomic<int> unexpected{0};
  std::vector<std::thread> clients;
  clients.reserve(kClients);
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&] {
      try {
        Client client = server.connect();
        for (int i = 0; i < kMaxPerClient && !killed.load(); ++i) {
          ++sent;
          client.send_line("incr");
          const std::optional<std::string> reply = client.read_line();
          if (!reply) break;
          if (*reply != "ok") {
            ++unexpected;
            break;
          }
          ++acknowledged;
        }
      } catch (const ClientError&) {
        // The server died under us: expected.
      }
    });
  }
  std::this_thread::sleep_for(kill_after);
  EXPECT_EQ(server.stop(SIGKILL), 128 + SIGKILL) << server.log();
  killed = true;
  for (std::thread& client : clients) client.join();
  return {sent.load(), acknowledged.load(), unexpected.load()};
}

TEST(DurabilityE2E, KillNineUnderLoadNeverLosesAnAcknowledgedIncrement) {
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 random(seed);
  std::uniform_int_distribution<int> kill_after_ms(80, 400);

  ServerProcess server({"--threads", "2"});
  std::int64_t before = value_of(server);
  EXPECT_EQ(before, 0);
  std::int64_t total_acknowledged = 0;
  for (int round = 0; round < 4; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const Load load = incr_until_killed(server, std::chrono::milliseconds(kill_after_ms(random)));
    EXPECT_EQ(load.unexpected, 0);
    server.restart();
    const std::int64_t after = value_of(server);
    std::printf("round %d: sent %lld, acknowledged %lld, value %lld -> %lld\n", round,
                static_cast<long long>(load.sent), static_cast<long long>(load.acknowledged),
                static_cast<long long>(before), static_cast<long long>(after));
    EXPECT_GE(after, before + load.acknowledged) << "an acknowledged incr was lost";
    EXPECT_LE(after, before + load.sent) << "more increments than were sent";
    total_acknowledged += load.acknowledged;
    before = after;
  }
  EXPECT_GT(total_acknowledged, 0);
  EXPECT_GE(before, total_acknowledged);
  EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
}

class GracefulStopE2E : public ::testing::TestWithParam<std::string> {};

TEST_P(GracefulStopE2E, KeepsTheExactValue) {
  ServerProcess server({"--fsync", GetParam()});
  EXPECT_NE(server.log().find("file store " + server.data_path().string()), std::string::npos)
      << server.log();
  EXPECT_NE(server.log().find("fsync " + GetParam()), std::string::npos) << server.log();
  {
    Client client = server.connect();
    ASSERT_EQ(client.call("add 1000000007"), "ok");
    for (int i = 0; i < 50; ++i) ASSERT_EQ(client.call("incr"), "ok");
    ASSERT_EQ(client.call("decr"), "ok");
    ASSERT_EQ(client.call("add -7"), "ok");
    ASSERT_EQ(client.call("get"), "val 1000000049");
  }
  EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
  server.restart();
  EXPECT_EQ(value_of(server), 1000000049);
  {
    Client client = server.connect();
    ASSERT_EQ(client.call("add -2000000000"), "ok");
  }
  EXPECT_EQ(server.stop(SIGINT), 0) << server.log();
  server.restart();
  EXPECT_EQ(value_of(server), -999999951);
}

INSTANTIATE_TEST_SUITE_P(EveryPolicy, GracefulStopE2E,
                         ::testing::Values("always", "everysec", "never"));

TEST(DurabilityE2E, SecondServerOnTheSameDataFileFailsClearly) {
  ServerProcess first({"--fsync", "always"});
  {
    Client client = first.connect();
    ASSERT_EQ(client.call("add 5"), "ok");
  }
  const RunResult second = start_expecting_failure(first.data_path());
  EXPECT_TRUE(exited_with(second, 1));
  EXPECT_NE(second.err.find(first.data_path().string()), std::string::npos) << second.err;
  EXPECT_NE(second.err.find("in use by another count-server"), std::string::npos) << second.err;
  EXPECT_EQ(value_of(first), 5);
}

TEST(DurabilityE2E, CorruptDataFileStopsTheStartAndIsLeftUnchanged) {
  ServerProcess server(std::vector<std::string>{});
  {
    Client client = server.connect();
    ASSERT_EQ(client.call("add 77"), "ok");
  }
  EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
  const std::filesystem::path data = server.data_path();
  const std::string good = read_file(data);
  ASSERT_EQ(good.size(), 8192U);

  std::string flipped = good;
  flipped[16] ^= 0x01;    // slot 0's value
  flipped[4096] ^= 0x40;  // slot 1's magic
  for (const std::string& bad :
       {flipped, std::string(), good.substr(0, 4000), std::string(8192, '\x5a')}) {
    write_file(data, bad);
    const RunResult result = start_expecting_failure(data);
    EXPECT_TRUE(exited_with(result, 1));
    EXPECT_NE(result.err.find("data file " + data.string() + ": corrupt"), std::string::npos)
        << result.err;
    EXPECT_EQ(result.err.find("listening"), std::string::npos) << result.err;
    EXPECT_EQ(read_file(data), bad);
  }
  write_file(data, good);
  server.restart();
  EXPECT_EQ(value_of(server), 77);
}

TEST(DurabilityE2E, MissingFolderIsAClearError) {
  const TempDir dir;
  const std::filesystem::path data = dir.path() / "missing" / "count.data";
  const RunResult result = start_expecting_failure(data);
  EXPECT_TRUE(exited_with(result, 1));
  EXPECT_NE(result.err.find("folder " + (dir.path() / "missing").string() + " does not exist"),
            std::string::npos)
      << result.err;
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "missing"));
}

TEST(DurabilityE2E, HelpNamesTheDataFileAndFsyncPolicies) {
  const RunResult result = run({binary("count-server"), "--help"});
  EXPECT_TRUE(exited_with(result, 0));
  EXPECT_NE(result.out.find("count.data"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("--fsync"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("everysec"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("--in-memory"), std::string::npos) << result.out;
}

TEST(DurabilityE2E, UnknownFsyncPolicyIsAUsageError) {
  const TempDir dir;
  const RunResult result = run({binary("count-server"), "--port", "0", "--data",
                                (dir.path() / "count.data").string(), "--fsync", "sometimes"});
  EXPECT_TRUE(exited_with(result, 2));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "count.data"));
}

}  // namespace
}  // namespace count::test
