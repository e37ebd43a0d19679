#include "commands/resp_commands.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <charconv>
#include <limits>

namespace count {

using Words = std::span<const std::string_view>;

// Everything a handler may touch for one request.
struct RespCall {
  Words words;   // the command, then its arguments
  Store* store;  // null for a queued request that runs when EXEC's outcome is written: those
                 // never reach the store
  ConnectionState& connection;
  RespConnection& resp;
  std::string& out;
};

using RespHandler = RespOutcome (*)(RespCall& call);

// The requests on the counter.
enum class CounterOp : std::uint8_t { kNone, kGet, kIncr, kDecr, kIncrBy, kDecrBy };

struct RespCommand {
  std::string_view name;  // lower case; requests match it in any case
  int arity;              // Redis's: N words exactly (the command's included), or -N: N at least
  bool before_auth;       // may run before the connection has authenticated
  bool runs_in_multi;     // runs at once inside MULTI instead of being queued
  RespHandler handler;
  CounterOp counter = CounterOp::kNone;  // what it does to the counter (a transaction's step)
};

namespace {

RespOutcome written(Seq seq = 0) { return {RespOutcome::Kind::kWritten, seq, Reply::ok(seq), 0}; }

RespOutcome error(RespCall& call, std::string_view text, ErrCause cause = ErrCause::kBadArgument) {
  append_error(call.out, text);
  return {RespOutcome::Kind::kWritten, 0, Reply::err(cause), 0};
}

std::string lower(std::string_view text) {
  std::string result(text);
  for (char& c : result) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c | 0x20);
  }
  return result;
}

// Redis replaces line ends in an error text with spaces, so that it stays one line.
std::string one_line(std::string text) {
  std::replace(text.begin(), text.end(), '\r', ' ');
  std::replace(text.begin(), text.end(), '\n', ' ');
  return text;
}

RespOutcome wrong_arity(RespCall& call, std::string_view name) {
  return error(call, "ERR wrong number of arguments for '" + std::string(name) + "' command");
}

// A word as Redis's printf("%s") shows it: up to its first NUL byte.
std::string_view as_c_string(std::string_view word) { return word.substr(0, word.find('\0')); }

// Redis's text, arguments cut at 128 bytes in all.
std::string unknown_command_text(Words words) {
  std::string text = "ERR unknown command '";
  text.append(as_c_string(words[0]).substr(0, 128));
  text.append("', with args beginning with: ");
  std::string args;
  for (std::size_t i = 1; i < words.size() && args.size() < 128; ++i) {
    const std::string_view arg = as_c_string(words[i]).substr(0, 128 - args.size());
    args.push_back('\'');
    args.append(arg);
    args.append("' ");
  }
  text.append(args);
  return one_line(std::move(text));
}

std::string no_such_key_text(std::string_view key, const RespSettings& settings) {
  return one_line("ERR no such key '" + std::string(key) + "': this server holds one counter, '" +
                  settings.key + "'");
}

// --- Requests on the counter: the line protocol's handlers answer them. ---

// Runs a request on the counter with the line protocol's handler (authentication is already
// settled) and writes or holds its reply.
RespOutcome run_on_counter(RespCall& call, const CommandSpec& spec, const Request& request) {
  RespOutcome outcome;
  outcome.reply = spec.handler(request, *call.store, call.connection);
  outcome.seq = outcome.reply.seq;
  if (outcome.reply.kind == Reply::Kind::kLater) {
    outcome.kind = RespOutcome::Kind::kLater;
    return outcome;
  }
  append_resp_reply(outcome.reply, call.out);
  return outcome;
}

// The step a request on the counter takes inside a transaction, or why it cannot: the
// error written when EXEC runs it.
struct CounterRequest {
  std::optional<Step> step;
  std::string error;
  ErrCause cause = ErrCause::kNone;
};

