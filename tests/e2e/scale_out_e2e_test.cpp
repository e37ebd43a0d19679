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

#include "support/etcd_cluster.hpp"
#include "support/front_end_load.hpp"
#include "support/history.hpp"
#include "support/process.hpp"

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

}  // namespace
}  // namespace count::test
