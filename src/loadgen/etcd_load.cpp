// The etcd baseline's clients: one thread each, blocking on its own EtcdClient. A client's
// state is touched by its thread only while it runs; the calling thread reads its atomic
// count of finished requests for progress, and the rest after join().
#include "loadgen/etcd_load.hpp"
#include "loadgen/schedule.hpp"

#include <algorithm>
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

namespace count {
namespace {

using Clock = std::chrono::steady_clock;

// How one request ended.
struct Outcome {
  Verdict verdict = Verdict::kGood;
  bool unknown = false;         // a compare-and-swap sent without an answer
  std::uint64_t conflicts = 0;  // compares lost on the way
  std::string problem;          // for a bad verdict
};

// Each connection stands for a separate etcd user, so its client gets TCP connections of
// its own rather than sharing the process's.
EtcdClientOptions apart(EtcdClientOptions options) {
  options.own_connections = true;
  return options;
}

class EtcdWorker {
 public:
  EtcdWorker(const EtcdLoadOptions& options, const CommandMix& mix, const Schedule& schedule,
             std::size_t index, std::uint64_t budget)
      : options_(options),
        mix_(mix),
        schedule_(schedule),
        client_(apart(options.client)),
        // A key of this connection's own, for the put that EtcdClient::commit adds to each
        // transaction; nothing reads it.
        record_key_(options.key + "/bench/" + std::to_string(index)),
        mix_pos_(index * 7919 % mix.cycle_length()),
        budget_(budget) {}

  // Runs requests until the budget or the time is spent; on the worker's own thread.
  void run() {
    for (;;) {
      const Clock::time_point started = Clock::now();
      if (schedule_.by_count ? budget_ == 0 : started >= schedule_.stop_at) break;
      if (schedule_.by_count) --budget_;
      const Op op = mix_.at(mix_pos_++);
      ++result_.load.sent;
      const Outcome outcome = op == Op::kGet ? get() : mutate(delta_of(op));
      const Clock::time_point done = Clock::now();
      account(op, outcome, started, done);
      last_done_ = done;
      finished_.fetch_add(1, std::memory_order_relaxed);
    }
    done_.store(true, std::memory_order_release);
  }

  std::uint64_t finished() const { return finished_.load(std::memory_order_relaxed); }
  bool done() const { return done_.load(std::memory_order_acquire); }
  EtcdLoadResult& result() { return result_; }
  Clock::time_point last_done() const { return last_done_; }

 private:
  std::int64_t delta_of(Op op) const {
    switch (op) {
      case Op::kIncr:
        return 1;
      case Op::kDecr:
        return -1;
      case Op::kAdd:
        return options_.add_value;
      case Op::kGet:
        break;
    }
    return 0;
  }

  bool measured(Clock::time_point at) const {
    return schedule_.by_count || (at >= schedule_.measure_from && at <= schedule_.stop_at);
  }

  Outcome get() {
    const EtcdKeyCheck check = client_.check_key(options_.key);
    switch (check.state) {
      case EtcdKeyState::kMissing:
      case EtcdKeyState::kCounter:
        return {};
      case EtcdKeyState::kNotOurs:
        return {Verdict::kUnexpected, false, 0, "get: " + check.error};
      case EtcdKeyState::kUnreachable:
        break;
    }
    return {Verdict::kErrorReply, false, 0, "get: " + check.error};
  }

  // Read, compare-and-swap, and again from the read while the compare fails.
  Outcome mutate(std::int64_t delta) {
    Outcome outcome;
    for (;;) {
      const EtcdRead read = client_.read(options_.key, record_key_);
      if (!read.ok()) {
        outcome.verdict = Verdict::kErrorReply;
        outcome.problem = "the read of a mutation failed: " + read.error;
        return outcome;
      }
      std::int64_t value = 0;
      if (read.key.exists) {
        const std::optional<std::int64_t> decoded = decode_counter(read.key.value);
        if (!decoded) {
          outcome.verdict = Verdict::kUnexpected;
          outcome.problem = "the key holds bytes that are not a counter value";
          return outcome;
        }
        value = *decoded;
      }
      std::int64_t next = 0;
      if (__builtin_add_overflow(value, delta, &next)) {
        // What count-server answers `err` to: the counter stays inside int64.
        outcome.verdict = Verdict::kErrorReply;
        outcome.problem = "the counter would leave the signed 64-bit range";
        return outcome;
      }
      const EtcdCommit commit =
          client_.commit(options_.key, read.key.mod_revision, encode_counter(next), record_key_,
                         std::to_string(++commits_));
      switch (commit.status) {
        case CommitStatus::kCommitted:
          return outcome;
        case CommitStatus::kConflict:
          ++outcome.conflicts;
          if (measured(Clock::now())) ++result_.measured_conflicts;
          continue;
        case CommitStatus::kFailedNotSent:
          outcome.verdict = Verdict::kErrorReply;
          outcome.problem = "a compare-and-swap could not be sent: " + commit.error;
          return outcome;
        case CommitStatus::kUnknown:
          outcome.verdict = Verdict::kErrorReply;
          outcome.unknown = true;
          outcome.problem = "a compare-and-swap got no answer (outcome unknown): " + commit.error;
          return outcome;
      }
    }
  }

