// A server that others can reach: passwords (docs/protocol.md, "Authentication"), the refusal
// to serve beyond loopback unprotected, timeouts for clients that stall, and logs of every
// rejection that a flood cannot fill. Plain text here; TLS has tls_e2e_test.cpp.
#include <fmt/core.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "support/process.hpp"
#include "support/wire.hpp"

namespace count::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr const char* kPassword = "c0rrect-h0rse";

// A password file holding `content`, and the arguments of a server that reads it.
class PasswordFile {
 public:
  explicit PasswordFile(const std::string& content = std::string(kPassword) + "\n") {
    write_file(path(), content);
  }
  std::string path() const { return (dir_.path() / "password").string(); }
  std::vector<std::string> server_args() const {
    return {"--in-memory", "--password-file", path()};
  }

 private:
  TempDir dir_;
};

TEST(PasswordE2E, BeforeAuthOnlyAuthAndQuitAreServed) {
  const PasswordFile password;
  ServerProcess server(password.server_args());
  Client client = server.connect();
  EXPECT_EQ(client.call("get"), "err");
  EXPECT_EQ(client.call("incr"), "err");
  EXPECT_EQ(client.call("add 5"), "err");
  EXPECT_EQ(client.call(std::string("auth ") + kPassword), "ok");
  EXPECT_EQ(client.call("incr"), "ok");
  EXPECT_EQ(client.call("get"), "val 1");  // the refused requests changed nothing
  EXPECT_EQ(client.call("auth wrong"), "err");
  EXPECT_EQ(client.call("get"), "val 1");  // a wrong auth after a right one takes nothing back

  Client other = server.connect();  // authentication belongs to one connection
  EXPECT_EQ(other.call("get"), "err");
  EXPECT_EQ(other.call("quit"), "quit");
  EXPECT_TRUE(closed_by_peer(other));
  EXPECT_TRUE(server.log_shows("request before auth refused"));
  EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
}

TEST(PasswordE2E, AuthAndRequestsPipelinedInOnePacketAreServedInOrder) {
  const PasswordFile password;
  ServerProcess server(password.server_args());
  Client client = server.connect();
  const auto replies =
      exchange(client, std::string("incr\nauth ") + kPassword + "\nincr\nadd 5\nget\nquit\n", 6);
  EXPECT_EQ(replies, (std::vector<std::string>{"err", "ok", "ok", "ok", "val 6", "quit"}));
}

TEST(PasswordE2E, AuthWithoutArgumentOrWithExtraWordsIsErrAndOpensNothing) {
  const PasswordFile password;
  ServerProcess server(password.server_args());
  Client client = server.connect();
  EXPECT_EQ(client.call("auth"), "err");
  EXPECT_EQ(client.call(std::string("auth ") + kPassword + " extra"), "err");
  EXPECT_EQ(client.call(std::string("auth ") + kPassword + "\textra"), "err");
  EXPECT_EQ(client.call("incr"), "err");
  // Blanks around the words are not part of the password; the command word is any case.
  EXPECT_EQ(client.call(std::string("  AUTH\t") + kPassword + " \r"), "ok");
  EXPECT_EQ(client.call("incr"), "ok");
}

TEST(PasswordE2E, TheFileMayEndWithOneLineEndAndNothingElse) {
  for (const std::string ending : {"", "\n", "\r\n"}) {
    const PasswordFile password(kPassword + ending);
    ServerProcess server(password.server_args());
    Client client = server.connect();
    EXPECT_EQ(client.call(std::string("auth ") + kPassword), "ok") << "ending " << ending.size();
  }
  for (const std::string& bad :
       std::vector<std::string>{std::string(kPassword) + "\n\n", "two words\n", "", "\n"}) {
    const PasswordFile password(bad);
    const RunResult result = run({binary("count-server"), "--bind", "127.0.0.1", "--port", "0",
                                  "--in-memory", "--password-file", password.path()});
    EXPECT_TRUE(exited_with(result, 2)) << bad;
    EXPECT_NE(result.err.find("count-server: error: --password-file: the password file " +
                              password.path()),
              std::string::npos)
        << result.err;
  }
  const RunResult missing = run({binary("count-server"), "--bind", "127.0.0.1", "--port", "0",
                                 "--in-memory", "--password-file", "/nonexistent/pw"});
  EXPECT_TRUE(exited_with(missing, 2));
  EXPECT_NE(missing.err.find("cannot read the password file /nonexistent/pw"), std::string::npos)
      << missing.err;
}

TEST(PasswordE2E, WithoutAPasswordAuthIsErrAndNothingElseChanges) {
  ServerProcess server;
  Client client = server.connect();
  EXPECT_EQ(client.call("auth anything"), "err");
  EXPECT_EQ(client.call("incr"), "ok");
  EXPECT_EQ(client.call("get"), "val 1");
}

