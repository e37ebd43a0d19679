// What a request gets (docs/protocol.md, "Commands"), decided at once or later by a store,
// and the sequence numbers that order the store's states. Below both the protocol, which
// turns a reply into bytes (protocol/reply.hpp, protocol/resp.hpp), and the stores, which
// decide replies: neither reaches into the other for them.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace count {

// Sequence number of the store state a reply depends on: the reply may leave only once the
// store has made that sequence durable. 0 depends on nothing.
using Seq = std::uint64_t;

struct LateReplies;

// Why a reply is `err`, for the metrics (docs/metrics.md); the client sees `err` only.
enum class ErrCause : std::uint8_t {
  kNone,
  kUnknownCommand,    // an unknown command word, or a blank line
  kBadArgument,       // a missing or extra argument, or one that is not an integer
  kOverflow,          // the result would leave the int64 range
  kLineTooLong,       // past 4096 bytes
  kNotPrintable,      // a byte that is not printable ASCII
  kNotAuthenticated,  // a request before `auth` on a server with a password
  kWrongPassword,     // `auth` with a wrong password
  kNoPassword,        // `auth` on a server without a password
  kStoreUnavailable,  // the store could not serve it in time (etcd)
  kConnectionLimit,   // a connection past the limit (its one `err` before the close)
  kBadRequest,        // a malformed request of the Redis protocol (the connection closes)
  kNoSuchKey,         // a Redis request on a key other than the counter's
  kTransaction,       // a Redis transaction misused (EXEC without MULTI, EXECABORT, ...)
  kCount
};

struct Reply {
  // kLater: the store decides the reply after the request was served (see LateReplies);
  // it is one of the four others by the time it may leave. Its seq is still the request's
  // place in the store's order.
  // The first four in this order: the metrics index by it.
  enum class Kind { kOk, kVal, kErr, kQuit, kLater };

  // How RESP shows a kLater reply once decided: as it is; as "+OK" (WATCH, whose decided
  // reply holds the version watched); or as an EXEC's array (see Transacted in store.hpp).
  enum class Shape : std::uint8_t { kPlain, kOkOnly, kExec };

  Kind kind = Kind::kErr;
  ErrCause cause = ErrCause::kNone;  // for kErr
  // Which command a kLater reply answers, for the metrics once it is decided: 1 + its row in
  // the command table; 0 for a request that names none.
  std::uint8_t command = 0;
  // For kVal the value read, for a mutation's kOk the value it produced; for kLater, the
  // reply's index in `later`.
  std::int64_t value = 0;
  Seq seq = 0;
  std::shared_ptr<const LateReplies> later{};  // for kLater only
  Shape shape = Shape::kPlain;                 // for kLater only

  // A mutation's ok carries the value it produced (RESP's INCR answers it; `ok` does not).
  static Reply ok(Seq seq, std::int64_t value = 0) {
    return {Kind::kOk, ErrCause::kNone, 0, value, seq};
  }
  static Reply val(std::int64_t value, Seq seq) {
    return {Kind::kVal, ErrCause::kNone, 0, value, seq};
  }
  // A refused mutation's err carries the seq of the state it was judged against: it tells
  // the client something about that state, so it waits for it like a `val` would.
  static Reply err(Seq seq = 0, ErrCause cause = ErrCause::kNone) {
    return {Kind::kErr, cause, 0, 0, seq};
  }
  static Reply err(ErrCause cause) { return err(0, cause); }
  static Reply quit() { return {Kind::kQuit, ErrCause::kNone, 0, 0, 0}; }
  static Reply late(std::shared_ptr<const LateReplies> batch, std::size_t index, Seq seq) {
    return {Kind::kLater, ErrCause::kNone, 0, static_cast<std::int64_t>(index),
            seq,          std::move(batch)};
  }

  // The reply that leaves: for kLater, the one the store decided (call it only once the
  // batch says it is decided); otherwise this one.
  const Reply& decided() const;

  // What the client can tell apart, and the seq: the cause and the command are bookkeeping.
  friend bool operator==(const Reply& a, const Reply& b) {
    return a.kind == b.kind && a.value == b.value && a.seq == b.seq && a.later == b.later;
  }
};

// The replies of the requests a store took in one batch and answers only once the batch is
// done (a store over the network answers when its round trip ends). The store fills
// `replies`, then sets `decided` (release), and changes nothing after; a reader reads a
// reply only once it sees `decided` (acquire). Batches may be decided in any order.
struct LateReplies {
  std::vector<Reply> replies;
  std::atomic<bool> decided{false};
};

inline const Reply& Reply::decided() const {
  if (kind != Kind::kLater) return *this;
  return later->replies[static_cast<std::size_t>(value)];
}

}  // namespace count
