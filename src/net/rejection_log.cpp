#include "net/rejection_log.hpp"

#include <fmt/core.h>

#include "log/log.hpp"

namespace count {

std::string_view describe(Rejection cause) {
  switch (cause) {
    case Rejection::kConnectionLimit:
      return "refused: the connection limit is reached";
    case Rejection::kTlsHandshake:
      return "TLS handshake failed";
    case Rejection::kHandshakeTimeout:
      return "closed: the TLS handshake did not finish in time";
    case Rejection::kWrongPassword:
      return "wrong password";
    case Rejection::kNotAuthenticated:
      return "request before auth refused";
    case Rejection::kIdle:
      return "closed: idle for the idle timeout";
    case Rejection::kStalledLine:
      return "closed: part of a line, then nothing for the stall timeout";
    case Rejection::kUnreadReplies:
      return "closed: replies not read for the stall timeout";
    case Rejection::kCount:
      break;
  }
  return "?";
}

RejectionLog::RejectionLog(std::chrono::milliseconds interval) : interval_(interval) {}

bool RejectionLog::admit(Cause& cause) {
  const std::int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                               std::chrono::steady_clock::now().time_since_epoch())
                               .count();
  std::int64_t next = cause.next_line_ns.load(std::memory_order_relaxed);
  if (now >= next && cause.next_line_ns.compare_exchange_strong(next, now + interval_.count(),
                                                                std::memory_order_relaxed)) {
    return true;
  }
  cause.unlogged.fetch_add(1, std::memory_order_relaxed);
  return false;
}

void RejectionLog::write(Rejection cause, const std::string& peer, const std::string& detail,
                         std::uint64_t unlogged) {
  std::string line = fmt::format("{}: {}", peer, describe(cause));
  if (!detail.empty()) line += fmt::format(": {}", detail);
  if (unlogged > 0) {
    line += fmt::format(" (and {} more like it, not logged, since the last such line)", unlogged);
  }
  log_line(LogLevel::kWarning, line);
}

void RejectionLog::flush() {
  for (std::size_t i = 0; i < causes_.size(); ++i) {
    const std::uint64_t unlogged = causes_[i].unlogged.exchange(0, std::memory_order_relaxed);
    if (unlogged == 0) continue;
    log(LogLevel::kWarning, "{} more like \"{}\", not logged", unlogged,
        describe(static_cast<Rejection>(i)));
  }
}

std::string RejectionLog::summary() const {
  std::string text;
  for (std::size_t i = 0; i < causes_.size(); ++i) {
    const std::uint64_t total = causes_[i].total.load(std::memory_order_relaxed);
    if (total == 0) continue;
    if (!text.empty()) text += ", ";
    text += fmt::format("{} {}", total, describe(static_cast<Rejection>(i)));
  }
  return text;
}

}  // namespace count
