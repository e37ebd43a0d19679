// The real Redis clients against count-server's RESP port (docs/protocol.md, "The Redis
// protocol"), run as their users run them: redis-cli and redis-benchmark (Debian's
// redis-tools), redis-py (python3-redis), hiredis (a C program, tests/clients/hiredis_client.c)
// and ioredis and node-redis (npm, tests/clients/node/). Each client program checks what it got
// and exits non-zero with a message; a test here starts a fresh server and checks the exit.
// A client that is not installed makes its tests skip, saying which package brings it.
#include <fmt/core.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "support/certs.hpp"
#include "support/process.hpp"

namespace count::test {
namespace {

using std::chrono::seconds;

constexpr const char* kPassword = "c0rrect-h0rse";
const std::string kClients = COUNT_CLIENTS_DIR;
// Debian's python3, whose dist-packages hold python3-redis (a python3 earlier on PATH, such as
// a pyenv one, does not see it).
constexpr const char* kPython = "/usr/bin/python3";

// The counter's value as the line protocol reads it: what every client's work must add up to.
// `password`: the server's, if it has one.
long long value_of(const ServerProcess& server, const std::string& password = {}) {
  Client client = server.connect();
  if (!password.empty()) {
    EXPECT_EQ(client.call("auth " + password), "ok");
  }
  const std::string reply = client.call("get");
  EXPECT_EQ(reply.rfind("val ", 0), 0U) << reply;
  return reply.size() > 4 ? std::stoll(reply.substr(4)) : -1;
}

bool installed(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

#define SKIP_UNLESS_INSTALLED(path, package)                                                  \
  if (!installed(path))                                                                       \
  GTEST_SKIP() << (path) << " is missing: install " << (package) << " (scripts/install-deps " \
               << (package) << ")"

// A password file, and the arguments of a server that reads it.
class PasswordFile {
 public:
  PasswordFile() { write_file(path(), std::string(kPassword) + "\n"); }
  std::string path() const { return (dir_.path() / "password").string(); }

 private:
  TempDir dir_;
};

std::vector<std::string> tls_server_args(std::vector<std::string> extra = {}) {
  const TestCertificates& certs = test_certificates();
  std::vector<std::string> args{"--in-memory",   "--tls-port",      "0",
                                "--tls-cert",    certs.server_cert, "--tls-key",
                                certs.server_key};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

std::string port_of(std::uint16_t port) { return std::to_string(port); }

// A program under a pseudo-terminal, as a person at a prompt runs it. Stopped by PID when
// the object goes away, if it has not exited by then.
class Terminal {
 public:
  explicit Terminal(const std::vector<std::string>& argv, const std::filesystem::path& home) {
    // A size, as a real terminal has: without one, redis-cli's line editor asks the terminal
    // where its cursor is and takes the keys typed next for the answer.
    winsize size{};
    size.ws_row = 24;
    size.ws_col = 120;
    pid_ = ::forkpty(&fd_, nullptr, nullptr, &size);
    if (pid_ < 0) throw std::runtime_error("forkpty failed");
    if (pid_ == 0) {
      ::setenv("HOME", home.c_str(), 1);  // redis-cli keeps its history there
      std::vector<char*> args;
      for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
  }
  ~Terminal() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      wait_for_exit(pid_, seconds(5));
    }
    if (fd_ >= 0) ::close(fd_);
  }
  Terminal(const Terminal&) = delete;
  Terminal& operator=(const Terminal&) = delete;

  // Reads until the screen, from what the last wait_for left, holds `want` (10 s at most).
  bool wait_for(const std::string& want) {
    const auto deadline = std::chrono::steady_clock::now() + seconds(10);
    while (screen_.find(want, seen_) == std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
      pollfd ready{fd_, POLLIN, 0};
      if (::poll(&ready, 1, 100) <= 0) continue;
      char buffer[512];
      const ssize_t n = ::read(fd_, buffer, sizeof buffer);
      if (n <= 0) break;
      screen_.append(buffer, static_cast<std::size_t>(n));
    }
    const std::size_t at = screen_.find(want, seen_);
    if (at == std::string::npos) return false;
    seen_ = at + want.size();
    return true;
  }

  void type(const std::string& keys) {
    ASSERT_EQ(::write(fd_, keys.data(), keys.size()), static_cast<ssize_t>(keys.size()));
  }

  // Waits for the exit (10 s, then SIGKILL); returns the status as wait_for_exit does.
  int wait_exit() {
    const int status = wait_for_exit(pid_, seconds(10));
    pid_ = -1;
    return status;
  }

  // Everything shown so far: what a failure prints.
  const std::string& screen() const { return screen_; }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string screen_;
  std::size_t seen_ = 0;
};

// ---- redis-cli ------------------------------------------------------------------------------

const std::string kRedisCli = "/usr/bin/redis-cli";

TEST(RedisCliE2E, OneShotCommandsPrintTheRepliesRawWhenNotOnATerminal) {
  SKIP_UNLESS_INSTALLED(kRedisCli, "redis-tools");
  ServerProcess server;
  const std::string port = port_of(server.port());
  RunResult result = run({kRedisCli, "-p", port, "INCR", "count"});
  EXPECT_TRUE(exited_with(result, 0));
  EXPECT_EQ(result.out, "1\n");
  result = run({kRedisCli, "-p", port, "incrby", "count", "41"});
  EXPECT_TRUE(exited_with(result, 0));
  EXPECT_EQ(result.out, "42\n");
  result = run({kRedisCli, "-p", port, "GET", "count"});
  EXPECT_TRUE(exited_with(result, 0));
  EXPECT_EQ(result.out, "42\n");
  // --no-raw: the form a terminal gets.
  result = run({kRedisCli, "-p", port, "--no-raw", "DECR", "count"});
  EXPECT_TRUE(exited_with(result, 0));
  EXPECT_EQ(result.out, "(integer) 41\n");
  result = run({kRedisCli, "-p", port, "--no-raw", "GET", "count"});
  EXPECT_TRUE(exited_with(result, 0));
  EXPECT_EQ(result.out, "\"41\"\n");
  result = run({kRedisCli, "-p", port, "PING"});
  EXPECT_TRUE(exited_with(result, 0));
  EXPECT_EQ(result.out, "PONG\n");
  // -3: RESP3, after HELLO 3.
  result = run({kRedisCli, "-3", "-p", port, "INCR", "count"});
  EXPECT_TRUE(exited_with(result, 0));
  EXPECT_EQ(result.out, "42\n");
  result = run({kRedisCli, "-3", "-p", port, "--no-raw", "GET", "count"});
  EXPECT_TRUE(exited_with(result, 0));
  EXPECT_EQ(result.out, "\"42\"\n");
  EXPECT_EQ(value_of(server), 42);
}

TEST(RedisCliE2E, AnErrorReplyIsPrintedAndChangesNothing) {
  SKIP_UNLESS_INSTALLED(kRedisCli, "redis-tools");
  ServerProcess server;
  const std::string port = port_of(server.port());
  // redis-cli exits 0 after an error reply, as it does against Redis itself.
  RunResult result = run({kRedisCli, "-p", port, "INCR", "other"});
  EXPECT_TRUE(exited_with(result, 0));
  EXPECT_EQ(result.out, "ERR no such key 'other': this server holds one counter, 'count'\n\n");
  result = run({kRedisCli, "-p", port, "INCRBY", "count", "1.5"});
  EXPECT_TRUE(exited_with(result, 0));
  EXPECT_EQ(result.out, "ERR value is not an integer or out of range\n\n");
  result = run({kRedisCli, "-p", port, "SET", "count", "5"});
  EXPECT_TRUE(exited_with(result, 0));
  EXPECT_EQ(result.out, "ERR unknown command 'SET', with args beginning with: 'count' '5' \n\n");
  result = run({kRedisCli, "-p", port, "--no-raw", "INCR", "other"});
  EXPECT_TRUE(exited_with(result, 0));
  EXPECT_EQ(result.out,
            "(error) ERR no such key 'other': this server holds one counter, 'count'\n");
  EXPECT_EQ(value_of(server), 0);
}

TEST(RedisCliE2E, StandardInputLinesArePipelinedAsCommands) {
  SKIP_UNLESS_INSTALLED(kRedisCli, "redis-tools");
  ServerProcess server;
  std::string input;
  for (int i = 0; i < 100; ++i) input += "INCR count\n";
  input += "GET count\n";
  const RunResult result = run({kRedisCli, "-p", port_of(server.port())}, input);
  EXPECT_TRUE(exited_with(result, 0));
  std::string want;
  for (int i = 1; i <= 100; ++i) want += std::to_string(i) + "\n";
  EXPECT_EQ(result.out, want + "100\n");
}

TEST(RedisCliE2E, OnATerminalItPromptsAndShowsEachReply) {
  SKIP_UNLESS_INSTALLED(kRedisCli, "redis-tools");
  ServerProcess server;
  const TempDir home;
  const std::string port = port_of(server.port());
  Terminal terminal({kRedisCli, "-p", port}, home.path());
  const std::string prompt = "127.0.0.1:" + port + "> ";
  // Each line is typed at a prompt: redis-cli's line editor drops keys typed before it.
  const auto at_prompt_type = [&](const std::string& line, const std::string& want) {
    EXPECT_TRUE(terminal.wait_for(prompt)) << terminal.screen();
    terminal.type(line + "\r");
    EXPECT_TRUE(terminal.wait_for(want)) << terminal.screen();
  };
  at_prompt_type("INCR count", "(integer) 1");
  at_prompt_type("INCRBY count 9", "(integer) 10");
  at_prompt_type("GET count", "\"10\"");
  at_prompt_type("INCR other", "(error) ERR no such key 'other'");
  EXPECT_TRUE(terminal.wait_for(prompt)) << terminal.screen();
  terminal.type("quit\r");
  EXPECT_EQ(terminal.wait_exit(), 0) << terminal.screen();
  EXPECT_EQ(value_of(server), 10);
}

TEST(RedisCliE2E, OverTlsWithTheServersCa) {
  SKIP_UNLESS_INSTALLED(kRedisCli, "redis-tools");
  ServerProcess server(tls_server_args());
  const TestCertificates& certs = test_certificates();
  const std::string port = port_of(server.tls_port());
  RunResult result = run({kRedisCli, "-p", port, "--tls", "--cacert", certs.ca, "INCR", "count"});
  EXPECT_TRUE(exited_with(result, 0));
  EXPECT_EQ(result.out, "1\n");
  result = run({kRedisCli, "-p", port, "--tls", "--cacert", certs.ca, "GET", "count"});
  EXPECT_TRUE(exited_with(result, 0));
  EXPECT_EQ(result.out, "1\n");
  // Trusting another CA, the handshake fails and nothing is sent.
  result = run({kRedisCli, "-p", port, "--tls", "--cacert", certs.other_ca, "INCR", "count"});
  EXPECT_TRUE(exited_with(result, 1));
  EXPECT_EQ(value_of(server), 1);
}

TEST(RedisCliE2E, PasswordWithDashA) {
  SKIP_UNLESS_INSTALLED(kRedisCli, "redis-tools");
  const PasswordFile password;
  ServerProcess server({"--in-memory", "--password-file", password.path()});
  const std::string port = port_of(server.port());
  RunResult result =
      run({kRedisCli, "-p", port, "--no-auth-warning", "-a", kPassword, "INCR", "count"});
  EXPECT_TRUE(exited_with(result, 0));
  EXPECT_EQ(result.out, "1\n");
  result = run({kRedisCli, "-p", port, "INCR", "count"});
  EXPECT_TRUE(exited_with(result, 0));
  EXPECT_EQ(result.out, "NOAUTH Authentication required.\n\n");
  result = run({kRedisCli, "-p", port, "--no-auth-warning", "-a", "wrong", "INCR", "count"});
  EXPECT_NE(result.out.find("NOAUTH Authentication required."), std::string::npos)
      << result.out << result.err;
  EXPECT_NE((result.out + result.err).find("WRONGPASS"), std::string::npos)
      << result.out << result.err;
  // -a and TLS together.
  ServerProcess tls_server(tls_server_args({"--password-file", password.path()}));
  result = run({kRedisCli, "-p", port_of(tls_server.tls_port()), "--tls", "--cacert",
                test_certificates().ca, "--no-auth-warning", "-a", kPassword, "INCR", "count"});
  EXPECT_TRUE(exited_with(result, 0));
  EXPECT_EQ(result.out, "1\n");
  EXPECT_EQ(value_of(server, kPassword), 1);
}

TEST(RedisCliE2E, AskpassReadsThePasswordFromTheTerminal) {
  SKIP_UNLESS_INSTALLED(kRedisCli, "redis-tools");
  const PasswordFile password;
  ServerProcess server({"--in-memory", "--password-file", password.path()});
  const TempDir home;
  const std::string port = port_of(server.port());
  Terminal terminal({kRedisCli, "-p", port, "--askpass"}, home.path());
  EXPECT_TRUE(terminal.wait_for("Please input password: ")) << terminal.screen();
  terminal.type(std::string(kPassword) + "\r");
  const std::string prompt = "127.0.0.1:" + port + "> ";
  EXPECT_TRUE(terminal.wait_for(prompt)) << terminal.screen();
  EXPECT_EQ(terminal.screen().find(kPassword), std::string::npos) << "the password was echoed";
  terminal.type("INCR count\r");
  EXPECT_TRUE(terminal.wait_for("(integer) 1")) << terminal.screen();
  EXPECT_TRUE(terminal.wait_for(prompt)) << terminal.screen();
  terminal.type("quit\r");
  EXPECT_EQ(terminal.wait_exit(), 0) << terminal.screen();
  EXPECT_EQ(value_of(server, kPassword), 1);
}

// ---- redis-benchmark ------------------------------------------------------------------------

const std::string kRedisBenchmark = "/usr/bin/redis-benchmark";

// At start redis-benchmark asks CONFIG GET save and CONFIG GET appendonly; count-server has no
// CONFIG, and redis-benchmark says so on stderr and goes on. Any other line on stderr, or an
// error in the report, fails the run.
void expect_clean_benchmark(const RunResult& result) {
  EXPECT_TRUE(exited_with(result, 0));
  std::istringstream lines(result.err);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line == "WARNING: Could not fetch server CONFIG") continue;
    ADD_FAILURE() << "redis-benchmark stderr: " << line;
  }
  for (const char* bad : {"ERR", "rror", "NOAUTH", "WRONG"}) {
    EXPECT_EQ(result.out.find(bad), std::string::npos) << result.out;
  }
  EXPECT_NE(result.out.find("2000 requests completed"), std::string::npos) << result.out;
}

TEST(RedisBenchmarkE2E, PingMultiBulk) {
  SKIP_UNLESS_INSTALLED(kRedisBenchmark, "redis-tools");
  ServerProcess server;
  // ping_mbulk only: `-t ping` also runs PING_INLINE, which sends "PING\r\n"; its first byte
  // is not '*', so by the contract that connection speaks the line protocol, not RESP.
  const RunResult result = run(
      {kRedisBenchmark, "-p", port_of(server.port()), "-c", "10", "-n", "2000", "-t", "ping_mbulk"},
      {}, seconds(60));
  expect_clean_benchmark(result);
  EXPECT_NE(result.out.find("PING_MBULK"), std::string::npos) << result.out;
}

// `redis-benchmark ... INCR count`: each of the -n requests is one INCR, so the counter ends
// at exactly -n (with -P 16, 2000 is 125 whole pipelines, which the clients share out).
void run_incr_benchmark(const ServerProcess& server, std::vector<std::string> extra,
                        const std::string& password = {}) {
  std::vector<std::string> argv{kRedisBenchmark, "-c", "10", "-n", "2000"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.insert(argv.end(), {"INCR", "count"});
  expect_clean_benchmark(run(argv, {}, seconds(60)));
  EXPECT_EQ(value_of(server, password), 2000);
}

TEST(RedisBenchmarkE2E, IncrCommandAddsExactlyTheRequestsSent) {
  SKIP_UNLESS_INSTALLED(kRedisBenchmark, "redis-tools");
  ServerProcess server;
  run_incr_benchmark(server, {"-p", port_of(server.port())});
}

TEST(RedisBenchmarkE2E, PipelinedIncrAddsExactlyTheRequestsSent) {
  SKIP_UNLESS_INSTALLED(kRedisBenchmark, "redis-tools");
  ServerProcess server;
  run_incr_benchmark(server, {"-p", port_of(server.port()), "-P", "16"});
}

TEST(RedisBenchmarkE2E, PipelinedIncrOverTls) {
  SKIP_UNLESS_INSTALLED(kRedisBenchmark, "redis-tools");
  ServerProcess server(tls_server_args());
  run_incr_benchmark(server, {"-p", port_of(server.tls_port()), "--tls", "--cacert",
                              test_certificates().ca, "-P", "16"});
}

TEST(RedisBenchmarkE2E, PipelinedIncrWithAPassword) {
  SKIP_UNLESS_INSTALLED(kRedisBenchmark, "redis-tools");
  const PasswordFile password;
  ServerProcess server({"--in-memory", "--password-file", password.path()});
  run_incr_benchmark(server, {"-p", port_of(server.port()), "-a", kPassword, "-P", "16"},
                     kPassword);
}

// ---- redis-py -------------------------------------------------------------------------------

RunResult run_redis_py(const std::string& mode, std::vector<std::string> args) {
  std::vector<std::string> argv{kPython, kClients + "/redis_py_client.py", mode};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, {}, seconds(90));
}

#define SKIP_UNLESS_REDIS_PY()                          \
  SKIP_UNLESS_INSTALLED(kPython, "python3-redis");      \
  if (run({kPython, "-c", "import redis"}).status != 0) \
  GTEST_SKIP() << "python3-redis is missing (scripts/install-deps python3-redis)"

TEST(RedisPyE2E, CommandsAnswerTheValueTheyProduced) {
  SKIP_UNLESS_REDIS_PY();
  ServerProcess server;
  EXPECT_TRUE(exited_with(run_redis_py("basic", {"--port", port_of(server.port())}), 0));
  EXPECT_EQ(value_of(server), 40);
}

TEST(RedisPyE2E, Password) {
  SKIP_UNLESS_REDIS_PY();
  const PasswordFile password;
  ServerProcess server({"--in-memory", "--password-file", password.path()});
  EXPECT_TRUE(exited_with(
      run_redis_py("password", {"--port", port_of(server.port()), "--password", kPassword}), 0));
  EXPECT_EQ(value_of(server, kPassword), 40);
}

TEST(RedisPyE2E, TlsWithPassword) {
  SKIP_UNLESS_REDIS_PY();
  const PasswordFile password;
  ServerProcess server(tls_server_args({"--password-file", password.path()}));
  EXPECT_TRUE(exited_with(run_redis_py("tls", {"--port", port_of(server.tls_port()), "--ca",
                                               test_certificates().ca, "--password", kPassword}),
                          0));
  EXPECT_EQ(value_of(server, kPassword), 40);
}

TEST(RedisPyE2E, TransactionAndPlainPipelines) {
  SKIP_UNLESS_REDIS_PY();
  ServerProcess server;
  EXPECT_TRUE(exited_with(run_redis_py("pipeline", {"--port", port_of(server.port())}), 0));
  EXPECT_EQ(value_of(server), 116);
}

TEST(RedisPyE2E, ThreadsTakeUniqueNumbers) {
  SKIP_UNLESS_REDIS_PY();
  ServerProcess server;
  EXPECT_TRUE(exited_with(run_redis_py("unique", {"--port", port_of(server.port())}), 0));
  EXPECT_EQ(value_of(server), 8 * 500);
}

TEST(RedisPyE2E, WatchRetryLoopLosesNoUpdate) {
  SKIP_UNLESS_REDIS_PY();
  ServerProcess server;
  EXPECT_TRUE(exited_with(run_redis_py("watch", {"--port", port_of(server.port())}), 0));
  EXPECT_EQ(value_of(server), 2 * 4 * 50 + 1 + 10);
}

TEST(RedisPyE2E, AnotherKeyNameWithRespKey) {
  SKIP_UNLESS_REDIS_PY();
  ServerProcess server({"--in-memory", "--resp-key", "visits"});
  EXPECT_TRUE(exited_with(
      run_redis_py("pipeline", {"--port", port_of(server.port()), "--key", "visits"}), 0));
  EXPECT_EQ(value_of(server), 116);
}

// ---- hiredis --------------------------------------------------------------------------------

const std::string kHiredisClient = COUNT_HIREDIS_CLIENT;

#define SKIP_UNLESS_HIREDIS() \
  if (kHiredisClient.empty()) \
  GTEST_SKIP() << "hiredis_client was not built: install libhiredis-dev and configure again"

TEST(HiredisE2E, CommandsAndErrors) {
  SKIP_UNLESS_HIREDIS();
  ServerProcess server;
  EXPECT_TRUE(exited_with(run({kHiredisClient, "basic", port_of(server.port())}), 0));
  EXPECT_EQ(value_of(server), 40);
}

TEST(HiredisE2E, PipelinedAppendCommandAndMultiExec) {
  SKIP_UNLESS_HIREDIS();
  ServerProcess server;
  EXPECT_TRUE(exited_with(run({kHiredisClient, "pipeline", port_of(server.port())}), 0));
  EXPECT_EQ(value_of(server), 1010);
}

TEST(HiredisE2E, Auth) {
  SKIP_UNLESS_HIREDIS();
  const PasswordFile password;
  ServerProcess server({"--in-memory", "--password-file", password.path()});
  EXPECT_TRUE(exited_with(run({kHiredisClient, "password", port_of(server.port()), kPassword}), 0));
  EXPECT_EQ(value_of(server, kPassword), 40);
}

TEST(HiredisE2E, Tls) {
  SKIP_UNLESS_HIREDIS();
  if (COUNT_HIREDIS_SSL == 0) {
    GTEST_SKIP() << "this hiredis has no hiredis_ssl (Debian 12 ships hiredis 0.14, without TLS)";
  }
  const PasswordFile password;
  ServerProcess server(tls_server_args({"--password-file", password.path()}));
  EXPECT_TRUE(exited_with(
      run({kHiredisClient, "tls", port_of(server.tls_port()), kPassword, test_certificates().ca}),
      0));
  EXPECT_EQ(value_of(server, kPassword), 40);
}

// ---- ioredis and node-redis -----------------------------------------------------------------

const std::string kNode = COUNT_NODE;

// The parameter names the script: ioredis_client.js or node_redis_client.js.
class NodeClientE2E : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (kNode.empty()) GTEST_SKIP() << "node and npm were not found when the build was configured";
    ASSERT_TRUE(std::filesystem::exists(kClients + "/node/node_modules"))
        << "no tests/clients/node/node_modules: the build runs npm ci there";
  }
  RunResult run_script(const std::string& mode, std::vector<std::string> args) {
    std::vector<std::string> argv{kNode, kClients + "/node/" + GetParam() + "_client.js", mode};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, {}, seconds(90));
  }
};

