#include "protocol/resp.hpp"

#include <array>
#include <bit>
#include <charconv>
#include <cstring>
#include <limits>

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

namespace {

enum class Number { kDone, kIncomplete, kBad };

// The number after a type byte, from data[pos] up to its "\r\n", in Redis's strict form (as
// parse_strict_int64), read byte by byte. On kDone, pos is past the "\r\n". A line whose
// "\r\n" has not come yet is kIncomplete, however many digits it has so far.
Number read_number_slowly(std::string_view data, std::size_t& pos, std::int64_t& value) {
  const char* p = data.data() + pos;
  const char* const end = data.data() + data.size();
  const bool negative = p < end && *p == '-';
  if (negative) ++p;
  const char* const digits = p;
  std::uint64_t n = 0;
  bool too_big = false;
  constexpr std::uint64_t kLimit = std::uint64_t{1} << 63;  // |INT64_MIN|
  while (p < end && *p >= '0' && *p <= '9') {
    const auto digit = static_cast<std::uint64_t>(*p - '0');
    too_big = too_big || n > (kLimit - digit) / 10;
    if (!too_big) n = n * 10 + digit;
    ++p;
  }
  if (p + 1 >= end) return p < end && *p != '\r' ? Number::kBad : Number::kIncomplete;
  if (p == digits || p[0] != '\r' || p[1] != '\n') return Number::kBad;
  if (*digits == '0' && (p - digits > 1 || negative)) return Number::kBad;
  if (too_big || (!negative && n == kLimit)) return Number::kBad;
  value = negative ? static_cast<std::int64_t>(0 - n) : static_cast<std::int64_t>(n);
  pos = static_cast<std::size_t>(p + 2 - data.data());
  return Number::kDone;
}

// One or two digits and "\r\n" (the counts and lengths of every common request) without a
// loop; anything else the slow way.
inline Number read_number(std::string_view data, std::size_t& pos, std::int64_t& value) {
  const char* const p = data.data() + pos;
  const std::size_t left = data.size() - pos;
  if (left >= 4 && p[0] >= '1' && p[0] <= '9') {
    if (p[1] == '\r' && p[2] == '\n') {
      value = p[0] - '0';
      pos += 3;
      return Number::kDone;
    }
    if (p[1] >= '0' && p[1] <= '9' && p[2] == '\r' && p[3] == '\n') {
      value = (p[0] - '0') * 10 + (p[1] - '0');
      pos += 4;
      return Number::kDone;
    }
  }
  return read_number_slowly(data, pos, value);
}

}  // namespace

RespShortcuts::RespShortcuts(std::string_view key) : key_length_(key.size()) {
  for (const std::string_view name : kRespShortcutNames) {
    Shortcut shortcut;
    shortcut.bytes = "*2\r\n$" + std::to_string(name.size()) + "\r\n" + std::string(name) +
                     "\r\n$" + std::to_string(key.size()) + "\r\n";
    shortcut.name_length = name.size();
    shortcut.key_offset = shortcut.bytes.size();
    shortcut.bytes += std::string(key) + "\r\n";
    shortcuts_.push_back(std::move(shortcut));
  }
}

