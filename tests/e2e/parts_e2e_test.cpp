// The counter as parts over a real three-member etcd cluster (and over MemoryEtcd, shared by
// the threads), before any store uses it:
// front ends (threads) run rounds of mutations with the fast path within their grants and
// the slow path (freeze, judge exactly, rebalance) past them, near both ends of the range.
// The total must be exactly every applied mutation, no state may break the invariant, and
// a fast path may lose its compare only to another front end's freeze.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "store/escrow.hpp"
#include "store/etcd_client.hpp"
#include "store/etcd_txn_kv.hpp"
#include "store/parts.hpp"
#include "support/etcd_cluster.hpp"
#include "support/memory_etcd.hpp"

namespace count {
namespace {

using namespace std::chrono_literals;
using test::EtcdCluster;

constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
constexpr const char* kKey = "count/value";

struct FrontEndRun {
  __extension__ __int128 applied_sum = 0;
  int fast = 0;
  int slow = 0;
  int fast_lost = 0;     // fast paths whose grant had moved (another's freeze)
  int freezes_lost = 0;  // freezes or rebalances that lost to another slow path
  int refused = 0;       // mutations the slow path refused: past the range
  int grant_moves = 0;   // freezes and rebalances applied: each moves every grant
  std::vector<std::string> errors;
};

// The state from the last two Ranges of a branch.
std::optional<PartsState> state_from(const PartsKeys& keys, const EtcdTransacted& result,
                                     std::vector<std::string>& errors) {
  const std::size_t n = result.ranges.size();
  if (n < 2) {
    errors.push_back("a branch without the two reads");
    return std::nullopt;
  }
  std::string error;
  std::optional<PartsState> state =
      parse_parts(keys, result.revision, result.ranges[n - 2], result.ranges[n - 1], &error);
  if (!state) errors.push_back(error);
  if (state && !grants_hold(state->base, state->escrow_view())) {
    errors.push_back("a state that breaks the invariant");
  }
  return state;
}

// One front end: `rounds` rounds of 1 to 3 random deltas, every call bounded by the client's
// deadline, every retry loop by a count.
// `toward`: +1 or -1, the end of the range the deltas lean to.
void run_front_end(EtcdTxnKv& client, const std::string& id, int rounds, std::uint64_t seed,
                   int toward, FrontEndRun& run) {
  const PartsKeys keys(kKey);
  std::mt19937_64 random(seed);
  EtcdTransacted first = client.read_ranges(keys.read_all());
  if (first.status != TransactStatus::kThen) {
    run.errors.push_back("first read: " + first.error);
    return;
  }
  std::optional<PartsState> state = state_from(keys, first, run.errors);
  std::uint64_t txn = 0;
  for (int round = 0; round < rounds && state; ++round) {
    std::vector<std::int64_t> deltas(1 + random() % 3);
    for (std::int64_t& delta : deltas) {
      delta = toward * (static_cast<std::int64_t>(random() % 9) - 3);
    }
    bool done = false;
    for (int attempt = 0; attempt < 50 && !done && state; ++attempt) {
      const auto mine = state->front_ends.find(id);
      std::optional<std::int64_t> fits;
      if (mine != state->front_ends.end() && mine->second.grant) {
        fits = within_grant(mine->second.part.value, *mine->second.grant, deltas);
      }
      if (fits) {
        const EtcdTransacted result = client.transact(
            fast_path(keys, id, mine->second.grant_mod_revision, {*fits, ++txn}, 0));
        if (result.status == TransactStatus::kThen) {
          ++run.fast;
          for (const std::int64_t delta : deltas) run.applied_sum += delta;
          done = true;
        } else if (result.status == TransactStatus::kOtherwise) {
          ++run.fast_lost;
        } else {
          run.errors.push_back("fast path: " + result.error);
          return;
        }
        state = state_from(keys, result, run.errors);
        continue;
      }
      // The slow path: freeze, judge exactly, rebalance.
      const EtcdTransacted frozen_result = client.transact(freeze(keys, *state));
      if (frozen_result.status != TransactStatus::kThen &&
          frozen_result.status != TransactStatus::kOtherwise) {
        run.errors.push_back("freeze: " + frozen_result.error);
        return;
      }
      state = state_from(keys, frozen_result, run.errors);
      if (frozen_result.status == TransactStatus::kOtherwise) {
        ++run.freezes_lost;
        continue;
      }
      ++run.grant_moves;
      if (!state) return;
      const Judged judged = judge(state->total(), deltas);
      const Rebalanced rebalanced = rebalance(judged.total, state->escrow_view(id), id);
      const EtcdTransacted result =
          client.transact(rebalance_transaction(keys, *state, rebalanced, id, ++txn, 0));
      if (result.status != TransactStatus::kThen && result.status != TransactStatus::kOtherwise) {
        run.errors.push_back("rebalance: " + result.error);
        return;
      }
      state = state_from(keys, result, run.errors);
      if (result.status == TransactStatus::kOtherwise) {
        ++run.freezes_lost;
        continue;
      }
      ++run.slow;
      ++run.grant_moves;
      for (std::size_t i = 0; i < deltas.size(); ++i) {
        if (judged.applied[i]) {
          run.applied_sum += deltas[i];
        } else {
          ++run.refused;
        }
      }
      done = true;
    }
    if (!done && state) run.errors.push_back("a round found no way through in 50 attempts");
  }
}

// Where the parts live: a real cluster, each front end with a client of its own; or one
// MemoryEtcd for all.
class PartsE2E : public ::testing::TestWithParam<std::tuple<std::string, std::int64_t>> {
 protected:
  PartsE2E() {
    if (std::get<0>(GetParam()) == "cluster") {
      cluster_ = std::make_unique<EtcdCluster>();
    } else {
      memory_ = std::make_shared<test::MemoryEtcd>();
    }
  }
  std::shared_ptr<EtcdTxnKv> connect() {
    if (memory_) return memory_;
    return std::make_shared<EtcdClientTxnKv>(
        EtcdClientOptions{.endpoints = cluster_->endpoints(), .timeout = 5s});
  }

