// The protocol over TCP against the real count-server: the example session, pipelining,
// half-close, quit, every kind of `err`, and the server's own command line.
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "support/process.hpp"
#include "support/wire.hpp"

namespace count::test {
namespace {

using Lines = std::vector<std::string>;

TEST(ProtocolE2E, TheExampleSessionOfTheProtocolDocument) {
  ServerProcess server;
  Client client = server.connect();
  EXPECT_EQ(client.call("get"), "val 0");
  EXPECT_EQ(client.call("incr"), "ok");
  EXPECT_EQ(client.call("add -5"), "ok");
  EXPECT_EQ(client.call("get"), "val -4");
  EXPECT_EQ(client.call("add 1.5"), "err");
  EXPECT_EQ(client.call("quit"), "quit");
  EXPECT_TRUE(closed_by_peer(client));
}

TEST(ProtocolE2E, NetcatStyleBatchGetsEveryReplyInOrder) {
  ServerProcess server;
  Client client = server.connect();
  EXPECT_EQ(exchange(client, "get\nincr\nadd -5\nget\nquit\n", 5),
            (Lines{"val 0", "ok", "ok", "val -4", "quit"}));
  EXPECT_TRUE(closed_by_peer(client));
}

TEST(ProtocolE2E, HundredThousandPipelinedRequestsAreAllAnsweredInOrder) {
  ServerProcess server;
  Client client = server.connect();
  constexpr std::size_t kRequests = 100000;
  std::string requests;
  for (std::size_t i = 0; i < kRequests; ++i) requests += (i % 1000 == 999) ? "get\n" : "incr\n";
  const Lines replies = exchange(client, requests, kRequests);
  ASSERT_EQ(replies.size(), kRequests);
  std::int64_t incrs = 0;
  for (std::size_t i = 0; i < kRequests; ++i) {
    if (i % 1000 == 999) {
      ASSERT_EQ(replies[i], "val " + std::to_string(incrs)) << i;
    } else {
      ASSERT_EQ(replies[i], "ok") << i;
      ++incrs;
    }
  }
}

TEST(ProtocolE2E, HalfCloseStillAnswersEverythingIncludingALastLineWithoutNewline) {
  ServerProcess server;
  Client client = server.connect();
  EXPECT_EQ(exchange(client, "incr\nincr\nget", 10, /*half_close=*/true),
            (Lines{"ok", "ok", "val 2"}));
  EXPECT_TRUE(closed_by_peer(client));
}

TEST(ProtocolE2E, HalfCloseAfterACarriageReturnEndedLastLine) {
  ServerProcess server;
  Client client = server.connect();
  EXPECT_EQ(exchange(client, "get\r\nget\r", 10, /*half_close=*/true), (Lines{"val 0", "val 0"}));
}

TEST(ProtocolE2E, QuitAnswersThenClosesAndLaterRequestsAreNotServed) {
  ServerProcess server;
  Client client = server.connect();
  EXPECT_EQ(exchange(client, "incr\nquit\nincr\nincr\n", 10), (Lines{"ok", "quit"}));
  Client other = server.connect();
  EXPECT_EQ(other.call("get"), "val 1");
}

TEST(ProtocolE2E, TelnetLineEndingsAndAnyCaseAreAccepted) {
  ServerProcess server;
  Client client = server.connect();
  EXPECT_EQ(exchange(client, "INCR\r\n  Add\t 4 \r\n\tgEt\r\n", 3), (Lines{"ok", "ok", "val 5"}));
}

TEST(ProtocolE2E, EveryMalformedRequestGetsErrAndTheConnectionStaysOpen) {
  ServerProcess server;
  Client client = server.connect();
  const Lines bad{"",        " \t ",    "bogus",       "get 5",        "add",
                  "add 1 2", "quit now", "add x",      "add 1.5",      "add 0x10",
                  "add 1e3", "add --5", "add 9223372036854775808", "incr\x01", "g\xc3\xa9t",
                  "add\x7f" "5", "decr 1"};
  std::string requests;
  for (const std::string& line : bad) requests += line + "\n";
  requests += "get\n";
  Lines want(bad.size(), "err");
  want.emplace_back("val 0");
  EXPECT_EQ(exchange(client, requests, want.size()), want);
  EXPECT_EQ(client.call("incr"), "ok");
}

TEST(ProtocolE2E, MutationsPastEitherEndOfTheRangeAreRefused) {
  ServerProcess server;
  Client client = server.connect();
  EXPECT_EQ(client.call("add 9223372036854775807"), "ok");
  EXPECT_EQ(client.call("incr"), "err");
  EXPECT_EQ(client.call("add 1"), "err");
  EXPECT_EQ(client.call("get"), "val 9223372036854775807");
  EXPECT_EQ(client.call("add -9223372036854775807"), "ok");
  EXPECT_EQ(client.call("add -9223372036854775808"), "ok");
  EXPECT_EQ(client.call("get"), "val -9223372036854775808");
  EXPECT_EQ(client.call("decr"), "err");
  EXPECT_EQ(client.call("add -9223372036854775808"), "err");
  EXPECT_EQ(client.call("get"), "val -9223372036854775808");
}

TEST(ProtocolE2E, SigtermAnswersWhatWasReceivedAndExitsZero) {
  ServerProcess server;
  Client client = server.connect();
  EXPECT_EQ(client.call("incr"), "ok");
  client.send("incr\nget\n");
  // Give the server a moment to receive the lines, then ask it to stop.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
  EXPECT_EQ(client.read_line(), "ok");
  EXPECT_EQ(client.read_line(), "val 2");
  EXPECT_TRUE(closed_by_peer(client));
}

TEST(ProtocolE2E, SigintStopsAnIdleServerCleanly) {
  ServerProcess server;
  Client idle = server.connect();
  EXPECT_EQ(server.stop(SIGINT), 0) << server.log();
  EXPECT_TRUE(closed_by_peer(idle));
}

TEST(ServerCommandLine, AnUnknownFlagIsAOneLineErrorAndExitTwo) {
  const RunResult result = run({binary("count-server"), "--bogus"});
  EXPECT_TRUE(exited_with(result, 2));
  EXPECT_NE(result.err.find("--bogus"), std::string::npos);
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
}

TEST(ServerCommandLine, BadValuesAreRefusedAtOnce) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--port", "70000"}, {"--port", "x"}, {"--threads", "0"},
        {"--max-connections", "0"}, {"--bind", "not-an-address", "--in-memory"},
        {"--etcd-linger", "100"},  // without --etcd
        {"--etcd", "http://127.0.0.1:1", "--etcd-linger", "100001"},
        {"--etcd", "http://127.0.0.1:1", "--etcd-timeout", "99"}}) {
    std::vector<std::string> argv{binary("count-server")};
    argv.insert(argv.end(), args.begin(), args.end());
    const RunResult result = run(argv, {}, std::chrono::seconds(10));
    EXPECT_NE(result.status, 0) << args[0];
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  }
}

TEST(ServerCommandLine, APortInUseIsAClearErrorAndExitOne) {
  ServerProcess first;
  const RunResult second = run({binary("count-server"), "--in-memory", "--bind", "127.0.0.1",
                                "--port", std::to_string(first.port())},
                               {}, std::chrono::seconds(10));
  EXPECT_TRUE(exited_with(second, 1));
  EXPECT_NE(second.err.find("in use"), std::string::npos) << second.err;
}

TEST(ServerCommandLine, HelpAndVersionExitZero) {
  const RunResult help = run({binary("count-server"), "--help"});
  EXPECT_TRUE(exited_with(help, 0));
  for (const char* flag : {"--bind", "--port", "--threads", "--max-connections", "--in-memory"}) {
    EXPECT_NE(help.out.find(flag), std::string::npos) << flag;
  }
  const RunResult version = run({binary("count-server"), "--version"});
  EXPECT_TRUE(exited_with(version, 0));
  EXPECT_EQ(version.out.rfind("count-server ", 0), 0U) << version.out;
}

}  // namespace
}  // namespace count::test
