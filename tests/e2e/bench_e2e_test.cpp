// count-bench against real servers: count-server passes every check; ok-server (which
// answers ok to everything) and a server that loses updates make it fail; Redis and
// memcached, when installed, pass through their own protocols. Every process started here
// is stopped by PID; every wait is bounded.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "loadgen/load_generator.hpp"
#include "support/other_server.hpp"
#include "support/process.hpp"

namespace count::test {
namespace {

using namespace std::chrono_literals;

RunResult bench(std::uint16_t port, std::vector<std::string> args) {
  std::vector<std::string> argv{binary("count-bench"), "-h", "127.0.0.1", "-p",
                                std::to_string(port)};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, {}, 60s);
}

// A server inside the test that acknowledges every mutation and never changes its value:
// the server that loses updates, which count-bench must catch.
class ForgetfulServer {
 public:
  ForgetfulServer() {
    thread_ = std::thread([this] { serve(); });
  }
  ~ForgetfulServer() {
    stop_ = true;
    thread_.join();
    for (std::size_t i = 1; i < polled_.size(); ++i) ::close(polled_[i].fd);
  }
  ForgetfulServer(const ForgetfulServer&) = delete;
  ForgetfulServer& operator=(const ForgetfulServer&) = delete;

  std::uint16_t port() const { return listener_.port(); }

 private:
  void serve() {
    polled_.push_back({listener_.fd(), POLLIN, 0});
    std::vector<std::string> partial(1);
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (!stop_ && std::chrono::steady_clock::now() < deadline) {
      if (::poll(polled_.data(), polled_.size(), 50) <= 0) continue;
      for (std::size_t i = polled_.size(); i-- > 0;) {
        if (polled_[i].revents == 0) continue;
        if (i == 0) {
          const int fd = ::accept(listener_.fd(), nullptr, nullptr);
          if (fd >= 0) {
            polled_.push_back({fd, POLLIN, 0});
            partial.emplace_back();
          }
          continue;
        }
        char chunk[4096];
        const ssize_t got = ::read(polled_[i].fd, chunk, sizeof chunk);
        if (got <= 0) {
          ::close(polled_[i].fd);
          polled_.erase(polled_.begin() + static_cast<std::ptrdiff_t>(i));
          partial.erase(partial.begin() + static_cast<std::ptrdiff_t>(i));
          continue;
        }
        std::string replies;
        for (const char c : std::string_view(chunk, static_cast<std::size_t>(got))) {
          if (c != '\n') {
            partial[i] += c;
            continue;
          }
          replies += partial[i] == "get" ? "val 7\n" : "ok\n";
          partial[i].clear();
        }
        // Blocking socket, small replies: the write completes.
        (void)::write(polled_[i].fd, replies.data(), replies.size());
      }
    }
  }

