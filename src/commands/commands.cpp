#include "commands/commands.hpp"

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <optional>

#include "protocol/password.hpp"

namespace count {
namespace {

Reply handle_get(const Request& /*request*/, Store& store, ConnectionState& /*connection*/) {
  Snapshot snapshot = store.get();
  if (snapshot.later)
    return Reply::late(std::move(snapshot.later), snapshot.later_index, snapshot.seq);
  return Reply::val(snapshot.value, snapshot.seq);
}

Reply add_and_reply(Store& store, std::int64_t delta) {
  Applied applied = store.add(delta);
  if (applied.later) return Reply::late(std::move(applied.later), applied.later_index, applied.seq);
  return applied.ok ? Reply::ok(applied.seq, applied.value)
                    : Reply::err(applied.seq, ErrCause::kOverflow);
}

Reply handle_incr(const Request& /*request*/, Store& store, ConnectionState& /*connection*/) {
  return add_and_reply(store, 1);
}

Reply handle_decr(const Request& /*request*/, Store& store, ConnectionState& /*connection*/) {
  return add_and_reply(store, -1);
}

Reply handle_add(const Request& request, Store& store, ConnectionState& /*connection*/) {
  const std::optional<std::int64_t> delta = parse_int64(request.args[0]);
  return delta ? add_and_reply(store, *delta) : Reply::err(ErrCause::kBadArgument);
}

Reply handle_quit(const Request& /*request*/, Store& /*store*/, ConnectionState& /*connection*/) {
  return Reply::quit();
}

// Without a server password, err and nothing changes. A wrong password never takes back an
// earlier success; it is counted, and the session slows the connection down for it.
Reply handle_auth(const Request& request, Store& /*store*/, ConnectionState& connection) {
  if (connection.password == nullptr) return Reply::err(ErrCause::kNoPassword);
  if (connection.password->matches(request.args[0])) {
    connection.authenticated = true;
    return Reply::ok(0);
  }
  ++connection.wrong_passwords;
  return Reply::err(ErrCause::kWrongPassword);
}

constexpr std::array kCommands{
    CommandSpec{"get", 0, false, handle_get},   CommandSpec{"incr", 0, false, handle_incr},
    CommandSpec{"decr", 0, false, handle_decr}, CommandSpec{"add", 1, false, handle_add},
    CommandSpec{"quit", 0, true, handle_quit},  CommandSpec{"auth", 1, true, handle_auth},
};

}  // namespace

// Command names are lower-case ASCII letters. For such a letter n, (c | 0x20) == n holds
// exactly when c is n or its upper case: the one bit that differs between them.
bool equals_ignoring_case(std::string_view word, std::string_view lower_name) {
  if (word.size() != lower_name.size()) return false;
  for (std::size_t i = 0; i < word.size(); ++i) {
    if ((word[i] | 0x20) != lower_name[i]) return false;
  }
  return true;
}

std::span<const CommandSpec> command_table() { return kCommands; }

namespace {

// Every name in the table has 3 or 4 letters: as one 32-bit number, lower case, it is found
// with one comparison a row rather than a loop over its letters. A word's bytes folded with
// 0x20 match a name's exactly when equals_ignoring_case() says so (see above).
constexpr std::uint32_t pack(std::string_view word) {
  std::uint32_t packed = 0;
  for (std::size_t i = 0; i < word.size(); ++i) {
    packed |= static_cast<std::uint32_t>(static_cast<unsigned char>(word[i]) | 0x20U) << (8 * i);
  }
  return packed;
}

constexpr std::size_t kPackedLetters = 4;
static_assert(std::endian::native == std::endian::little, "find_command packs names little-endian");

constexpr std::array<std::uint32_t, kCommands.size()> kPackedNames = [] {
  std::array<std::uint32_t, kCommands.size()> packed{};
  for (std::size_t row = 0; row < kCommands.size(); ++row) {
    const std::string_view name = kCommands[row].name;
    if (name.size() > kPackedLetters || name.size() < 3) throw "a name of 3 or 4 letters";
    packed[row] = pack(name);
  }
  return packed;
}();

}  // namespace

const CommandSpec* find_command(std::string_view name) {
  // 3 or 4 bytes: a name of 3 letters packs with a zero fourth byte, which no word of 4 has.
  if (name.size() < 3 || name.size() > kPackedLetters) return nullptr;
  std::uint32_t word = 0;
  std::memcpy(&word, name.data(), name.size());
  word |= name.size() == kPackedLetters ? 0x20202020U : 0x00202020U;
  for (std::size_t row = 0; row < kPackedNames.size(); ++row) {
    if (kPackedNames[row] == word) return &kCommands[row];
  }
  return nullptr;
}

namespace {

// Runs a request whose command is found: its row, its argument count, authentication, then
// its handler.
Reply run(const CommandSpec& spec, const Request& request, Store& store,
          ConnectionState& connection) {
  connection.last_command = static_cast<std::uint8_t>(&spec - kCommands.data() + 1);
  if (spec.arg_count != request.arg_count) return Reply::err(ErrCause::kBadArgument);
  if (!spec.before_auth && connection.password != nullptr && !connection.authenticated) {
    ++connection.refused_before_auth;
    return Reply::err(ErrCause::kNotAuthenticated);
  }
  return spec.handler(request, store, connection);  // built in place: no copy of a Reply
}

}  // namespace

Reply execute(const Request& request, Store& store, ConnectionState& connection) {
  const CommandSpec* spec = find_command(request.name);
  if (spec == nullptr) {
    connection.last_command = 0;
    return Reply::err(ErrCause::kUnknownCommand);
  }
  return run(*spec, request, store, connection);
}

Reply execute_line(std::string_view line, Store& store, ConnectionState& connection) {
  // Most lines are a command word alone ("incr", "get"): one that is exactly a name of the
  // table, in any case, is a whole request with no argument, without taking it apart.
  if (const CommandSpec* spec = find_command(line); spec != nullptr) {
    Request request;
    request.name = line;
    return run(*spec, request, store, connection);
  }
  const ParsedRequest parsed = parse_request(line);
  if (parsed.ok()) return execute(parsed.request, store, connection);
  connection.last_command = 0;
  return Reply::err(parsed.status == ParseStatus::kNotPrintable ? ErrCause::kNotPrintable
                                                                : ErrCause::kUnknownCommand);
}

Reply execute_line(std::string_view line, Store& store) {
  ConnectionState open;
  return execute_line(line, store, open);
}

}  // namespace count
