// The store over an etcd cluster (docs/scale-out.md): any number of front ends share one
// counter kept in one etcd key. Every request that arrives while a round trip to etcd is in
// flight is folded into the next one transaction (compare the key's revision, put the new
// value), and each is answered from that one result, in arrival order. Only the round
// thread talks to etcd; loop threads take one short lock and never wait for the network.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <vector>

#include "store/etcd_client.hpp"
#include "store/store.hpp"

namespace count {

// What the store needs of etcd; EtcdClient is the real one, tests use a fake. Both calls
// block, with the meaning EtcdClient documents, and are made from the round thread only.
class EtcdKv {
 public:
  virtual ~EtcdKv() = default;
  virtual EtcdRead read(std::string_view key, std::string_view record_key) = 0;
  virtual EtcdCommit commit(std::string_view key, std::int64_t expected_mod_revision,
                            std::string_view new_value, std::string_view record_key,
                            std::string_view record_value) = 0;
  // For messages: where etcd is.
  virtual std::string where() const = 0;
};

// EtcdKv over a real cluster.
class EtcdClientKv final : public EtcdKv {
 public:
  explicit EtcdClientKv(EtcdClientOptions options) : client_(std::move(options)) {}
  EtcdRead read(std::string_view key, std::string_view record_key) override {
    return client_.read(key, record_key);
  }
  EtcdCommit commit(std::string_view key, std::int64_t expected_mod_revision,
                    std::string_view new_value, std::string_view record_key,
                    std::string_view record_value) override {
    return client_.commit(key, expected_mod_revision, new_value, record_key, record_value);
  }
  std::string where() const override { return client_.target(); }

 private:
  EtcdClient client_;
};

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
  // Names this front end's record key; empty: a random one, new at every start.
  std::string front_end_id;
};

class EtcdStore final : public Store {
 public:
  // Reads the key (within request_timeout) and starts the round thread. Throws
  // EtcdStoreError when etcd does not answer or the key is not ours.
  EtcdStore(std::unique_ptr<EtcdKv> kv, EtcdStoreOptions options);
  ~EtcdStore() override;
  EtcdStore(const EtcdStore&) = delete;
  EtcdStore& operator=(const EtcdStore&) = delete;

  // All answer later (Applied::later, Snapshot::later, ...): the request joins the open
  // round. A transaction's steps join it together, so that nothing comes between them in
  // the round's order. The version WATCH remembers is the key's revision once the round's
  // write is in (or -1, when a mutation of the same round came after the WATCH); every round
  // that applies a mutation writes, even when the value ends as it was, so that the revision
  // moves with every mutation of every front end.
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

  // The value the key held at start.
  std::int64_t initial_value() const { return initial_value_; }
  const std::string& record_key() const { return record_key_; }

  // What the round thread has done so far; any thread.
  struct Stats {
    std::uint64_t requests = 0;      // answered, in every round
    std::uint64_t rounds = 0;        // answered rounds
    std::uint64_t transactions = 0;  // sent, committed or not
    std::uint64_t conflicts = 0;     // lost a compare to another front end
    std::uint64_t unknown = 0;       // outcome not told; resolved by reading the record
    std::uint64_t reads = 0;
    std::uint64_t failed_rounds = 0;  // answered `err` throughout: etcd did not answer in time
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
  // What the round thread believes the key holds, from its last read or transaction.
  struct Base {
    std::int64_t value = 0;
    std::int64_t revision = 0;  // the key's mod_revision; 0 while it does not exist
  };

  // Adds the entries to the open round together; returns the batch, the first one's index
  // and the last one's seq.
  std::tuple<std::shared_ptr<const LateReplies>, std::size_t, Seq> join_open_round(
      std::span<const Entry> entries) const;
  template <typename Result>
  Result join_open_round(Entry entry) const;
  void run();
  void serve(Round& round);
  // Decides every reply of `round` from `base`; returns the value after its mutations and
  // whether any mutation was applied.
  std::pair<std::int64_t, bool> decide(Round& round, const Base& base) const;
  // Once the round's write (if any) is in at `revision`: the WATCH replies of the round say
  // which version they saw.
  static void settle_watches(Round& round, std::int64_t revision);
  void fail(Round& round);
  // Lets the replies of `round` out.
  void publish(Round& round);
  // While the round thread waits: answers `err` to the open round once it has waited the
  // whole request_timeout. It was never sent, so it cannot have been applied.
  void fail_expired_open_round();
  // Waits a little before trying etcd again; false when close() gave up waiting.
  bool back_off(int attempt);
  std::optional<Base> base_of(const EtcdEntry& key, Round& round);
  // True when the record says one of this round's transactions (numbered from `first`)
  // committed.
  static bool committed_since(const EtcdEntry& record, std::uint64_t first);

  std::unique_ptr<EtcdKv> kv_;
  EtcdStoreOptions options_;
  std::string record_key_;
  std::int64_t initial_value_ = 0;
  std::function<void()> listener_;

  mutable std::mutex mutex_;  // guards open_, next_seq_, stop_ and give_up_at_
  std::condition_variable wake_;
  mutable std::shared_ptr<Round> open_ = std::make_shared<Round>();
  mutable Seq next_seq_ = 0;
  bool send_requested_ = false;
  bool stop_ = false;
  std::optional<std::chrono::steady_clock::time_point> give_up_at_;  // set by close()

  std::atomic<Seq> decided_seq_{0};
  std::atomic<std::int64_t> known_value_{0};  // the value at the last round answered

  // The round thread's own.
  std::optional<Base> base_;
  std::uint64_t next_transaction_ = 1;
  bool reported_foreign_value_ = false;

  mutable std::mutex stats_mutex_;
  Stats stats_;

  std::thread thread_;  // last: it stops before the members it uses go away
};

}  // namespace count
