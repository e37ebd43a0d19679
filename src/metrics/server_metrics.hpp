// The server's own part of the metrics page (docs/metrics.md): every loop's counters summed
// into one set of totals (the page and the debug log's activity line read the same sums), and
// their names, causes and help texts in Prometheus's text format. The stores write their own
// part (Store::write_metrics).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "metrics/loop_metrics.hpp"
#include "metrics/metrics.hpp"

namespace count {

// Every loop's counters added up, each read once, relaxed: a scrape is a moment, not a lock.
struct LoopTotals {
  template <std::size_t kRows>
  using Table = std::array<std::array<std::uint64_t, kReplyKinds>, kRows>;

  Table<kMaxCommandRows> requests{};
  Table<kMaxRespCommandRows> resp_requests{};
  std::array<std::uint64_t, static_cast<std::size_t>(ErrCause::kCount)> errors{};
  std::array<std::uint64_t, static_cast<std::size_t>(CloseCause::kCount)> closed{};
  std::uint64_t accepted = 0;
  std::uint64_t accepted_tls = 0;
  std::uint64_t refused = 0;
  std::uint64_t received_bytes = 0;
  std::uint64_t sent_bytes = 0;
  std::uint64_t handshakes = 0;

  // Adds one loop's counters.
  void add(const LoopMetrics& loop);

  // Every request answered, of both protocols; every err, of every cause.
  std::uint64_t all_requests() const;
  std::uint64_t all_errors() const;
};

// The names the request counters' rows stand for: row 0 is a request that names no known
// command, row r the command table's row r - 1.
struct CommandRows {
  std::span<const std::string_view> line;  // the line protocol's commands, in table order
  std::span<const std::string_view> resp;  // the Redis protocol's
};

// The server's state beside its loops' counters.
struct ServerState {
  std::size_t open_connections = 0;
  std::chrono::system_clock::time_point started;
  std::string_view version;
  std::uint64_t reloads = 0;         // SIGHUP reloads that took effect
  std::uint64_t failed_reloads = 0;  // ... that failed and changed nothing
  // When the serving TLS certificate expires; none without TLS.
  std::optional<std::chrono::system_clock::time_point> certificate_expiry;
};

// The loops' counters: requests, errors, connections, bytes, handshakes.
void write_loop_metrics(MetricsText& out, const LoopTotals& totals, const CommandRows& rows,
                        std::size_t open_connections);

// Reloads, the certificate's expiry, start time, uptime and build.
void write_server_metrics(MetricsText& out, const ServerState& state);

// The metrics' names of an err's cause and of a connection's end ("bad_argument", "quit").
std::string_view err_cause_name(ErrCause cause);
std::string_view close_cause_name(CloseCause cause);

}  // namespace count
