// The Redis protocol (RESP 2 and 3) as far as count-server speaks it (docs/protocol.md, "The
// Redis protocol"): requests are arrays of bulk strings, cut from a byte stream by a
// resumable parser; replies are written by small functions. Pure: no I/O, no threads; the
// parser keeps at most kMaxRespRequestBytes of an unfinished request and checks every
// length before it trusts it, so memory stays bounded whatever the lengths claim.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/reply.hpp"

namespace count {

// The longest request, in bytes on the wire (headers included), as for a request line.
inline constexpr std::size_t kMaxRespRequestBytes = 4096;

// Which of the shortcuts (RespShortcuts) a request was taken by: then it is known to be that
// command on the counter's key, with nothing left to check but the connection's state.
enum class RespShortcut : std::uint8_t { kNone, kGet, kIncr, kDecr };
// Their commands, in that order (RespShortcut - 1), as clients send them. Their first letters
// differ: RespShortcuts::match tells them apart by it.
inline constexpr std::array<std::string_view, 3> kRespShortcutNames{"GET", "INCR", "DECR"};

// The requests Redis clients send far more than any other, byte for byte as they send them:
// GET, INCR and DECR of the counter's key, the command in capitals. RespParser takes one of
// them whole with one comparison, instead of reading its lengths and its words one by one;
// anything else (lower case, another key, a request cut short) goes the long way, to the
// same words.
class RespShortcuts {
 public:
  RespShortcuts() = default;  // none
  explicit RespShortcuts(std::string_view key);

  // When `data` starts with one of them: its size in bytes, its words (views into `data`)
  // in `words`, and which it is in *which when `which` is given; otherwise 0, and `words`
  // and *which as they were.
  std::size_t match(std::string_view data, std::vector<std::string_view>& words,
                    RespShortcut* which = nullptr) const;

 private:
  struct Shortcut {
    std::string bytes;            // the whole request
    std::size_t name_length = 0;  // of the command, at offset 8 ("*2\r\n$N\r\n")
    std::size_t key_offset = 0;
  };
  std::vector<Shortcut> shortcuts_;  // GET, INCR, DECR; or none
  std::size_t key_length_ = 0;
};

class RespParser {
 public:
  enum class Event { kRequest, kError };

  // `shortcuts`, when given, must outlive the parser.
  explicit RespParser(const RespShortcuts* shortcuts = nullptr) : shortcuts_(shortcuts) {}

  // Calls sink(Event, std::span<const std::string_view> words) for each request that `bytes`
  // completes, in order; the words are valid only during the call. A malformed request
  // gives one kError (with no words; error() says what) and the parser takes nothing more.
  // Empty arrays (*0, *-1) are skipped, as Redis does. The sink returns false to stop: feed
  // then returns false, and the rest of `bytes` is left in *rest when `rest` is given.
  template <typename Sink>
  bool feed(std::string_view bytes, Sink&& sink, std::string_view* rest = nullptr);

  // True while an unfinished request is held.
  bool mid_request() const { return !partial_.empty(); }
  bool failed() const { return !error_.empty(); }
  // During a sink's call: the shortcut the request was taken by, or kNone.
  RespShortcut shortcut() const { return shortcut_; }
  // After kError: "Protocol error: ...", the text of the error reply.
  const std::string& error() const { return error_; }

 private:
  enum class Outcome { kComplete, kIncomplete, kError };
  // Parses one request at the start of `data`: on kComplete, *used is its size in bytes
  // and words_ its words (none for an empty array).
  Outcome parse_one(std::string_view data, std::size_t* used);
  Outcome fail(std::string text);

