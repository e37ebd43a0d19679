// count-bench over a real three-member etcd cluster: spread over two count-server front ends
// that share one key, and as the plain etcd client (--protocol etcd) that reads and
// compares-and-swaps; both pass their counter checks, and they store the value alike. Also a
// cluster without quorum, each plain client's own connections, and the usage errors. Every
// process started here is stopped by PID; every run is bounded by its request count and
// run()'s timeout.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "store/etcd_client.hpp"
#include "support/etcd_cluster.hpp"
#include "support/process.hpp"

namespace count::test {
namespace {

using namespace std::chrono_literals;

constexpr char kKey[] = "/bench/value";

RunResult bench(std::vector<std::string> args) {
  args.insert(args.begin(), binary("count-bench"));
  return run(args, {}, 90s);
}

// The number after "FIELD": in count-bench's JSON; fails the test when it is missing.
std::string json_field(const std::string& json, const std::string& field) {
  const std::regex pattern("\"" + field + "\":(-?[0-9.]+)");
  std::smatch match;
  EXPECT_TRUE(std::regex_search(json, match, pattern)) << field << " in " << json;
  return match.empty() ? "" : match[1].str();
}

std::vector<std::string> front_end_args(const EtcdCluster& cluster) {
  return {"--etcd", cluster.endpoints(), "--etcd-key", kKey, "--threads", "1"};
}

TEST(BenchEtcdE2E, TwoFrontEndsOverOneClusterPassWithConnectionsOnBoth) {
  EtcdCluster cluster;
  ServerProcess first(front_end_args(cluster));
  ServerProcess second(front_end_args(cluster));
  const std::string servers =
      "127.0.0.1:" + std::to_string(first.port()) + ",127.0.0.1:" + std::to_string(second.port());
  const RunResult result = bench({"-h", servers, "-n", "600", "-c", "4", "-P", "4", "--ratio",
                                  "incr:decr:add:get=4:1:2:1", "--add-value", "3", "--json"});
  EXPECT_TRUE(exited_with(result, 0));
  EXPECT_NE(result.out.find("\"passed\":true"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("\"servers_agree\":true"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("{\"address\":\"127.0.0.1:" + std::to_string(first.port()) +
                            "\",\"connections\":2}"),
            std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("{\"address\":\"127.0.0.1:" + std::to_string(second.port()) +
                            "\",\"connections\":2}"),
            std::string::npos)
      << result.out;
  EXPECT_EQ(json_field(result.out, "sent"), "600");
  // What count-bench read at the end is what both front ends hold.
  const std::string after = json_field(result.out, "after");
  EXPECT_EQ(first.connect().call("get"), "val " + after);
  EXPECT_EQ(second.connect().call("get"), "val " + after);

  // The text report names both servers and their agreement.
  const RunResult text = bench({"-h", servers, "-n", "200", "-c", "2"});
  EXPECT_TRUE(exited_with(text, 0));
  EXPECT_NE(text.out.find("2 servers"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("all 2 servers agree"), std::string::npos) << text.out;
  EXPECT_EQ(first.stop(), 0) << first.log();
  EXPECT_EQ(second.stop(), 0) << second.log();
}

TEST(BenchEtcdE2E, PlainEtcdClientsPassTheCounterCheckAndStoreWhatFrontEndsRead) {
  EtcdCluster cluster;
  const RunResult result =
      bench({"--protocol", "etcd", "-h", cluster.endpoints(), "--key", kKey, "-n", "300", "-c", "6",
             "--ratio", "incr:decr:add:get=4:1:2:1", "--add-value", "-5", "--json"});
  EXPECT_TRUE(exited_with(result, 0));
  EXPECT_NE(result.out.find("\"passed\":true"), std::string::npos) << result.out;
  EXPECT_EQ(json_field(result.out, "sent"), "300");
  EXPECT_EQ(json_field(result.out, "error_replies"), "0");
  EXPECT_EQ(json_field(result.out, "unknown_outcome"), "0");
  // Six clients on one key: compares are lost, and each loss is counted.
  EXPECT_NE(result.out.find("\"conflicts_per_mutation\":"), std::string::npos) << result.out;
  EXPECT_NE(json_field(result.out, "mutations"), "0");

  // A front end on the same key reads what the plain clients left, and carries on from it.
  ServerProcess front_end(front_end_args(cluster));
  const std::string after = json_field(result.out, "after");
  Client client = front_end.connect();
  EXPECT_EQ(client.call("get"), "val " + after);
  EXPECT_EQ(client.call("incr"), "ok");
  const RunResult again = bench({"--protocol", "etcd", "-h", cluster.endpoints(), "--key", kKey,
                                 "-n", "20", "-c", "2", "--json"});
  EXPECT_TRUE(exited_with(again, 0));
  EXPECT_EQ(json_field(again.out, "before"), std::to_string(std::stoll(after) + 1));

  // The text report: the retries line and the check.
  const RunResult text = bench(
      {"--protocol", "etcd", "-h", cluster.endpoint(0), "--key", kKey, "-n", "40", "-c", "3"});
  EXPECT_TRUE(exited_with(text, 0));
  EXPECT_NE(text.out.find("compare failures per mutation"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("counter check passed"), std::string::npos) << text.out;
  EXPECT_EQ(front_end.stop(), 0) << front_end.log();
}

TEST(BenchEtcdE2E, ByDurationWithWarmUpPasses) {
  EtcdCluster cluster;
  const RunResult result = bench({"--protocol", "etcd", "-h", cluster.endpoints(), "-d", "0.5",
                                  "--warmup", "0.2", "-c", "4", "--json"});
  EXPECT_TRUE(exited_with(result, 0));
  EXPECT_NE(result.out.find("\"passed\":true"), std::string::npos) << result.out;
  // Without --key, count-server's default key.
  EXPECT_NE(result.out.find("\"key\":\"/count-server/value\""), std::string::npos) << result.out;
}

TEST(BenchEtcdE2E, WithoutQuorumRequestsAreErrorRepliesAndNoCounterExitsTwo) {
  EtcdCluster cluster;
  cluster.kill(1);
  cluster.kill(2);
  // Each call waits one --timeout for a quorum that does not come.
  const RunResult unchecked = bench({"--protocol", "etcd", "-h", cluster.endpoints(), "-n", "4",
                                     "-c", "2", "--timeout", "0.5", "--no-counter-check"});
  EXPECT_TRUE(exited_with(unchecked, 1));
  EXPECT_NE(unchecked.out.find("0 good, 4 error"), std::string::npos) << unchecked.out;
  EXPECT_NE(unchecked.err.find("FAILED: 4 error reply(s)"), std::string::npos) << unchecked.err;

  const RunResult checked =
      bench({"--protocol", "etcd", "-h", cluster.endpoints(), "-n", "4", "--timeout", "0.5"});
  EXPECT_TRUE(exited_with(checked, 2));
  EXPECT_NE(checked.err.find("did not answer"), std::string::npos) << checked.err;
}

// This process's established TCP connections to `port`: the sockets among its open files
// whose remote end is that port, in /proc's tables for IPv4 and IPv6 (gRPC's sockets are
// dual-stack, so its connections to 127.0.0.1 are listed as IPv6).
int connections_to(std::uint16_t port) {
  std::set<std::string> own_sockets;
  for (const auto& fd : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ignored;
    const std::string target = std::filesystem::read_symlink(fd.path(), ignored).string();
    if (target.starts_with("socket:[")) own_sockets.insert(target.substr(8, target.size() - 9));
  }
  std::ostringstream hex;
  hex << ':' << std::uppercase << std::hex << std::setw(4) << std::setfill('0') << port;
  int count = 0;
  for (const char* path : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream table(path);
    std::string line;
    std::getline(table, line);  // the header
    for (int row = 0; row < 100000 && std::getline(table, line); ++row) {
      std::istringstream fields(line);
      std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
      fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
          timeout >> inode;
      if (remote.ends_with(hex.str()) && state == "01" && own_sockets.contains(inode)) ++count;
    }
  }
  return count;
}

TEST(BenchEtcdE2E, EachPlainClientHasConnectionsOfItsOwn) {
  EtcdCluster cluster;
  // Three clients on one member; returns how many connections to it they added. Each case
  // has a member of its own, so that connections closing after the other cannot count.
  const auto new_connections = [&](int member, bool own_connections) {
    const std::string endpoint = cluster.endpoint(member);
    const auto port =
        static_cast<std::uint16_t>(std::stoi(endpoint.substr(endpoint.rfind(':') + 1)));
    const int before = connections_to(port);
    std::vector<std::unique_ptr<EtcdClient>> clients;
    for (int i = 0; i < 3; ++i) {
      EtcdClientOptions options;
      options.endpoints = endpoint;
      options.timeout = 10s;
      options.own_connections = own_connections;
      clients.push_back(std::make_unique<EtcdClient>(options));
      EXPECT_TRUE(clients.back()->read("/bench/a", "/bench/b").ok());
    }
    return connections_to(port) - before;
  };
  EXPECT_EQ(new_connections(1, true), 3);
  // gRPC's default: channels alike share one connection.
  EXPECT_EQ(new_connections(2, false), 1);
}

TEST(BenchEtcdE2E, UsageErrorsExitTwo) {
  const std::string count_bench = binary("count-bench");
  const std::string endpoint = "http://127.0.0.1:2379";
  const auto expect_usage = [](const RunResult& result, const std::string& words) {
    EXPECT_TRUE(exited_with(result, 2));
    EXPECT_NE(result.err.find(words), std::string::npos) << result.err;
  };
  expect_usage(run({count_bench, "--protocol", "etcd", "-h", endpoint, "-P", "4"}), "-P");
  expect_usage(run({count_bench, "--protocol", "etcd", "-h", endpoint, "-p", "2379"}), "-p");
  expect_usage(run({count_bench, "--protocol", "etcd", "-h", endpoint, "-t", "2"}), "-t");
  expect_usage(run({count_bench, "--protocol", "etcd", "-h", "https://127.0.0.1:2379"}), "https");
  expect_usage(run({count_bench, "--protocol", "etcd", "-h", endpoint + ",,"}), "empty");
  expect_usage(run({count_bench, "--protocol", "etcd", "--key", ""}), "key");
}

}  // namespace
}  // namespace count::test
