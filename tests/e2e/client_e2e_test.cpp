// count-client's three modes and its exit codes, against the real server.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "support/process.hpp"
#include "support/wire.hpp"

namespace count::test {
namespace {

RunResult client_run(const ServerProcess& server, std::vector<std::string> words,
                     const std::string& input = {}) {
  std::vector<std::string> argv{binary("count-client"), "-p", std::to_string(server.port())};
  argv.insert(argv.end(), words.begin(), words.end());
  return run(argv, input);
}

TEST(ClientE2E, OneShotPrintsTheReplyAndExitsZero) {
  ServerProcess server;
  EXPECT_EQ(client_run(server, {"incr"}).out, "ok\n");
  const RunResult add = client_run(server, {"add", "-5"});
  EXPECT_EQ(add.out, "ok\n");
  EXPECT_TRUE(exited_with(add, 0));
  const RunResult get = client_run(server, {"get"});
  EXPECT_EQ(get.out, "val -4\n");
  EXPECT_TRUE(exited_with(get, 0));
  EXPECT_TRUE(exited_with(client_run(server, {"quit"}), 0));
}

TEST(ClientE2E, OneShotErrExitsOne) {
  ServerProcess server;
  for (const std::vector<std::string>& words :
       {std::vector<std::string>{"bogus"}, {"add"}, {"add", "1.5"}, {"get", "5"}}) {
    const RunResult result = client_run(server, words);
    EXPECT_EQ(result.out, "err\n");
    EXPECT_TRUE(exited_with(result, 1));
  }
}

TEST(ClientE2E, PipedInputDoesWhatTheOriginalClientDid) {
  ServerProcess server;
  const RunResult result = client_run(server, {}, "get\nincr\nadd -5\nget\nquit\n");
  EXPECT_EQ(result.out, "val 0\nok\nok\nval -4\nquit\n");
  EXPECT_TRUE(exited_with(result, 0));
  EXPECT_EQ(client_run(server, {}, "get\nquit\n").out, "val -4\nquit\n");
}

TEST(ClientE2E, PipedHundredThousandLinesAreAllAnswered) {
  ServerProcess server;
  const RunResult result = client_run(server, {}, repeat_line("incr", 100000));
  EXPECT_TRUE(exited_with(result, 0));
  EXPECT_EQ(result.out, repeat_line("ok", 100000));
  EXPECT_EQ(client_run(server, {"get"}).out, "val 100000\n");
}

TEST(ClientE2E, PipedLastLineWithoutNewlineIsAnswered) {
  ServerProcess server;
  const RunResult result = client_run(server, {}, "incr\nget");
  EXPECT_EQ(result.out, "ok\nval 1\n");
  EXPECT_TRUE(exited_with(result, 0));
}

TEST(ClientE2E, PipedErrRepliesMakeExitOne) {
  ServerProcess server;
  const RunResult result = client_run(server, {}, "incr\nnope\nget\n");
  EXPECT_EQ(result.out, "ok\nerr\nval 1\n");
  EXPECT_TRUE(exited_with(result, 1));
}

TEST(ClientE2E, NoServerIsAClearMessageAndExitTwo) {
  std::uint16_t port = 0;
  {
    ServerProcess gone;  // a port that was just free, now closed again
    port = gone.port();
    gone.stop();
  }
  const RunResult result =
      run({binary("count-client"), "-p", std::to_string(port), "get"}, {}, std::chrono::seconds(10));
  EXPECT_TRUE(exited_with(result, 2));
  EXPECT_NE(result.err.find("cannot connect to 127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << result.err;
}

// How long a client under test may take, start-up included: a sanitized build on a busy
// two-core machine can take seconds just to start.
constexpr auto kClientBound = std::chrono::seconds(30);

// A listener that accepts one connection, reads a little, and closes it without replying.
// It waits for the connection as long as the client may take: a client that connects
// after it gave up would wait for a reply that never comes.
class HangUpServer {
 public:
  HangUpServer() {
    thread_ = std::thread([this] {
      pollfd ready{listener_.fd(), POLLIN, 0};
      if (::poll(&ready, 1, static_cast<int>(std::chrono::milliseconds(kClientBound).count())) <= 0) {
        return;
      }
      const int connection = ::accept(listener_.fd(), nullptr, nullptr);
      char buffer[64];
      [[maybe_unused]] const ssize_t n = ::recv(connection, buffer, sizeof buffer, 0);
      ::close(connection);
    });
  }
  ~HangUpServer() { thread_.join(); }
  HangUpServer(const HangUpServer&) = delete;
  HangUpServer& operator=(const HangUpServer&) = delete;
  std::uint16_t port() const { return listener_.port(); }

 private:
  LoopbackListener listener_{4};
  std::thread thread_;
};

TEST(ClientE2E, AConnectionDroppedBeforeTheReplyExitsTwo) {
  HangUpServer server;
  const RunResult result = run({binary("count-client"), "-p", std::to_string(server.port()), "get"},
                               {}, kClientBound);
  EXPECT_TRUE(exited_with(result, 2));
  EXPECT_FALSE(result.err.empty());
}

TEST(ClientE2E, PipedInputCutShortByTheServerExitsTwo) {
  HangUpServer server;
  const RunResult result = run({binary("count-client"), "-p", std::to_string(server.port())},
                               "get\nget\n", kClientBound);
  EXPECT_TRUE(exited_with(result, 2));
  EXPECT_NE(result.err.find("closed before every reply"), std::string::npos) << result.err;
}

// Reads the terminal until `want` shows up or 10 s pass; returns everything read.
std::string read_until(int terminal, const std::string& want) {
  std::string seen;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (seen.find(want) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd ready{terminal, POLLIN, 0};
    if (::poll(&ready, 1, 100) <= 0) continue;
    char buffer[256];
    const ssize_t n = ::read(terminal, buffer, sizeof buffer);
    if (n <= 0) break;
    seen.append(buffer, static_cast<std::size_t>(n));
  }
  return seen;
}

TEST(ClientE2E, OnATerminalItPromptsAndAnswersEachLine) {
  ServerProcess server;
  const TempDir home;
  int terminal = -1;
  const pid_t pid = ::forkpty(&terminal, nullptr, nullptr, nullptr);
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::setenv("HOME", home.path().c_str(), 1);
    const std::string client = binary("count-client");
    const std::string port = std::to_string(server.port());
    ::execl(client.c_str(), client.c_str(), "-p", port.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const std::string prompt = "127.0.0.1:" + std::to_string(server.port()) + "> ";
  // Everything the terminal showed, stderr included: what a failure prints.
  std::string screen = read_until(terminal, prompt);
  EXPECT_NE(screen.find(prompt), std::string::npos) << screen;
  ASSERT_EQ(::write(terminal, "incr\r", 5), 5);
  screen += read_until(terminal, "ok");
  EXPECT_NE(screen.find("ok"), std::string::npos) << screen;
  ASSERT_EQ(::write(terminal, "get\r", 4), 4);
  screen += read_until(terminal, "val 1");
  EXPECT_NE(screen.find("val 1"), std::string::npos) << screen;
  ASSERT_EQ(::write(terminal, "quit\r", 5), 5);
  EXPECT_EQ(wait_for_exit(pid, std::chrono::seconds(10)), 0) << screen;
  ::close(terminal);
}

}  // namespace
}  // namespace count::test