// Checks a request on the counter as Redis does: the integer first, then the key.
CounterRequest counter_request(CounterOp op, Words words, const RespSettings& settings) {
  CounterRequest result;
  std::int64_t delta = op == CounterOp::kIncr ? 1 : op == CounterOp::kDecr ? -1 : 0;
  if (op == CounterOp::kIncrBy || op == CounterOp::kDecrBy) {
    const std::optional<std::int64_t> n = parse_strict_int64(words[2]);
    if (!n) {
      result.error = "ERR value is not an integer or out of range";
      result.cause = ErrCause::kBadArgument;
      return result;
    }
    if (op == CounterOp::kDecrBy && *n == std::numeric_limits<std::int64_t>::min()) {
      result.error = "ERR decrement would overflow";
      result.cause = ErrCause::kOverflow;
      return result;
    }
    delta = op == CounterOp::kDecrBy ? -*n : *n;
  }
  if (words[1] != settings.key) {
    result.error = no_such_key_text(words[1], settings);
    result.cause = ErrCause::kNoSuchKey;
    return result;
  }
  result.step = Step{delta, op == CounterOp::kGet};
  return result;
}

// The line protocol's row for a name, found once.
const CommandSpec& line_command(std::string_view name) {
  const CommandSpec* spec = find_command(name);
  assert(spec != nullptr);
  return *spec;
}

// GET, INCR and DECR are the line protocol's get, incr and decr on the counter's key.
template <CounterOp kOp>
RespOutcome run_counter(RespCall& call) {
  static const CommandSpec& spec = line_command(kOp == CounterOp::kGet    ? "get"
                                                : kOp == CounterOp::kIncr ? "incr"
                                                                          : "decr");
  const Request request{spec.name};
  return run_on_counter(call, spec, request);
}

template <CounterOp kOp>
RespOutcome handle_counter(RespCall& call) {
  if (call.words[1] != call.resp.settings.key) {
    return error(call, no_such_key_text(call.words[1], call.resp.settings), ErrCause::kNoSuchKey);
  }
  return run_counter<kOp>(call);
}

// INCRBY and DECRBY are the line protocol's `add N`, once N passed Redis's stricter checks.
template <CounterOp kOp>
RespOutcome handle_counter_by(RespCall& call) {
  const CounterRequest checked = counter_request(kOp, call.words, call.resp.settings);
  if (!checked.step) return error(call, checked.error, checked.cause);
  static const CommandSpec& spec = line_command("add");
  Request request{spec.name};
  request.arg_count = 1;
  std::array<char, 24> digits{};
  if (kOp == CounterOp::kIncrBy) {
    request.args[0] = call.words[2];
  } else {
    const char* end =
        std::to_chars(digits.data(), digits.data() + digits.size(), checked.step->delta).ptr;
    request.args[0] =
        std::string_view(digits.data(), static_cast<std::size_t>(end - digits.data()));
  }
  return run_on_counter(call, spec, request);
}

// --- The connection and the server. ---

RespOutcome handle_ping(RespCall& call) {
  if (call.words.size() > 2) return wrong_arity(call, "ping");
  if (call.words.size() == 2) {
    append_bulk(call.out, call.words[1]);
  } else {
    append_simple(call.out, "PONG");
  }
  return written();
}

RespOutcome handle_echo(RespCall& call) {
  append_bulk(call.out, call.words[1]);
  return written();
}

RespOutcome handle_quit(RespCall& call) {
  append_simple(call.out, "OK");
  return {RespOutcome::Kind::kQuit, 0, Reply::quit(), 0};
}

// The password check of AUTH and HELLO ... AUTH: with a user name, only "default" has one.
// Without a server password, "default" takes any; a wrong one counts as a guess (the session
// makes the connection wait for it).
bool check_password(RespCall& call, std::optional<std::string_view> user,
                    std::string_view password) {
  const bool default_user = !user || *user == "default";
  bool right = false;
  if (call.connection.password == nullptr) {
    right = default_user;
  } else {
    right = default_user && call.connection.password->matches(password);
  }
  if (right) {
    call.connection.authenticated = true;
    return true;
  }
  ++call.connection.wrong_passwords;
  append_error(call.out, resp_error_text(ErrCause::kWrongPassword));
  return false;
}

