// Encoding requests and parsing replies for the three wire protocols. Never allocates in
// parse(); a reply is recognised only once all of its bytes are in the buffer.
#include "loadgen/codec.hpp"

#include <algorithm>

#include "protocol/reply.hpp"
#include "protocol/request.hpp"

namespace count {
namespace {

using Kind = WireReply::Kind;

WireReply need_more() { return {}; }
WireReply reply(Kind kind, std::size_t consumed, std::int64_t value = 0) {
  return {kind, value, consumed};
}

// Finds the next line: its text without "\r\n" (or "\n"), and the bytes it takes.
struct Line {
  std::string_view text;
  std::size_t consumed = 0;
};

std::optional<Line> next_line(std::string_view bytes, bool strip_cr) {
  const std::size_t newline = bytes.find('\n');
  if (newline == std::string_view::npos) return std::nullopt;
  std::string_view text = bytes.substr(0, newline);
  if (strip_cr && !text.empty() && text.back() == '\r') text.remove_suffix(1);
  return Line{text, newline + 1};
}

// An unsigned decimal as memcached writes it, within int64.
std::optional<std::int64_t> parse_plain_number(std::string_view text) {
  if (text.empty() ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  return parse_int64(text);
}

bool key_is_storable(std::string_view key) {
  // memcached: at most 250 bytes, no control characters nor spaces.
  return !key.empty() && key.size() <= 250 && std::none_of(key.begin(), key.end(), [](char c) {
    return static_cast<unsigned char>(c) <= ' ' || c == 0x7f;
  });
}

std::string resp_command(std::initializer_list<std::string_view> words) {
  // Appends only: GCC 12 warns falsely (-Wrestrict) on "literal" + std::string.
  std::string out;
  out.append("*").append(std::to_string(words.size())).append("\r\n");
  for (const std::string_view word : words) {
    out.append("$").append(std::to_string(word.size())).append("\r\n");
    out.append(word).append("\r\n");
  }
  return out;
}

}  // namespace

std::string_view protocol_name(WireProtocol protocol) {
  switch (protocol) {
    case WireProtocol::kLine:
      return "line";
    case WireProtocol::kResp:
      return "resp";
    case WireProtocol::kMemcache:
      return "memcache";
  }
  return "?";
}

std::optional<WireProtocol> protocol_from_name(std::string_view name) {
  if (name == "line") return WireProtocol::kLine;
  if (name == "resp") return WireProtocol::kResp;
  if (name == "memcache") return WireProtocol::kMemcache;
  return std::nullopt;
}

std::optional<Codec> Codec::make(WireProtocol protocol, std::string_view key,
                                 std::int64_t add_value, const CommandMix& mix,
                                 std::string& error) {
  Codec codec;
  codec.protocol_ = protocol;
  const std::string number = std::to_string(add_value);
  auto& requests = codec.requests_;
  auto slot = [&requests](Op op) -> std::string& { return requests[static_cast<std::size_t>(op)]; };

  switch (protocol) {
    case WireProtocol::kLine:
      slot(Op::kIncr) = "incr\n";
      slot(Op::kDecr) = "decr\n";
      slot(Op::kAdd) = "add " + number + "\n";
      slot(Op::kGet) = "get\n";
      break;
    case WireProtocol::kResp:
      if (key.empty()) {
        error = "the key must not be empty";
        return std::nullopt;
      }
      slot(Op::kIncr) = resp_command({"INCR", key});
      slot(Op::kDecr) = resp_command({"DECR", key});
      slot(Op::kAdd) = resp_command({"INCRBY", key, number});
      slot(Op::kGet) = resp_command({"GET", key});
      break;
    case WireProtocol::kMemcache:
      if (!key_is_storable(key)) {
        error = "memcached keys are 1 to 250 bytes without spaces or control characters";
        return std::nullopt;
      }
      if (mix.uses(Op::kDecr)) {
        error = "memcached cannot run this mix: its decr stops at 0 instead of going negative";
        return std::nullopt;
      }
      if (mix.uses(Op::kAdd) && add_value < 0) {
        error = "memcached cannot run this mix: its incr takes no negative amount (--add-value)";
        return std::nullopt;
      }
      slot(Op::kIncr) = "incr " + std::string(key) + " 1\r\n";
      slot(Op::kAdd) = "incr " + std::string(key) + " " + number + "\r\n";
      slot(Op::kGet) = "get " + std::string(key) + "\r\n";
      codec.setup_ = "set " + std::string(key) + " 0 0 1\r\n0\r\n";
      break;
  }
  return codec;
}

std::size_t Codec::max_request_bytes() const {
  std::size_t most = 0;
  for (const std::string& request : requests_) most = std::max(most, request.size());
  return most;
}

std::string Codec::auth_request(std::string_view password) const {
  switch (protocol_) {
    case WireProtocol::kLine:
      return "auth " + std::string(password) + "\n";
    case WireProtocol::kResp:
      return resp_command({"AUTH", password});
    case WireProtocol::kMemcache:
      return "";
  }
  return "";
}

WireReply Codec::parse(std::string_view bytes) const {
  switch (protocol_) {
    case WireProtocol::kLine:
      return parse_line(bytes);
    case WireProtocol::kResp:
      return parse_resp(bytes);
    case WireProtocol::kMemcache:
      return parse_memcache(bytes);
  }
  return reply(Kind::kBroken, bytes.size());
}

WireReply Codec::parse_line(std::string_view bytes) const {
  const std::optional<Line> line = next_line(bytes, /*strip_cr=*/false);
  if (!line) {
    return bytes.size() > kMaxWireReplyBytes ? reply(Kind::kBroken, bytes.size()) : need_more();
  }
  const std::optional<Reply> parsed = parse_reply(line->text);
  if (!parsed) return reply(Kind::kMalformed, line->consumed);
  switch (parsed->kind) {
    case Reply::Kind::kOk:
      return reply(Kind::kOk, line->consumed);
    case Reply::Kind::kVal:
      return reply(Kind::kInteger, line->consumed, parsed->value);
    case Reply::Kind::kErr:
      return reply(Kind::kError, line->consumed);
    case Reply::Kind::kQuit:
    case Reply::Kind::kLater:  // never parsed from a line
      return reply(Kind::kMalformed, line->consumed);
  }
  return reply(Kind::kMalformed, line->consumed);
}

WireReply Codec::parse_resp(std::string_view bytes) const {
  const std::optional<Line> line = next_line(bytes, /*strip_cr=*/true);
  if (!line) {
    return bytes.size() > kMaxWireReplyBytes ? reply(Kind::kBroken, bytes.size()) : need_more();
  }
  if (line->text.empty()) return reply(Kind::kBroken, line->consumed);
  const std::string_view body = line->text.substr(1);
  switch (line->text.front()) {
    case '+':
      return reply(Kind::kOk, line->consumed);
    case '-':
      return reply(Kind::kError, line->consumed);
    case ':':
      if (const auto value = parse_int64(body))
        return reply(Kind::kInteger, line->consumed, *value);
      return reply(Kind::kMalformed, line->consumed);
    case '$': {
      if (body == "-1") return reply(Kind::kNil, line->consumed);
      const std::optional<std::int64_t> length = parse_plain_number(body);
      if (!length || static_cast<std::uint64_t>(*length) > kMaxWireReplyBytes) {
        return reply(Kind::kBroken, bytes.size());
      }
      const std::size_t size = static_cast<std::size_t>(*length);
      const std::size_t total = line->consumed + size + 2;
      if (bytes.size() < total) return need_more();
      if (bytes.substr(line->consumed + size, 2) != "\r\n")
        return reply(Kind::kBroken, bytes.size());
      if (const auto value = parse_int64(bytes.substr(line->consumed, size))) {
        return reply(Kind::kInteger, total, *value);
      }
      return reply(Kind::kMalformed, total);
    }
    default:
      // Arrays and the RESP3 types answer nothing count-bench sends.
      return reply(Kind::kBroken, bytes.size());
  }
}

WireReply Codec::parse_memcache(std::string_view bytes) const {
  const std::optional<Line> line = next_line(bytes, /*strip_cr=*/true);
  if (!line) {
    return bytes.size() > kMaxWireReplyBytes ? reply(Kind::kBroken, bytes.size()) : need_more();
  }
  const std::string_view text = line->text;
  if (text == "STORED") return reply(Kind::kOk, line->consumed);
  if (text == "END") return reply(Kind::kNil, line->consumed);
  if (text == "ERROR" || text == "NOT_FOUND" || text == "NOT_STORED" ||
      text.starts_with("CLIENT_ERROR") || text.starts_with("SERVER_ERROR")) {
    return reply(Kind::kError, line->consumed);
  }
  if (const auto value = parse_plain_number(text)) {
    return reply(Kind::kInteger, line->consumed, *value);
  }
  constexpr std::string_view kValue = "VALUE ";
  if (!text.starts_with(kValue)) return reply(Kind::kMalformed, line->consumed);

  // "VALUE <key> <flags> <bytes>", then the data and "\r\n", then "END\r\n".
  const std::size_t last_space = text.rfind(' ');
  const std::optional<std::int64_t> length = parse_plain_number(text.substr(last_space + 1));
  if (!length || static_cast<std::uint64_t>(*length) > kMaxWireReplyBytes) {
    return reply(Kind::kBroken, bytes.size());
  }
  const std::size_t size = static_cast<std::size_t>(*length);
  constexpr std::string_view kEnd = "\r\nEND\r\n";
  const std::size_t total = line->consumed + size + kEnd.size();
  if (bytes.size() < total) return need_more();
  if (bytes.substr(line->consumed + size, kEnd.size()) != kEnd) {
    return reply(Kind::kBroken, bytes.size());
  }
  if (const auto value = parse_plain_number(bytes.substr(line->consumed, size))) {
    return reply(Kind::kInteger, total, *value);
  }
  return reply(Kind::kMalformed, total);
}

Verdict Codec::judge(Op op, const WireReply& wire) const {
  switch (wire.kind) {
    case Kind::kError:
      return Verdict::kErrorReply;
    case Kind::kNeedMore:
    case Kind::kMalformed:
    case Kind::kBroken:
      return Verdict::kUnexpected;
    default:
      break;
  }
  if (op == Op::kGet) return value_of(wire) ? Verdict::kGood : Verdict::kUnexpected;
  // Our protocol acknowledges a mutation with "ok"; Redis and memcached with the new value.
  const Kind acknowledgement = protocol_ == WireProtocol::kLine ? Kind::kOk : Kind::kInteger;
  return wire.kind == acknowledgement ? Verdict::kGood : Verdict::kUnexpected;
}

std::optional<std::int64_t> Codec::value_of(const WireReply& wire) const {
  if (wire.kind == Kind::kInteger) return wire.value;
  // Redis answers GET of a key that was never set with nil: the counter is 0.
  if (wire.kind == Kind::kNil && protocol_ == WireProtocol::kResp) return 0;
  return std::nullopt;
}

}  // namespace count
