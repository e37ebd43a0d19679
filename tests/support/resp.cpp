#include "support/resp.hpp"

#include <fmt/core.h>

#include <array>
#include <charconv>

namespace count::test {

std::string resp_request(const std::vector<std::string>& words) {
  std::string out = fmt::format("*{}\r\n", words.size());
  for (const std::string& word : words) out.append(resp_bulk(word));
  return out;
}

std::string resp_requests(const std::vector<std::vector<std::string>>& requests) {
  std::string out;
  for (const auto& words : requests) out.append(resp_request(words));
  return out;
}

std::string resp_integer(long long value) { return fmt::format(":{}\r\n", value); }

std::string resp_bulk(std::string_view bytes) {
  return fmt::format("${}\r\n{}\r\n", bytes.size(), bytes);
}

namespace {

// Parses the reply at `pos`; returns the position after it, or nothing when incomplete.
// A malformed reply counts as complete up to its line, so that a test sees it.
std::optional<std::size_t> reply_end(std::string_view bytes, std::size_t pos, int depth = 0) {
  if (pos >= bytes.size() || depth > 32) return std::nullopt;
  const std::size_t line_end = bytes.find("\r\n", pos);
  if (line_end == std::string_view::npos) return std::nullopt;
  const char type = bytes[pos];
  const std::string_view text = bytes.substr(pos + 1, line_end - pos - 1);
  const std::size_t after_line = line_end + 2;
  long long count = 0;
  const auto number = [&] {
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), count);
    return ec == std::errc{} && ptr == text.data() + text.size();
  };
  switch (type) {
    case '$':
    case '=':
    case '!':
      if (!number() || count < 0) return after_line;
      if (after_line + static_cast<std::size_t>(count) + 2 > bytes.size()) return std::nullopt;
      return after_line + static_cast<std::size_t>(count) + 2;
    case '*':
    case '~':
    case '>':
    case '%': {
      if (!number() || count < 0) return after_line;
      const long long elements = type == '%' ? count * 2 : count;
      std::size_t at = after_line;
      for (long long i = 0; i < elements; ++i) {
        const std::optional<std::size_t> end = reply_end(bytes, at, depth + 1);
        if (!end) return std::nullopt;
        at = *end;
      }
      return at;
    }
    default:  // + - : _ , # ( and anything unexpected: one line
      return after_line;
  }
}

}  // namespace

std::optional<std::size_t> resp_reply_size(std::string_view bytes) { return reply_end(bytes, 0); }

std::optional<std::string> RespReader::next() {
  for (;;) {
    if (const std::optional<std::size_t> size = resp_reply_size(buffer_)) {
      std::string reply = buffer_.substr(0, *size);
      buffer_.erase(0, *size);
      return reply;
    }
    std::array<char, 16 * 1024> chunk{};
    const std::size_t n = client_.read_some(chunk.data(), chunk.size());
    if (n == 0) return std::nullopt;
    buffer_.append(chunk.data(), n);
  }
}

std::vector<std::string> RespReader::next(std::size_t n) {
  std::vector<std::string> replies;
  while (replies.size() < n) {
    std::optional<std::string> reply = next();
    if (!reply) break;
    replies.push_back(std::move(*reply));
  }
  return replies;
}

std::string resp_call(Client& client, const std::vector<std::string>& words) {
  client.send(resp_request(words));
  RespReader reader(client);
  return reader.next().value_or("");
}

}  // namespace count::test
