// Replies and their bytes (docs/protocol.md, "Commands"). Pure: no I/O; append_reply
// writes into the caller's buffer and never allocates once that buffer has room.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace count {

// Sequence number of the store state a reply depends on: the reply may leave only once the
// store has made that sequence durable. 0 depends on nothing.
using Seq = std::uint64_t;

struct Reply {
  enum class Kind { kOk, kVal, kErr, kQuit };

  Kind kind = Kind::kErr;
  std::int64_t value = 0;  // for kVal
  Seq seq = 0;

  static Reply ok(Seq seq) { return {Kind::kOk, 0, seq}; }
  static Reply val(std::int64_t value, Seq seq) { return {Kind::kVal, value, seq}; }
  // A refused mutation's err carries the seq of the state it was judged against: it tells
  // the client something about that state, so it waits for it like a `val` would.
  static Reply err(Seq seq = 0) { return {Kind::kErr, 0, seq}; }
  static Reply quit() { return {Kind::kQuit, 0, 0}; }

  friend bool operator==(const Reply&, const Reply&) = default;
};

// The longest reply line: "val -9223372036854775808\n".
inline constexpr std::size_t kMaxReplyBytes = 25;

// Appends the reply line, '\n' included.
void append_reply(const Reply& reply, std::string& out);

// Reads one reply line (without its '\n') as a client sees it; seq is always 0.
std::optional<Reply> parse_reply(std::string_view line);

}  // namespace count
