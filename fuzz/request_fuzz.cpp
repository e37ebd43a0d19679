// Feeds arbitrary bytes through the whole request path of either protocol, chosen as the
// server chooses it, by the stream's first byte ('*': RESP; docs/protocol.md). The line
// protocol (splitter, parser, command table, authentication, reply bytes): one reply per line,
// every reply a valid reply line, and nothing but `err` and `quit` before a right `auth` on a
// server with a password. RESP (parser, Redis command table, MULTI/EXEC/WATCH, reply bytes):
// every request within 4096 bytes, one well-formed RESP reply per request, nothing after a
// protocol error or QUIT, and before authentication on a server with a password nothing but
// errors and QUIT's +OK, no mutation and no transaction. Both: the same replies whatever the
// fragmentation. Never does I/O.
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "commands/commands.hpp"
#include "commands/resp_commands.hpp"
#include "protocol/line_splitter.hpp"
#include "protocol/resp.hpp"
#include "store/memory_store.hpp"

namespace {

const count::ServerPassword kPassword{"s3cret"};  // in the dictionary, so the fuzzer finds it

// Runs the stream cut into pieces of `piece` bytes; returns every reply, concatenated.
std::string serve(std::string_view stream, std::size_t piece, std::size_t& lines,
                  bool with_password) {
  count::MemoryStore store;
  count::LineSplitter splitter;
  count::ConnectionState connection;
  if (with_password) connection.password = &kPassword;
  std::string replies;
  lines = 0;
  auto sink = [&](count::LineSplitter::Event event, std::string_view line) {
    if (event == count::LineSplitter::Event::kLine && line.size() > count::kMaxLineBytes) {
      std::abort();  // the splitter must never hand over an over-long line
    }
    const bool was_authenticated = connection.authenticated;
    const count::Reply reply = event == count::LineSplitter::Event::kLine
                                   ? count::execute_line(line, store, connection)
                                   : count::Reply::err();
    if (with_password && !was_authenticated && reply.kind != count::Reply::Kind::kErr &&
        reply.kind != count::Reply::Kind::kQuit && !connection.authenticated) {
      std::abort();  // a request served before authentication
    }
    if (!with_password && connection.authenticated) std::abort();
    const std::size_t before = replies.size();
    count::append_reply(reply, replies);
    std::string_view written(replies.data() + before, replies.size() - before - 1);
    if (!count::parse_reply(written)) std::abort();
    ++lines;
    return true;
  };
  for (std::size_t at = 0; at < stream.size(); at += piece) {
    splitter.feed(stream.substr(at, piece), sink);
  }
  splitter.finish(sink);
  return replies;
}

// Where the RESP reply that starts at `pos` ends, or nothing when it is not one whole reply.
std::optional<std::size_t> resp_reply_end(std::string_view data, std::size_t pos, int depth = 0) {
  if (pos >= data.size() || depth > 8) return std::nullopt;
  const std::size_t line_end = data.find("\r\n", pos);
  if (line_end == std::string_view::npos) return std::nullopt;
  const std::string_view head = data.substr(pos + 1, line_end - pos - 1);
  std::size_t next = line_end + 2;
  switch (data[pos]) {
    case '+':
    case '-':
      // Simple strings and errors are one line: no '\r' or '\n' inside.
      return head.find_first_of("\r\n") == std::string_view::npos ? std::optional(next)
                                                                  : std::nullopt;
    case '_':
      return head.empty() ? std::optional(next) : std::nullopt;
    case ':':
    case '$':
    case '*':
    case '%':
    case '~': {
      std::int64_t n = 0;
      const auto [end, ec] = std::from_chars(head.data(), head.data() + head.size(), n);
      if (ec != std::errc{} || end != head.data() + head.size() || head.empty())
        return std::nullopt;
      if (data[pos] == ':') return next;
      if (n == -1 && (data[pos] == '$' || data[pos] == '*')) return next;
      if (n < 0) return std::nullopt;
      const auto size = static_cast<std::size_t>(n);
      if (data[pos] == '$') {
        if (data.size() < next + size + 2 || data.substr(next + size, 2) != "\r\n") {
          return std::nullopt;
        }
        return next + size + 2;
      }
      const std::size_t items = data[pos] == '%' ? 2 * size : size;
      for (std::size_t i = 0; i < items; ++i) {
        const std::optional<std::size_t> item = resp_reply_end(data, next, depth + 1);
        if (!item) return std::nullopt;
        next = *item;
      }
      return next;
    }
    default:
      return std::nullopt;
  }
}

// The RESP path, as a session runs it, over the stream cut into pieces of `piece` bytes;
// returns every reply, concatenated, and counts the requests served.
std::string serve_resp(std::string_view stream, std::size_t piece, std::size_t& requests,
                       bool with_password) {
  count::MemoryStore store;
  // As a session has it: the shortcuts of the key's GET, INCR and DECR on.
  const count::RespSettings settings{"count", "fuzz", 4444, count::RespShortcuts("count")};
  count::RespParser parser(&settings.shortcuts);
  count::ConnectionState connection;
  if (with_password) connection.password = &kPassword;
  count::RespConnection resp(settings, 1);
  std::string replies;
  requests = 0;
  bool closed = false;  // after QUIT or a protocol error nothing more is served
  auto sink = [&](count::RespParser::Event event, std::span<const std::string_view> words) {
    if (closed) std::abort();
    if (event == count::RespParser::Event::kError) {
      if (!words.empty() || !parser.failed()) std::abort();
      count::append_error(replies, "ERR " + parser.error());
      closed = true;
      return false;
    }
    std::size_t bytes = 0;
    for (const std::string_view word : words) bytes += word.size();
    if (words.empty() || bytes > count::kMaxRespRequestBytes) std::abort();
    const bool was_authenticated = connection.authenticated;
    const std::uint64_t version_before = store.watch().version;
    const std::uint64_t wrong_before = connection.wrong_passwords;
    std::string out;
    // With the shortcut the request was taken by, as a session runs it: a stream cut into
    // small pieces goes the long way, so whole and pieces compare the two.
    const count::RespOutcome outcome =
        count::execute_resp(words, store, connection, resp, out, parser.shortcut());
    if (outcome.kind == count::RespOutcome::Kind::kLater) std::abort();  // the memory store
    if (resp_reply_end(out, 0) != out.size()) std::abort();              // exactly one whole reply
    if (with_password && !was_authenticated && !connection.authenticated) {
      // Served before authentication: only errors and QUIT's +OK, and nothing changed.
      if (out[0] != '-' && outcome.kind != count::RespOutcome::Kind::kQuit) std::abort();
      if (store.watch().version != version_before || resp.in_multi || resp.watched) std::abort();
    }
    if (resp.queued.size() > count::kMaxQueuedRequests) std::abort();
    replies += out;
    ++requests;
    if (outcome.kind == count::RespOutcome::Kind::kQuit) {
      closed = true;
      return false;
    }
    // A wrong password stops the batch, as in the session; the rest is fed again below.
    return connection.wrong_passwords == wrong_before;
  };
  for (std::size_t at = 0; at < stream.size() && !closed; at += piece) {
    std::string_view bytes = stream.substr(at, piece);
    // Each stop takes at least one request, so this ends.
    for (std::string_view rest; !parser.feed(bytes, sink, &rest) && !closed; bytes = rest) {
    }
  }
  return replies;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // The first byte picks a fragment size; the rest is the stream.
  const std::size_t piece = 1 + data[0] % 17;
  const std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);
  std::size_t whole_lines = 0;
  std::size_t piece_lines = 0;
  // The first byte's high bit: a server with a password or without.
  const bool with_password = (data[0] & 0x80) != 0;
  // The stream's first byte chooses the protocol, as in the server.
  const auto run = stream.empty() || stream.front() != '*' ? serve : serve_resp;
  const std::string whole =
      run(stream, std::max<std::size_t>(stream.size(), 1), whole_lines, with_password);
  const std::string pieces = run(stream, piece, piece_lines, with_password);
  if (whole != pieces || whole_lines != piece_lines) std::abort();
  return 0;
}