 private:
  std::unique_ptr<EtcdCluster> cluster_;
  std::shared_ptr<test::MemoryEtcd> memory_;
};

TEST_P(PartsE2E, FrontEndsWithinTheirGrantsNeverContendAndTheTotalIsExact) {
  const std::int64_t start = std::get<1>(GetParam());
  {
    const std::shared_ptr<EtcdTxnKv> kv = connect();
    EtcdTxnKv& client = *kv;
    EtcdTransaction setup;  // the single key of earlier versions, read as the base
    setup.then = {{EtcdOperation::Kind::kPut, kKey, "", encode_counter(start), 0},
                  {EtcdOperation::Kind::kPut, std::string(kKey) + "/front-end/old", "", "7", 0}};
    ASSERT_EQ(client.transact(setup).status, TransactStatus::kThen);
  }
  const std::vector<std::string> ids{"a", "b", "c"};
  std::vector<FrontEndRun> runs(ids.size());
  std::vector<std::shared_ptr<EtcdTxnKv>> clients;
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    clients.push_back(connect());
    threads.emplace_back(run_front_end, std::ref(*clients.back()), ids[i], 120, 1000 + i,
                         start < 0 ? -1 : 1, std::ref(runs[i]));
  }
  for (std::thread& thread : threads) thread.join();

  __extension__ __int128 expected = start;
  int fast = 0;
  int slow = 0;
  int fast_lost = 0;
  int refused = 0;
  int grant_moves = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    refused += runs[i].refused;
    grant_moves += runs[i].grant_moves;
    for (const std::string& error : runs[i].errors) ADD_FAILURE() << ids[i] << ": " << error;
    expected += runs[i].applied_sum;
    fast += runs[i].fast;
    slow += runs[i].slow;
    fast_lost += runs[i].fast_lost;
  }
  const std::shared_ptr<EtcdTxnKv> kv = connect();
  EtcdTxnKv& client = *kv;
  const PartsKeys keys(kKey);
  const EtcdTransacted read = client.read_ranges(keys.read_all());
  ASSERT_EQ(read.status, TransactStatus::kThen) << read.error;
  std::vector<std::string> errors;
  const std::optional<PartsState> state = state_from(keys, read, errors);
  ASSERT_TRUE(state.has_value()) << (errors.empty() ? "" : errors.front());
  EXPECT_TRUE(state->total() == expected);
  EXPECT_TRUE(state->old_records.empty());  // the first rebalance deleted it
  EXPECT_EQ(fast + slow, 360);
  // A fast path loses only when its grant moved: each freeze or rebalance moves every grant,
  // which stops at most the one fast path in flight of each other front end.
  EXPECT_LE(fast_lost, grant_moves * static_cast<int>(ids.size() - 1));
  // At either end the range rule was exercised; in the middle nothing comes near it.
  if (start != 0) {
    EXPECT_GT(refused, 0);
  } else {
    EXPECT_EQ(refused, 0);
  }
  RecordProperty("fast", fast);
  RecordProperty("slow", slow);
  RecordProperty("fast_lost", fast_lost);
  std::printf("start %lld: %d fast, %d slow, %d fast paths lost to a freeze, %d refused\n",
              static_cast<long long>(start), fast, slow, fast_lost, refused);
}

INSTANTIATE_TEST_SUITE_P(
    Starts, PartsE2E,
    ::testing::Combine(::testing::Values("cluster", "memory"),
                       ::testing::Values(kMin + 40, std::int64_t{0}, kMax - 40)),
    [](const ::testing::TestParamInfo<std::tuple<std::string, std::int64_t>>& param) {
      const std::int64_t start = std::get<1>(param.param);
      return std::get<0>(param.param) + (start < -1  ? "NearTheBottom"
                                         : start > 1 ? "NearTheTop"
                                                     : "AtZero");
    });

}  // namespace
}  // namespace count
