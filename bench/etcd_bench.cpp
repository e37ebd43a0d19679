// The etcd store's costs on loopback against a real three-member cluster with fsync on:
// starting the test cluster, one linearizable read, one conditional transaction. Measures
// only; a failed call aborts the run rather than being timed.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>

#include "store/etcd_client.hpp"
#include "support/etcd_cluster.hpp"

namespace count {
namespace {

using namespace std::chrono_literals;

// One cluster for the read and commit benchmarks, started on first use.
test::EtcdCluster& shared_cluster() {
  static test::EtcdCluster cluster;
  return cluster;
}

void BM_EtcdClusterStart(benchmark::State& state) {
  for (auto _ : state) {
    auto cluster = std::make_unique<test::EtcdCluster>();
    state.PauseTiming();
    cluster.reset();
    state.ResumeTiming();
  }
}
BENCHMARK(BM_EtcdClusterStart)->Iterations(5)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_EtcdRead(benchmark::State& state) {
  EtcdClient client({.endpoints = shared_cluster().endpoints(), .timeout = 5s});
  for (auto _ : state) {
    const EtcdRead read = client.read("bench/value", "bench/record");
    if (!read.ok()) {
      state.SkipWithError(read.error.c_str());
      break;
    }
  }
}
BENCHMARK(BM_EtcdRead)->Unit(benchmark::kMicrosecond)->UseRealTime();

// Each transaction builds on the previous one's revision, so every one commits: two puts
// through raft, on disk on a majority before the answer.
void BM_EtcdCommit(benchmark::State& state) {
  EtcdClient client({.endpoints = shared_cluster().endpoints(), .timeout = 5s});
  const EtcdRead start = client.read("bench/value", "bench/record");
  if (!start.ok()) {
    state.SkipWithError(start.error.c_str());
    return;
  }
  std::int64_t revision = start.key.mod_revision;
  std::int64_t value = start.key.exists ? decode_counter(start.key.value).value_or(0) : 0;
  for (auto _ : state) {
    ++value;
    const EtcdCommit commit =
        client.commit("bench/value", revision, encode_counter(value), "bench/record", "bench");
    if (commit.status != CommitStatus::kCommitted) {
      state.SkipWithError(commit.error.empty() ? "conflict" : commit.error.c_str());
      break;
    }
    revision = commit.revision;
  }
}
BENCHMARK(BM_EtcdCommit)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
}  // namespace count
