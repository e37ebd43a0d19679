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

EtcdStore::EtcdStore(std::unique_ptr<EtcdKv> kv, EtcdStoreOptions options)
    : kv_(std::move(kv)), options_(std::move(options)) {
  if (options_.front_end_id.empty()) options_.front_end_id = random_front_end_id();
  record_key_ = options_.key + "/front-end/" + options_.front_end_id;

  // The first read: etcd must answer, and the key must hold nothing or a value of ours.
  const auto deadline = Clock::now() + options_.request_timeout;
  EtcdRead read;
  for (int attempt = 0;; ++attempt) {
    read = kv_->read(options_.key, record_key_);
    if (read.ok() || Clock::now() >= deadline) break;
    back_off(attempt);
  }
  if (!read.ok()) {
    throw EtcdStoreError(fmt::format("etcd at {} did not answer within {} ms: {}", kv_->where(),
                                     options_.request_timeout.count(), read.error));
  }
  if (read.key.exists) {
    const std::optional<std::int64_t> value = decode_counter(read.key.value);
    if (!value) {
      throw EtcdStoreError(fmt::format(
          "etcd key {} holds {} bytes that are not a count-server value; not touching it",
          options_.key, read.key.value.size()));
    }
    initial_value_ = *value;
  }
  base_ = Base{initial_value_, read.key.exists ? read.key.mod_revision : 0};
  thread_ = std::thread([this] { run(); });
}

EtcdStore::~EtcdStore() { close(); }

std::tuple<std::shared_ptr<const LateReplies>, std::size_t, Seq> EtcdStore::join_open_round(
    std::span<const Entry> entries) const {
  const std::lock_guard lock(mutex_);
  Round& round = *open_;
  if (round.entries.empty()) round.opened_at = Clock::now();
  const std::size_t first = round.entries.size();
  round.entries.insert(round.entries.end(), entries.begin(), entries.end());
  round.replies->replies.resize(round.entries.size());
  next_seq_ += entries.size();
  round.last_seq = next_seq_;
  return {round.replies, first, round.last_seq};
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
  if (thread_.joinable()) thread_.join();
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
              "Transactions whose outcome etcd did not tell, resolved from the record.", s.unknown);
  out.counter("count_server_etcd_reads_total", "Reads of the key.", s.reads);
  out.counter("count_server_etcd_failed_rounds_total",
              "Rounds answered err because etcd did not answer in time.", s.failed_rounds);
}

void EtcdStore::run() {
  for (;;) {
    std::shared_ptr<Round> round;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stop_ || (send_requested_ && !open_->entries.empty()); });
      if (open_->entries.empty()) return;  // stopping, and nothing left to send
      send_requested_ = false;
      round = std::exchange(open_, std::make_shared<Round>());
    }
    serve(*round);
    publish(*round);
    // Whatever joined meanwhile goes at once: that is the combining.
    const std::lock_guard lock(mutex_);
    if (!open_->entries.empty()) send_requested_ = true;
  }
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
            // Decided in an earlier round: the key's revision then, or -1, or an err.
            unchanged = watched.kind == Reply::Kind::kOk && watched.value >= 0 &&
                        watched.value == base.revision && applied == 0;
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

void EtcdStore::settle_watches(Round& round, std::int64_t revision) {
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
      reply.value = reply.value == applied ? revision : -1;
    }
  }
}

void EtcdStore::publish(Round& round) {
  if (base_) known_value_.store(base_->value, std::memory_order_relaxed);
  // The replies are written before the flag that lets them out.
  round.replies->decided.store(true, std::memory_order_release);
  if (round.last_seq > decided_seq_.load(std::memory_order_relaxed)) {
    decided_seq_.store(round.last_seq, std::memory_order_release);
  }
  if (listener_) listener_();
  const std::lock_guard lock(stats_mutex_);
  stats_.requests += round.entries.size();
  ++stats_.rounds;
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
  const std::lock_guard lock(stats_mutex_);
  ++stats_.failed_rounds;
}

bool EtcdStore::back_off(int attempt) {
  fail_expired_open_round();
  const auto pause = std::chrono::milliseconds(std::min(10 << std::min(attempt, 5), 250));
  std::unique_lock lock(mutex_);
  // close() cuts a pause short only once it has given up waiting.
  wake_.wait_for(lock, pause, [this] { return give_up_at_ && Clock::now() >= *give_up_at_; });
  return !(give_up_at_ && Clock::now() >= *give_up_at_);
}