// After a wrong password the connection reads nothing for a second: a guesser gets one
// guess a second per connection, and the server's other clients do not wait for it.
TEST(PasswordE2E, AWrongPasswordSlowsItsConnectionAndNoOther) {
  const PasswordFile password;
  ServerProcess server(password.server_args());
  Client guesser = server.connect();
  const auto start = steady_clock::now();
  guesser.send(std::string("auth one\nauth two\nauth ") + kPassword + "\nincr\nget\n");
  EXPECT_EQ(guesser.read_line(), "err");

  Client other = server.connect();  // served at once while the guesser waits
  EXPECT_EQ(other.call(std::string("auth ") + kPassword), "ok");
  EXPECT_EQ(other.call("get"), "val 0");
  // A loop that slept through the pauses would have kept it about two seconds.
  EXPECT_LT(steady_clock::now() - start, milliseconds(1900)) << "the other client waited";

  EXPECT_EQ(guesser.read_line(), "err");
  EXPECT_GE(steady_clock::now() - start, milliseconds(1000));
  EXPECT_EQ(guesser.read_line(), "ok");
  EXPECT_GE(steady_clock::now() - start, milliseconds(2000));  // two wrong: two seconds
  EXPECT_EQ(guesser.read_line(), "ok");
  EXPECT_EQ(guesser.read_line(), "val 1");
  EXPECT_TRUE(server.log_shows("wrong password"));
  EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
  EXPECT_NE(server.log().find("clients turned away or cut off: 2 wrong password"),
            std::string::npos)
      << server.log();
}

// Beyond loopback without a password the server does not start. The other cases get past
// that check and then fail to bind a port that a test listener holds: no test ever opens a
// socket on an address other than 127.0.0.1.
TEST(ProtectedModeE2E, BeyondLoopbackWithoutAPasswordTheServerRefusesToStart) {
  for (const char* address : {"0.0.0.0", "::", "10.1.2.3"}) {
    const RunResult result =
        run({binary("count-server"), "--bind", address, "--port", "0", "--in-memory"});
    EXPECT_TRUE(exited_with(result, 2)) << address;
    EXPECT_NE(result.err.find(std::string("refusing to serve ") + address + " without a password"),
              std::string::npos)
        << result.err;
    EXPECT_NE(result.err.find("--no-auth"), std::string::npos) << result.err;
  }
  const RunResult both = run({binary("count-server"), "--no-auth", "--password-file", "/x"});
  EXPECT_TRUE(exited_with(both, 2));
  EXPECT_NE(both.err.find("excludes"), std::string::npos) << both.err;
}