TEST_P(NodeClientE2E, CommandsAnswerTheValueTheyProduced) {
  ServerProcess server;
  EXPECT_TRUE(exited_with(run_script("basic", {"--port", port_of(server.port())}), 0));
  EXPECT_EQ(value_of(server), 40);
}

TEST_P(NodeClientE2E, Password) {
  const PasswordFile password;
  ServerProcess server({"--in-memory", "--password-file", password.path()});
  EXPECT_TRUE(exited_with(
      run_script("password", {"--port", port_of(server.port()), "--password", kPassword}), 0));
  EXPECT_EQ(value_of(server, kPassword), 40);
}

TEST_P(NodeClientE2E, TlsWithPassword) {
  const PasswordFile password;
  ServerProcess server(tls_server_args({"--password-file", password.path()}));
  EXPECT_TRUE(exited_with(run_script("tls", {"--port", port_of(server.tls_port()), "--ca",
                                             test_certificates().ca, "--password", kPassword}),
                          0));
  EXPECT_EQ(value_of(server, kPassword), 40);
}

TEST_P(NodeClientE2E, PipelinesAndTransactions) {
  ServerProcess server;
  EXPECT_TRUE(exited_with(run_script("pipeline", {"--port", port_of(server.port())}), 0));
  EXPECT_EQ(value_of(server), 109);
}

TEST_P(NodeClientE2E, ConcurrentClientsTakeUniqueNumbers) {
  ServerProcess server;
  EXPECT_TRUE(exited_with(run_script("unique", {"--port", port_of(server.port())}), 0));
  EXPECT_EQ(value_of(server), 20 * 200 * 2);
}

INSTANTIATE_TEST_SUITE_P(Libraries, NodeClientE2E, ::testing::Values("ioredis", "node_redis"),
                         [](const auto& library) { return library.param; });

}  // namespace
}  // namespace count::test