// The key as a base to compute on, or nothing when it holds bytes that are not ours (then
// `round` is failed and the cause reported once).
std::optional<EtcdStore::Base> EtcdStore::base_of(const EtcdEntry& key, Round& round) {
  if (!key.exists) return Base{0, 0};
  if (const std::optional<std::int64_t> value = decode_counter(key.value)) {
    return Base{*value, key.mod_revision};
  }
  if (!reported_foreign_value_) {
    reported_foreign_value_ = true;
    log(LogLevel::kError,
        "etcd key {} now holds bytes that are not a count-server value; every request gets "
        "err until it does again",
        options_.key);
  }
  fail(round);
  return std::nullopt;
}

bool EtcdStore::committed_since(const EtcdEntry& record, std::uint64_t first) {
  if (!record.exists) return false;
  std::uint64_t number = 0;
  const char* end = record.value.data() + record.value.size();
  const auto [ptr, ec] = std::from_chars(record.value.data(), end, number);
  return ec == std::errc() && ptr == end && number >= first;
}

// Answers a round. Each transaction of the round is numbered and writes its number into this
// front end's record key with the new value, so that when etcd does not say whether one
// committed, a read of the record does. At most one transaction of a round can commit: a
// new one is sent only with the revision the last one compared against (if that one may
// still commit, exactly one of the two will) or once the key has moved past that revision
// (then the last one never can).
void EtcdStore::serve(Round& round) {
  const auto deadline = round.opened_at + options_.request_timeout;
  const std::uint64_t first_transaction = next_transaction_;
  // Set while a transaction of this round may have committed: the revision it compared
  // against. Its requests are not answered `err` while it is set.
  bool in_doubt = false;
  std::int64_t in_doubt_revision = 0;
  bool fresh = false;  // base_ was read during this round (a get needs that)
  std::optional<Base> decided_on;
  std::int64_t new_value = 0;
  bool changes = false;
  for (int attempt = 0;; ++attempt) {
    if (!base_ || (!changes && decided_on && !fresh)) {
      const EtcdRead read = kv_->read(options_.key, record_key_);
      {
        const std::lock_guard lock(stats_mutex_);
        ++stats_.reads;
      }
      if (!read.ok()) {
        if (!in_doubt && Clock::now() >= deadline) return fail(round);
        if (!back_off(attempt)) return fail(round);
        continue;
      }
      if (in_doubt) {
        if (committed_since(read.record, first_transaction)) {  // replies as decided
          settle_watches(round, read.record.mod_revision);  // written with the key
          return;
        }
        if (read.key.mod_revision != in_doubt_revision) in_doubt = false;  // it never will
      }
      // While in doubt the key still holds the value compared against, which was ours.
      base_ = base_of(read.key, round);
      if (!base_) return;
      fresh = true;
      if (in_doubt) {
        // The revision has not moved: send the same transaction again, numbered anew.
        base_ = decided_on;
      } else {
        decided_on.reset();
      }
    }
    if (!decided_on || decided_on->revision != base_->revision) {
      decided_on = base_;
      std::tie(new_value, changes) = decide(round, *base_);
    }
    if (!changes) {
      // Nothing to write: gets, watches, and mutations refused by the range rule. Their
      // answers must come from a read made after they arrived.
      if (fresh) {
        settle_watches(round, base_->revision);
        return;
      }
      continue;
    }

    const std::uint64_t number = next_transaction_++;
    const EtcdCommit commit = kv_->commit(options_.key, base_->revision, encode_counter(new_value),
                                          record_key_, std::to_string(number));
    {
      const std::lock_guard lock(stats_mutex_);
      ++stats_.transactions;
      if (commit.status == CommitStatus::kConflict) ++stats_.conflicts;
      if (commit.status == CommitStatus::kUnknown) ++stats_.unknown;
    }
    switch (commit.status) {
      case CommitStatus::kCommitted:
        base_ = Base{new_value, commit.revision};
        settle_watches(round, commit.revision);
        return;
      case CommitStatus::kConflict:
        if (committed_since(commit.record, first_transaction)) {
          // An earlier transaction of this round did commit; the key has moved on since.
          base_.reset();
          settle_watches(round, commit.record.mod_revision);  // written with the key
          return;
        }
        in_doubt = false;
        base_ = base_of(commit.key, round);
        if (!base_) return;
        fresh = true;
        continue;
      case CommitStatus::kFailedNotSent:
        if (!in_doubt && Clock::now() >= deadline) return fail(round);
        if (!back_off(attempt)) return fail(round);
        continue;
      case CommitStatus::kUnknown:
        in_doubt = true;
        in_doubt_revision = base_->revision;
        base_.reset();
        if (!back_off(attempt)) return fail(round);
        continue;
    }
  }
}

}  // namespace count