  void account(Op op, const Outcome& outcome, Clock::time_point started, Clock::time_point done) {
    LoadResult& load = result_.load;
    result_.max_conflicts = std::max(result_.max_conflicts, outcome.conflicts);
    if (measured(done)) {
      load.latency_ns.record(static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(done - started).count()));
      ++load.measured;
      if (mutates(op) && outcome.verdict == Verdict::kGood) ++result_.measured_mutations;
    }
    switch (outcome.verdict) {
      case Verdict::kGood:
        ++load.good;
        if (op == Op::kIncr) ++load.acked.incr;
        if (op == Op::kDecr) ++load.acked.decr;
        if (op == Op::kAdd) ++load.acked.add;
        return;
      case Verdict::kErrorReply:
        ++load.error_replies;
        if (outcome.unknown) ++result_.unknown_outcome;
        break;
      case Verdict::kUnexpected:
        ++load.unexpected;
        break;
    }
    if (load.first_problem.empty()) load.first_problem = outcome.problem;
  }

  const EtcdLoadOptions& options_;
  const CommandMix& mix_;
  const Schedule& schedule_;
  EtcdClient client_;
  std::string record_key_;
  std::size_t mix_pos_;
  std::uint64_t budget_;  // requests this client may still start (by count)
  std::uint64_t commits_ = 0;
  Clock::time_point last_done_;
  EtcdLoadResult result_;
  std::atomic<std::uint64_t> finished_{0};  // written by the worker, read for progress
  std::atomic<bool> done_{false};
};

}  // namespace

EtcdLoadGenerator::EtcdLoadGenerator(EtcdLoadOptions options, const CommandMix& mix)
    : options_(std::move(options)), mix_(mix) {}

EtcdLoadResult EtcdLoadGenerator::run(const std::function<void(const Progress&)>& on_progress,
                                      std::chrono::milliseconds every) {
  const unsigned connections = std::max(1U, options_.connections);
  Schedule schedule;
  schedule.by_count = options_.requests > 0;
  std::vector<std::unique_ptr<EtcdWorker>> workers;
  for (unsigned i = 0; i < connections; ++i) {
    // By count, each connection is worth an equal part of the requests.
    const std::uint64_t budget =
        options_.requests / connections + (i < options_.requests % connections ? 1 : 0);
    workers.push_back(std::make_unique<EtcdWorker>(options_, mix_, schedule, i, budget));
  }

  schedule.start_now(options_.warmup, options_.duration);
  run_workers(workers, schedule, on_progress, every,
              [](const auto& worker) { return worker.finished(); });

  EtcdLoadResult total;
  Clock::time_point last_done = schedule.start;
  for (auto& worker : workers) {
    const EtcdLoadResult& part = worker->result();
    total.load.latency_ns.merge(part.load.latency_ns);
    total.load.measured += part.load.measured;
    total.load.sent += part.load.sent;
    total.load.good += part.load.good;
    total.load.error_replies += part.load.error_replies;
    total.load.unexpected += part.load.unexpected;
    total.load.acked += part.load.acked;
    if (total.load.first_problem.empty()) total.load.first_problem = part.load.first_problem;
    total.measured_conflicts += part.measured_conflicts;
    total.measured_mutations += part.measured_mutations;
    total.max_conflicts = std::max(total.max_conflicts, part.max_conflicts);
    total.unknown_outcome += part.unknown_outcome;
    last_done = std::max(last_done, worker->last_done());
  }
  total.load.window = schedule.by_count ? Seconds(last_done - schedule.start) : options_.duration;
  return total;
}

std::int64_t read_etcd_counter(const EtcdClientOptions& options, std::string_view key) {
  EtcdClient client(options);
  const EtcdKeyCheck check = client.check_key(key);
  switch (check.state) {
    case EtcdKeyState::kMissing:
      return 0;
    case EtcdKeyState::kCounter:
      return check.value;
    case EtcdKeyState::kNotOurs:
      throw ProbeError("reading the counter: " + check.error);
    case EtcdKeyState::kUnreachable:
      break;
  }
  throw ConnectError(check.error);
}

}  // namespace count
