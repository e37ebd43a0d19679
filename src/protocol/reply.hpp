// Replies and their bytes (docs/protocol.md, "Commands"). Pure: no I/O; append_reply
// writes into the caller's buffer and never allocates once that buffer has room.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace count {

// Sequence number of the store state a reply depends on: the reply may leave only once the
// store has made that sequence durable. 0 depends on nothing.
using Seq = std::uint64_t;

struct LateReplies;

struct Reply {
  // kLater: the store decides the reply after the request was served (see LateReplies);
  // it is one of the four others by the time it may leave. Its seq is still the request's
  // place in the store's order.
  enum class Kind { kOk, kVal, kErr, kQuit, kLater };

  Kind kind = Kind::kErr;
  std::int64_t value = 0;  // for kVal; for kLater, the reply's index in `later`
  Seq seq = 0;
  std::shared_ptr<const LateReplies> later{};  // for kLater only

  static Reply ok(Seq seq) { return {Kind::kOk, 0, seq}; }
  static Reply val(std::int64_t value, Seq seq) { return {Kind::kVal, value, seq}; }
  // A refused mutation's err carries the seq of the state it was judged against: it tells
  // the client something about that state, so it waits for it like a `val` would.
  static Reply err(Seq seq = 0) { return {Kind::kErr, 0, seq}; }
  static Reply quit() { return {Kind::kQuit, 0, 0}; }
  static Reply late(std::shared_ptr<const LateReplies> batch, std::size_t index, Seq seq) {
    return {Kind::kLater, static_cast<std::int64_t>(index), seq, std::move(batch)};
  }

  // The reply that leaves: for kLater, the one the store decided (call it only once the
  // batch says it is decided); otherwise this one.
  const Reply& decided() const;

  friend bool operator==(const Reply&, const Reply&) = default;
};

// The replies of the requests a store took in one batch and answers only once the batch is
// done (a store over the network answers when its round trip ends). The store fills
// `replies`, then sets `decided` (release), and changes nothing after; a reader reads a
// reply only once it sees `decided` (acquire). Batches may be decided in any order.
struct LateReplies {
  std::vector<Reply> replies;
  std::atomic<bool> decided{false};
};

// The longest reply line: "val -9223372036854775808\n".
inline constexpr std::size_t kMaxReplyBytes = 25;

// Appends the reply line, '\n' included; a kLater reply must be decided().
void append_reply(const Reply& reply, std::string& out);

// Reads one reply line (without its '\n') as a client sees it; seq is always 0.
std::optional<Reply> parse_reply(std::string_view line);

}  // namespace count
