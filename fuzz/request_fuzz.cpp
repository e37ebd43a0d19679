// Feeds arbitrary bytes through the whole request path (splitter, parser, command table,
// reply bytes) and checks the protocol's invariants: one reply per line, every reply a
// valid reply line, the same replies whatever the fragmentation. Never does I/O.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "commands/commands.hpp"
#include "protocol/line_splitter.hpp"
#include "store/memory_store.hpp"

namespace {

// Runs the stream cut into pieces of `piece` bytes; returns every reply, concatenated.
std::string serve(std::string_view stream, std::size_t piece, std::size_t& lines) {
  count::MemoryStore store;
  count::LineSplitter splitter;
  std::string replies;
  lines = 0;
  auto sink = [&](count::LineSplitter::Event event, std::string_view line) {
    if (event == count::LineSplitter::Event::kLine && line.size() > count::kMaxLineBytes) {
      std::abort();  // the splitter must never hand over an over-long line
    }
    const count::Reply reply = event == count::LineSplitter::Event::kLine
                                   ? count::execute_line(line, store)
                                   : count::Reply::err();
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
  const std::string whole = serve(stream, std::max<std::size_t>(stream.size(), 1), whole_lines);
  const std::string pieces = serve(stream, piece, piece_lines);
  if (whole != pieces || whole_lines != piece_lines) std::abort();
  return 0;
}
