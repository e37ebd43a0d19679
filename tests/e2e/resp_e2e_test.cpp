// The Redis protocol on the real server (docs/protocol.md, "The Redis protocol"): chosen by
// the first byte on the same port as lines, pipelined in pieces, half-closed, malformed,
// with a password, over TLS, with the data file, and under concurrent clients (unique INCR
// values, transactions that nothing comes between, WATCH across protocols). The real Redis
// clients have redis_clients_e2e_test.cpp; byte-for-byte agreement with Redis,
// resp_differential_e2e_test.cpp.
#include <fmt/core.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/certs.hpp"
#include "support/process.hpp"
#include "support/resp.hpp"
#include "support/wire.hpp"

namespace count::test {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr const char* kPassword = "c0rrect-h0rse";

std::string value_line(ServerProcess& server) {
  Client client = server.connect();
  return client.call("get");
}

TEST(RespE2E, TheFirstByteChoosesTheProtocolOnTheSamePort) {
  ServerProcess server;
  Client resp = server.connect();
  Client line = server.connect();
  EXPECT_EQ(resp_call(resp, {"INCR", "count"}), ":1\r\n");
  EXPECT_EQ(line.call("incr"), "ok");
  EXPECT_EQ(resp_call(resp, {"incr", "count"}), ":3\r\n");
  EXPECT_EQ(line.call("get"), "val 3");
  EXPECT_EQ(resp_call(resp, {"GET", "count"}), "$1\r\n3\r\n");
  // A line connection never turns into RESP: '*' later is just a bad line.
  EXPECT_EQ(line.call("*1"), "err");
}

TEST(RespE2E, EveryCounterCommandAnswersTheValueItProduced) {
  ServerProcess server;
  Client client = server.connect();
  const std::string requests =
      resp_requests({{"INCRBY", "count", "10"}, {"DECRBY", "count", "3"}, {"DECR", "count"},
                     {"INCRBY", "count", "-9223372036854775807"}, {"DECR", "count"},
                     {"DECR", "count"}, {"GET", "count"}, {"INCRBY", "count", "+1"},
                     {"GET", "other"}, {"INCR", "other"}});
  client.send(requests);
  RespReader reader(client);
  const std::vector<std::string> replies = reader.next(10);
  const std::vector<std::string> want{
      ":10\r\n", ":7\r\n", ":6\r\n", ":-9223372036854775801\r\n", ":-9223372036854775802\r\n",
      ":-9223372036854775803\r\n", "$20\r\n-9223372036854775803\r\n",
      "-ERR value is not an integer or out of range\r\n",
      "-ERR no such key 'other': this server holds one counter, 'count'\r\n",
      "-ERR no such key 'other': this server holds one counter, 'count'\r\n"};
  EXPECT_EQ(replies, want);
}

TEST(RespE2E, TheCounterKeyIsTheOneTheOperatorNames) {
  ServerProcess server({"--in-memory", "--resp-key", "orders"});
  Client client = server.connect();
  EXPECT_EQ(resp_call(client, {"INCR", "orders"}), ":1\r\n");
  EXPECT_EQ(resp_call(client, {"INCR", "count"}),
            "-ERR no such key 'count': this server holds one counter, 'orders'\r\n");
  EXPECT_EQ(resp_call(client, {"EXISTS", "orders", "count", "orders"}), ":2\r\n");
  const RunResult bad =
      run({binary("count-server"), "--port", "0", "--in-memory", "--resp-key", "two words"});
  EXPECT_TRUE(exited_with(bad, 2));
}

// The same pipeline cut into random pieces gives the same replies, in order.
TEST(RespE2E, APipelineSentInPiecesIsAnsweredInOrder) {
  ServerProcess server;
  std::vector<std::vector<std::string>> requests;
  for (int i = 0; i < 300; ++i) {
    requests.push_back(i % 3 == 2 ? std::vector<std::string>{"GET", "count"}
                                  : std::vector<std::string>{"INCR", "count"});
  }
  const std::string bytes = resp_requests(requests);
  std::mt19937 random(7);
  Client client = server.connect();
  for (std::size_t at = 0; at < bytes.size();) {
    const std::size_t piece = std::min<std::size_t>(1 + random() % 9, bytes.size() - at);
    client.send(std::string_view(bytes).substr(at, piece));
    at += piece;
    if (random() % 8 == 0) std::this_thread::sleep_for(milliseconds(1));
  }
  RespReader reader(client);
  const std::vector<std::string> replies = reader.next(requests.size());
  ASSERT_EQ(replies.size(), requests.size());
  std::int64_t value = 0;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    if (requests[i][0] == "INCR") {
      EXPECT_EQ(replies[i], resp_integer(++value)) << i;
    } else {
      EXPECT_EQ(replies[i], resp_bulk(std::to_string(value))) << i;
    }
  }
}