RespOutcome handle_auth(RespCall& call) {
  if (call.words.size() > 3) return error(call, "ERR syntax error");
  if (call.words.size() == 2) {
    if (call.connection.password == nullptr) {
      return error(call,
                   "ERR AUTH <password> called without any password configured for the default "
                   "user. Are you sure your configuration is correct?",
                   ErrCause::kNoPassword);
    }
    if (!check_password(call, std::nullopt, call.words[1])) {
      return {RespOutcome::Kind::kWritten, 0, Reply::err(ErrCause::kWrongPassword), 0};
    }
  } else if (!check_password(call, call.words[1], call.words[2])) {
    return {RespOutcome::Kind::kWritten, 0, Reply::err(ErrCause::kWrongPassword), 0};
  }
  append_simple(call.out, "OK");
  return written();
}

// Client names are printable ASCII without spaces, as Redis wants them.
bool valid_client_name(std::string_view name) {
  return std::all_of(name.begin(), name.end(), [](char c) { return c > ' ' && c <= '~'; });
}

constexpr std::string_view kServerName = "redis";
// The Redis release whose protocol this follows (docs/protocol.md).
constexpr std::string_view kRedisVersion = "7.0.0";

void append_hello_map(RespCall& call) {
  const RespVersion version = call.resp.version;
  append_map(call.out, 7, version);
  append_bulk(call.out, "server");
  append_bulk(call.out, kServerName);
  append_bulk(call.out, "version");
  append_bulk(call.out, kRedisVersion);
  append_bulk(call.out, "proto");
  append_integer(call.out, static_cast<std::int64_t>(version));
  append_bulk(call.out, "id");
  append_integer(call.out, static_cast<std::int64_t>(call.resp.id));
  append_bulk(call.out, "mode");
  append_bulk(call.out, "standalone");
  append_bulk(call.out, "role");
  append_bulk(call.out, "master");
  append_bulk(call.out, "modules");
  append_array(call.out, 0);
}

// HELLO [protover [AUTH user password] [SETNAME name]]: nothing changes unless all of it
// is right.
RespOutcome handle_hello(RespCall& call) {
  std::optional<RespVersion> version;
  if (call.words.size() >= 2) {
    const std::optional<std::int64_t> number = parse_strict_int64(call.words[1]);
    if (!number) return error(call, "ERR Protocol version is not an integer or out of range");
    if (*number != 2 && *number != 3) return error(call, "NOPROTO unsupported protocol version");
    version = static_cast<RespVersion>(*number);
  }
  std::optional<std::pair<std::string_view, std::string_view>> auth;
  std::optional<std::string_view> name;
  for (std::size_t i = 2; i < call.words.size(); ++i) {
    const std::size_t left = call.words.size() - i - 1;
    if (equals_ignoring_case(call.words[i], "auth") && left >= 2) {
      auth = std::pair{call.words[i + 1], call.words[i + 2]};
      i += 2;
    } else if (equals_ignoring_case(call.words[i], "setname") && left >= 1) {
      name = call.words[i + 1];
      i += 1;
    } else {
      return error(
          call, one_line("ERR Syntax error in HELLO option '" + std::string(call.words[i]) + "'"));
    }
  }
  if (!auth && call.connection.password != nullptr && !call.connection.authenticated) {
    ++call.connection.refused_before_auth;
    append_error(call.out, resp_error_text(ErrCause::kNotAuthenticated));
    return {RespOutcome::Kind::kWritten, 0, Reply::err(ErrCause::kNotAuthenticated), 0};
  }
  if (name && !valid_client_name(*name)) {
    return error(call, "ERR Client names cannot contain spaces, newlines or special characters.");
  }
  if (auth && !check_password(call, auth->first, auth->second)) {
    return {RespOutcome::Kind::kWritten, 0, Reply::err(ErrCause::kWrongPassword), 0};
  }
  if (version) call.resp.version = *version;
  if (name) call.resp.name = std::string(*name);
  append_hello_map(call);
  return written();
}

