// Many clients at once on every event loop: no update lost, and what one client has seen
// acknowledged, every other client sees.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "support/process.hpp"
#include "support/wire.hpp"

namespace count::test {
namespace {

TEST(ConcurrencyE2E, ThirtyTwoClientsWithMixedMutationsEndExact) {
  ServerProcess server({"--in-memory", "--threads", "2", "--local-threads", "2"});
  constexpr int kClients = 32;
  constexpr int kBatches = 20;
  // One batch: 10 incr, 3 decr, add 7, add -2, pipelined. Net +12.
  std::string batch = repeat_line("incr", 10) + repeat_line("decr", 3) + "add 7\nadd -2\n";
  constexpr std::size_t kPerBatch = 15;
  constexpr std::int64_t kNetPerBatch = 10 - 3 + 7 - 2;

  std::atomic<int> failures{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&] {
      try {
        Client client = server.connect();
        for (int b = 0; b < kBatches; ++b) {
          const auto replies = exchange(client, batch, kPerBatch);
          for (const std::string& reply : replies) failures += reply == "ok" ? 0 : 1;
          failures += replies.size() == kPerBatch ? 0 : 1;
        }
      } catch (const ClientError&) {
        ++failures;
      }
    });
  }
  for (std::thread& client : clients) client.join();
  EXPECT_EQ(failures.load(), 0);
  Client check = server.connect();
  EXPECT_EQ(check.call("get"), "val " + std::to_string(kClients * kBatches * kNetPerBatch));
}

TEST(ConcurrencyE2E, AnAcknowledgedMutationIsSeenByEveryLaterGetOnAnyConnection) {
  ServerProcess server({"--in-memory", "--threads", "2", "--local-threads", "2"});
  // With both loops serving local clients, connections alternate between the loops, so
  // these two sit on different threads.
  Client writer = server.connect();
  Client reader = server.connect();
  for (int i = 1; i <= 2000; ++i) {
    ASSERT_EQ(writer.call("incr"), "ok");
    ASSERT_EQ(reader.call("get"), "val " + std::to_string(i));
  }
}

TEST(ConcurrencyE2E, ConcurrentReadersNeverSeeTheValueGoBack) {
  ServerProcess server({"--in-memory", "--threads", "2", "--local-threads", "2"});
  std::atomic<bool> done{false};
  std::atomic<int> regressions{0};
  std::thread writer([&] {
    Client client = server.connect();
    for (int i = 0; i < 3000; ++i) client.call("incr");
    done = true;
  });
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      Client client = server.connect();
      std::int64_t last = 0;
      for (int i = 0; i < 100000 && !done; ++i) {
        const std::int64_t now = std::stoll(client.call("get").substr(4));
        regressions += now < last ? 1 : 0;
        last = now;
      }
    });
  }
  writer.join();
  for (std::thread& reader : readers) reader.join();
  EXPECT_EQ(regressions.load(), 0);
}

}  // namespace
}  // namespace count::test