  const RespShortcuts* shortcuts_;
  RespShortcut shortcut_ = RespShortcut::kNone;
  std::string partial_;  // the start of a request whose end has not arrived
  std::vector<std::string_view> words_;
  std::string error_;
};

// Redis's integers (string2ll): an optional '-', then digits without a leading zero ("0"
// alone is fine, "-0" is not), within int64; no '+', no spaces.
std::optional<std::int64_t> parse_strict_int64(std::string_view text);

// The protocol version a connection speaks: 2, or 3 after HELLO 3.
enum class RespVersion : std::uint8_t { k2 = 2, k3 = 3 };

void append_simple(std::string& out, std::string_view text);    // +text
void append_error(std::string& out, std::string_view text);     // -text (text starts "ERR ...")
void append_integer(std::string& out, std::int64_t value);      // :N
void append_bulk(std::string& out, std::string_view bytes);     // $len bytes
void append_array(std::string& out, std::size_t count);         // *N, then N replies
void append_null(std::string& out, RespVersion version);        // $-1, or _ in RESP3
void append_null_array(std::string& out, RespVersion version);  // *-1, or _ in RESP3
void append_map(std::string& out, std::size_t pairs, RespVersion version);  // %N, or *2N
void append_set(std::string& out, std::size_t count, RespVersion version);  // ~N, or *N

// The reply of a request on the counter (GET, INCR, ...) in RESP: a read's value as a bulk
// string, a mutation's new value as an integer, an error by its cause. A kLater reply must
// be decided.
void append_resp_reply(const Reply& reply, std::string& out);

// The error text (without the leading '-') RESP gives for a cause.
std::string_view resp_error_text(ErrCause cause);

namespace resp_detail {

inline std::uint64_t load_8(const char* bytes) {
  std::uint64_t word = 0;
  std::memcpy(&word, bytes, sizeof word);
  return word;
}

// a[0, n) == b[0, n) for n >= 8, eight bytes at a time (the last eight overlapping): a
// shortcut's 20-odd bytes in three or four comparisons, without a call.
inline bool same_bytes(const char* a, const char* b, std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 < n; i += 8) {
    if (load_8(a + i) != load_8(b + i)) return false;
  }
  return load_8(a + n - 8) == load_8(b + n - 8);
}

}  // namespace resp_detail

inline std::size_t RespShortcuts::match(std::string_view data, std::vector<std::string_view>& words,
                                        RespShortcut* which) const {
  // Each is longer than 9 bytes, and its command starts at offset 8: that letter tells which
  // one it may be (kRespShortcutNames' first letters, in their order).
  if (shortcuts_.empty() || data.size() < 9 || data[0] != '*') return 0;
  std::size_t row = 0;
  switch (data[8]) {
    case 'G':
      row = 0;
      break;
    case 'I':
      row = 1;
      break;
    case 'D':
      row = 2;
      break;
    default:
      return 0;
  }
  const Shortcut& shortcut = shortcuts_[row];
  const std::size_t size = shortcut.bytes.size();
  if (data.size() < size || !resp_detail::same_bytes(data.data(), shortcut.bytes.data(), size)) {
    return 0;
  }
  words.resize(2);
  words[0] = std::string_view(data.data() + 8, shortcut.name_length);
  words[1] = std::string_view(data.data() + shortcut.key_offset, key_length_);
  if (which != nullptr) *which = static_cast<RespShortcut>(row + 1);
  return size;
}

template <typename Sink>
bool RespParser::feed(std::string_view bytes, Sink&& sink, std::string_view* rest) {
  const auto stop = [&](std::string_view left) {
    if (rest != nullptr) *rest = left;
    return false;
  };
  if (failed()) return true;
  // A request begun in an earlier call: complete it from the new bytes, taking no more of
  // them than one request can hold.
  if (!partial_.empty()) {
    const std::size_t before = partial_.size();
    const std::size_t room = kMaxRespRequestBytes + 1 - before;
    const std::size_t taken = std::min(room, bytes.size());
    partial_.append(bytes.substr(0, taken));
    std::size_t used = 0;
    const Outcome outcome = parse_one(partial_, &used);
    if (outcome == Outcome::kError) {
      std::string().swap(partial_);
      sink(Event::kError, std::span<const std::string_view>{});
      return stop({});
    }
    if (outcome == Outcome::kIncomplete) {
      // parse_one refuses anything longer than a request may be, so all of `bytes` fit.
      return true;
    }
    bytes.remove_prefix(used - before);
    shortcut_ = RespShortcut::kNone;
    const bool go_on = words_.empty() || sink(Event::kRequest, std::span{words_});
    std::string().swap(partial_);  // an idle connection holds no buffer
    if (!go_on) return stop(bytes);
  }
  while (!bytes.empty()) {
    shortcut_ = RespShortcut::kNone;
    std::size_t used = shortcuts_ != nullptr ? shortcuts_->match(bytes, words_, &shortcut_) : 0;
    if (used == 0) {
      const Outcome outcome = parse_one(bytes, &used);
      if (outcome == Outcome::kError) {
        sink(Event::kError, std::span<const std::string_view>{});
        return stop({});
      }
      if (outcome == Outcome::kIncomplete) {
        // One block, as large as a request may be: it never grows past that.
        partial_.reserve(kMaxRespRequestBytes + 1);
        partial_.assign(bytes);
        return true;
      }
    }
    bytes.remove_prefix(used);
    if (!words_.empty() && !sink(Event::kRequest, std::span{words_})) return stop(bytes);
  }
  return true;
}

}  // namespace count
