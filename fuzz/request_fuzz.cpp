// Feeds arbitrary bytes through the whole request path (splitter, parser, command table,
// authentication, reply bytes) and checks the protocol's invariants: one reply per line,
// every reply a valid reply line, the same replies whatever the fragmentation, and nothing
// but `err` and `quit` before a right `auth` on a server with a password. Never does I/O.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "commands/commands.hpp"
#include "protocol/line_splitter.hpp"
#include "store/memory_store.hpp"

namespace {

const std::string kPassword = "s3cret";  // in the dictionary, so the fuzzer finds it

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
  const std::string whole =
      serve(stream, std::max<std::size_t>(stream.size(), 1), whole_lines, with_password);
  const std::string pieces = serve(stream, piece, piece_lines, with_password);
  if (whole != pieces || whole_lines != piece_lines) std::abort();
  return 0;
}