RespOutcome handle_select(RespCall& call) {
  const std::optional<std::int64_t> index = parse_strict_int64(call.words[1]);
  if (!index) return error(call, "ERR value is not an integer or out of range");
  if (*index != 0) return error(call, "ERR DB index is out of range");
  append_simple(call.out, "OK");
  return written();
}

RespOutcome handle_client(RespCall& call) {
  const std::string_view sub = call.words[1];
  const std::size_t args = call.words.size() - 2;
  if (equals_ignoring_case(sub, "id")) {
    if (args != 0) return wrong_arity(call, "client|id");
    append_integer(call.out, static_cast<std::int64_t>(call.resp.id));
  } else if (equals_ignoring_case(sub, "getname")) {
    if (args != 0) return wrong_arity(call, "client|getname");
    if (call.resp.name.empty()) {
      append_null(call.out, call.resp.version);
    } else {
      append_bulk(call.out, call.resp.name);
    }
  } else if (equals_ignoring_case(sub, "setname")) {
    if (args != 1) return wrong_arity(call, "client|setname");
    if (!valid_client_name(call.words[2])) {
      return error(call, "ERR Client names cannot contain spaces, newlines or special characters.");
    }
    call.resp.name = std::string(call.words[2]);
    append_simple(call.out, "OK");
  } else if (equals_ignoring_case(sub, "setinfo")) {
    // Clients name their library this way (Redis 7.2); it is accepted and not kept.
    if (args != 2) return wrong_arity(call, "client|setinfo");
    if (!equals_ignoring_case(call.words[2], "lib-name") &&
        !equals_ignoring_case(call.words[2], "lib-ver")) {
      return error(call, one_line("ERR Unrecognized option '" + std::string(call.words[2]) + "'"));
    }
    if (!valid_client_name(call.words[3])) {
      return error(call, "ERR " + lower(call.words[2]) +
                             " cannot contain spaces, newlines or special characters.");
    }
    append_simple(call.out, "OK");
  } else {
    return error(
        call, one_line("ERR unknown subcommand '" + std::string(as_c_string(sub).substr(0, 128)) +
                       "'. Try CLIENT HELP."));
  }
  return written();
}

RespOutcome handle_exists(RespCall& call) {
  const auto count = std::count(call.words.begin() + 1, call.words.end(), call.resp.settings.key);
  append_integer(call.out, count);
  return written();
}

RespOutcome handle_type(RespCall& call) {
  append_simple(call.out, call.words[1] == call.resp.settings.key ? "string" : "none");
  return written();
}

RespOutcome handle_dbsize(RespCall& call) {
  append_integer(call.out, 1);
  return written();
}

// INFO [section ...]: what clients read (ioredis waits for loading:0), in Redis's form.
RespOutcome handle_info(RespCall& call) {
  const auto wanted = [&](std::string_view section) {
    if (call.words.size() == 1) return true;
    return std::any_of(call.words.begin() + 1, call.words.end(), [&](std::string_view word) {
      return equals_ignoring_case(word, section) || equals_ignoring_case(word, "all") ||
             equals_ignoring_case(word, "default") || equals_ignoring_case(word, "everything");
    });
  };
  std::string text;
  if (wanted("server")) {
    text += "# Server\r\nredis_version:" + std::string(kRedisVersion) +
            "\r\nredis_mode:standalone\r\ncount_server_version:" + call.resp.settings.version +
            "\r\nprocess_id:" + std::to_string(::getpid()) +
            "\r\ntcp_port:" + std::to_string(call.resp.settings.port) + "\r\n\r\n";
  }
  if (wanted("persistence")) text += "# Persistence\r\nloading:0\r\n\r\n";
  if (wanted("replication")) text += "# Replication\r\nrole:master\r\nconnected_slaves:0\r\n\r\n";
  if (wanted("keyspace")) text += "# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n\r\n";
  if (text.size() >= 2) text.resize(text.size() - 2);  // Redis ends on the last line's "\r\n"
  append_bulk(call.out, text);
  return written();
}

