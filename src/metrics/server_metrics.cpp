#include "metrics/server_metrics.hpp"

namespace count {
namespace {

constexpr std::array<std::string_view, kReplyKinds> kReplyNames{"ok", "val", "err", "quit"};

template <std::size_t kRows>
void add_table(LoopTotals::Table<kRows>& totals,
               const std::array<std::array<MetricCounter, kReplyKinds>, kRows>& counters) {
  for (std::size_t row = 0; row < kRows; ++row) {
    for (std::size_t kind = 0; kind < kReplyKinds; ++kind) {
      totals[row][kind] += counters[row][kind].get();
    }
  }
}

template <std::size_t kRows>
std::uint64_t table_sum(const LoopTotals::Table<kRows>& table) {
  std::uint64_t total = 0;
  for (const auto& row : table) {
    for (const std::uint64_t count : row) total += count;
  }
  return total;
}

double seconds_since_epoch(std::chrono::system_clock::time_point when) {
  return std::chrono::duration<double>(when.time_since_epoch()).count();
}

}  // namespace

void LoopTotals::add(const LoopMetrics& loop) {
  add_table(requests, loop.requests);
  add_table(resp_requests, loop.resp_requests);
  for (std::size_t i = 0; i < errors.size(); ++i) errors[i] += loop.errors[i].get();
  for (std::size_t i = 0; i < closed.size(); ++i) closed[i] += loop.closed[i].get();
  accepted += loop.accepted.get();
  accepted_tls += loop.accepted_tls.get();
  refused += loop.refused.get();
  received_bytes += loop.received_bytes.get();
  sent_bytes += loop.sent_bytes.get();
  handshakes += loop.handshakes.get();
}

std::uint64_t LoopTotals::all_requests() const {
  return table_sum(requests) + table_sum(resp_requests);
}

std::uint64_t LoopTotals::all_errors() const {
  std::uint64_t total = 0;
  for (const std::uint64_t count : errors) total += count;
  return total;
}

void write_loop_metrics(MetricsText& out, const LoopTotals& totals, const CommandRows& rows,
                        std::size_t open_connections) {
  out.family("count_server_requests_total", "counter",
             "Requests answered, by protocol, by command (none: no known command word) and by "
             "reply.");
  // The replies a line command can get: err, and its own (only err for no command). Those
  // are shown even at 0; any other only once it happened.
  const auto own_reply = [](std::size_t row, std::string_view command) -> std::string_view {
    if (row == 0) return "err";
    if (command == "get") return "val";
    if (command == "quit") return "quit";
    return "ok";
  };
  for (std::size_t row = 0; row <= rows.line.size() && row < kMaxCommandRows; ++row) {
    const std::string_view command = row == 0 ? "none" : rows.line[row - 1];
    for (std::size_t kind = 0; kind < kReplyKinds; ++kind) {
      const std::uint64_t count = totals.requests[row][kind];
      if (count == 0 && kReplyNames[kind] != "err" &&
          kReplyNames[kind] != own_reply(row, command)) {
        continue;
      }
      const std::array<Label, 3> labels{Label{"protocol", "line"}, Label{"command", command},
                                        Label{"reply", kReplyNames[kind]}};
      out.sample("count_server_requests_total", labels, count);
    }
  }
  for (std::size_t row = 0; row <= rows.resp.size() && row < kMaxRespCommandRows; ++row) {
    const std::string_view command = row == 0 ? "none" : rows.resp[row - 1];
    for (std::size_t kind = 0; kind < kReplyKinds; ++kind) {
      const std::uint64_t count = totals.resp_requests[row][kind];
      // Only what was seen: the Redis table is long, and most of it is rarely asked.
      if (count == 0) continue;
      const std::array<Label, 3> labels{Label{"protocol", "resp"}, Label{"command", command},
                                        Label{"reply", kReplyNames[kind]}};
      out.sample("count_server_requests_total", labels, count);
    }
  }
  out.family("count_server_errors_total", "counter", "Replies err, by cause.");
  for (std::size_t cause = 1; cause < static_cast<std::size_t>(ErrCause::kCount); ++cause) {
    const std::array<Label, 1> labels{Label{"cause", err_cause_name(static_cast<ErrCause>(cause))}};
    out.sample("count_server_errors_total", labels, totals.errors[cause]);
  }
  out.gauge("count_server_connections_open", "Client connections open now.",
            static_cast<double>(open_connections));
  out.family("count_server_connections_accepted_total", "counter",
             "Client connections accepted, by port.");
  const std::array<Label, 1> plain{Label{"port", "plain"}};
  const std::array<Label, 1> tls{Label{"port", "tls"}};
  out.sample("count_server_connections_accepted_total", plain,
             totals.accepted - totals.accepted_tls);
  out.sample("count_server_connections_accepted_total", tls, totals.accepted_tls);
  out.counter("count_server_connections_refused_total",
              "Connections refused past --max-connections (each got err and was closed).",
              totals.refused);
  out.family("count_server_connections_closed_total", "counter",
             "Client connections ended, by cause.");
  for (std::size_t cause = 0; cause < static_cast<std::size_t>(CloseCause::kCount); ++cause) {
    const std::array<Label, 1> labels{
        Label{"cause", close_cause_name(static_cast<CloseCause>(cause))}};
    out.sample("count_server_connections_closed_total", labels, totals.closed[cause]);
  }
  out.counter("count_server_tls_handshakes_total", "TLS handshakes completed.", totals.handshakes);
  out.counter("count_server_received_bytes_total", "Bytes received from clients (inside TLS).",
              totals.received_bytes);
  out.counter("count_server_sent_bytes_total", "Bytes sent to clients (inside TLS).",
              totals.sent_bytes);
}

void write_server_metrics(MetricsText& out, const ServerState& state) {
  out.counter("count_server_reloads_total",
              "SIGHUP reloads of the TLS files and the password file that took effect.",
              state.reloads);
  out.counter("count_server_reload_failures_total",
              "SIGHUP reloads that failed (a file did not load) and changed nothing.",
              state.failed_reloads);
  if (state.certificate_expiry) {
    out.gauge("count_server_tls_certificate_expiry_timestamp_seconds",
              "When the certificate the TLS port serves expires, in Unix time.",
              seconds_since_epoch(*state.certificate_expiry));
  }
  out.gauge("count_server_start_time_seconds", "When the server started, in Unix time.",
            seconds_since_epoch(state.started));
  out.gauge(
      "count_server_uptime_seconds", "Seconds since the server started.",
      std::chrono::duration<double>(std::chrono::system_clock::now() - state.started).count());
  out.family("count_server_build_info", "gauge", "The server's version, as a label; always 1.");
  const std::array<Label, 1> version{Label{"version", state.version}};
  out.sample("count_server_build_info", version, std::uint64_t{1});
}

std::string_view err_cause_name(ErrCause cause) {
  switch (cause) {
    case ErrCause::kNone:
      return "other";
    case ErrCause::kUnknownCommand:
      return "unknown_command";
    case ErrCause::kBadArgument:
      return "bad_argument";
    case ErrCause::kOverflow:
      return "overflow";
    case ErrCause::kLineTooLong:
      return "line_too_long";
    case ErrCause::kNotPrintable:
      return "not_printable";
    case ErrCause::kNotAuthenticated:
      return "not_authenticated";
    case ErrCause::kWrongPassword:
      return "wrong_password";
    case ErrCause::kNoPassword:
      return "no_password";
    case ErrCause::kStoreUnavailable:
      return "store_unavailable";
    case ErrCause::kConnectionLimit:
      return "connection_limit";
    case ErrCause::kBadRequest:
      return "bad_request";
    case ErrCause::kNoSuchKey:
      return "no_such_key";
    case ErrCause::kTransaction:
      return "transaction";
    case ErrCause::kCount:
      break;
  }
  return "?";
}

std::string_view close_cause_name(CloseCause cause) {
  switch (cause) {
    case CloseCause::kClient:
      return "client";
    case CloseCause::kQuit:
      return "quit";
    case CloseCause::kBroken:
      return "broken";
    case CloseCause::kShutdown:
      return "shutdown";
    case CloseCause::kIdle:
      return "idle_timeout";
    case CloseCause::kStalledLine:
      return "stalled_line";
    case CloseCause::kUnreadReplies:
      return "unread_replies";
    case CloseCause::kHandshakeTimeout:
      return "handshake_timeout";
    case CloseCause::kHandshakeFailed:
      return "handshake_failed";
    case CloseCause::kCount:
      break;
  }
  return "?";
}

}  // namespace count
