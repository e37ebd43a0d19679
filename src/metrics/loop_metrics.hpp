// What one event loop counts (docs/metrics.md). Only the loop's thread writes a loop's
// counters; a scrape reads every loop's and sums them. Each loop's block starts on a cache
// line of its own, so no two loops ever write to the same line.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "core/reply.hpp"
#include "metrics/metrics.hpp"

namespace count {

// Rows of the command table, plus row 0 for requests that name no command.
inline constexpr std::size_t kMaxCommandRows = 8;

// Rows of the Redis command table, plus row 0 for unknown commands.
inline constexpr std::size_t kMaxRespCommandRows = 32;

// The replies a client can see: ok, val, err, quit (over RESP: a counter's value read is
// val, an error err, QUIT quit, anything else ok).
inline constexpr std::size_t kReplyKinds = 4;

// Why a connection ended.
enum class CloseCause : std::uint8_t {
  kClient,            // the client closed it (after its replies were sent)
  kQuit,              // after `quit`
  kBroken,            // a reset or another socket error
  kShutdown,          // the server stopped
  kIdle,              // --idle-timeout
  kStalledLine,       // --stall-timeout, in the middle of a line
  kUnreadReplies,     // --stall-timeout, replies not read
  kHandshakeTimeout,  // --handshake-timeout
  kHandshakeFailed,   // the TLS handshake failed
  kCount
};

struct alignas(64) LoopMetrics {
  // requests[command row][reply kind], of the line protocol; resp_requests, of the Redis
  // protocol, by the rows of its own table.
  std::array<std::array<MetricCounter, kReplyKinds>, kMaxCommandRows> requests;
  std::array<std::array<MetricCounter, kReplyKinds>, kMaxRespCommandRows> resp_requests;
  std::array<MetricCounter, static_cast<std::size_t>(ErrCause::kCount)> errors;
  std::array<MetricCounter, static_cast<std::size_t>(CloseCause::kCount)> closed;
  MetricCounter accepted;        // by the loop that accepts (loop 0)
  MetricCounter accepted_tls;    // of those, on the TLS port
  MetricCounter refused;         // past --max-connections, by the loop that accepts
  MetricCounter received_bytes;  // from clients, after TLS
  MetricCounter sent_bytes;      // to clients, before TLS
  MetricCounter handshakes;      // TLS handshakes that succeeded

  // Counts one reply that leaves (kLater: the one decided), for the request's command row.
  void count(const Reply& reply, std::uint8_t command) { count_in(requests, reply, command); }
  void count_resp(const Reply& reply, std::uint8_t command) {
    count_in(resp_requests, reply, command);
  }

 private:
  template <std::size_t kRows>
  void count_in(std::array<std::array<MetricCounter, kReplyKinds>, kRows>& table,
                const Reply& reply, std::uint8_t command) {
    const Reply& final = reply.kind == Reply::Kind::kLater ? reply.decided() : reply;
    // ok, val, err and quit are the first four kinds, in the order of kReplyKinds.
    table[command < kRows ? command : 0][static_cast<std::size_t>(final.kind) & 3].add();
    if (final.kind == Reply::Kind::kErr && final.cause != ErrCause::kNone) {
      errors[static_cast<std::size_t>(final.cause)].add();
    }
  }
};

}  // namespace count
