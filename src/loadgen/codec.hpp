// The bytes of count-bench's requests and replies in each wire protocol it speaks: our line
// protocol (docs/protocol.md), Redis' RESP and memcached's text protocol, one key each.
// Pure: no I/O. Requests are encoded once, up front; parse() reads from the caller's buffer
// and never allocates, so a reply split anywhere is just "need more".
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "loadgen/command_mix.hpp"

namespace count {

enum class WireProtocol : std::uint8_t { kLine, kResp, kMemcache };

std::string_view protocol_name(WireProtocol protocol);
std::optional<WireProtocol> protocol_from_name(std::string_view name);

// One reply as it came off the wire.
struct WireReply {
  enum class Kind : std::uint8_t {
    kNeedMore,   // the buffer holds only the start of a reply
    kOk,         // a plain acknowledgement: "ok", "+OK", "STORED"
    kInteger,    // a number: "val N", ":N", a bulk or memcached value holding N
    kNil,        // no value: RESP "$-1", memcached "END" alone
    kError,      // the server refused: "err", "-ERR ...", "ERROR", "CLIENT_ERROR ..."
    kMalformed,  // a whole reply that is none of the above; the stream can go on
    kBroken,     // bytes the reply grammar cannot follow; nothing after them can be trusted
  };

  Kind kind = Kind::kNeedMore;
  std::int64_t value = 0;    // for kInteger
  std::size_t consumed = 0;  // bytes of this reply; 0 for kNeedMore
};

// What a reply means for the request it answers.
enum class Verdict : std::uint8_t {
  kGood,        // the right kind: a mutation acknowledged, or a value read
  kErrorReply,  // the server answered with an error
  kUnexpected,  // a reply of the wrong kind for this request, or malformed
};

// Longest reply line accepted; past it without a line end the stream is kBroken.
inline constexpr std::size_t kMaxWireReplyBytes = 4096;

class Codec {
 public:
  // On a combination the server cannot do (memcached has no decr below 0 and no add of a
  // negative number; a key it cannot store), returns nothing and sets `error`.
  static std::optional<Codec> make(WireProtocol protocol, std::string_view key,
                                   std::int64_t add_value, const CommandMix& mix,
                                   std::string& error);

  WireProtocol protocol() const { return protocol_; }

  // The request bytes for `op`, valid as long as the codec.
  std::string_view request(Op op) const { return requests_[static_cast<std::size_t>(op)]; }
  std::size_t max_request_bytes() const;

  // Bytes to send before the run so that the key exists (memcached: set it to 0), and the
  // reply kind that confirms it; empty when nothing is needed.
  std::string_view setup_request() const { return setup_; }

  // The request that logs in with `password` (our `auth`, Redis' AUTH), whose reply is kOk
  // when the server accepts it; empty for memcached, whose text protocol has none.
  std::string auth_request(std::string_view password) const;

  // Reads the first reply in `bytes`.
  WireReply parse(std::string_view bytes) const;

  // Judges a reply to a request for `op`.
  Verdict judge(Op op, const WireReply& reply) const;

  // The counter a `get` reply reports (a RESP nil reads as 0), or nothing if the reply
  // does not report one.
  std::optional<std::int64_t> value_of(const WireReply& reply) const;

 private:
  WireReply parse_line(std::string_view bytes) const;
  WireReply parse_resp(std::string_view bytes) const;
  WireReply parse_memcache(std::string_view bytes) const;

  WireProtocol protocol_ = WireProtocol::kLine;
  std::array<std::string, kOpCount> requests_;
  std::string setup_;
};

}  // namespace count
