// The store over an etcd cluster (docs/scale-out.md): any number of front ends share one
// counter, kept as a base and one part per front end (store/parts.hpp). Every request that
// arrives while a round trip to etcd is in flight is folded into the next round, and each is
// answered from that round's one result, in arrival order. A round whose mutations stay
// within this front end's grant (store/escrow.hpp) writes its own part alone, so front ends
// do not contend; one that would leave it freezes the grants, is judged against the exact
// total and rebalances. Only the round thread talks to etcd; loop threads take one short
// lock and never wait for the network.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <vector>

#include "store/etcd_txn_kv.hpp"
#include "store/lease_keeper.hpp"
#include "store/parts.hpp"
#include "store/store.hpp"

namespace count {

// etcd cannot be used at start: it did not answer in time, or the key holds something that
// is not a count-server value. what() is one line saying which.
class EtcdStoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct EtcdStoreOptions {
  std::string key = "/count-server/value";
  // How long a request may wait for etcd (no quorum, no member reachable) before it gets
  // `err`. A transaction that was sent and whose outcome etcd cannot tell yet is never
  // answered `err`: its requests wait until etcd can say.
  std::chrono::milliseconds request_timeout{5000};
  // Names this front end's part; empty: a random one, new at every start.
  std::string front_end_id;
  // The TTL of the lease that says this front end is alive: once it ends (the front end
  // stopped, or lost etcd that long), the next rebalance folds its part into the base.
  std::chrono::seconds lease_ttl{10};
  // The longest a round waits, once the last one is answered, for the requests that round
  // answered to come back (it waits at most half that round trip).
  std::chrono::microseconds max_linger{2000};
};

class EtcdStore final : public Store {
 public:
  // Reads the key (within request_timeout) and starts the round thread. Throws
  // EtcdStoreError when etcd does not answer or the key is not ours.
  EtcdStore(std::unique_ptr<EtcdTxnKv> kv, EtcdStoreOptions options);
  ~EtcdStore() override;
  EtcdStore(const EtcdStore&) = delete;
  EtcdStore& operator=(const EtcdStore&) = delete;

  // All answer later (Applied::later, Snapshot::later, ...): the request joins the open
  // round. A transaction's steps join it together, so that nothing comes between them in
  // the round's order. The version WATCH remembers is the counter's version
  // (PartsState::version) once the round's write is in, or -1 when a mutation of the same
  // round came after the WATCH: it moves with every transaction of every front end that
  // applies a mutation, even one that leaves the value as it was.
  Applied add(std::int64_t delta) override;
  Snapshot get() const override;
  Watched watch() override;
  Transacted transact(std::span<const Step> steps, const Watched* watched) override;
  void commit() override;
  // Late replies leave when their batch is decided; this only says how far that has come.
  Seq durable_seq() const override { return decided_seq_.load(std::memory_order_acquire); }
  void on_durable(std::function<void()> listener) override { listener_ = std::move(listener); }
  // Sends what is open, waits for every round (a round still unknown after request_timeout
  // is abandoned: its clients are gone by then), and stops the thread.
  bool close() override;

  // The counter's value at start.
  std::int64_t initial_value() const { return initial_value_; }
  const std::string& front_end_id() const { return options_.front_end_id; }

  // What the round thread has done so far; any thread.
  struct Stats {
    std::uint64_t requests = 0;      // answered, in every round
    std::uint64_t rounds = 0;        // answered rounds
    std::uint64_t transactions = 0;  // sent, committed or not
    std::uint64_t conflicts = 0;     // lost a compare to another front end
    std::uint64_t unknown = 0;       // outcome not told; resolved by a fence and a read
    std::uint64_t reads = 0;         // of the whole state, now or in the past
    std::uint64_t failed_rounds = 0;  // answered `err` throughout: etcd did not answer in time
    std::uint64_t fast_paths = 0;     // rounds committed within this front end's grant
    std::uint64_t rebalances = 0;     // rounds committed by the slow path
  };
  Stats stats() const;

  void write_metrics(MetricsText& out) const override;

 private:
  struct Entry {
    enum class Kind : std::uint8_t { kGet, kAdd, kWatch, kTransaction, kStep };
    Kind kind = Kind::kGet;
    std::int64_t delta = 0;  // kAdd, kStep
    std::uint32_t steps = 0;  // kTransaction: how many kStep entries follow it
    // kTransaction after a WATCH: the WATCH's reply (decided in an earlier round, or earlier
    // in this one).
    std::shared_ptr<const LateReplies> watch{};
    std::size_t watch_index = 0;
  };
  struct Round {
    std::vector<Entry> entries;
    std::shared_ptr<LateReplies> replies = std::make_shared<LateReplies>();
    Seq last_seq = 0;
    std::chrono::steady_clock::time_point opened_at;  // when its first request joined
  };
  // The counter just before a round, as its replies are decided from.
  struct Base {
    std::int64_t value = 0;
    std::int64_t version = 0;
  };
  // What a round would apply were no mutation refused by the range rule.
  struct Plan {
    std::vector<std::int64_t> deltas;
    bool mutates() const { return !deltas.empty(); }
    // A transaction after a WATCH of an earlier round: decided only against the exact
    // state, on the slow path.
    bool needs_exact = false;
  };
  // What one attempt at a round came to.
  enum class Attempt : std::uint8_t {
    kAnswered,     // its replies are decided (or failed)
    kAgain,        // state_ is newer now: again from it
    kUnavailable,  // etcd did not answer, and nothing of the round can have been applied
  };
  // A transaction whose outcome etcd did not tell: the one it followed (the fast path's,
  // compared on this front end's grant) or a rebalance (compared on the whole counter).
  struct Doubt {
    bool rebalance = false;
    std::int64_t from_revision = 0;  // of the state it was built from
    std::int64_t grant_mod_revision = 0;  // fast path: the grant it compared
    Grant grant;                          // fast path: that grant
    std::int64_t base = 0;                // rebalance: the base it compared
    std::uint64_t number = 0;             // the TXN it wrote into this front end's part
  };
  struct Resolution {
    bool landed = false;
    PartsState latest;                    // the state once it can no longer land
    std::optional<PartsState> at_landing;  // landed: the state at its revision
  };