std::span<const RespCommand> resp_table();

RespOutcome handle_command(RespCall& call) {
  const std::span<const RespCommand> table = resp_table();
  const auto info = [&](const RespCommand& command) {
    // name, arity, flags, first key, last key, key step, ACL categories, tips, key specs,
    // subcommands: as COMMAND INFO gives them, with no flags or categories.
    const bool keyed = command.counter != CounterOp::kNone || command.handler == handle_type ||
                       command.handler == handle_exists;
    append_array(call.out, 10);
    append_bulk(call.out, command.name);
    append_integer(call.out, command.arity);
    append_set(call.out, 0, call.resp.version);
    append_integer(call.out, keyed ? 1 : 0);
    append_integer(call.out, keyed ? (command.handler == handle_exists ? -1 : 1) : 0);
    append_integer(call.out, keyed ? 1 : 0);
    append_set(call.out, 0, call.resp.version);
    append_array(call.out, 0);
    append_array(call.out, 0);
    append_array(call.out, 0);
  };
  if (call.words.size() == 1) {
    append_array(call.out, table.size());
    for (const RespCommand& command : table) info(command);
    return written();
  }
  const std::string_view sub = call.words[1];
  if (equals_ignoring_case(sub, "count")) {
    append_integer(call.out, static_cast<std::int64_t>(table.size()));
  } else if (equals_ignoring_case(sub, "list")) {
    append_array(call.out, table.size());
    for (const RespCommand& command : table) append_bulk(call.out, command.name);
  } else if (equals_ignoring_case(sub, "docs")) {
    // No documentation is served: clients (redis-cli) then use their own.
    append_map(call.out, 0, call.resp.version);
  } else if (equals_ignoring_case(sub, "info")) {
    append_array(call.out, call.words.size() - 2);
    for (std::size_t i = 2; i < call.words.size(); ++i) {
      const auto found = std::find_if(table.begin(), table.end(), [&](const RespCommand& c) {
        return equals_ignoring_case(call.words[i], c.name);
      });
      if (found == table.end()) {
        append_null_array(call.out, call.resp.version);
      } else {
        info(*found);
      }
    }
  } else {
    return error(
        call, one_line("ERR unknown subcommand '" + std::string(as_c_string(sub).substr(0, 128)) +
                       "'. Try COMMAND HELP."));
  }
  return written();
}

// --- Transactions. ---

void forget_transaction(RespConnection& resp) {
  resp.in_multi = false;
  resp.multi_refused = false;
  resp.queued.clear();
  resp.queued.shrink_to_fit();
  resp.queued_bytes = 0;
  resp.watched.reset();
}

RespOutcome handle_multi(RespCall& call) {
  if (call.resp.in_multi)
    return error(call, "ERR MULTI calls can not be nested", ErrCause::kTransaction);
  call.resp.in_multi = true;
  append_simple(call.out, "OK");
  return written();
}

RespOutcome handle_discard(RespCall& call) {
  if (!call.resp.in_multi) return error(call, "ERR DISCARD without MULTI", ErrCause::kTransaction);
  forget_transaction(call.resp);
  append_simple(call.out, "OK");
  return written();
}

RespOutcome handle_watch(RespCall& call) {
  if (call.resp.in_multi)
    return error(call, "ERR WATCH inside MULTI is not allowed", ErrCause::kTransaction);
  const bool counter = std::find(call.words.begin() + 1, call.words.end(),
                                 call.resp.settings.key) != call.words.end();
  // A key watched already stays watched from the first time.
  if (!counter || call.resp.watched) {
    append_simple(call.out, "OK");
    return written();
  }
  call.resp.watched = call.store->watch();
  const Watched& watched = *call.resp.watched;
  if (watched.later) {
    Reply reply = Reply::late(watched.later, watched.later_index, watched.seq);
    reply.shape = Reply::Shape::kOkOnly;
    return {RespOutcome::Kind::kLater, watched.seq, reply, 0};
  }
  append_simple(call.out, "OK");
  return written(watched.seq);
}