TEST(RespE2E, AfterAHalfCloseEveryWholeRequestIsAnsweredAndACutOneIsDropped) {
  ServerProcess server;
  Client client = server.connect();
  std::string bytes = resp_requests({{"INCR", "count"}, {"INCR", "count"}});
  bytes += "*2\r\n$4\r\nINCR\r\n$5\r\ncou";  // never finished
  client.send(bytes);
  client.shutdown_send();
  RespReader reader(client);
  EXPECT_EQ(reader.next(3), (std::vector<std::string>{":1\r\n", ":2\r\n"}));
  EXPECT_EQ(value_line(server), "val 2");
}

TEST(RespE2E, AMalformedRequestGetsAProtocolErrorAndTheConnectionCloses) {
  ServerProcess server;
  const std::vector<std::pair<std::string, std::string>> cases{
      {"*1\r\n+PING\r\n", "-ERR Protocol error: expected '$', got '+'\r\n"},
      {"*x\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
      {"*1\r\n$-2\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
      {"*1\r\n$01\r\nx\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
      {"*1\r\n$4\r\nINCRxx", "-ERR Protocol error: expected '\\r\\n' after a bulk string\r\n"},
      {"PING\r\n", "-ERR Protocol error: expected '*', got 'P'\r\n"},
      // Lengths that claim more than a request may hold are refused at once, before the
      // bytes they announce (which never come) could be waited for or kept.
      {"*1\r\n$1000000\r\n", "-ERR Protocol error: request longer than 4096 bytes\r\n"},
      {"*100000\r\n", "-ERR Protocol error: request longer than 4096 bytes\r\n"},
      {"*2\r\n$3\r\nGET\r\n$4090\r\n", "-ERR Protocol error: request longer than 4096 bytes\r\n"},
  };
  std::int64_t value = 0;
  for (const auto& [request, error] : cases) {
    Client client = server.connect();
    // A good request first, in the same packet: it is answered, then the error; the request
    // after the malformed one is never applied.
    client.send(resp_request({"INCR", "count"}) + request + resp_request({"INCR", "count"}));
    RespReader reader(client);
    EXPECT_EQ(reader.next(3), (std::vector<std::string>{resp_integer(++value), error})) << request;
  }
  EXPECT_EQ(value_line(server), fmt::format("val {}", value));
}

TEST(RespE2E, ARequestOfExactly4096BytesIsServed) {
  ServerProcess server;
  Client client = server.connect();
  const std::string head = "*2\r\n$4\r\nECHO\r\n$";
  // Fill the request to 4096 bytes: head, the length's digits, "\r\n", the word, "\r\n".
  const std::size_t word = 4096 - head.size() - 4 - 2 - 2;
  std::string request = fmt::format("{}{}\r\n{}\r\n", head, word, std::string(word, 'x'));
  ASSERT_EQ(request.size(), 4096U);
  client.send(request);
  RespReader reader(client);
  EXPECT_EQ(reader.next(), resp_bulk(std::string(word, 'x')));
  // One byte more: a request of 4097 bytes.
  const std::string longer =
      fmt::format("{}{}\r\n{}\r\n", head, word + 1, std::string(word + 1, 'x'));
  client.send(longer);
  EXPECT_EQ(reader.next(), "-ERR Protocol error: request longer than 4096 bytes\r\n");
}

TEST(RespE2E, WithAPasswordNothingButAuthHelloAuthAndQuitIsServedFirst) {
  const TempDir dir;
  const std::string password_file = (dir.path() / "password").string();
  write_file(password_file, std::string(kPassword) + "\n");
  ServerProcess server({"--in-memory", "--password-file", password_file});
  Client client = server.connect();
  client.send(resp_requests({{"INCR", "count"},
                             {"NOSUCH"},
                             {"HELLO", "3"},
                             {"MULTI"},
                             {"AUTH", kPassword},
                             {"INCR", "count"}}));
  RespReader reader(client);
  const std::string noauth = "-NOAUTH Authentication required.\r\n";
  EXPECT_EQ(reader.next(6), (std::vector<std::string>{noauth, noauth, noauth, noauth, "+OK\r\n",
                                                      ":1\r\n"}));

  // A wrong password: WRONGPASS, and what came after it waits a second.
  Client guesser = server.connect();
  const auto sent = Clock::now();
  guesser.send(resp_requests({{"AUTH", "default", "wrong"}, {"INCR", "count"}}));
  RespReader guesses(guesser);
  EXPECT_EQ(guesses.next(),
            "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
  EXPECT_EQ(guesses.next(), noauth);
  EXPECT_GE(Clock::now() - sent, milliseconds(900));

  Client hello = server.connect();
  const std::string map = resp_call(hello, {"HELLO", "3", "AUTH", "default", kPassword});
  EXPECT_EQ(map.substr(0, 3), "%7\r");
  EXPECT_NE(map.find("$5\r\nproto\r\n:3\r\n"), std::string::npos) << map;
  EXPECT_EQ(resp_call(hello, {"INCR", "count"}), ":2\r\n");
}

TEST(RespE2E, TlsCarriesTheSameProtocol) {
  const TestCertificates& certs = test_certificates();
  ServerProcess server({"--in-memory", "--tls-port", "0", "--tls-cert", certs.server_cert,
                        "--tls-key", certs.server_key});
  ClientTls tls;
  tls.ca_file = certs.ca;
  Client client = Client::connect("127.0.0.1", server.tls_port(), std::chrono::seconds(10), &tls);
  client.set_receive_timeout(std::chrono::seconds(10));
  client.send(resp_requests({{"INCR", "count"}, {"MULTI"}, {"INCR", "count"}, {"GET", "count"},
                             {"EXEC"}, {"QUIT"}}));
  RespReader reader(client);
  EXPECT_EQ(reader.next(7), (std::vector<std::string>{":1\r\n", "+OK\r\n", "+QUEUED\r\n",
                                                      "+QUEUED\r\n",
                                                      "*2\r\n:2\r\n$1\r\n2\r\n", "+OK\r\n"}));
}

// Concurrent clients handing out numbers: every INCR gets a value no other got, and
// together they are exactly the range the counter moved through.
void expect_unique_numbers(ServerProcess& server) {
  constexpr int kClients = 8;
  constexpr int kRounds = 50;
  constexpr int kPipeline = 10;
  std::vector<std::vector<std::int64_t>> got(kClients);
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      try {
        Client client = server.connect();
        RespReader reader(client);
        const std::string batch = resp_requests(
            std::vector<std::vector<std::string>>(kPipeline, {"INCR", "count"}));
        for (int round = 0; round < kRounds; ++round) {
          client.send(batch);
          for (const std::string& reply : reader.next(kPipeline)) {
            got[static_cast<std::size_t>(c)].push_back(std::stoll(reply.substr(1)));
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
  ASSERT_EQ(all.size(), std::size_t{kClients * kRounds * kPipeline});
  for (std::size_t i = 0; i < all.size(); ++i) ASSERT_EQ(all[i], static_cast<std::int64_t>(i + 1));
}

TEST(RespE2E, ConcurrentIncrsHandOutEveryNumberOnceInMemory) {
  ServerProcess server({"--in-memory", "--threads", "2"});
  expect_unique_numbers(server);
}

TEST(RespE2E, ConcurrentIncrsHandOutEveryNumberOnceWithTheDataFile) {
  ServerProcess server({"--threads", "2"});
  expect_unique_numbers(server);
  EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
  server.restart();
  EXPECT_EQ(value_line(server), "val 4000");
}

// While other clients increment, each transaction's increments get consecutive values: no
// request of anyone else comes between them.
TEST(RespE2E, NothingComesBetweenTheRequestsOfATransaction) {
  ServerProcess server({"--in-memory", "--threads", "2"});
  std::atomic<bool> stop{false};
  std::vector<std::thread> others;
  for (int i = 0; i < 2; ++i) {
    others.emplace_back([&, i] {
      try {
        Client client = server.connect();
        const auto end = Clock::now() + std::chrono::seconds(20);
        while (!stop && Clock::now() < end) {
          if (i == 0) {
            exchange(client, repeat_line("incr", 20), 20);
          } else {
            resp_call(client, {"INCRBY", "count", "2"});
          }
        }
      } catch (const std::exception&) {
      }
    });
  }
  Client client = server.connect();
  RespReader reader(client);
  for (int round = 0; round < 100; ++round) {
    client.send(resp_requests({{"MULTI"}, {"INCR", "count"}, {"INCR", "count"}, {"GET", "count"},
                               {"INCRBY", "count", "5"}, {"EXEC"}}));
    const std::vector<std::string> replies = reader.next(6);
    ASSERT_EQ(replies.size(), 6U);
    const std::string& array = replies[5];
    ASSERT_EQ(array.substr(0, 4), "*4\r\n") << array;
    // *4 :a :a+1 $n a+1 :a+6
    const std::size_t first_end = array.find("\r\n", 5);
    const std::int64_t a = std::stoll(array.substr(5, first_end - 5));
    const std::string want = fmt::format("*4\r\n{}{}{}{}", resp_integer(a), resp_integer(a + 1),
                                         resp_bulk(std::to_string(a + 1)), resp_integer(a + 6));
    ASSERT_EQ(array, want) << "round " << round;
  }
  stop = true;
  for (std::thread& other : others) other.join();
}

// WATCH sees every mutation applied after it, even one that adds 0 and one made with the
// line protocol; not a refused one.
TEST(RespE2E, WatchSeesEveryAppliedMutationFromEitherProtocol) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--in-memory"}, std::vector<std::string>{}}) {
    ServerProcess server(args);
    Client watcher = server.connect();
    Client other = server.connect();
    const auto transaction = [&] {
      return resp_requests({{"MULTI"}, {"INCR", "count"}, {"EXEC"}});
    };
    const auto exec_reply = [&] {
      RespReader reader(watcher);
      watcher.send(transaction());
      const std::vector<std::string> replies = reader.next(3);
      return replies.size() == 3 ? replies[2] : std::string("(connection ended)");
    };
    // Nothing in between: it runs.
    EXPECT_EQ(resp_call(watcher, {"WATCH", "count"}), "+OK\r\n");
    EXPECT_EQ(exec_reply(), "*1\r\n:1\r\n");
    // add 0 through the line protocol: aborted.
    EXPECT_EQ(resp_call(watcher, {"WATCH", "count", "other"}), "+OK\r\n");
    EXPECT_EQ(other.call("add 0"), "ok");
    EXPECT_EQ(exec_reply(), "*-1\r\n");
    // A refused mutation is not a change: the transaction runs (and its INCR overflows).
    EXPECT_EQ(other.call("add 9223372036854775806"), "ok");
    EXPECT_EQ(resp_call(watcher, {"WATCH", "count"}), "+OK\r\n");
    EXPECT_EQ(other.call("incr"), "err");
    EXPECT_EQ(exec_reply(), "*1\r\n-ERR increment or decrement would overflow\r\n");
    // Two changes that cancel out still count.
    EXPECT_EQ(other.call("add -9223372036854775807"), "ok");
    EXPECT_EQ(resp_call(watcher, {"WATCH", "count"}), "+OK\r\n");
    EXPECT_EQ(other.call("add 1"), "ok");
    EXPECT_EQ(other.call("add -1"), "ok");
    EXPECT_EQ(exec_reply(), "*-1\r\n");
    // The watch is gone after EXEC: the next transaction runs.
    EXPECT_EQ(exec_reply(), "*1\r\n:1\r\n");
  }
}

TEST(RespE2E, ARequestStoppedHalfwayOutstaysTheStallTimeout) {
  ServerProcess server({"--in-memory", "--stall-timeout", "1"});
  Client client = server.connect();
  client.send("*2\r\n$4\r\nINCR\r\n$5\r\nco");
  EXPECT_TRUE(closed_by_peer(client));
  EXPECT_EQ(value_line(server), "val 0");
}

TEST(RespE2E, QuitAnswersOkAndCloses) {
  ServerProcess server;
  Client client = server.connect();
  client.send(resp_requests({{"INCR", "count"}, {"QUIT"}, {"INCR", "count"}}));
  RespReader reader(client);
  EXPECT_EQ(reader.next(3), (std::vector<std::string>{":1\r\n", "+OK\r\n"}));
  EXPECT_EQ(value_line(server), "val 1");
}

}  // namespace
}  // namespace count::test