  // Adds the entries to the open round together; returns the batch, the first one's index
  // and the last one's seq.
  std::tuple<std::shared_ptr<const LateReplies>, std::size_t, Seq> join_open_round(
      std::span<const Entry> entries) const;
  template <typename Result>
  Result join_open_round(Entry entry) const;
  void run();
  void serve(Round& round);
  static Plan plan_of(const Round& round);
  Attempt fast_path_round(Round& round, const PartRecord& mine, std::int64_t part_after);
  Attempt slow_path_round(Round& round);
  // Decides the replies of a round that committed within the grant, from the state etcd
  // read back at its revision.
  void answer_fast(Round& round, const PartsState& at_commit, std::int64_t part_before,
                   std::int64_t part_after, std::uint64_t txn_before, std::uint64_t number);
  // Decides every reply of `round` from `base`; returns the value after its mutations and
  // whether any mutation was applied.
  std::pair<std::int64_t, bool> decide(Round& round, const Base& base) const;
  // Once the round's write (if any) is in at `version`: the WATCH replies of the round say
  // which version they saw.
  static void settle_watches(Round& round, std::uint64_t version);
  void fail(Round& round);
  // Fails the round and forgets the state: the next round reads it again.
  Attempt failed(Round& round);
  // A compare lost to another front end: again from the state the answer read.
  Attempt lost_compare(Round& round, const EtcdTransacted& answer);
  // A transaction etcd did not say the outcome of: counted, and resolved.
  std::optional<Resolution> in_doubt(const Doubt& doubt, const std::string& error);
  // Lets the replies of `round` out. Any thread.
  void publish(Round& round);
  // Answers `err` to the open round once it has waited the whole request_timeout (while
  // the round thread waits for etcd). It was never sent, so it cannot have been applied.
  // Any thread.
  void fail_expired_open_round();
  // The watchdog thread: times every open round, so that its `err` comes in time however
  // long the round thread's call to etcd blocks.
  void expire_open_rounds();
  // Waits a little before trying etcd again (renewing the lease when due); false when
  // close() gave up waiting.
  bool back_off(int attempt);
  static std::chrono::milliseconds pause_after(int attempt);
  // A lease that is not lost, granted again if it was; false when etcd did not answer.
  bool ensure_lease();

  // The state from the last two ranges of an answer (every branch ends with read_all());
  // nullopt, reported once, when a key holds what is not ours.
  std::optional<PartsState> state_from(const EtcdTransacted& answer);
  // The whole state now, or at a past revision. kFailedNotSent when etcd did not answer
  // (state nullopt); the state nullopt otherwise: not ours, or history compacted.
  std::pair<TransactStatus, std::optional<PartsState>> read_state(std::int64_t at_revision = 0);
  // Finds out whether the transaction in doubt landed, and where: fences it first (a write
  // after which it can no longer apply), then reads the history between. Waits for etcd as
  // long as it takes; nullopt when close() gave up, or etcd can no longer tell (history
  // compacted, or not ours).
  std::optional<Resolution> resolve(const Doubt& doubt);
  // The whole state at a past revision, waiting for etcd as resolve() does; nullopt as it.
  std::optional<PartsState> read_past(std::int64_t revision);
  // The first revision in (after, up_to] at which `moved` holds of the key (etcd's history,
  // searched by halves: `moved` holds from some revision on); nullopt as resolve().
  template <typename Moved>
  std::optional<std::int64_t> first_moved(const std::string& key, std::int64_t after,
                                          std::int64_t up_to, const Moved& moved);
  void report_not_ours(const std::string& what);
  static void report_compacted(std::int64_t revision);
  void count(std::uint64_t Stats::*counter, std::uint64_t n = 1);

  std::unique_ptr<EtcdTxnKv> kv_;
  EtcdStoreOptions options_;
  PartsKeys keys_;
  std::int64_t initial_value_ = 0;
  std::function<void()> listener_;

  // Guards open_, next_seq_, send_requested_, expected_, linger_until_, stop_, give_up_at_.
  mutable std::mutex mutex_;
  std::condition_variable wake_;                 // the round thread's
  mutable std::condition_variable expiry_wake_;  // the watchdog's
  mutable std::shared_ptr<Round> open_ = std::make_shared<Round>();
  mutable Seq next_seq_ = 0;
  bool send_requested_ = false;
  // The next round waits until it holds this many entries (those in flight at the last
  // answer), or until linger_until_.
  std::size_t expected_ = 0;
  std::chrono::steady_clock::time_point linger_until_{};
  bool stop_ = false;
  std::optional<std::chrono::steady_clock::time_point> give_up_at_;  // set by close()

  std::atomic<Seq> decided_seq_{0};
  std::atomic<std::int64_t> known_value_{0};  // the value at the last round answered

  // The round thread's own (the constructor's before it starts).
  LeaseKeeper lease_;
  std::optional<PartsState> state_;  // the counter as last read, at state_->revision
  std::uint64_t next_txn_ = 1;
  bool reported_not_ours_ = false;

  mutable std::mutex stats_mutex_;
  Stats stats_;

  // Last: they stop before the members they use go away.
  std::thread thread_;
  std::thread watchdog_;
};

}  // namespace count
