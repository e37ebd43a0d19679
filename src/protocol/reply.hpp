// A reply's bytes in the line protocol (docs/protocol.md, "Commands"); the reply itself is
// core/reply.hpp. Pure: no I/O; append_reply writes into the caller's buffer and never
// allocates once that buffer has room.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "core/reply.hpp"

namespace count {

// The longest reply line: "val -9223372036854775808\n".
inline constexpr std::size_t kMaxReplyBytes = 25;

// Appends the reply line, '\n' included; a kLater reply must be decided().
void append_reply(const Reply& reply, std::string& out);

// Reads one reply line (without its '\n') as a client sees it; seq is always 0.
std::optional<Reply> parse_reply(std::string_view line);

}  // namespace count