RespOutcome handle_unwatch(RespCall& call) {
  call.resp.watched.reset();
  append_simple(call.out, "OK");
  return written();
}

// Runs a queued request that is not a step, as it would have run outside the transaction.
void run_queued(const QueuedRequest& queued, Store* store, ConnectionState& connection,
                RespConnection& resp, std::string& out);

// The array of an EXEC that ran: each step's reply from `step_replies`, in order, and each
// other request's reply as it runs now.
template <typename StepReply>
void append_exec_array(const std::vector<QueuedRequest>& queued, StepReply&& step_reply,
                       Store* store, ConnectionState& connection, RespConnection& resp,
                       std::string& out) {
  append_array(out, queued.size());
  std::size_t step = 0;
  for (const QueuedRequest& request : queued) {
    if (request.step) {
      append_resp_reply(step_reply(step++), out);
    } else {
      run_queued(request, store, connection, resp, out);
    }
  }
}

RespOutcome handle_exec(RespCall& call) {
  RespConnection& resp = call.resp;
  if (!resp.in_multi) return error(call, "ERR EXEC without MULTI", ErrCause::kTransaction);
  if (resp.multi_refused) {
    forget_transaction(resp);
    return error(call, "EXECABORT Transaction discarded because of previous errors.",
                 ErrCause::kTransaction);
  }
  std::vector<Step> steps;
  for (const QueuedRequest& request : resp.queued) {
    if (request.step) steps.push_back(*request.step);
  }
  const std::optional<Watched> watched = resp.watched;
  std::vector<QueuedRequest> queued = std::move(resp.queued);
  forget_transaction(resp);
  const Transacted result = call.store->transact(steps, watched ? &*watched : nullptr);
  if (result.later) {
    resp.pending_execs.push_back(std::move(queued));
    Reply reply = Reply::late(result.later, result.later_index, result.seq);
    reply.shape = Reply::Shape::kExec;
    return {RespOutcome::Kind::kLater, result.seq, reply, 0};
  }
  if (!result.ran) {
    append_null_array(call.out, resp.version);
    return written(result.seq);
  }
  append_exec_array(
      queued, [&](std::size_t step) -> const Reply& { return result.replies[step]; }, call.store,
      call.connection, resp, call.out);
  return written(result.seq);
}

constexpr std::array kRespCommands{
    RespCommand{"get", 2, false, false, handle_counter<CounterOp::kGet>, CounterOp::kGet},
    RespCommand{"incr", 2, false, false, handle_counter<CounterOp::kIncr>, CounterOp::kIncr},
    RespCommand{"decr", 2, false, false, handle_counter<CounterOp::kDecr>, CounterOp::kDecr},
    RespCommand{"incrby", 3, false, false, handle_counter_by<CounterOp::kIncrBy>,
                CounterOp::kIncrBy},
    RespCommand{"decrby", 3, false, false, handle_counter_by<CounterOp::kDecrBy>,
                CounterOp::kDecrBy},
    RespCommand{"ping", -1, false, false, handle_ping},
    RespCommand{"echo", 2, false, false, handle_echo},
    RespCommand{"quit", -1, true, true, handle_quit},
    RespCommand{"auth", -2, true, false, handle_auth},
    RespCommand{"hello", -1, true, false, handle_hello},
    RespCommand{"select", 2, false, false, handle_select},
    RespCommand{"client", -2, false, false, handle_client},
    RespCommand{"exists", -2, false, false, handle_exists},
    RespCommand{"type", 2, false, false, handle_type},
    RespCommand{"dbsize", 1, false, false, handle_dbsize},
    RespCommand{"info", -1, false, false, handle_info},
    RespCommand{"command", -1, false, false, handle_command},
    RespCommand{"multi", 1, false, true, handle_multi},
    RespCommand{"exec", 1, false, true, handle_exec},
    RespCommand{"discard", 1, false, true, handle_discard},
    RespCommand{"watch", -2, false, true, handle_watch},
    RespCommand{"unwatch", 1, false, false, handle_unwatch},
};

