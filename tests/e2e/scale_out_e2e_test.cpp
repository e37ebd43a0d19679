// Three count-server front ends over one real three-member etcd cluster, under load from
// clients on every front end, while etcd members or a front end die: every acknowledged
// mutation is in the value, no mutation answered `err` is, every front end reads the same
// value, and the whole recorded history (every get and incr, with its invocation and
// completion times, across front ends) is linearizable. Each test has its own cluster;
// every loop is bounded in count and in time.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/counter.hpp"
#include "store/etcd_client.hpp"
#include "store/parts.hpp"
#include "support/etcd_cluster.hpp"
#include "support/front_end_load.hpp"
#include "support/history.hpp"
#include "support/process.hpp"
#include "support/wire.hpp"

namespace count::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kFrontEnds = 3;
constexpr int kClients = 6;
constexpr std::size_t kPipeline = 8;
// How long a request waits for etcd before its err: shorter than the outages below.
constexpr char kEtcdTimeoutMs[] = "1500";

class ScaleOutE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < kFrontEnds; ++i) {
      front_ends_.push_back(std::make_unique<ServerProcess>(
          std::vector<std::string>{"--etcd", cluster_.endpoints(), "--etcd-key", "/scale-out/value",
                                   "--etcd-timeout", kEtcdTimeoutMs, "--threads", "1"}));
    }
  }

  void TearDown() override {
    for (auto& front_end : front_ends_) {
      if (front_end->pid() > 0) {
        EXPECT_EQ(front_end->stop(SIGTERM), 0) << front_end->log();
      }
    }
  }

  // Runs kClients clients for `length`, each on its own front end first and on the next
  // one when its connection breaks; calls `fault` after a third of it and `heal` after two
  // thirds. Returns every client's tally added up.
  Tally run_load(std::chrono::milliseconds length, const std::function<void()>& fault,
                 const std::function<void()>& heal) {
    FrontEndLoad load(
        history_, kFrontEnds,
        [this](int index) -> std::optional<Client> {
          if (!alive_[static_cast<std::size_t>(index)]) return std::nullopt;
          try {
            Client client = front_ends_[static_cast<std::size_t>(index)]->connect();
            client.set_receive_timeout(20s);
            return client;
          } catch (const ClientError&) {
            return std::nullopt;
          }
        },
        kClients, kPipeline);
    return load.run(length, fault, heal);
  }

  // The value every running front end reads once the load is over: they must agree.
  std::int64_t agreed_value() {
    std::int64_t value = 0;
    bool first = true;
    for (auto& front_end : front_ends_) {
      if (front_end->pid() <= 0) continue;
      Client client = front_end->connect();
      client.set_receive_timeout(20s);
      const std::string reply = client.call("get");
      EXPECT_TRUE(reply.starts_with("val ")) << reply;
      if (!reply.starts_with("val ")) continue;
      const std::int64_t read = std::stoll(reply.substr(4));
      if (!first) {
        EXPECT_EQ(read, value) << "front ends disagree";
      }
      value = read;
      first = false;
    }
    return value;
  }

  // Stops a front end with SIGKILL; its clients move on to the others.
  void kill_front_end(int index) {
    alive_[static_cast<std::size_t>(index)] = false;
    front_ends_[static_cast<std::size_t>(index)]->stop(SIGKILL);
  }

  void expect_exact(const Tally& tally) {
    count::test::expect_exact(tally, history_, agreed_value(), 1000);
  }

  EtcdCluster cluster_;
  std::vector<std::unique_ptr<ServerProcess>> front_ends_;
  History history_;  // the counter starts at 0: each test has its own cluster

 private:
  std::array<std::atomic<bool>, kFrontEnds> alive_{true, true, true};
};

TEST_F(ScaleOutE2E, KillingAFollowerLosesNothing) {
  const std::optional<int> leader = cluster_.leader(10s);
  ASSERT_TRUE(leader.has_value()) << cluster_.logs();
  const int follower = (*leader + 1) % EtcdCluster::kMembers;
  const Tally tally = run_load(
      4500ms, [&] { cluster_.kill(follower); }, [&] { cluster_.start(follower); });
  expect_exact(tally);
}

TEST_F(ScaleOutE2E, KillingTheLeaderLosesNothing) {
  const std::optional<int> leader = cluster_.leader(10s);
  ASSERT_TRUE(leader.has_value()) << cluster_.logs();
  const Tally tally = run_load(
      4500ms, [&] { cluster_.kill(*leader); }, [&] { cluster_.start(*leader); });
  expect_exact(tally);
}

// No quorum: requests wait, then get err, and nothing they asked is applied; once two
// members are back, the same front ends serve again without a restart.
TEST_F(ScaleOutE2E, LosingQuorumGivesErrsThatChangeNothingAndServiceReturnsWithIt) {
  // Thirds of 4.5 s: a client whose requests are in the transaction in flight at the loss
  // waits it out, and the probes ask again after 2 s; requests after it get err in time.
  const Tally tally = run_load(
      13500ms,
      [&] {
        cluster_.stop(1);
        cluster_.stop(2);
      },
      [&] {
        cluster_.start(1);
        cluster_.start(2);
        EXPECT_TRUE(cluster_.wait_until_serving(20s)) << cluster_.logs();
      });
  expect_exact(tally);
  EXPECT_GT(tally.err_replies, 0) << "no request waited out the outage";
}

