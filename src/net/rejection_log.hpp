// The server's account of the clients it turns away or cuts off: one log line per cause at
// most every `interval`, naming the peer, and a count of every event. A flood of bad clients
// costs a few lines, never one line each. Any thread; no lock.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace count {

enum class Rejection {
  kConnectionLimit,   // a connection past --max-connections
  kTlsHandshake,      // a TLS handshake failed (clear text, wrong certificate, cut)
  kHandshakeTimeout,  // a TLS handshake did not finish in time
  kWrongPassword,     // `auth` with a wrong password
  kNotAuthenticated,  // a request before `auth` on a server with a password
  kIdle,              // no request for --idle-timeout
  kStalledLine,       // part of a line, then nothing for --stall-timeout
  kUnreadReplies,     // replies not read for --stall-timeout
  kCount
};

// What the log says of each cause, e.g. "TLS handshake failed".
std::string_view describe(Rejection cause);

class RejectionLog {
 public:
  explicit RejectionLog(std::chrono::milliseconds interval = std::chrono::seconds(10));

  // Counts one event; logs "PEER: WHAT[: DETAIL]" as a warning unless this cause logged less
  // than `interval` ago. `peer` and `detail` are called only when the line is written, so a
  // flood costs no formatting.
  template <typename Peer, typename Detail>
  void note(Rejection cause, Peer&& peer, Detail&& detail) {
    Cause& c = causes_[static_cast<std::size_t>(cause)];
    c.total.fetch_add(1, std::memory_order_relaxed);
    if (!admit(c)) return;
    write(cause, peer(), detail(), c.unlogged.exchange(0, std::memory_order_relaxed));
  }

  std::uint64_t total(Rejection cause) const {
    return causes_[static_cast<std::size_t>(cause)].total.load(std::memory_order_relaxed);
  }

  // One line for the events of each cause that were counted but not logged.
  void flush();

  // Every cause that happened, with its count ("2 wrong password, 1 TLS handshake failed"),
  // or "" when none did.
  std::string summary() const;

 private:
  struct Cause {
    std::atomic<std::int64_t> next_line_ns{0};  // steady clock; 0: the first line goes now
    std::atomic<std::uint64_t> unlogged{0};
    std::atomic<std::uint64_t> total{0};
  };

  bool admit(Cause& cause);
  void write(Rejection cause, const std::string& peer, const std::string& detail,
             std::uint64_t unlogged);

  std::chrono::nanoseconds interval_;
  std::array<Cause, static_cast<std::size_t>(Rejection::kCount)> causes_{};
};

}  // namespace count
