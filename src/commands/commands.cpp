#include "commands/commands.hpp"

#include <array>
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

const CommandSpec* find_command(std::string_view name) {
  for (const CommandSpec& spec : kCommands) {
    if (equals_ignoring_case(name, spec.name)) return &spec;
  }
  return nullptr;
}

Reply execute(const Request& request, Store& store, ConnectionState& connection) {
  const CommandSpec* spec = find_command(request.name);
  if (spec == nullptr) {
    connection.last_command = 0;
    return Reply::err(ErrCause::kUnknownCommand);
  }
  connection.last_command = static_cast<std::uint8_t>(spec - kCommands.data() + 1);
  if (spec->arg_count != request.arg_count) return Reply::err(ErrCause::kBadArgument);
  if (!spec->before_auth && connection.password != nullptr && !connection.authenticated) {
    ++connection.refused_before_auth;
    return Reply::err(ErrCause::kNotAuthenticated);
  }
  return spec->handler(request, store, connection);  // built in place: no copy of a Reply
}

Reply execute_line(std::string_view line, Store& store, ConnectionState& connection) {
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
