// The Redis commands count-server answers (docs/protocol.md, "The Redis protocol"): one
// table row and one handler per command, found by name. Requests on the counter (GET, INCR,
// DECR, INCRBY, DECRBY) become the line protocol's requests and run through the same
// handlers; the rest answer what Redis clients need around the counter. Handlers touch only
// the store and their connection's state, never a socket.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "commands/commands.hpp"
#include "protocol/resp.hpp"
#include "store/store.hpp"

namespace count {

// A transaction holds at most this many queued requests, and this many bytes of their words:
// past either, the request gets an error and EXEC then answers EXECABORT.
inline constexpr std::size_t kMaxQueuedRequests = 1000;
inline constexpr std::size_t kMaxQueuedBytes = std::size_t{64} * 1024;

// What the server tells Redis clients about itself; shared by every connection.
struct RespSettings {
  std::string key = "count";  // the counter's key
  std::string version;        // count-server's own, for INFO
  std::uint16_t port = 0;     // for INFO
  RespShortcuts shortcuts;    // of `key`, for every connection's parser
};

struct RespCommand;

// A request queued between MULTI and EXEC: a step on the counter, or any other request,
// which runs when EXEC does.
struct QueuedRequest {
  const RespCommand* command = nullptr;
  std::vector<std::string> words;  // the request's words; kept for other requests only
  std::optional<Step> step;        // set for a valid request on the counter
};

// The RESP state of one connection.
struct RespConnection {
  RespConnection(const RespSettings& server_settings, std::uint64_t client_id)
      : settings(server_settings), id(client_id) {}

  const RespSettings& settings;  // the server's; outlives the connection
  std::uint64_t id;              // CLIENT ID, unique per server run
  RespVersion version = RespVersion::k2;
  std::string name;  // CLIENT SETNAME

  bool in_multi = false;
  bool multi_refused = false;  // a request was refused while queuing: EXEC aborts
  std::vector<QueuedRequest> queued;
  std::size_t queued_bytes = 0;
  std::optional<Watched> watched;  // WATCH on the counter's key, until EXEC, DISCARD, UNWATCH

  // EXECs whose outcome the store decides later, oldest first: their queued requests, for
  // when the outcome is written (append_late_resp_reply). A vector, not a deque: empty, it
  // holds no memory, and it is rarely more than one long.
  std::vector<std::vector<QueuedRequest>> pending_execs;
};

struct RespOutcome {
  enum class Kind {
    kWritten,  // the reply is in `out`; it may leave once `seq` is durable
    kLater,    // the reply is `reply`, decided later by the store (hold it)
    kQuit,     // "+OK" is in `out`: send what is queued, then close
  };
  Kind kind = Kind::kWritten;
  Seq seq = 0;
  Reply reply{};  // kLater: the reply to hold; kWritten: what it was, for the metrics
  // The request's row in the Redis command table, plus 1 (0: an unknown command), for the
  // metrics.
  std::uint8_t command = 0;
};

// Runs one request (its words: the command, then its arguments), appending its reply, when
// decided now, to `out`. `shortcut`: the one the parser took it by (RespParser::shortcut()),
// which spares looking the command up and checking its key.
RespOutcome execute_resp(std::span<const std::string_view> words, Store& store,
                         ConnectionState& connection, RespConnection& resp, std::string& out,
                         RespShortcut shortcut = RespShortcut::kNone);

// The name of the command of a metrics row (RespOutcome::command): "none" for row 0; and how
// many commands there are.
std::string_view resp_command_name(std::size_t row);
std::size_t resp_command_count();

// Writes a reply held as kLater, now decided (RespOutcome::kLater); called in the order the
// replies leave.
void append_late_resp_reply(const Reply& reply, ConnectionState& connection, RespConnection& resp,
                            std::string& out);

}  // namespace count
