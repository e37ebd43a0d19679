// The Redis protocol through three front ends over one real three-member etcd cluster
// (docs/protocol.md, "The Redis protocol"; docs/scale-out.md): INCR hands out every number
// once across front ends, a transaction's increments are consecutive while other front ends
// increment too, and WATCH sees a change made through another front end. Every loop is
// bounded in count and in time.
#include <fmt/core.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/etcd_cluster.hpp"
#include "support/process.hpp"
#include "support/resp.hpp"

namespace count::test {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kFrontEnds = 3;

class RespEtcdE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < kFrontEnds; ++i) {
      front_ends_.push_back(std::make_unique<ServerProcess>(std::vector<std::string>{
          "--etcd", cluster_.endpoints(), "--etcd-key", "/resp/value", "--threads", "1"}));
    }
  }

  void TearDown() override {
    for (auto& front_end : front_ends_) {
      EXPECT_EQ(front_end->stop(SIGTERM), 0) << front_end->log();
    }
  }

  ServerProcess& front_end(int i) { return *front_ends_[static_cast<std::size_t>(i)]; }

  EtcdCluster cluster_;
  std::vector<std::unique_ptr<ServerProcess>> front_ends_;
};

TEST_F(RespEtcdE2E, IncrHandsOutEveryNumberOnceAcrossFrontEnds) {
  constexpr int kClientsPerFrontEnd = 2;
  constexpr int kRounds = 20;
  constexpr int kPipeline = 8;
  std::vector<std::vector<std::int64_t>> got(kFrontEnds * kClientsPerFrontEnd);
  std::vector<std::thread> clients;
  for (std::size_t c = 0; c < got.size(); ++c) {
    clients.emplace_back([&, c] {
      try {
        Client client = front_end(static_cast<int>(c) % kFrontEnds).connect();
        RespReader reader(client);
        const std::string batch =
            resp_requests(std::vector<std::vector<std::string>>(kPipeline, {"INCR", "count"}));
        for (int round = 0; round < kRounds; ++round) {
          client.send(batch);
          for (const std::string& reply : reader.next(kPipeline)) {
            if (reply.front() == ':') got[c].push_back(std::stoll(reply.substr(1)));
          }
        }
      } catch (const std::exception&) {
        // Fewer values than sent: the check below says so.
      }
    });
  }
  for (std::thread& client : clients) client.join();
  std::vector<std::int64_t> all;
  for (const auto& values : got) all.insert(all.end(), values.begin(), values.end());
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), got.size() * kRounds * kPipeline);
  for (std::size_t i = 0; i < all.size(); ++i) {
    ASSERT_EQ(all[i], static_cast<std::int64_t>(i + 1)) << "at " << i;
  }
  for (int i = 0; i < kFrontEnds; ++i) {
    Client client = front_end(i).connect();
    EXPECT_EQ(resp_call(client, {"GET", "count"}), resp_bulk(std::to_string(all.size())));
  }
}

TEST_F(RespEtcdE2E, ATransactionsIncrementsAreConsecutiveWhileOtherFrontEndsIncrement) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> others;
  for (int i = 1; i < kFrontEnds; ++i) {
    others.emplace_back([&, i] {
      try {
        Client client = front_end(i).connect();
        RespReader reader(client);
        const std::string batch =
            resp_requests(std::vector<std::vector<std::string>>(4, {"INCR", "count"}));
        const auto end = Clock::now() + std::chrono::seconds(30);
        while (!stop && Clock::now() < end) {
          client.send(batch);
          reader.next(4);
        }
      } catch (const std::exception&) {
      }
    });
  }
  Client client = front_end(0).connect();
  RespReader reader(client);
  for (int round = 0; round < 30; ++round) {
    client.send(resp_requests({{"MULTI"}, {"INCR", "count"}, {"INCRBY", "count", "10"},
                               {"GET", "count"}, {"EXEC"}}));
    const std::vector<std::string> replies = reader.next(5);
    ASSERT_EQ(replies.size(), 5U);
    const std::string& array = replies[4];
    ASSERT_EQ(array.substr(0, 5), "*3\r\n:") << array;
    const std::int64_t a = std::stoll(array.substr(5, array.find("\r\n", 5) - 5));
    EXPECT_EQ(array, fmt::format("*3\r\n{}{}{}", resp_integer(a), resp_integer(a + 10),
                                 resp_bulk(std::to_string(a + 10))))
        << "round " << round;
  }
  stop = true;
  for (std::thread& other : others) other.join();
}

TEST_F(RespEtcdE2E, WatchSeesAChangeMadeThroughAnotherFrontEnd) {
  Client watcher = front_end(0).connect();
  Client other = front_end(1).connect();
  RespReader reader(watcher);
  const auto exec = [&] {
    watcher.send(resp_requests({{"MULTI"}, {"INCR", "count"}, {"EXEC"}}));
    const std::vector<std::string> replies = reader.next(3);
    return replies.size() == 3 ? replies[2] : std::string("(connection ended)");
  };
  watcher.send(resp_request({"WATCH", "count"}));
  EXPECT_EQ(reader.next(), "+OK\r\n");
  EXPECT_EQ(exec(), "*1\r\n:1\r\n");

  watcher.send(resp_request({"WATCH", "count"}));
  EXPECT_EQ(reader.next(), "+OK\r\n");
  EXPECT_EQ(resp_call(other, {"INCRBY", "count", "0"}), ":1\r\n");  // adds 0: still a change
  EXPECT_EQ(exec(), "*-1\r\n");

  // Two front ends' changes that cancel out.
  watcher.send(resp_request({"WATCH", "count"}));
  EXPECT_EQ(reader.next(), "+OK\r\n");
  Client third = front_end(2).connect();
  EXPECT_EQ(resp_call(other, {"INCR", "count"}), ":2\r\n");
  EXPECT_EQ(resp_call(third, {"DECR", "count"}), ":1\r\n");
  EXPECT_EQ(exec(), "*-1\r\n");

  // WATCH, MULTI and EXEC sent at once, with nothing between: it runs.
  watcher.send(resp_requests({{"WATCH", "count"}, {"MULTI"}, {"INCR", "count"}, {"EXEC"}}));
  EXPECT_EQ(reader.next(4),
            (std::vector<std::string>{"+OK\r\n", "+OK\r\n", "+QUEUED\r\n", "*1\r\n:2\r\n"}));
}

}  // namespace
}  // namespace count::test
