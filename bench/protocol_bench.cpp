// Micro-benchmarks of the protocol layer: splitting bytes into lines, parsing a request
// line, writing a reply. Pure CPU work on strings; no sockets, no store.
#include <benchmark/benchmark.h>

#include <string>
#include <string_view>

#include "protocol/line_splitter.hpp"
#include "protocol/reply.hpp"
#include "protocol/request.hpp"

namespace {

// What a pipelining client sends: many requests in one read.
std::string requests_block(std::size_t lines) {
  std::string block;
  const std::string_view kinds[] = {"incr\n", "get\n", "add -12345\n", "decr\n"};
  for (std::size_t i = 0; i < lines; ++i) block += kinds[i % 4];
  return block;
}

void BM_LineSplitterWholeBlock(benchmark::State& state) {
  const std::string block = requests_block(static_cast<std::size_t>(state.range(0)));
  count::LineSplitter splitter;
  std::size_t lines = 0;
  for (auto _ : state) {
    splitter.feed(block, [&lines](count::LineSplitter::Event, std::string_view line) {
      benchmark::DoNotOptimize(line.data());
      ++lines;
      return true;
    });
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(lines));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * block.size()));
}
BENCHMARK(BM_LineSplitterWholeBlock)->Arg(1)->Arg(16)->Arg(256);

// The same bytes arriving 7 at a time: every line crosses a read boundary.
void BM_LineSplitterSmallPieces(benchmark::State& state) {
  const std::string block = requests_block(256);
  const std::string_view bytes(block);
  count::LineSplitter splitter;
  std::size_t lines = 0;
  for (auto _ : state) {
    for (std::size_t at = 0; at < bytes.size(); at += 7) {
      splitter.feed(bytes.substr(at, 7),
                    [&lines](count::LineSplitter::Event, std::string_view line) {
                      benchmark::DoNotOptimize(line.data());
                      ++lines;
                      return true;
                    });
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(lines));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * block.size()));
}
BENCHMARK(BM_LineSplitterSmallPieces);

void BM_ParseRequest(benchmark::State& state, std::string_view line) {
  for (auto _ : state) {
    count::ParsedRequest parsed = count::parse_request(line);
    benchmark::DoNotOptimize(parsed);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_ParseRequest, incr, std::string_view("incr"));
BENCHMARK_CAPTURE(BM_ParseRequest, add, std::string_view("add -12345"));
BENCHMARK_CAPTURE(BM_ParseRequest, padded_telnet, std::string_view("  GET \t\r"));

void BM_ParseInt64(benchmark::State& state) {
  for (auto _ : state) {
    auto value = count::parse_int64("-9223372036854775808");
    benchmark::DoNotOptimize(value);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseInt64);

void BM_AppendReply(benchmark::State& state, count::Reply reply) {
  std::string out;
  out.reserve(4096);
  for (auto _ : state) {
    out.clear();
    count::append_reply(reply, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_AppendReply, ok, count::Reply::ok(0));
BENCHMARK_CAPTURE(BM_AppendReply, val_small, count::Reply::val(42, 0));
BENCHMARK_CAPTURE(BM_AppendReply, val_min, count::Reply::val(INT64_MIN, 0));

}  // namespace
