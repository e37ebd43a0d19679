// The command table: one row and one handler per command, found by name
// (docs/protocol.md, "Commands"). Handlers touch only the store, never a socket.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

#include "protocol/reply.hpp"
#include "protocol/request.hpp"
#include "store/store.hpp"

namespace count {

using Handler = Reply (*)(const Request& request, Store& store);

struct CommandSpec {
  std::string_view name;  // lower case; requests match it in any case
  std::size_t arg_count;  // exact number of arguments
  Handler handler;
};

// Every command, in the order docs/protocol.md lists them.
std::span<const CommandSpec> command_table();

// The row for a command word in any case, or nullptr.
const CommandSpec* find_command(std::string_view name);

// Runs one parsed request: `err` for an unknown name or a wrong argument count.
Reply execute(const Request& request, Store& store);

// Parses and runs one request line (without its '\n'): the whole protocol for one line.
Reply execute_line(std::string_view line, Store& store);

}  // namespace count