std::span<const RespCommand> resp_table() { return kRespCommands; }

}  // namespace

std::string_view resp_command_name(std::size_t row) {
  return row == 0 || row > kRespCommands.size() ? std::string_view("none")
                                                : kRespCommands[row - 1].name;
}

std::size_t resp_command_count() { return kRespCommands.size(); }

namespace {

// Every name has at most 8 letters: as one 64-bit number of its bytes folded with 0x20 (see
// equals_ignoring_case), with its length beside it, a row is one or two comparisons.
constexpr std::size_t kFoldedBytes = 8;

constexpr std::uint64_t folded(std::string_view word) {
  std::uint64_t packed = 0;
  for (std::size_t i = 0; i < word.size(); ++i) {
    packed |= static_cast<std::uint64_t>(static_cast<unsigned char>(word[i]) | 0x20U) << (8 * i);
  }
  return packed;
}

constexpr std::array<std::uint64_t, kRespCommands.size()> kFoldedNames = [] {
  std::array<std::uint64_t, kRespCommands.size()> names{};
  for (std::size_t row = 0; row < kRespCommands.size(); ++row) {
    if (kRespCommands[row].name.size() > kFoldedBytes) throw "a name of at most 8 letters";
    names[row] = folded(kRespCommands[row].name);
  }
  return names;
}();

const RespCommand* find_resp_command(std::string_view name) {
  if (name.empty() || name.size() > kFoldedBytes) return nullptr;
  const std::uint64_t word = folded(name);
  for (std::size_t row = 0; row < kRespCommands.size(); ++row) {
    if (kFoldedNames[row] == word && kRespCommands[row].name.size() == name.size()) {
      return &kRespCommands[row];
    }
  }
  return nullptr;
}

bool arity_fits(const RespCommand& command, std::size_t words) {
  const auto n = static_cast<std::int64_t>(words);
  return command.arity >= 0 ? n == command.arity : n >= -command.arity;
}

void run_queued(const QueuedRequest& queued, Store* store, ConnectionState& connection,
                RespConnection& resp, std::string& out) {
  std::vector<std::string_view> words(queued.words.begin(), queued.words.end());
  RespCall call{words, store, connection, resp, out};
  queued.command->handler(call);
}

// Inside MULTI: checks the request as Redis does when queuing, then queues it.
RespOutcome queue(RespCall& call, const RespCommand& command) {
  RespConnection& resp = call.resp;
  std::size_t bytes = 0;
  for (const std::string_view word : call.words) bytes += word.size();
  if (resp.queued.size() >= kMaxQueuedRequests || resp.queued_bytes + bytes > kMaxQueuedBytes) {
    resp.multi_refused = true;
    return error(call, "ERR a transaction holds at most 1000 requests and 64 KiB of them",
                 ErrCause::kTransaction);
  }
  QueuedRequest request;
  request.command = &command;
  if (command.counter != CounterOp::kNone) {
    request.step = counter_request(command.counter, call.words, resp.settings).step;
  }
  if (!request.step) {
    request.words.assign(call.words.begin(), call.words.end());
    resp.queued_bytes += bytes;
  }
  resp.queued.push_back(std::move(request));
  append_simple(call.out, "QUEUED");
  return written();
}

// A request the parser took by a shortcut is its command on the counter's key, with the
// right number of words: when the connection may run it at once, nothing is left to look up
// or check. Otherwise (not authenticated, inside MULTI) it goes the usual way.
bool may_take_shortcut(const RespCall& call) {
  return !call.resp.in_multi &&
         (call.connection.password == nullptr || call.connection.authenticated);
}

// The rows of GET, INCR and DECR are the shortcuts' values (the metrics count by row, plus 1).
constexpr CounterOp shortcut_row_op(RespShortcut shortcut) {
  return kRespCommands[static_cast<std::size_t>(shortcut) - 1].counter;
}
static_assert(shortcut_row_op(RespShortcut::kGet) == CounterOp::kGet &&
              shortcut_row_op(RespShortcut::kIncr) == CounterOp::kIncr &&
              shortcut_row_op(RespShortcut::kDecr) == CounterOp::kDecr);

RespOutcome run_shortcut(RespShortcut shortcut, RespCall& call) {
  RespOutcome outcome = shortcut == RespShortcut::kGet    ? run_counter<CounterOp::kGet>(call)
                        : shortcut == RespShortcut::kIncr ? run_counter<CounterOp::kIncr>(call)
                                                          : run_counter<CounterOp::kDecr>(call);
  outcome.command = static_cast<std::uint8_t>(shortcut);
  return outcome;
}

}  // namespace

