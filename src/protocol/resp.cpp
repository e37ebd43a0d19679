#include "protocol/resp.hpp"

#include <array>
#include <charconv>

namespace count {

std::optional<std::int64_t> parse_strict_int64(std::string_view text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  const bool negative = text.front() == '-';
  const std::string_view digits = negative ? text.substr(1) : text;
  if (digits.empty() || digits.front() < '0' || digits.front() > '9') return std::nullopt;
  if (digits.front() == '0' && (digits.size() > 1 || negative)) return std::nullopt;
  std::int64_t value = 0;
  const char* const end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc{} || ptr != end) return std::nullopt;
  return value;
}

RespParser::Outcome RespParser::fail(std::string text) {
  error_ = std::move(text);
  words_.clear();
  return Outcome::kError;
}

// As Redis's processMultibulkBuffer, but a request may take kMaxRespRequestBytes at most,
// which is known as soon as a length says so, and every "\r\n" is checked.
RespParser::Outcome RespParser::parse_one(std::string_view data, std::size_t* used) {
  words_.clear();
  std::size_t pos = 0;
  const auto too_long = [&] { return fail("Protocol error: request longer than 4096 bytes"); };
  // The number after a type byte, up to its "\r\n"; nullopt with `incomplete` set when the
  // line has not all arrived.
  bool incomplete = false;
  const auto header_number = [&]() -> std::optional<std::int64_t> {
    const std::size_t cr = data.find('\r', pos + 1);
    if (cr == std::string_view::npos || cr + 1 >= data.size()) {
      incomplete = true;
      return std::nullopt;
    }
    const std::optional<std::int64_t> number =
        data[cr + 1] == '\n' ? parse_strict_int64(data.substr(pos + 1, cr - pos - 1))
                             : std::nullopt;
    pos = cr + 2;
    return number;
  };
  const auto incomplete_or_too_long = [&] {
    return data.size() > kMaxRespRequestBytes ? too_long() : Outcome::kIncomplete;
  };

  if (data[0] != '*') {
    return fail(std::string("Protocol error: expected '*', got '") + data[0] + "'");
  }
  const std::optional<std::int64_t> count = header_number();
  if (incomplete) return incomplete_or_too_long();
  if (!count) return fail("Protocol error: invalid multibulk length");
  if (*count <= 0) {  // an empty array: skipped
    *used = pos;
    return Outcome::kComplete;
  }
  // Each word takes at least "$0\r\n\r\n".
  if (*count > static_cast<std::int64_t>((kMaxRespRequestBytes - pos) / 6)) return too_long();
  for (std::int64_t i = 0; i < *count; ++i) {
    if (pos >= data.size()) return incomplete_or_too_long();
    if (data[pos] != '$') {
      return fail(std::string("Protocol error: expected '$', got '") + data[pos] + "'");
    }
    const std::optional<std::int64_t> length = header_number();
    if (incomplete) return incomplete_or_too_long();
    if (!length || *length < 0) return fail("Protocol error: invalid bulk length");
    const auto size = static_cast<std::size_t>(*length);
    if (size > kMaxRespRequestBytes || pos + size + 2 > kMaxRespRequestBytes) return too_long();
    if (pos + size + 2 > data.size()) return incomplete_or_too_long();
    if (data[pos + size] != '\r' || data[pos + size + 1] != '\n') {
      return fail("Protocol error: expected '\\r\\n' after a bulk string");
    }
    words_.push_back(data.substr(pos, size));
    pos += size + 2;
  }
  *used = pos;
  return Outcome::kComplete;
}

namespace {

void append_header(std::string& out, char type, std::int64_t number) {
  std::array<char, 24> text{type};
  char* const end = std::to_chars(text.data() + 1, text.data() + text.size() - 2, number).ptr;
  end[0] = '\r';
  end[1] = '\n';
  out.append(text.data(), static_cast<std::size_t>(end + 2 - text.data()));
}

}  // namespace

void append_simple(std::string& out, std::string_view text) {
  out.push_back('+');
  out.append(text);
  out.append("\r\n");
}

void append_error(std::string& out, std::string_view text) {
  out.push_back('-');
  out.append(text);
  out.append("\r\n");
}

void append_integer(std::string& out, std::int64_t value) { append_header(out, ':', value); }

void append_bulk(std::string& out, std::string_view bytes) {
  append_header(out, '$', static_cast<std::int64_t>(bytes.size()));
  out.append(bytes);
  out.append("\r\n");
}

void append_array(std::string& out, std::size_t count) {
  append_header(out, '*', static_cast<std::int64_t>(count));
}

void append_null(std::string& out, RespVersion version) {
  out.append(version == RespVersion::k3 ? "_\r\n" : "$-1\r\n");
}

void append_null_array(std::string& out, RespVersion version) {
  out.append(version == RespVersion::k3 ? "_\r\n" : "*-1\r\n");
}

void append_map(std::string& out, std::size_t pairs, RespVersion version) {
  if (version == RespVersion::k3) return append_header(out, '%', static_cast<std::int64_t>(pairs));
  append_array(out, pairs * 2);
}

void append_set(std::string& out, std::size_t count, RespVersion version) {
  if (version == RespVersion::k3) return append_header(out, '~', static_cast<std::int64_t>(count));
  append_array(out, count);
}

std::string_view resp_error_text(ErrCause cause) {
  switch (cause) {
    case ErrCause::kOverflow:
      return "ERR increment or decrement would overflow";
    case ErrCause::kNotAuthenticated:
      return "NOAUTH Authentication required.";
    case ErrCause::kWrongPassword:
      return "WRONGPASS invalid username-password pair or user is disabled.";
    case ErrCause::kStoreUnavailable:
      return "ERR the counter's store did not answer in time; the request was not applied";
    case ErrCause::kBadArgument:
      return "ERR value is not an integer or out of range";
    default:
      return "ERR";
  }
}

void append_resp_reply(const Reply& reply, std::string& out) {
  switch (reply.kind) {
    case Reply::Kind::kLater:
      append_resp_reply(reply.decided(), out);
      return;
    case Reply::Kind::kOk:
      append_integer(out, reply.value);
      return;
    case Reply::Kind::kVal: {
      // "$N\r\n" then the digits: the value's length is known once it is written.
      std::array<char, 32> text{};
      char* const digits = text.data() + 8;
      char* const end = std::to_chars(digits, text.data() + text.size() - 2, reply.value).ptr;
      const auto length = static_cast<std::int64_t>(end - digits);
      append_header(out, '$', length);
      end[0] = '\r';
      end[1] = '\n';
      out.append(digits, static_cast<std::size_t>(end + 2 - digits));
      return;
    }
    case Reply::Kind::kErr:
      append_error(out, resp_error_text(reply.cause));
      return;
    case Reply::Kind::kQuit:
      out.append("+OK\r\n");
      return;
  }
}

}  // namespace count
