#include "commands/commands.hpp"

#include <array>
#include <optional>

namespace count {
namespace {

Reply handle_get(const Request& /*request*/, Store& store) {
  Snapshot snapshot = store.get();
  if (snapshot.later) return Reply::late(std::move(snapshot.later), snapshot.later_index, snapshot.seq);
  return Reply::val(snapshot.value, snapshot.seq);
}

Reply add_and_reply(Store& store, std::int64_t delta) {
  Applied applied = store.add(delta);
  if (applied.later) return Reply::late(std::move(applied.later), applied.later_index, applied.seq);
  return applied.ok ? Reply::ok(applied.seq) : Reply::err(applied.seq);
}

Reply handle_incr(const Request& /*request*/, Store& store) { return add_and_reply(store, 1); }

Reply handle_decr(const Request& /*request*/, Store& store) { return add_and_reply(store, -1); }

Reply handle_add(const Request& request, Store& store) {
  const std::optional<std::int64_t> delta = parse_int64(request.args[0]);
  return delta ? add_and_reply(store, *delta) : Reply::err();
}

Reply handle_quit(const Request& /*request*/, Store& /*store*/) { return Reply::quit(); }

constexpr std::array kCommands{
    CommandSpec{"get", 0, handle_get},   CommandSpec{"incr", 0, handle_incr},
    CommandSpec{"decr", 0, handle_decr}, CommandSpec{"add", 1, handle_add},
    CommandSpec{"quit", 0, handle_quit},
};

constexpr char to_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

bool equals_ignoring_case(std::string_view word, std::string_view lower_name) {
  if (word.size() != lower_name.size()) return false;
  for (std::size_t i = 0; i < word.size(); ++i) {
    if (to_lower(word[i]) != lower_name[i]) return false;
  }
  return true;
}

}  // namespace

std::span<const CommandSpec> command_table() { return kCommands; }

const CommandSpec* find_command(std::string_view name) {
  for (const CommandSpec& spec : kCommands) {
    if (equals_ignoring_case(name, spec.name)) return &spec;
  }
  return nullptr;
}

Reply execute(const Request& request, Store& store) {
  const CommandSpec* spec = find_command(request.name);
  if (spec == nullptr || spec->arg_count != request.arg_count) return Reply::err();
  return spec->handler(request, store);
}

Reply execute_line(std::string_view line, Store& store) {
  const ParsedRequest parsed = parse_request(line);
  return parsed.ok() ? execute(parsed.request, store) : Reply::err();
}

}  // namespace count
