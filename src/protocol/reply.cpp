#include "protocol/reply.hpp"

#include <array>
#include <charconv>

#include "protocol/request.hpp"

namespace count {

void append_reply(const Reply& reply, std::string& out) {
  switch (reply.kind) {
    case Reply::Kind::kLater:
      append_reply(reply.decided(), out);
      return;
    case Reply::Kind::kOk:
      out.append("ok\n");
      return;
    case Reply::Kind::kErr:
      out.append("err\n");
      return;
    case Reply::Kind::kQuit:
      out.append("quit\n");
      return;
    case Reply::Kind::kVal: {
      std::array<char, kMaxReplyBytes> line{'v', 'a', 'l', ' '};
      char* const end = std::to_chars(line.data() + 4, line.data() + line.size(), reply.value).ptr;
      *end = '\n';
      out.append(line.data(), static_cast<std::size_t>(end + 1 - line.data()));
      return;
    }
  }
}

std::optional<Reply> parse_reply(std::string_view line) {
  if (line == "ok") return Reply::ok(0);
  if (line == "err") return Reply::err();
  if (line == "quit") return Reply::quit();
  constexpr std::string_view kVal = "val ";
  if (line.starts_with(kVal)) {
    const std::string_view number = line.substr(kVal.size());
    // The server writes plain decimal: no '+', no leading zeros beyond "0".
    if (number.empty() || number.front() == '+') return std::nullopt;
    if (const auto value = parse_int64(number)) return Reply::val(*value, 0);
  }
  return std::nullopt;
}

}  // namespace count