RespOutcome execute_resp(std::span<const std::string_view> words, Store& store,
                         ConnectionState& connection, RespConnection& resp, std::string& out,
                         RespShortcut shortcut) {
  RespCall call{words, &store, connection, resp, out};
  connection.last_command = 0;
  if (shortcut != RespShortcut::kNone && may_take_shortcut(call)) {
    return run_shortcut(shortcut, call);
  }
  const RespCommand* command = find_resp_command(words[0]);
  const bool authenticating = command != nullptr && command->before_auth;
  if (connection.password != nullptr && !connection.authenticated && !authenticating) {
    ++connection.refused_before_auth;
    append_error(out, resp_error_text(ErrCause::kNotAuthenticated));
    if (resp.in_multi) resp.multi_refused = true;
    const auto row = command == nullptr ? 0 : command - kRespCommands.data() + 1;
    return {RespOutcome::Kind::kWritten, 0, Reply::err(ErrCause::kNotAuthenticated),
            static_cast<std::uint8_t>(row)};
  }
  if (command == nullptr) {
    if (resp.in_multi) resp.multi_refused = true;
    append_error(out, unknown_command_text(words));
    return {RespOutcome::Kind::kWritten, 0, Reply::err(ErrCause::kUnknownCommand), 0};
  }
  if (!arity_fits(*command, words.size())) {
    if (command->handler == handle_exec) {
      forget_transaction(resp);
      return error(call,
                   "EXECABORT Transaction discarded because of: wrong number of arguments for "
                   "'exec' command",
                   ErrCause::kTransaction);
    }
    if (resp.in_multi) resp.multi_refused = true;
    RespOutcome outcome = wrong_arity(call, command->name);
    outcome.command = static_cast<std::uint8_t>(command - kRespCommands.data() + 1);
    return outcome;
  }
  RespOutcome outcome =
      resp.in_multi && !command->runs_in_multi ? queue(call, *command) : command->handler(call);
  outcome.command = static_cast<std::uint8_t>(command - kRespCommands.data() + 1);
  return outcome;
}

void append_late_resp_reply(const Reply& reply, ConnectionState& connection, RespConnection& resp,
                            std::string& out) {
  switch (reply.shape) {
    case Reply::Shape::kPlain:
      append_resp_reply(reply, out);
      return;
    case Reply::Shape::kOkOnly:
      if (reply.decided().kind == Reply::Kind::kErr) {
        append_resp_reply(reply.decided(), out);
      } else {
        append_simple(out, "OK");
      }
      return;
    case Reply::Shape::kExec: {
      const std::vector<QueuedRequest> queued = std::move(resp.pending_execs.front());
      resp.pending_execs.erase(resp.pending_execs.begin());
      if (resp.pending_execs.empty()) resp.pending_execs.shrink_to_fit();
      const Reply& head = reply.decided();
      if (head.kind != Reply::Kind::kOk) {
        if (head.cause == ErrCause::kStoreUnavailable) {
          append_resp_reply(head, out);
        } else {
          append_null_array(out, resp.version);
        }
        return;
      }
      const auto index = static_cast<std::size_t>(reply.value);
      append_exec_array(
          queued,
          [&](std::size_t step) -> const Reply& { return reply.later->replies[index + 1 + step]; },
          nullptr, connection, resp, out);
      return;
    }
  }
}

}  // namespace count
