// The command table: one row and one handler per command, found by name
// (docs/protocol.md, "Commands", "Authentication"). Handlers touch only the store and their
// connection's state, never a socket.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/reply.hpp"
#include "protocol/password.hpp"
#include "protocol/request.hpp"
#include "store/store.hpp"

namespace count {

// What the requests of one connection share.
struct ConnectionState {
  const ServerPassword* password = nullptr;  // the server's; nullptr: it has none
  bool authenticated = false;                // stays true until the connection ends
  std::uint64_t wrong_passwords = 0;         // `auth` requests with a wrong password so far
  std::uint64_t refused_before_auth = 0;     // other requests refused for want of `auth`
  // The command of the last request executed: 1 + its row in the table, 0 for none (for the
  // metrics, which count requests by command).
  std::uint8_t last_command = 0;
};

using Handler = Reply (*)(const Request& request, Store& store, ConnectionState& connection);

struct CommandSpec {
  std::string_view name;  // lower case; requests match it in any case
  std::size_t arg_count;  // exact number of arguments
  bool before_auth;       // allowed before the connection has authenticated
  Handler handler;
};

// Every command, in the order docs/protocol.md lists them.
std::span<const CommandSpec> command_table();

// The row for a command word in any case, or nullptr.
const CommandSpec* find_command(std::string_view name);

// Runs one parsed request: `err` for an unknown name, a wrong argument count, or a request
// that needs authentication the connection has not done.
Reply execute(const Request& request, Store& store, ConnectionState& connection);

// Parses and runs one request line (without its '\n'): the whole protocol for one line.
Reply execute_line(std::string_view line, Store& store, ConnectionState& connection);

// The same on a connection to a server without a password.
Reply execute_line(std::string_view line, Store& store);

// A command word against a table's lower-case name, in any case (names are ASCII letters).
bool equals_ignoring_case(std::string_view word, std::string_view lower_name);

}  // namespace count
