// Micro-benchmarks of the commands layer: one request line parsed, found in the table and
// run on a MemoryStore, as a session does it for each line. No sockets.
#include <benchmark/benchmark.h>

#include <string_view>

#include "commands/commands.hpp"
#include "store/memory_store.hpp"

namespace {

void BM_ExecuteLine(benchmark::State& state, std::string_view line) {
  count::MemoryStore store;
  for (auto _ : state) {
    count::Reply reply = count::execute_line(line, store);
    benchmark::DoNotOptimize(reply);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_ExecuteLine, incr, std::string_view("incr"));
BENCHMARK_CAPTURE(BM_ExecuteLine, decr, std::string_view("decr"));
BENCHMARK_CAPTURE(BM_ExecuteLine, add, std::string_view("add 12345"));
BENCHMARK_CAPTURE(BM_ExecuteLine, get, std::string_view("get"));
BENCHMARK_CAPTURE(BM_ExecuteLine, upper_case_get, std::string_view("GET"));
BENCHMARK_CAPTURE(BM_ExecuteLine, unknown, std::string_view("frobnicate"));

// Both cores on one store: what the shared counter costs when loops contend for it.
void BM_ExecuteLineIncrShared(benchmark::State& state) {
  static count::MemoryStore store;
  for (auto _ : state) {
    count::Reply reply = count::execute_line("incr", store);
    benchmark::DoNotOptimize(reply);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ExecuteLineIncrShared)->Threads(1)->Threads(2);

}  // namespace
