// count-bench's etcd baseline: what an etcd user without an atomic increment does. Each
// connection is one synchronous client, with TCP connections of its own to the members, on
// a thread of its own with one request in flight: a mutation is a linearizable read of the
// key and a compare-and-swap on its mod_revision, again from the read whenever the compare
// fails; a get is one linearizable read. The value is stored as count-server stores its
// base (and earlier versions the whole counter): front ends keep parts beside it, so plain
// clients need a key of their own.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "loadgen/command_mix.hpp"
#include "loadgen/load_generator.hpp"
#include "store/etcd_client.hpp"

namespace count {

struct EtcdLoadOptions {
  EtcdClientOptions client;  // the cluster, and the deadline of each call
  std::string key;           // the value key
  unsigned connections = 50;
  std::uint64_t requests = 0;  // in all; 0: run for `duration` after `warmup`
  Seconds duration{0};
  Seconds warmup{0};
  std::int64_t add_value = 1;
};

struct EtcdLoadResult {
  // good: committed mutations and answered reads. error_replies: requests that failed (a
  // call without an answer in time, a counter that would leave int64), unknown outcomes
  // included. unexpected: the key held bytes that are not a counter value.
  LoadResult load;
  // Compares lost inside the measured window (each followed by a new read), and mutations
  // committed inside it. Both are counted when they happen, so that their ratio is the
  // steady state's, including the retries of requests still going at the end.
  std::uint64_t measured_conflicts = 0;
  std::uint64_t measured_mutations = 0;
  std::uint64_t max_conflicts = 0;  // the most one request lost, over the whole run
  // Of the error replies: mutations whose compare-and-swap was sent and got no answer, so
  // that etcd may or may not have applied it.
  std::uint64_t unknown_outcome = 0;

  double conflicts_per_mutation() const {
    return measured_mutations > 0
               ? static_cast<double>(measured_conflicts) / static_cast<double>(measured_mutations)
               : 0.0;
  }
};

class EtcdLoadGenerator {
 public:
  // `mix` must outlive the generator. The endpoints must be valid (see etcd_grpc_target()).
  EtcdLoadGenerator(EtcdLoadOptions options, const CommandMix& mix);

  // Starts one client and one thread per connection, runs the load, joins them. Blocks;
  // calls `on_progress` from the calling thread about every `every`. Clients connect
  // lazily, so an unreachable cluster shows as error replies, each after the deadline.
  EtcdLoadResult run(const std::function<void(const Progress&)>& on_progress,
                     std::chrono::milliseconds every = std::chrono::milliseconds(1000));

 private:
  EtcdLoadOptions options_;
  const CommandMix& mix_;  // owned by the caller
};

// The counter in `key`, by one linearizable read on a client of its own: 0 while the key
// does not exist. Throws ConnectError when the cluster does not answer within the options'
// deadline, and ProbeError when the key holds something that is not a counter value.
std::int64_t read_etcd_counter(const EtcdClientOptions& options, std::string_view key);

}  // namespace count