TEST(ProtectedModeE2E, APasswordOrNoAuthLetsItServeBeyondLoopback) {
  const LoopbackListener taken;  // holds 127.0.0.1:P, so 0.0.0.0:P cannot be bound
  const std::string port = std::to_string(taken.port());
  const PasswordFile password;
  for (const std::vector<std::string>& extra :
       {std::vector<std::string>{"--no-auth"},
        std::vector<std::string>{"--password-file", password.path()}}) {
    std::vector<std::string> argv{binary("count-server"), "--bind", "0.0.0.0", "--port", port,
                                  "--in-memory"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    const RunResult result = run(argv);
    EXPECT_TRUE(exited_with(result, 1)) << extra[0];
    EXPECT_EQ(result.err.find("refusing"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("cannot listen on 0.0.0.0:" + port), std::string::npos) << result.err;
  }
}

TEST(TimeoutE2E, AnIdleConnectionIsClosedAfterTheIdleTimeoutAndABusyOneIsNot) {
  ServerProcess server({"--in-memory", "--idle-timeout", "2"});
  const auto start = steady_clock::now();  // before the connection whose clock starts with it
  Client idle = server.connect();
  Client busy = server.connect();
  // The busy client sends a request every 200 ms for 3.2 s: never idle for 2 seconds, even
  // on a machine loaded enough to hold this thread back for a second or more.
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(busy.call("incr"), "ok");
    std::this_thread::sleep_for(milliseconds(200));
  }
  EXPECT_TRUE(closed_by_peer(idle));
  EXPECT_GE(steady_clock::now() - start, milliseconds(2000));
  EXPECT_EQ(busy.call("get"), "val 16");
  EXPECT_TRUE(server.log_shows("closed: idle for the idle timeout"));
}

TEST(TimeoutE2E, WithoutAnIdleTimeoutAQuietConnectionStaysOpen) {
  ServerProcess server({"--in-memory", "--stall-timeout", "1"});
  Client quiet = server.connect();
  std::this_thread::sleep_for(milliseconds(2500));
  EXPECT_EQ(quiet.call("incr"), "ok");
}

TEST(TimeoutE2E, APartLineThenSilenceIsClosedAfterTheStallTimeout) {
  ServerProcess server({"--in-memory", "--stall-timeout", "1"});
  Client stalled = server.connect();
  const auto start = steady_clock::now();
  stalled.send("inc");
  EXPECT_TRUE(closed_by_peer(stalled));
  EXPECT_GE(steady_clock::now() - start, milliseconds(1000));
  EXPECT_TRUE(server.log_shows("closed: part of a line, then nothing for the stall timeout"));
  EXPECT_EQ(server.connect().call("get"), "val 0");  // the half request did nothing
}

TEST(TimeoutE2E, AClientThatDoesNotReadItsRepliesIsClosedAfterTheStallTimeout) {
  ServerProcess server({"--in-memory", "--stall-timeout", "1"});
  Client reader_that_does_not = server.connect();
  flood_until_stalled(reader_that_does_not, milliseconds(500), std::chrono::seconds(20), "get");
  EXPECT_TRUE(server.log_shows("closed: replies not read for the stall timeout"));
  // What the server had sent is still readable; then the connection ends.
  std::size_t lines = 0;
  for (; lines < 100'000'000; ++lines) {
    std::optional<std::string> line;
    try {
      line = reader_that_does_not.read_line();
    } catch (const ClientError&) {
      break;  // reset
    }
    if (!line) break;
  }
  EXPECT_GT(lines, 0U);
  EXPECT_EQ(server.connect().call("get"), "val 0");
}

// A flood of rejected clients costs a line per cause every ten seconds, not a line each;
// the count of each is in the shutdown line.
TEST(RejectionLogE2E, AFloodOfBadClientsIsLoggedOncePerCauseAndCounted) {
  const PasswordFile password;
  std::vector<std::string> args = password.server_args();
  args.insert(args.end(), {"--max-connections", "2"});
  ServerProcess server(args);
  const auto start = steady_clock::now();
  Client first = server.connect();
  Client second = server.connect();
  constexpr int kRefused = 200;
  for (int i = 0; i < kRefused; ++i) {
    Client refused = server.connect();
    EXPECT_EQ(refused.read_line(), "err");
  }
  // Each wrong password pauses its connection for a second: one on each.
  constexpr int kWrong = 2;
  EXPECT_EQ(first.call("auth wrong-1"), "err");
  EXPECT_EQ(second.call("auth wrong-2"), "err");
  EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
  const std::string log = server.log();
  // One line per cause every 10 seconds: one here, unless this machine took that long.
  const auto periods =
      1 + static_cast<std::size_t>((steady_clock::now() - start) / std::chrono::seconds(10));
  EXPECT_GE(occurrences(log, "refused: the connection limit is reached: 2 open"), 1U) << log;
  EXPECT_LE(occurrences(log, "refused: the connection limit is reached: 2 open"), periods) << log;
  EXPECT_GE(occurrences(log, ": wrong password: "), 1U) << log;
  EXPECT_LE(occurrences(log, ": wrong password: "), periods) << log;
  // The ones not logged are counted at the stop (all but one, in one period).
  if (periods == 1) {
    EXPECT_NE(log.find(std::to_string(kRefused - 1) +
                       " more like \"refused: the connection limit is reached\", not logged"),
              std::string::npos)
        << log;
  }
  EXPECT_NE(log.find(fmt::format("clients turned away or cut off: {} refused: the connection "
                                 "limit is reached, {} wrong password",
                                 kRefused, kWrong)),
            std::string::npos)
      << log;
  EXPECT_TRUE(
      std::regex_search(log, std::regex("count-server: warning: 127\\.0\\.0\\.1:\\d+: refused")))
      << log;
}

}  // namespace
}  // namespace count::test

namespace count::test {
namespace {

// Every line has its level, and --log-level drops the ones below it.
TEST(LogE2E, EachLineHasItsLevelAndLogLevelFiltersThem) {
  const LoopbackListener taken;  // the server cannot listen: it logs, then exits 1
  const std::string port = std::to_string(taken.port());
  TempDir dir;
  const std::string data = (dir.path() / "count.data").string();
  const RunResult info =
      run({binary("count-server"), "--bind", "127.0.0.1", "--port", port, "--data", data});
  EXPECT_TRUE(exited_with(info, 1));
  EXPECT_NE(info.err.find("count-server: info: created data file"), std::string::npos) << info.err;
  EXPECT_NE(info.err.find("count-server: error: cannot listen on 127.0.0.1:" + port),
            std::string::npos)
      << info.err;
  for (const char* level : {"warning", "error"}) {
    const RunResult quiet = run({binary("count-server"), "--bind", "127.0.0.1", "--port", port,
                                 "--data", (dir.path() / level).string(), "--log-level", level});
    EXPECT_TRUE(exited_with(quiet, 1));
    EXPECT_EQ(quiet.err.find("info:"), std::string::npos) << quiet.err;
    EXPECT_NE(quiet.err.find("count-server: error: cannot listen"), std::string::npos) << quiet.err;
  }
  const RunResult bad = run({binary("count-server"), "--log-level", "loud"});
  EXPECT_TRUE(exited_with(bad, 2));
  EXPECT_NE(bad.err.find("--log-level"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace count::test