  LoopbackListener listener_;
  std::vector<pollfd> polled_;  // [0] is the listener; touched only by thread_ after start
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(BenchE2E, AgainstCountServerEveryReplyAndTheCounterCheckPass) {
  ServerProcess server({"--in-memory"});
  const RunResult result =
      bench(server.port(), {"-n", "3000", "-c", "4", "-P", "4", "--ratio",
                            "incr:decr:add:get=4:1:2:1", "--add-value", "-3", "--json"});
  EXPECT_TRUE(exited_with(result, 0));
  EXPECT_NE(result.out.find("\"passed\":true"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("\"ok\":true"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("\"sent\":3000"), std::string::npos) << result.out;
  // What count-bench read at the end is what the server holds.
  Client client = server.connect();
  const std::regex after(R"("after":(-?\d+))");
  std::smatch match;
  ASSERT_TRUE(std::regex_search(result.out, match, after)) << result.out;
  EXPECT_EQ(client.call("get"), "val " + match[1].str());
}

// count-server's Redis side, through the same codec that drives Redis: every INCR, DECR,
// INCRBY and GET reply checked, then the counter.
TEST(BenchE2E, AgainstCountServerOverRespEveryReplyAndTheCounterCheckPass) {
  ServerProcess server({"--in-memory"});
  const RunResult result =
      bench(server.port(), {"--protocol", "resp", "-n", "3000", "-c", "4", "-P", "4", "--ratio",
                            "incr:decr:add:get=4:1:2:1", "--add-value", "-3"});
  EXPECT_TRUE(exited_with(result, 0));
  EXPECT_NE(result.out.find("counter check passed"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find(" 0 error, 0 unexpected"), std::string::npos) << result.out;
}

TEST(BenchE2E, ByDurationWithThreadsAndWarmUpPasses) {
  ServerProcess server({"--in-memory"});
  const RunResult result = bench(server.port(), {"-d", "0.5", "--warmup", "0.2", "-c", "6", "-t",
                                                 "2", "-P", "8", "--ratio", "incr:get=9:1"});
  EXPECT_TRUE(exited_with(result, 0));
  EXPECT_NE(result.out.find("counter check passed"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("requests/s"), std::string::npos) << result.out;
}

TEST(BenchE2E, ConnectionsGoToEveryServerInTurn) {
  ServerProcess first({"--in-memory"});
  ServerProcess second({"--in-memory"});
  // Each -h entry carries its own port.
  const RunResult result = run(
      {binary("count-bench"), "-h",
       "127.0.0.1:" + std::to_string(first.port()) + ",127.0.0.1:" + std::to_string(second.port()),
       "-n", "300", "-c", "3", "-t", "3", "--no-counter-check", "--json"},
      {}, 60s);
  EXPECT_TRUE(exited_with(result, 0));
  EXPECT_NE(result.out.find("\"servers\":[{\"address\":\"127.0.0.1:" +
                            std::to_string(first.port()) + "\",\"connections\":2},"),
            std::string::npos)
      << result.out;
  // In-memory servers keep a counter each; with a thread per connection, each connection
  // sends its equal part of the requests, and connections 0 and 2 went to the first.
  const auto value_of = [](const ServerProcess& server) {
    Client client = server.connect();
    return std::stoll(client.call("get").substr(4));
  };
  EXPECT_EQ(value_of(first), 200);
  EXPECT_EQ(value_of(second), 100);
}

TEST(BenchE2E, ServersThatDoNotShareOneCounterFailTheCheck) {
  ServerProcess first({"--in-memory"});
  ServerProcess second({"--in-memory"});
  const RunResult result = run({binary("count-bench"), "-h", "127.0.0.1", "-p",
                                std::to_string(first.port()) + "," + std::to_string(second.port()),
                                "-n", "300", "-c", "3", "-t", "3"},
                               {}, 60s);
  EXPECT_TRUE(exited_with(result, 1));
  EXPECT_NE(result.err.find("SERVERS DISAGREE"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("127.0.0.1:" + std::to_string(second.port()) + " read 100"),
            std::string::npos)
      << result.err;
}

TEST(BenchE2E, AgainstOkServerAMixWithGetFails) {
  if (!std::filesystem::exists(binary("ok-server"))) GTEST_SKIP() << "ok-server is not built";
  OtherServer ok_server({binary("ok-server"), "--bind", "127.0.0.1", "--port", "0"}, 0);
  const RunResult result =
      bench(ok_server.port(), {"-n", "500", "-c", "2", "--ratio", "incr:get=9:1"});
  EXPECT_TRUE(exited_with(result, 1));
  EXPECT_NE(result.err.find("unexpected reply to get"), std::string::npos) << result.err;
}

TEST(BenchE2E, AgainstOkServerIncrWithoutCounterCheckIsTheCeilingRun) {
  if (!std::filesystem::exists(binary("ok-server"))) GTEST_SKIP() << "ok-server is not built";
  OtherServer ok_server({binary("ok-server"), "--bind", "127.0.0.1", "--port", "0"}, 0);
  const RunResult result =
      bench(ok_server.port(), {"-n", "2000", "-c", "3", "-P", "16", "--no-counter-check"});
  EXPECT_TRUE(exited_with(result, 0));
  // With the check, its counter cannot be read: a failure.
  EXPECT_TRUE(exited_with(bench(ok_server.port(), {"-n", "100", "-c", "1"}), 1));
}

TEST(BenchE2E, AServerThatLosesUpdatesFailsTheCounterCheck) {
  ForgetfulServer server;
  const RunResult result = bench(server.port(), {"-n", "400", "-c", "2", "-P", "4"});
  EXPECT_TRUE(exited_with(result, 1));
  EXPECT_NE(result.err.find("COUNTER MISMATCH"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("off by 400"), std::string::npos) << result.err;
}

// A server inside the test that takes each connection's first request and then either
// says nothing more (`hang_up` false) or closes the connection.
class CutOffServer {
 public:
  explicit CutOffServer(bool hang_up) : hang_up_(hang_up) {
    thread_ = std::thread([this] { serve(); });
  }
  ~CutOffServer() {
    stop_ = true;
    thread_.join();
    for (const int fd : kept_) ::close(fd);
  }
  CutOffServer(const CutOffServer&) = delete;
  CutOffServer& operator=(const CutOffServer&) = delete;

  std::uint16_t port() const { return listener_.port(); }

 private:
  void serve() {
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (!stop_ && std::chrono::steady_clock::now() < deadline) {
      pollfd listening{listener_.fd(), POLLIN, 0};
      if (::poll(&listening, 1, 50) <= 0) continue;
      const int fd = ::accept(listener_.fd(), nullptr, nullptr);
      if (fd < 0) continue;
      pollfd request{fd, POLLIN, 0};
      char chunk[256];
      if (::poll(&request, 1, 5000) > 0) (void)::read(fd, chunk, sizeof chunk);
      if (hang_up_) {
        ::close(fd);
      } else {
        kept_.push_back(fd);
      }
    }
  }

  bool hang_up_;
  LoopbackListener listener_;
  std::vector<int> kept_;  // touched only by thread_ until it is joined
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The ways of waiting count-bench can use on this machine.
std::vector<std::string> bench_io_modes() {
  if (count::load_io_uring_unavailable()) return {"epoll"};
  return {"io_uring", "epoll"};
}

TEST(BenchE2E, BothWaysOfWaitingPassEveryCheckAndSayWhichRan) {
  ServerProcess server({"--in-memory"});
  for (const std::string& io : bench_io_modes()) {
    for (const char* pipeline : {"1", "16"}) {
      const RunResult result = bench(server.port(), {"--io", io, "-n", "4000", "-c", "9", "-t", "2",
                                                     "-P", pipeline, "--json"});
      ASSERT_TRUE(exited_with(result, 0)) << io << "\n" << result.out << result.err;
      EXPECT_NE(result.out.find("\"io\":\"" + io + "\""), std::string::npos) << result.out;
      EXPECT_NE(result.out.find("\"sent\":4000,"), std::string::npos) << result.out;
      EXPECT_NE(result.out.find("\"good\":4000,"), std::string::npos) << result.out;
      EXPECT_NE(result.out.find("\"ok\":true"), std::string::npos) << result.out;
    }
  }
  // By time, and in the table: the line names the way of waiting.
  const RunResult table = bench(server.port(), {"-d", "0.3", "--warmup", "0.1", "-c", "3"});
  ASSERT_TRUE(exited_with(table, 0)) << table.out << table.err;
  EXPECT_NE(table.out.find("3 connections on 1 thread (" + bench_io_modes().front() + ")"),
            std::string::npos)
      << table.out;
  EXPECT_EQ(server.stop(), 0);
}

TEST(BenchE2E, AServerThatStopsReplyingTimesOutOnBothWaysOfWaiting) {
  for (const std::string& io : bench_io_modes()) {
    CutOffServer server(/*hang_up=*/false);
    const auto started = std::chrono::steady_clock::now();
    const RunResult result = bench(server.port(), {"--io", io, "-n", "100", "-c", "3", "-P", "2",
                                                   "--timeout", "0.3", "--no-counter-check"});
    EXPECT_LT(std::chrono::steady_clock::now() - started, 20s);
    EXPECT_TRUE(exited_with(result, 1)) << io << "\n" << result.out << result.err;
    EXPECT_NE(result.out.find("0 good"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("6 lost in flight, 3 broken connections"), std::string::npos)
        << io << "\n"
        << result.out;
    EXPECT_NE(result.err.find("no reply for 300 ms"), std::string::npos) << io << result.err;
  }
}

TEST(BenchE2E, AServerThatHangsUpBreaksTheConnectionsOnBothWaysOfWaiting) {
  for (const std::string& io : bench_io_modes()) {
    CutOffServer server(/*hang_up=*/true);
    const RunResult result =
        bench(server.port(), {"--io", io, "-n", "100", "-c", "2", "-P", "3", "--no-counter-check"});
    EXPECT_TRUE(exited_with(result, 1)) << io << "\n" << result.out << result.err;
    EXPECT_NE(result.out.find("6 lost in flight, 2 broken connections"), std::string::npos)
        << io << "\n"
        << result.out;
    EXPECT_NE(result.err.find("the server closed the connection (3 request(s) in flight lost)"),
              std::string::npos)
        << io << "\n"
        << result.err;
  }
}

TEST(BenchE2E, IoUringFallsBackToEpollWhereItIsRefused) {
  if (const auto unavailable = count::load_io_uring_unavailable()) GTEST_SKIP() << *unavailable;
  ServerProcess server({"--in-memory"});
  const std::vector<std::string> bench_args{binary("count-bench"),
                                            "-h",
                                            "127.0.0.1",
                                            "-p",
                                            std::to_string(server.port()),
                                            "-n",
                                            "500",
                                            "-c",
                                            "2"};
  std::vector<std::string> automatic{binary("without_io_uring"), "--errno", "EPERM"};
  automatic.insert(automatic.end(), bench_args.begin(), bench_args.end());
  const RunResult fell_back = run(automatic, {}, 60s);
  ASSERT_TRUE(exited_with(fell_back, 0)) << fell_back.out << fell_back.err;
  EXPECT_NE(fell_back.out.find("2 connections on 1 thread (epoll)"), std::string::npos)
      << fell_back.out;
  EXPECT_NE(fell_back.out.find("epoll, since io_uring cannot be used here: io_uring_setup was "
                               "refused"),
            std::string::npos)
      << fell_back.out;

  std::vector<std::string> asked{binary("without_io_uring"), "--errno", "ENOSYS"};
  asked.insert(asked.end(), bench_args.begin(), bench_args.end());
  asked.insert(asked.end(), {"--io", "io_uring"});
  const RunResult refused = run(asked, {}, 60s);
  EXPECT_TRUE(exited_with(refused, 2)) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("count-bench: io_uring cannot be used: io_uring_setup was refused"),
            std::string::npos)
      << refused.err;
  EXPECT_EQ(server.stop(), 0);
}

TEST(BenchE2E, NoServerExitsTwo) {
  std::uint16_t port = 0;
  {
    ServerProcess server({"--in-memory"});
    port = server.port();
    server.stop();
  }
  const RunResult result = bench(port, {"-n", "10"});
  EXPECT_TRUE(exited_with(result, 2));
  EXPECT_NE(result.err.find("cannot connect"), std::string::npos) << result.err;
}

TEST(BenchE2E, UsageErrorsExitTwo) {
  EXPECT_TRUE(exited_with(run({binary("count-bench"), "--ratio", "incr:bogus=1:1"}), 2));
  EXPECT_TRUE(exited_with(run({binary("count-bench"), "-n", "5", "-d", "1"}), 2));
  const RunResult memcache =
      run({binary("count-bench"), "--protocol", "memcache", "--ratio", "incr:decr=1:1"});
  EXPECT_TRUE(exited_with(memcache, 2));
  EXPECT_NE(memcache.err.find("decr"), std::string::npos) << memcache.err;
  const RunResult ports =
      run({binary("count-bench"), "-h", "127.0.0.1,127.0.0.2,127.0.0.3", "-p", "1,2"});
  EXPECT_TRUE(exited_with(ports, 2));
  EXPECT_NE(ports.err.find("2 ports (-p) for 3"), std::string::npos) << ports.err;
  const RunResult unused = run({binary("count-bench"), "-h", "127.0.0.1:4444", "-p", "5"});
  EXPECT_TRUE(exited_with(unused, 2));
  EXPECT_NE(unused.err.find("-p is not used"), std::string::npos) << unused.err;
  const RunResult twice = run({binary("count-bench"), "-h", "127.0.0.1", "-p", "7,7"});
  EXPECT_TRUE(exited_with(twice, 2));
  EXPECT_NE(twice.err.find("listed twice"), std::string::npos) << twice.err;
  EXPECT_TRUE(exited_with(run({binary("count-bench"), "-p", "0"}), 2));
  const RunResult io = run({binary("count-bench"), "--io", "poll"});
  EXPECT_TRUE(exited_with(io, 2));
  EXPECT_NE(io.err.find("--io"), std::string::npos) << io.err;
  const RunResult tls = run({binary("count-bench"), "--io", "io_uring", "--tls"});
  EXPECT_TRUE(exited_with(tls, 2));
  EXPECT_NE(tls.err.find("--io io_uring is for plain TCP"), std::string::npos) << tls.err;
  const RunResult etcd = run({binary("count-bench"), "--protocol", "etcd", "--io", "epoll"});
  EXPECT_TRUE(exited_with(etcd, 2));
  EXPECT_NE(etcd.err.find("takes no --io"), std::string::npos) << etcd.err;
  EXPECT_TRUE(exited_with(run({binary("count-bench"), "--help"}), 0));
}

TEST(BenchE2E, RedisPassesThroughResp) {
  if (!std::filesystem::exists("/usr/bin/redis-server"))
    GTEST_SKIP() << "redis-server is not installed";
  const std::uint16_t port = free_port();
  OtherServer redis({"/usr/bin/redis-server", "--bind", "127.0.0.1", "--port", std::to_string(port),
                     "--save", "", "--appendonly", "no"},
                    port);
  const RunResult result =
      bench(redis.port(), {"--protocol", "resp", "-n", "2000", "-c", "3", "-P", "4", "--ratio",
                           "incr:decr:add:get=4:1:2:1", "--add-value", "-9"});
  EXPECT_TRUE(exited_with(result, 0));
  EXPECT_NE(result.out.find("counter check passed"), std::string::npos) << result.out;
}

TEST(BenchE2E, MemcachedPassesThroughItsTextProtocol) {
  if (!std::filesystem::exists("/usr/bin/memcached")) GTEST_SKIP() << "memcached is not installed";
  const std::uint16_t port = free_port();
  OtherServer memcached({"/usr/bin/memcached", "-l", "127.0.0.1", "-p", std::to_string(port), "-U",
                         "0", "-u", "root"},
                        port);
  const RunResult result =
      bench(memcached.port(), {"--protocol", "memcache", "-n", "2000", "-c", "3", "-P", "4",
                               "--ratio", "incr:add:get=4:2:1", "--add-value", "5"});
  EXPECT_TRUE(exited_with(result, 0));
  EXPECT_NE(result.out.find("counter check passed"), std::string::npos) << result.out;
}

}  // namespace
}  // namespace count::test
