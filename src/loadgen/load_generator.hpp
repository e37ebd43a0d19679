// count-bench's engine: connections spread over threads, each thread its own io_context,
// and over the servers in turn, each connection keeping `pipeline` requests in flight and
// checking every reply. After the connections are open (TLS handshake and password
// included), no request allocates: buffers and rings are sized up front. (Over TLS, OpenSSL
// 3.0 itself still takes and frees 40 bytes for each record it builds; nothing here does.)
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "client/client.hpp"
#include "loadgen/codec.hpp"
#include "loadgen/command_mix.hpp"
#include "loadgen/counter_check.hpp"
#include "loadgen/histogram.hpp"
#include "loadgen/server_list.hpp"

namespace count {

// The server cannot be reached (or a connection cannot be opened, its TLS handshake fails,
// or it refuses the password); what() names it.
class ConnectError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A reply the checks need (the counter's value, the memcached key's creation) did not come
// or was not what it should be; what() says which.
class ProbeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using Seconds = std::chrono::duration<double>;

// What every connection does before its first request, the checks' as much as the load's.
struct ConnectionSetup {
  std::optional<ClientTls> tls;  // TLS, verified as ClientTls says; none: plain TCP
  std::string password;          // sent as the codec's auth_request(); empty: none
};

// How a worker waits for its sockets. io_uring: one ring per worker thread, each turn's
// sends and receives submitted with the wait that ends it (plain TCP only; TLS runs on
// epoll); auto: io_uring where the kernel allows it, else epoll.
enum class LoadIo { kAuto, kIoUring, kEpoll };

// Why io_uring cannot be used by this process (the kernel, a seccomp profile, a limit), or
// nothing when it can.
std::optional<std::string> load_io_uring_unavailable();

struct LoadOptions {
  // Connection i goes to servers[i % servers.size()]; at least one.
  std::vector<ServerAddress> servers{{kDefaultServerHost, kDefaultServerPort}};
  unsigned connections = 50;
  unsigned threads = 1;        // at most `connections` are used
  unsigned pipeline = 1;       // requests in flight per connection
  std::uint64_t requests = 0;  // in all; 0: run for `duration` after `warmup`
  Seconds duration{0};
  Seconds warmup{0};
  // A worker that gets no reply for this long while it waits for one gives up: its
  // connections count as broken.
  std::chrono::milliseconds reply_timeout{10000};
  // TLS and password. Connections are set up, all at once, within reply_timeout, before
  // the clock starts.
  ConnectionSetup setup;
  LoadIo io = LoadIo::kAuto;  // io_uring asked for where it cannot run: ConnectError
};

// What the progress callback sees, about once per interval.
struct Progress {
  Seconds elapsed{0};
  std::uint64_t replies = 0;  // all so far, warm-up included
  bool warming_up = false;
};

struct LoadResult {
  Histogram latency_ns;        // replies received inside the measured window
  std::uint64_t measured = 0;  // how many those are
  Seconds window{0};           // the measured window: -d, or first send to last reply
  std::uint64_t sent = 0;      // every request, warm-up included
  std::uint64_t good = 0;      // replies of the right kind
  std::uint64_t error_replies = 0;
  std::uint64_t unexpected = 0;      // wrong kind, malformed, or a reply nobody asked for
  Acknowledged acked;                // mutations acknowledged, warm-up included
  std::uint64_t lost_in_flight = 0;  // requests whose connection broke before the reply
  std::uint64_t lost_mutations = 0;  // of those, mutations: the server may or may not have run them
  unsigned broken_connections = 0;
  bool timed_out = false;
  std::string first_problem;  // the first bad reply or broken connection, for people
  bool on_io_uring = false;   // the workers waited on io_uring (else epoll)
  std::string io_note;        // why not io_uring, under --io auto; empty otherwise

  double throughput() const {
    return window.count() > 0 ? static_cast<double>(measured) / window.count() : 0.0;
  }
  bool clean() const {
    return error_replies == 0 && unexpected == 0 && lost_in_flight == 0 &&
           broken_connections == 0 && !timed_out;
  }
};

class LoadGenerator {
 public:
  // `codec` and `mix` must outlive the generator.
  LoadGenerator(LoadOptions options, const Codec& codec, const CommandMix& mix);

  // Opens every connection, runs the load, closes them. Blocks; calls `on_progress` from
  // the calling thread about every `every`. Throws ConnectError when a connection cannot
  // be opened (nothing has been sent then).
  LoadResult run(const std::function<void(const Progress&)>& on_progress,
                 std::chrono::milliseconds every = std::chrono::milliseconds(1000));

 private:
  LoadOptions options_;
  const Codec& codec_;     // owned by the caller
  const CommandMix& mix_;  // owned by the caller
};

// On a connection of its own, set up as `setup` says: sends the codec's setup request, if
// any, and checks its reply. Throws ConnectError or ProbeError.
void prepare_counter(const ServerAddress& server, const Codec& codec, const ConnectionSetup& setup,
                     std::chrono::milliseconds timeout);

// On a connection of its own, set up as `setup` says: reads the counter with one `get`.
// Throws ConnectError or ProbeError (the reply is not a value).
std::int64_t read_counter(const ServerAddress& server, const Codec& codec,
                          const ConnectionSetup& setup, std::chrono::milliseconds timeout);

}  // namespace count