// As Redis's processMultibulkBuffer, but a request may take kMaxRespRequestBytes at most,
// which is known as soon as a length says so, and every "\r\n" is checked.
RespParser::Outcome RespParser::parse_one(std::string_view data, std::size_t* used) {
  words_.clear();
  const auto too_long = [&] { return fail("Protocol error: request longer than 4096 bytes"); };
  const auto incomplete = [&] {
    return data.size() > kMaxRespRequestBytes ? too_long() : Outcome::kIncomplete;
  };
  if (data[0] != '*') {
    return fail(std::string("Protocol error: expected '*', got '") + data[0] + "'");
  }
  std::size_t pos = 1;
  std::int64_t count = 0;
  switch (read_number(data, pos, count)) {
    case Number::kIncomplete:
      return incomplete();
    case Number::kBad:
      return fail("Protocol error: invalid multibulk length");
    case Number::kDone:
      break;
  }
  if (count <= 0) {  // an empty array: skipped
    *used = pos;
    return Outcome::kComplete;
  }
  // Each word takes at least "$0\r\n\r\n".
  if (count > static_cast<std::int64_t>((kMaxRespRequestBytes - pos) / 6)) return too_long();
  for (std::int64_t i = 0; i < count; ++i) {
    if (pos >= data.size()) return incomplete();
    if (data[pos] != '$') {
      return fail(std::string("Protocol error: expected '$', got '") + data[pos] + "'");
    }
    ++pos;
    std::int64_t length = 0;
    switch (read_number(data, pos, length)) {
      case Number::kIncomplete:
        return incomplete();
      case Number::kBad:
        return fail("Protocol error: invalid bulk length");
      case Number::kDone:
        break;
    }
    if (length < 0) return fail("Protocol error: invalid bulk length");
    const auto size = static_cast<std::size_t>(length);
    if (size > kMaxRespRequestBytes || pos + size + 2 > kMaxRespRequestBytes) return too_long();
    if (pos + size + 2 > data.size()) return incomplete();
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

// The digits of n in decimal, without a loop: from its bits (log10(2) ~ 1233 / 4096), then
// one comparison with a power of 10.
std::size_t decimal_digits(std::uint64_t n) {
  static constexpr std::array<std::uint64_t, 20> kPowers = [] {
    std::array<std::uint64_t, 20> powers{};
    std::uint64_t power = 1;
    for (std::uint64_t& p : powers) {
      p = power;
      power *= 10;
    }
    return powers;
  }();
  // n | 1 has n's digits (no power of 10 is odd) and is never 0, which has one digit.
  const std::uint64_t x = n | 1;
  const auto guess = static_cast<std::size_t>((std::bit_width(x) * 1233) >> 12);
  return guess + 1 - (x < kPowers[guess] ? 1 : 0);
}

// Writes n's digits so that they end at p, two at a time; in 32 bits while it fits, where
// dividing by 100 is cheaper.
template <typename Unsigned>
char* write_pairs_before(char* p, Unsigned n) {
  static constexpr char kPairs[] =
      "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
      "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
      "8081828384858687888990919293949596979899";
  while (n >= 100) {
    const auto pair = static_cast<std::size_t>(n % 100) * 2;
    n /= 100;
    *--p = kPairs[pair + 1];
    *--p = kPairs[pair];
  }
  if (n >= 10) {
    *--p = kPairs[n * 2 + 1];
    *--p = kPairs[n * 2];
  } else {
    *--p = static_cast<char>('0' + n);
  }
  return p;
}

void write_digits_before(char* p, std::uint64_t n) {
  constexpr std::uint64_t kEightDigits = 100'000'000;
  while (n > std::numeric_limits<std::uint32_t>::max()) {
    // The low eight digits in 32 bits, zeros kept; then the rest.
    const auto low = static_cast<std::uint32_t>(n % kEightDigits);
    n /= kEightDigits;
    char* const end = p;
    p = write_pairs_before(p, low);
    while (p > end - 8) *--p = '0';
  }
  write_pairs_before(p, static_cast<std::uint32_t>(n));
}

// Writes `type`, the number in decimal and "\r\n": every integer reply and length does it.
// The digits go two at a time into a buffer of a fixed size, which is appended whole (a
// copy of a known size, without a call) and then cut to what was written.
void append_header(std::string& out, char type, std::int64_t number) {
  constexpr std::size_t kMost = 24;  // type, '-', 20 digits, "\r\n"
  std::array<char, kMost> text{};
  // The magnitude as unsigned: -INT64_MIN does not fit in int64.
  std::uint64_t n =
      number < 0 ? 0 - static_cast<std::uint64_t>(number) : static_cast<std::uint64_t>(number);
  const std::size_t sign = number < 0 ? 1 : 0;
  const std::size_t length = 1 + sign + decimal_digits(n) + 2;
  text[0] = type;
  text[1] = '-';  // overwritten by the first digit when there is no sign
  char* p = text.data() + length - 2;
  p[0] = '\r';
  p[1] = '\n';
  write_digits_before(p, n);
  const std::size_t size = out.size();
  out.append(text.data(), kMost);
  out.resize(size + length);
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
