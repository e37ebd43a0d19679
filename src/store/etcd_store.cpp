#include "store/etcd_store.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <random>
#include <utility>

#include "core/counter.hpp"
#include "log/log.hpp"

namespace count {
namespace {

using Clock = std::chrono::steady_clock;

std::string random_front_end_id() {
  std::random_device random;
  return fmt::format("{:08x}{:08x}", random(), random());
}

}  // namespace

EtcdStore::EtcdStore(std::unique_ptr<EtcdTxnKv> kv, EtcdStoreOptions options)
    : kv_(std::move(kv)),
      options_(std::move(options)),
      keys_(options_.key),
      lease_(*kv_, options_.lease_ttl) {
  if (options_.front_end_id.empty()) options_.front_end_id = random_front_end_id();

  // The first read: etcd must answer, and the counter's keys must hold nothing or ours.
  const auto deadline = Clock::now() + options_.request_timeout;
  std::string error;
  for (int attempt = 0;; ++attempt) {
    const EtcdTransacted read = kv_->read_ranges(keys_.read_all());
    if (read.status == TransactStatus::kThen) {
      std::optional<PartsState> state =
          parse_parts(keys_, read.revision, read.ranges.at(0), read.ranges.at(1), &error);
      if (!state) throw EtcdStoreError(fmt::format("etcd: {}; not touching it", error));
      state_ = std::move(state);
      break;
    }
    error = read.error;
    if (Clock::now() >= deadline) {
      throw EtcdStoreError(fmt::format("etcd at {} did not answer within {} ms: {}",
                                       kv_->where(), options_.request_timeout.count(), error));
    }
    std::this_thread::sleep_for(pause_after(attempt));
  }
  initial_value_ = state_->total();
  known_value_.store(initial_value_, std::memory_order_relaxed);
  if (const PartRecord* mine = state_->find(options_.front_end_id)) {
    next_txn_ = mine->part.txn + 1;  // this ID ran before: its numbers go on
  }
  for (int attempt = 0; !lease_.start(&error); ++attempt) {
    if (Clock::now() >= deadline) {
      throw EtcdStoreError(fmt::format("etcd at {} granted no lease within {} ms: {}",
                                       kv_->where(), options_.request_timeout.count(), error));
    }
    std::this_thread::sleep_for(pause_after(attempt));
  }
  thread_ = std::thread([this] { run(); });
  watchdog_ = std::thread([this] { expire_open_rounds(); });
}

EtcdStore::~EtcdStore() { close(); }

std::tuple<std::shared_ptr<const LateReplies>, std::size_t, Seq> EtcdStore::join_open_round(
    std::span<const Entry> entries) const {
  std::unique_lock lock(mutex_);
  Round& round = *open_;
  const bool opened = round.entries.empty();
  if (opened) round.opened_at = Clock::now();
  const std::size_t first = round.entries.size();
  round.entries.insert(round.entries.end(), entries.begin(), entries.end());
  round.replies->replies.resize(round.entries.size());
  next_seq_ += entries.size();
  round.last_seq = next_seq_;
  std::tuple<std::shared_ptr<const LateReplies>, std::size_t, Seq> joined{round.replies, first,
                                                                         round.last_seq};
  lock.unlock();
  if (opened) expiry_wake_.notify_one();  // the watchdog times the new round
  return joined;
}

template <typename Result>
Result EtcdStore::join_open_round(Entry entry) const {
  auto [later, index, seq] = join_open_round(std::span<const Entry>(&entry, 1));
  Result result;
  result.seq = seq;
  result.later = std::move(later);
  result.later_index = index;
  return result;
}

Applied EtcdStore::add(std::int64_t delta) {
  return join_open_round<Applied>({Entry::Kind::kAdd, delta});
}

Snapshot EtcdStore::get() const { return join_open_round<Snapshot>({Entry::Kind::kGet}); }

Watched EtcdStore::watch() { return join_open_round<Watched>({Entry::Kind::kWatch}); }

Transacted EtcdStore::transact(std::span<const Step> steps, const Watched* watched) {
  std::vector<Entry> entries;
  entries.reserve(steps.size() + 1);
  Entry head{Entry::Kind::kTransaction};
  head.steps = static_cast<std::uint32_t>(steps.size());
  if (watched) {
    head.watch = watched->later;
    head.watch_index = watched->later_index;
  }
  entries.push_back(std::move(head));
  for (const Step& step : steps) {
    entries.push_back({step.is_get ? Entry::Kind::kGet : Entry::Kind::kStep, step.delta});
  }
  auto [later, index, seq] = join_open_round(entries);
  Transacted result;
  result.seq = seq;
  result.later = std::move(later);
  result.later_index = index;
  return result;
}

// A loop served its turn: if the round thread is idle, the open round goes now. While a
// round trip is in flight, later requests keep joining the open round, which goes as soon
// as that round trip ends.
void EtcdStore::commit() {
  {
    const std::lock_guard lock(mutex_);
    if (open_->entries.empty()) return;
    send_requested_ = true;
  }
  wake_.notify_one();
}

bool EtcdStore::close() {
  {
    const std::lock_guard lock(mutex_);
    if (stop_ && !thread_.joinable()) return true;
    stop_ = true;
    give_up_at_ = Clock::now() + options_.request_timeout;
  }
  wake_.notify_one();
  expiry_wake_.notify_one();
  if (watchdog_.joinable()) watchdog_.join();
  if (thread_.joinable()) {
    thread_.join();
    lease_.revoke();  // the alive key goes now: the next rebalance folds this part
  }
  return true;
}

EtcdStore::Stats EtcdStore::stats() const {
  const std::lock_guard lock(stats_mutex_);
  return stats_;
}

void EtcdStore::write_metrics(MetricsText& out) const {
  const Stats s = stats();
  out.gauge("count_server_value",
            "The counter's value, as this front end saw it in etcd at its last answer.",
            static_cast<double>(known_value_.load(std::memory_order_relaxed)));
  out.counter("count_server_etcd_requests_total", "Requests answered through etcd.", s.requests);
  out.counter("count_server_etcd_rounds_total",
              "Rounds answered: each combines the requests that arrived during the last one.",
              s.rounds);
  out.counter("count_server_etcd_transactions_total", "Transactions sent to etcd.", s.transactions);
  out.counter("count_server_etcd_conflicts_total",
              "Transactions that lost their compare to another front end.", s.conflicts);
  out.counter("count_server_etcd_unknown_outcomes_total",
              "Transactions whose outcome etcd did not tell, resolved by a fence and a read.",
              s.unknown);
  out.counter("count_server_etcd_reads_total", "Reads of the counter's keys.", s.reads);
  out.counter("count_server_etcd_fast_paths_total",
              "Rounds committed within this front end's grant, by writing its part alone.",
              s.fast_paths);
  out.counter("count_server_etcd_rebalances_total",
              "Rounds that left the grant: judged against the exact total, then the headroom "
              "shared out again.",
              s.rebalances);
  out.counter("count_server_etcd_failed_rounds_total",
              "Rounds answered err because etcd did not answer in time.", s.failed_rounds);
}

void EtcdStore::run() {
  for (;;) {
    std::shared_ptr<Round> round;
    {
      std::unique_lock lock(mutex_);
      // Until the open round is to go: the lease renewed when due meanwhile.
      while (!stop_) {
        Clock::time_point wake_at = lease_.next_due();
        if (send_requested_ && !open_->entries.empty()) {
          if (open_->entries.size() >= expected_ || Clock::now() >= linger_until_) break;
          wake_at = std::min(wake_at, linger_until_);  // lingering
        }
        if (wake_at == Clock::time_point::max()) {
          wake_.wait(lock);  // no lease to renew: the next round grants one
        } else if (wake_.wait_until(lock, wake_at) == std::cv_status::timeout) {
          lock.unlock();
          lease_.tick();  // renews only when due
          lock.lock();
        }
      }
      if (open_->entries.empty()) return;  // stopping, and nothing left to send
      send_requested_ = false;
      round = std::exchange(open_, std::make_shared<Round>());
    }
    lease_.tick();
    const Clock::time_point sent_at = Clock::now();
    serve(*round);
    const Clock::time_point served_at = Clock::now();
    if (state_) known_value_.store(state_->total(), std::memory_order_relaxed);
    publish(*round);
    // Whatever joined meanwhile goes next: that is the combining. The clients just answered
    // are expected back (most send again as soon as they read their replies), so the next
    // round waits for them too, for at most a part of the round trip just made: it then
    // carries every request in flight, in one transaction instead of two.
    const std::lock_guard lock(mutex_);
    expected_ = round->entries.size() + open_->entries.size();
    linger_until_ =
        served_at + std::min<Clock::duration>((served_at - sent_at) / 2, options_.max_linger);
    if (!open_->entries.empty()) send_requested_ = true;
  }
}

EtcdStore::Plan EtcdStore::plan_of(const Round& round) {
  Plan plan;
  // How many of the round's mutations run before each entry (a WATCH compares it).
  std::vector<std::size_t> before(round.entries.size(), 0);
  std::size_t skip_until = 0;
  for (std::size_t i = 0; i < round.entries.size(); ++i) {
    const Entry& entry = round.entries[i];
    before[i] = plan.deltas.size();
    if (entry.kind == Entry::Kind::kAdd || entry.kind == Entry::Kind::kStep) {
      if (i >= skip_until) plan.deltas.push_back(entry.delta);
    } else if (entry.kind == Entry::Kind::kTransaction && entry.watch && i >= skip_until) {
      if (entry.watch != round.replies) {
        plan.needs_exact = true;
      } else if (before[entry.watch_index] != plan.deltas.size()) {
        skip_until = i + 1 + entry.steps;
      }
    }
  }
  return plan;
}

std::pair<std::int64_t, bool> EtcdStore::decide(Round& round, const Base& base) const {
  std::int64_t value = base.value;
  std::int64_t applied = 0;  // mutations applied so far in this round
  const Seq first_seq = round.last_seq + 1 - round.entries.size();
  // A step of a transaction that did not run is skipped: its reply is never shown.
  std::size_t skip_until = 0;
  for (std::size_t i = 0; i < round.entries.size(); ++i) {
    const Entry& entry = round.entries[i];
    const Seq seq = first_seq + i;
    Reply& reply = round.replies->replies[i];
    if (i < skip_until) {
      reply = Reply::err(seq);
      continue;
    }
    switch (entry.kind) {
      case Entry::Kind::kGet:
        reply = Reply::val(value, seq);
        break;
      case Entry::Kind::kAdd:
      case Entry::Kind::kStep: {
        // The range rule, request by request, in arrival order (docs/protocol.md).
        const std::optional<std::int64_t> next = checked_add(value, entry.delta);
        if (!next) {
          reply = Reply::err(seq, ErrCause::kOverflow);
          break;
        }
        value = *next;
        ++applied;
        reply = Reply::ok(seq, value);
        break;
      }
      case Entry::Kind::kWatch:
        // For now, how many mutations of the round came before it; settle_watches() turns it
        // into the version.
        reply = Reply::ok(seq, applied);
        break;
      case Entry::Kind::kTransaction: {
        bool unchanged = true;
        if (entry.watch) {
          const Reply& watched = entry.watch->replies[entry.watch_index];
          if (entry.watch == round.replies) {
            unchanged = watched.value == applied;  // watched earlier in this round
          } else {
            // Decided in an earlier round: the version then, or -1, or an err.
            unchanged = watched.kind == Reply::Kind::kOk && watched.value >= 0 &&
                        watched.value == base.version && applied == 0;
          }
        }
        reply = unchanged ? Reply::ok(seq) : Reply::err(seq);
        if (!unchanged) skip_until = i + 1 + entry.steps;
        break;
      }
    }
  }
  return {value, applied > 0};
}

void EtcdStore::settle_watches(Round& round, std::uint64_t version) {
  std::int64_t applied = 0;
  for (std::size_t i = 0; i < round.entries.size(); ++i) {
    const Reply& reply = round.replies->replies[i];
    const Entry::Kind kind = round.entries[i].kind;
    if ((kind == Entry::Kind::kAdd || kind == Entry::Kind::kStep) &&
        reply.kind == Reply::Kind::kOk) {
      ++applied;
    }
  }
  for (std::size_t i = 0; i < round.entries.size(); ++i) {
    Reply& reply = round.replies->replies[i];
    if (round.entries[i].kind == Entry::Kind::kWatch && reply.kind == Reply::Kind::kOk) {
      reply.value = reply.value == applied ? static_cast<std::int64_t>(version) : -1;
    }
  }
}

void EtcdStore::publish(Round& round) {
  // The replies are written before the flag that lets them out.
  round.replies->decided.store(true, std::memory_order_release);
  Seq decided = decided_seq_.load(std::memory_order_relaxed);
  while (round.last_seq > decided &&
         !decided_seq_.compare_exchange_weak(decided, round.last_seq, std::memory_order_release,
                                             std::memory_order_relaxed)) {
  }
  if (listener_) listener_();
  const std::lock_guard lock(stats_mutex_);
  stats_.requests += round.entries.size();
  ++stats_.rounds;
}

void EtcdStore::count(std::uint64_t Stats::*counter, std::uint64_t n) {
  const std::lock_guard lock(stats_mutex_);
  stats_.*counter += n;
}

void EtcdStore::expire_open_rounds() {
  std::unique_lock lock(mutex_);
  while (!stop_) {
    if (open_->entries.empty()) {
      expiry_wake_.wait(lock);
    } else if (const auto due = open_->opened_at + options_.request_timeout; Clock::now() < due) {
      expiry_wake_.wait_until(lock, due);
    } else {
      lock.unlock();
      fail_expired_open_round();
      lock.lock();
    }
  }
}

void EtcdStore::fail_expired_open_round() {
  std::shared_ptr<Round> expired;
  {
    const std::lock_guard lock(mutex_);
    if (open_->entries.empty() || Clock::now() < open_->opened_at + options_.request_timeout) {
      return;
    }
    expired = std::exchange(open_, std::make_shared<Round>());
    send_requested_ = false;
  }
  fail(*expired);
  publish(*expired);
}

void EtcdStore::fail(Round& round) {
  const Seq first_seq = round.last_seq + 1 - round.entries.size();
  for (std::size_t i = 0; i < round.entries.size(); ++i) {
    round.replies->replies[i] = Reply::err(first_seq + i, ErrCause::kStoreUnavailable);
  }
  count(&Stats::failed_rounds);
}

std::chrono::milliseconds EtcdStore::pause_after(int attempt) {
  return std::chrono::milliseconds(std::min(10 << std::min(attempt, 5), 250));
}

bool EtcdStore::back_off(int attempt) {
  fail_expired_open_round();
  lease_.tick();
  std::unique_lock lock(mutex_);
  // close() cuts a pause short only once it has given up waiting.
  wake_.wait_for(lock, pause_after(attempt),
                 [this] { return give_up_at_ && Clock::now() >= *give_up_at_; });
  return !(give_up_at_ && Clock::now() >= *give_up_at_);
}

bool EtcdStore::ensure_lease() {
  if (!lease_.lost()) return true;
  std::string error;
  if (lease_.start(&error)) return true;
  log(LogLevel::kDebug, "etcd: no lease granted: {}", error);
  return false;
}

void EtcdStore::report_not_ours(const std::string& what) {
  if (reported_not_ours_) return;
  reported_not_ours_ = true;
  log(LogLevel::kError, "etcd: {}; every request gets err until it is ours again", what);
}

std::optional<PartsState> EtcdStore::state_from(const EtcdTransacted& answer) {
  const std::size_t n = answer.ranges.size();
  std::string error = "etcd answered without the counter's two ranges";
  std::optional<PartsState> state;
  if (n >= 2) {
    state = parse_parts(keys_, answer.revision, answer.ranges[n - 2], answer.ranges[n - 1], &error);
  }
  if (!state) report_not_ours(error);
  return state;
}

void EtcdStore::report_compacted(std::int64_t revision) {
  log(LogLevel::kError,
      "etcd compacted its history past revision {}, which this front end needed to tell "
      "whether a transaction it sent was applied; its requests get err (keep etcd's history "
      "longer than --etcd-timeout)",
      revision);
}

EtcdStore::Attempt EtcdStore::lost_compare(Round& round, const EtcdTransacted& answer) {
  count(&Stats::conflicts);
  state_ = state_from(answer);
  return state_ ? Attempt::kAgain : failed(round);
}

std::optional<EtcdStore::Resolution> EtcdStore::in_doubt(const Doubt& doubt,
                                                         const std::string& error) {
  count(&Stats::unknown);
  // etcd refuses a put on a lease that ended, an answer the client calls unknown.
  if (error.find("lease not found") != std::string::npos) lease_.check();
  return resolve(doubt);
}

EtcdStore::Attempt EtcdStore::failed(Round& round) {
  state_.reset();
  fail(round);
  return Attempt::kAnswered;
}

std::pair<TransactStatus, std::optional<PartsState>> EtcdStore::read_state(
    std::int64_t at_revision) {
  const EtcdTransacted read = kv_->read_ranges(keys_.read_all(), at_revision);
  count(&Stats::reads);
  if (read.status != TransactStatus::kThen) {
    if (read.error.find("has been compacted") != std::string::npos) {
      report_compacted(at_revision);
      return {TransactStatus::kThen, std::nullopt};
    }
    return {TransactStatus::kFailedNotSent, std::nullopt};
  }
  EtcdTransacted as_of = read;
  if (at_revision > 0) as_of.revision = at_revision;
  return {TransactStatus::kThen, state_from(as_of)};
}

// Answers a round, from the state the round thread last read or wrote (state_) when the
// round needs no read of its own. A round of gets and watches alone is answered from a read
// made after it closed; a round with mutations within this front end's grant takes the fast
// path; any other the slow path. An attempt that lost a compare goes again at once from the
// state it read; one etcd did not answer waits a little, until the round's time is up.
void EtcdStore::serve(Round& round) {
  const auto deadline = round.opened_at + options_.request_timeout;
  const Plan plan = plan_of(round);
  bool fresh = false;  // state_ was read after the round closed
  int failures = 0;
  for (;;) {
    Attempt attempt = Attempt::kAgain;
    if (!state_ || (!plan.mutates() && !fresh)) {
      auto [status, state] = read_state();
      if (status == TransactStatus::kThen && !state) return fail(round);
      if (state) {
        state_ = std::move(state);
        fresh = true;
      } else {
        attempt = Attempt::kUnavailable;
      }
    } else if (!plan.mutates()) {
      decide(round, {state_->total(), static_cast<std::int64_t>(state_->version())});
      settle_watches(round, state_->version());
      return;
    } else if (!ensure_lease()) {
      attempt = Attempt::kUnavailable;
    } else {
      const PartRecord* mine = state_->find(options_.front_end_id);
      std::optional<std::int64_t> part_after;
      if (!plan.needs_exact && mine != nullptr && mine->grant) {
        part_after = within_grant(mine->part.value, *mine->grant, plan.deltas);
      }
      if (part_after) {
        attempt = fast_path_round(round, *mine, *part_after);
      } else if (!fresh) {
        state_.reset();  // read first: a round that applies nothing needs no write
        continue;
      } else if (!decide(round, {state_->total(), static_cast<std::int64_t>(state_->version())})
                      .second) {
        // Every mutation refused by the range rule (or skipped with its transaction): the
        // answers of one server at the revision read, after the round closed.
        settle_watches(round, state_->version());
        return;
      } else {
        attempt = slow_path_round(round);
      }
    }
    switch (attempt) {
      case Attempt::kAnswered:
        return;
      case Attempt::kAgain:
        fresh = true;  // state_ is from an answer to this round's attempt
        break;
      case Attempt::kUnavailable:
        if (Clock::now() >= deadline || !back_off(failures++)) return fail(round);
        break;
    }
  }
}

EtcdStore::Attempt EtcdStore::fast_path_round(Round& round, const PartRecord& mine,
                                              std::int64_t part_after) {
  const std::uint64_t number = next_txn_++;
  Doubt doubt;
  doubt.from_revision = state_->revision;
  doubt.grant_mod_revision = mine.grant_mod_revision;
  doubt.grant = *mine.grant;
  doubt.number = number;
  const std::int64_t part_before = mine.part.value;
  const std::uint64_t txn_before = mine.part.txn;
  const EtcdTransacted answer = kv_->transact(fast_path(
      keys_, options_.front_end_id, mine.grant_mod_revision, {part_after, number}, lease_.id()));
  count(&Stats::transactions);
  switch (answer.status) {
    case TransactStatus::kThen: {
      state_ = state_from(answer);
      // Applied, but what it read back is not ours: its replies cannot be told.
      if (!state_) return failed(round);
      answer_fast(round, *state_, part_before, part_after, txn_before, number);
      count(&Stats::fast_paths);
      return Attempt::kAnswered;
    }
    case TransactStatus::kOtherwise:
      // Another front end moved the grants (a freeze or a rebalance).
      return lost_compare(round, answer);
    case TransactStatus::kFailedNotSent:
      return Attempt::kUnavailable;
    case TransactStatus::kUnknown:
      break;
  }
  std::optional<Resolution> resolution = in_doubt(doubt, answer.error);
  if (!resolution) return failed(round);
  state_ = std::move(resolution->latest);
  if (!resolution->landed) return Attempt::kAgain;
  answer_fast(round, *resolution->at_landing, part_before, part_after, txn_before, number);
  count(&Stats::fast_paths);
  return Attempt::kAnswered;
}

void EtcdStore::answer_fast(Round& round, const PartsState& at_commit, std::int64_t part_before,
                            std::int64_t part_after, std::uint64_t txn_before,
                            std::uint64_t number) {
  // Only this front end's part changed in the transaction: the total before it is the total
  // after, less what the part moved (in 128 bits: a grant may span more than int64).
  __extension__ using Wide = __int128;
  const auto total_before =
      static_cast<std::int64_t>(Wide{at_commit.total()} - (Wide{part_after} - part_before));
  const std::uint64_t version_after = at_commit.version();
  const auto version_before = static_cast<std::int64_t>(version_after - (number - txn_before));
  decide(round, {total_before, version_before});
  settle_watches(round, version_after);
}

EtcdStore::Attempt EtcdStore::slow_path_round(Round& round) {
  // First every grant frozen, so that no fast path commits from here on, and the exact state
  // read with it.
  const EtcdTransacted frozen_answer = kv_->transact(freeze(keys_, *state_));
  count(&Stats::transactions);
  switch (frozen_answer.status) {
    case TransactStatus::kThen:
      break;
    case TransactStatus::kOtherwise:
      return lost_compare(round, frozen_answer);
    case TransactStatus::kFailedNotSent:
      return Attempt::kUnavailable;
    case TransactStatus::kUnknown:
      // A freeze changes no value, and one that applies late finds the grants moved on: read
      // again and go on.
      count(&Stats::unknown);
      state_.reset();
      return Attempt::kUnavailable;
  }
  std::optional<PartsState> frozen = state_from(frozen_answer);
  if (!frozen) return failed(round);
  state_ = frozen;

  const auto [total_after, changes] =
      decide(round, {frozen->total(), static_cast<std::int64_t>(frozen->version())});
  if (!changes) {
    // Nothing to write after all (the state moved since it was read): answered from the
    // frozen state, read after the round closed.
    settle_watches(round, frozen->version());
    return Attempt::kAnswered;
  }
  const Rebalanced rebalanced =
      rebalance(total_after, frozen->escrow_view(options_.front_end_id), options_.front_end_id);
  const std::uint64_t number = next_txn_++;
  const EtcdTransacted answer = kv_->transact(rebalance_transaction(
      keys_, *frozen, rebalanced, options_.front_end_id, number, lease_.id()));
  count(&Stats::transactions);
  switch (answer.status) {
    case TransactStatus::kThen:
      state_ = state_from(answer);
      if (!state_) return failed(round);
      settle_watches(round, state_->version());
      count(&Stats::rebalances);
      return Attempt::kAnswered;
    case TransactStatus::kOtherwise:
      return lost_compare(round, answer);
    case TransactStatus::kFailedNotSent:
      return Attempt::kUnavailable;
    case TransactStatus::kUnknown:
      break;
  }
  Doubt doubt;
  doubt.rebalance = true;
  doubt.from_revision = frozen->revision;
  doubt.base = frozen->base;
  doubt.number = number;
  std::optional<Resolution> resolution = in_doubt(doubt, answer.error);
  if (!resolution) return failed(round);
  state_ = std::move(resolution->latest);
  if (!resolution->landed) return Attempt::kAgain;
  // The replies decided from the frozen state stand.
  settle_watches(round, resolution->at_landing->version());
  count(&Stats::rebalances);
  return Attempt::kAnswered;
}

// The fence: a write conditioned as the transaction in doubt was, on the same keys, which
// moves them when the condition still holds. Once etcd has answered it, the transaction in
// doubt can no longer apply (its condition fails from the fence on, or failed before), so
// the history up to the fence tells for good whether it did:
//  - the fast path compared this front end's grant with its mod revision. It can have
//    applied only while the grant kept that revision, and the part (written by this front
//    end alone meanwhile) then holds its TXN, the part's mod revision where it applied.
//  - a rebalance compared the whole counter with the frozen revision, and wrote the base.
//    The first write of the base after that revision is the rebalance itself, or a sign
//    that it never applied; the part holds its TXN there exactly when it is.
std::optional<EtcdStore::Resolution> EtcdStore::resolve(const Doubt& doubt) {
  const std::string& id = options_.front_end_id;
  EtcdTransaction fence;
  if (doubt.rebalance) {
    fence.conditions = {{keys_.base(), "", EtcdCondition::Target::kModRevision,
                         EtcdCondition::Relation::kLess, doubt.from_revision + 1, ""}};
    fence.then = {{EtcdOperation::Kind::kPut, keys_.base(), "", encode_counter(doubt.base), 0}};
  } else {
    fence.conditions = {{keys_.grant(id), "", EtcdCondition::Target::kModRevision,
                         EtcdCondition::Relation::kEqual, doubt.grant_mod_revision, ""}};
    fence.then = {{EtcdOperation::Kind::kPut, keys_.grant(id), "", encode_grant(doubt.grant), 0}};
  }
  for (EtcdOperation& read : keys_.read_all()) fence.then.push_back(std::move(read));
  fence.otherwise = keys_.read_all();

  EtcdTransacted fenced;
  for (int attempt = 0;; ++attempt) {
    fenced = kv_->transact(fence);
    count(&Stats::transactions);
    if (fenced.status == TransactStatus::kThen || fenced.status == TransactStatus::kOtherwise) {
      break;
    }
    if (!back_off(attempt)) return std::nullopt;
  }
  Resolution resolution;
  std::optional<PartsState> latest = state_from(fenced);
  if (!latest) return std::nullopt;
  resolution.latest = std::move(*latest);

  // The revision from which the transaction in doubt could no longer apply: the fence's own
  // when its condition held.
  std::optional<std::int64_t> moved_at = fenced.revision;
  if (fenced.status == TransactStatus::kOtherwise) {
    if (doubt.rebalance) {
      moved_at = first_moved(keys_.base(), doubt.from_revision, fenced.revision,
                             [&](const std::vector<EtcdKeyValue>& base) {
                               return !base.empty() &&
                                      base.front().mod_revision > doubt.from_revision;
                             });
    } else {
      moved_at = first_moved(keys_.grant(id), doubt.from_revision, fenced.revision,
                             [&](const std::vector<EtcdKeyValue>& grant) {
                               return grant.empty() ||
                                      grant.front().mod_revision != doubt.grant_mod_revision;
                             });
    }
    if (!moved_at) return std::nullopt;
  }

  // Where to look: a rebalance at that first move itself, a fast path just before it (the
  // fence moved only the grant: the part is the same at the fence).
  const std::int64_t look_at = doubt.rebalance ? *moved_at : *moved_at - 1;
  std::optional<PartsState> then = resolution.latest;
  if (fenced.status == TransactStatus::kOtherwise && look_at != fenced.revision) {
    then = read_past(look_at);
    if (!then) return std::nullopt;
  }
  const PartRecord* mine = then->find(id);
  resolution.landed = mine != nullptr && mine->part.txn == doubt.number &&
                      mine->part_mod_revision > doubt.from_revision;
  if (!resolution.landed) return resolution;
  if (doubt.rebalance || mine->part_mod_revision == then->revision) {
    resolution.at_landing = std::move(then);
    return resolution;
  }
  resolution.at_landing = read_past(mine->part_mod_revision);
  if (!resolution.at_landing) return std::nullopt;
  return resolution;
}

std::optional<PartsState> EtcdStore::read_past(std::int64_t revision) {
  for (int attempt = 0;; ++attempt) {
    auto [status, state] = read_state(revision);
    if (state || status == TransactStatus::kThen) return state;  // nullopt: not ours, compacted
    if (!back_off(attempt)) return std::nullopt;
  }
}

template <typename Moved>
std::optional<std::int64_t> EtcdStore::first_moved(const std::string& key, std::int64_t after,
                                                   std::int64_t up_to, const Moved& moved) {
  // moved() fails at `after` and holds at `up_to`.
  std::int64_t low = after;
  std::int64_t high = up_to;
  int attempt = 0;
  while (high - low > 1) {
    const std::int64_t middle = low + (high - low) / 2;
    const EtcdTransacted read =
        kv_->read_ranges({{EtcdOperation::Kind::kRange, key, "", "", 0}}, middle);
    count(&Stats::reads);
    if (read.status != TransactStatus::kThen) {
      if (read.error.find("has been compacted") != std::string::npos) {
        report_compacted(middle);
        return std::nullopt;
      }
      if (!back_off(attempt++)) return std::nullopt;
      continue;
    }
    (moved(read.ranges.at(0)) ? high : low) = middle;
  }
  return high;
}

}  // namespace count