// A front end killed under load: its clients' requests in flight may or may not have been
// applied; every acknowledged one is, and nothing else is invented.
TEST_F(ScaleOutE2E, KillingAFrontEndLosesNoAcknowledgedMutation) {
  const Tally tally = run_load(
      4500ms, [&] { kill_front_end(2); }, [] {});
  EXPECT_EQ(tally.problem, "");
  const std::int64_t value = agreed_value();
  EXPECT_GE(value, tally.acknowledged);
  EXPECT_LE(value, tally.acknowledged + tally.unknown);
  EXPECT_GT(tally.ok_after_heal, 0);
  expect_linearizable(history_, value, 1000);
}

std::vector<std::string> front_end_args(const EtcdCluster& cluster, const std::string& key) {
  return {"--etcd", cluster.endpoints(), "--etcd-key", key, "--etcd-timeout", kEtcdTimeoutMs,
          "--threads", "1"};
}

// Every key under the counter's prefix, as etcd holds them now.
std::vector<EtcdKeyValue> children_of(EtcdClient& client, const std::string& key) {
  const PartsKeys keys(key);
  const EtcdTransacted read = client.read_ranges(
      {{EtcdOperation::Kind::kRange, keys.children(), keys.children_end(), "", 0}});
  EXPECT_EQ(read.status, TransactStatus::kThen) << read.error;
  return read.ranges.empty() ? std::vector<EtcdKeyValue>{} : read.ranges.front();
}

// An earlier version kept the counter in one key, and a record key per front end start: the
// first start of this one reads that key as the value, and its first rebalance deletes the
// records.
TEST(ScaleOutUpgrade, AnEarlierVersionsKeyIsTheValueAndItsRecordsAreDeleted) {
  EtcdCluster cluster;
  EtcdClientOptions options;
  options.endpoints = cluster.endpoints();
  EtcdClient client(options);
  const std::string key = "/upgrade/value";
  const EtcdCommit written =
      client.commit(key, 0, encode_counter(41), key + "/front-end/0011223344556677", "3");
  ASSERT_EQ(written.status, CommitStatus::kCommitted) << written.error;

  ServerProcess front_end(front_end_args(cluster, key));
  Client c = front_end.connect();
  EXPECT_EQ(c.call("get"), "val 41");
  EXPECT_EQ(c.call("incr"), "ok");
  EXPECT_EQ(c.call("get"), "val 42");
  for (const EtcdKeyValue& kv : children_of(client, key)) {
    EXPECT_EQ(kv.key.find("/front-end/"), std::string::npos) << kv.key << " is still there";
  }
  EXPECT_EQ(front_end.stop(SIGTERM), 0) << front_end.log();
}

// Front ends join and leave while another serves a client: every mutation counts once, and
// the parts of those that left are folded into the base by the next one to join, so the
// counter's keys never outgrow the front ends running.
TEST(ScaleOutChurn, FrontEndsJoiningAndLeavingUnderLoadLeaveNothingBehind) {
  constexpr int kJoins = 4;
  constexpr int kIncrementsEach = 20;
  EtcdCluster cluster;
  EtcdClientOptions options;
  options.endpoints = cluster.endpoints();
  EtcdClient client(options);
  const std::string key = "/churn/value";
  ServerProcess steady(front_end_args(cluster, key));

  std::atomic<bool> done{false};
  std::atomic<std::int64_t> acknowledged{0};
  std::string load_problem;
  std::thread load([&] {
    Client c = steady.connect();
    c.set_receive_timeout(20s);
    const std::string batch = repeat_line("incr", kPipeline);
    for (int i = 0; i < 100000 && !done.load(); ++i) {
      c.send(batch);
      for (std::size_t j = 0; j < kPipeline; ++j) {
        const std::optional<std::string> reply = c.read_line();
        if (reply != "ok") {
          load_problem = "incr answered " + reply.value_or("(closed)");
          return;
        }
        acknowledged.fetch_add(1);
      }
    }
  });
  std::size_t most_keys = 0;
  for (int join = 0; join < kJoins; ++join) {
    ServerProcess joining(front_end_args(cluster, key));
    Client c = joining.connect();
    c.set_receive_timeout(20s);
    for (int i = 0; i < kIncrementsEach; ++i) ASSERT_EQ(c.call("incr"), "ok");
    most_keys = std::max(most_keys, children_of(client, key).size());
    EXPECT_EQ(joining.stop(SIGTERM), 0) << joining.log();
  }
  done.store(true);
  load.join();
  EXPECT_EQ(load_problem, "");

  // One more joins: its first rebalance folds the last one that left.
  ServerProcess last(front_end_args(cluster, key));
  Client c = last.connect();
  EXPECT_EQ(c.call("incr"), "ok");
  const std::string value = c.call("get");
  EXPECT_EQ(value, "val " + std::to_string(acknowledged.load() + kJoins * kIncrementsEach + 1));
  std::vector<std::string> parts;
  for (const EtcdKeyValue& kv : children_of(client, key)) {
    if (kv.key.starts_with(key + "/part/")) parts.push_back(kv.key);
  }
  EXPECT_EQ(parts.size(), 2U) << "the steady front end's part and the last one's";
  // Each front end holds a part, a grant and an alive key; with the folded count, and one
  // that left not yet folded, a joining front end saw at most 3 * 3 + 1 keys.
  EXPECT_LE(most_keys, 10U);
  EXPECT_EQ(last.stop(SIGTERM), 0) << last.log();
  EXPECT_EQ(steady.stop(SIGTERM), 0) << steady.log();
}

}  // namespace
}  // namespace count::test
