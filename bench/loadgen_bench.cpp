// Micro-benchmarks of count-bench's own per-request work: recording a latency and parsing
// a reply. They bound how fast the load generator can go, apart from the sockets.
#include <benchmark/benchmark.h>

#include <string>

#include "loadgen/codec.hpp"
#include "loadgen/histogram.hpp"

namespace {

void BM_HistogramRecord(benchmark::State& state) {
  count::Histogram histogram;
  std::uint64_t value = 12345;
  for (auto _ : state) {
    histogram.record(value);
    value = value * 6364136223846793005ULL + 1442695040888963407ULL;  // spread over buckets
    value >>= 40;
  }
  benchmark::DoNotOptimize(histogram.count());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HistogramRecord);

void BM_ParseReply(benchmark::State& state, count::WireProtocol protocol, std::string bytes) {
  std::string error;
  const auto mix = count::CommandMix::parse("incr", error);
  const auto codec = count::Codec::make(protocol, "counter", 1, *mix, error);
  for (auto _ : state) {
    count::WireReply reply = codec->parse(bytes);
    benchmark::DoNotOptimize(reply);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_ParseReply, line_ok, count::WireProtocol::kLine, std::string("ok\n"));
BENCHMARK_CAPTURE(BM_ParseReply, line_val, count::WireProtocol::kLine,
                  std::string("val -123456\n"));
BENCHMARK_CAPTURE(BM_ParseReply, resp_integer, count::WireProtocol::kResp,
                  std::string(":123456\r\n"));
BENCHMARK_CAPTURE(BM_ParseReply, resp_bulk, count::WireProtocol::kResp,
                  std::string("$6\r\n123456\r\n"));
BENCHMARK_CAPTURE(BM_ParseReply, memcache_value, count::WireProtocol::kMemcache,
                  std::string("VALUE counter 0 6\r\n123456\r\nEND\r\n"));

}  // namespace
