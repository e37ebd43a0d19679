// The timing of a load run and the loop that drives its workers, shared by count-bench's
// engines (the line, RESP and memcache one, and the etcd baseline). Internal to src/loadgen.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "loadgen/load_generator.hpp"

namespace count {

// The timing of a run, fixed before the first request and read-only afterwards.
struct Schedule {
  using Clock = std::chrono::steady_clock;

  bool by_count = false;  // -n: a budget of requests; otherwise by time
  Clock::time_point start;
  Clock::time_point measure_from;  // end of the warm-up
  Clock::time_point stop_at;       // no request is sent from here on (by time)

  // Starts the clock now: the warm-up, then `duration` (both ignored by count).
  void start_now(Seconds warmup, Seconds duration) {
    start = Clock::now();
    measure_from =
        start + std::chrono::duration_cast<Clock::duration>(by_count ? Seconds{0} : warmup);
    stop_at = measure_from + std::chrono::duration_cast<Clock::duration>(duration);
  }
};

// Runs every worker on a thread of its own and waits for all of them, calling
// `on_progress` from this thread about every `every`. A Worker has run(), done() (any
// thread), and `replies_of(worker)` says how many replies it has had so far (any thread).
template <typename Worker, typename RepliesOf>
void run_workers(std::vector<std::unique_ptr<Worker>>& workers, const Schedule& schedule,
                 const std::function<void(const Progress&)>& on_progress,
                 std::chrono::milliseconds every, const RepliesOf& replies_of) {
  std::vector<std::thread> running;
  running.reserve(workers.size());
  for (auto& worker : workers) running.emplace_back([&worker] { worker->run(); });

  auto next_report = schedule.start + every;
  for (;;) {
    const bool all_done = std::all_of(workers.begin(), workers.end(),
                                      [](const auto& worker) { return worker->done(); });
    if (all_done) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const auto now = Schedule::Clock::now();
    if (on_progress && now >= next_report) {
      next_report += every;
      Progress progress;
      progress.elapsed = now - schedule.start;
      progress.warming_up = !schedule.by_count && now < schedule.measure_from;
      for (const auto& worker : workers) progress.replies += replies_of(*worker);
      on_progress(progress);
    }
  }
  for (std::thread& thread : running) thread.join();
}

}  // namespace count
