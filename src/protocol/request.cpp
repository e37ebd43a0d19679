#include "protocol/request.hpp"

#include <array>
#include <charconv>
#include <cstdint>

namespace count {
namespace {

constexpr bool is_blank(char c) { return c == ' ' || c == '\t'; }

// What each byte is to a line: part of a word, a separator, or not allowed. One load a byte,
// rather than four comparisons.
enum class ByteClass : std::uint8_t { kWord, kBlank, kNotPrintable };

constexpr std::array<ByteClass, 256> kByteClasses = [] {
  std::array<ByteClass, 256> classes{};
  for (std::size_t c = 0; c < classes.size(); ++c) {
    classes[c] = c == ' ' || c == '\t'    ? ByteClass::kBlank
                 : c >= 0x20 && c <= 0x7e ? ByteClass::kWord
                                          : ByteClass::kNotPrintable;
  }
  return classes;
}();

ByteClass class_of(char c) { return kByteClasses[static_cast<unsigned char>(c)]; }

}  // namespace

ParsedRequest parse_request(std::string_view line) {
  ParsedRequest parsed;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  while (!line.empty() && is_blank(line.front())) line.remove_prefix(1);
  while (!line.empty() && is_blank(line.back())) line.remove_suffix(1);
  if (line.empty()) return parsed;

  Request& request = parsed.request;
  std::size_t word_count = 0;
  std::size_t i = 0;
  while (i < line.size()) {
    const std::size_t start = i;
    ByteClass kind = ByteClass::kWord;
    while (i < line.size() && (kind = class_of(line[i])) == ByteClass::kWord) ++i;
    if (kind == ByteClass::kNotPrintable) {
      parsed.status = ParseStatus::kNotPrintable;
      return parsed;
    }
    const std::string_view word(line.data() + start, i - start);
    if (word_count == 0) {
      request.name = word;
    } else if (word_count - 1 < kMaxArgs) {
      request.args[word_count - 1] = word;
    }
    ++word_count;
    while (i < line.size() && is_blank(line[i])) ++i;
  }
  request.arg_count = word_count - 1;
  parsed.status = ParseStatus::kOk;
  return parsed;
}

std::optional<std::int64_t> parse_int64(std::string_view text) {
  // from_chars takes a '-' but not a '+'; a sign must be followed by a digit either way.
  if (!text.empty() && text.front() == '+') {
    text.remove_prefix(1);
    if (text.empty() || text.front() == '-') return std::nullopt;
  }
  std::int64_t value = 0;
  const char* const end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc{} || ptr != end) return std::nullopt;
  return value;
}

}  // namespace count
