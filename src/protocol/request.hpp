// A request line taken apart into its words (docs/protocol.md, "Transport", "Commands").
// Pure: no I/O, no allocation. Which words make a valid command is the commands layer's
// business; this layer only knows the shape of a line and of an integer.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace count {

// More words than this are never valid for any command; the count is kept exact anyway.
inline constexpr std::size_t kMaxArgs = 2;

struct Request {
  std::string_view name;                     // the command word, case as sent
  std::array<std::string_view, kMaxArgs> args{};
  std::size_t arg_count = 0;                 // every argument, even past kMaxArgs
};

enum class ParseStatus { kOk, kBlank, kNotPrintable };

struct ParsedRequest {
  ParseStatus status = ParseStatus::kBlank;
  Request request;
  bool ok() const { return status == ParseStatus::kOk; }
};

// Splits one line (without its '\n') into words. Drops one '\r' at the end, then spaces
// and tabs at both ends; words are separated by runs of spaces and tabs. The views point
// into `line`.
ParsedRequest parse_request(std::string_view line);

// The protocol's integer: optional '+' or '-', then one or more digits, within int64.
std::optional<std::int64_t> parse_int64(std::string_view text);

}  // namespace count
