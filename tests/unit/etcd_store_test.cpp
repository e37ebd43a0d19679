// The etcd store's combining and its answers, over a fake etcd that can lose compares, fail,
// and leave outcomes unknown: every reply is what one front end would answer, no mutation
// is applied twice, and no `ok` is sent for one that was not applied.
#include "store/etcd_store.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "protocol/reply.hpp"

namespace count {
namespace {

using std::chrono::milliseconds;

// One etcd key space in memory, with the faults a real cluster can show.
class FakeEtcd {
 public:
  enum class Fault {
    kNone,
    kUnavailable,     // reads fail, commits are not sent
    kUnknownApplied,  // the next commit applies, but its caller hears nothing
    kUnknownLost,     // the next commit does not apply, and its caller hears nothing
    kUnknownLate,     // the next commit is held, and applies just before the commit after it
  };

  EtcdRead read(std::string_view key, std::string_view record_key) {
    std::unique_lock lock(mutex_);
    ++reads_;
    if (fault_ == Fault::kUnavailable) return {EtcdReadStatus::kFailed, {}, {}, 0, "unavailable"};
    return {EtcdReadStatus::kOk, entry(key), entry(record_key), revision_, ""};
  }

  EtcdCommit commit(std::string_view key, std::int64_t expected, std::string_view value,
                    std::string_view record_key, std::string_view record_value) {
    std::unique_lock lock(mutex_);
    ++arrived_;
    hold_.notify_all();
    hold_.wait(lock, [this] { return !holding_; });
    ++commits_;
    if (fault_ == Fault::kUnavailable) return {CommitStatus::kFailedNotSent, 0, {}, {}, "down"};
    if (late_) {
      apply(late_->key, late_->expected, late_->value, late_->record_key, late_->record_value);
      late_.reset();
    }
    const Fault fault = std::exchange(fault_, Fault::kNone);
    if (fault == Fault::kUnknownLost) return {CommitStatus::kUnknown, 0, {}, {}, "lost"};
    if (fault == Fault::kUnknownLate) {
      late_ = Pending{std::string(key), expected, std::string(value), std::string(record_key),
                      std::string(record_value)};
      return {CommitStatus::kUnknown, 0, {}, {}, "late"};
    }
    if (!apply(key, expected, value, record_key, record_value)) {
      return {CommitStatus::kConflict, revision_, entry(key), entry(record_key), ""};
    }
    if (fault == Fault::kUnknownApplied) return {CommitStatus::kUnknown, 0, {}, {}, "cut"};
    return {CommitStatus::kCommitted, revision_, {}, {}, ""};
  }

  // Another front end's write.
  void put(const std::string& key, const std::string& value) {
    const std::lock_guard lock(mutex_);
    keys_[key] = {true, value, ++revision_};
  }
  std::string value(const std::string& key) {
    const std::lock_guard lock(mutex_);
    return entry(key).value;
  }
  void set_fault(Fault fault) {
    const std::lock_guard lock(mutex_);
    fault_ = fault;
  }
  // While held, commits wait: a round trip in flight.
  void hold(bool on) {
    {
      const std::lock_guard lock(mutex_);
      holding_ = on;
    }
    hold_.notify_all();
  }
  int commits() {
    const std::lock_guard lock(mutex_);
    return commits_;
  }
  // Waits (bounded) until `n` commits have reached etcd, held or not.
  bool wait_for_commits(int n) {
    std::unique_lock lock(mutex_);
    return hold_.wait_for(lock, std::chrono::seconds(10), [&] { return arrived_ >= n; });
  }

 private:
  struct Pending {
    std::string key;
    std::int64_t expected;
    std::string value, record_key, record_value;
  };

  EtcdEntry entry(std::string_view key) const {
    const auto found = keys_.find(std::string(key));
    return found == keys_.end() ? EtcdEntry{} : found->second;
  }
  bool apply(std::string_view key, std::int64_t expected, std::string_view value,
             std::string_view record_key, std::string_view record_value) {
    if (entry(key).mod_revision != expected) return false;
    ++revision_;
    keys_[std::string(key)] = {true, std::string(value), revision_};
    keys_[std::string(record_key)] = {true, std::string(record_value), revision_};
    return true;
  }

  std::mutex mutex_;
  std::condition_variable hold_;
  bool holding_ = false;
  std::map<std::string, EtcdEntry> keys_;
  std::int64_t revision_ = 1;
  Fault fault_ = Fault::kNone;
  std::optional<Pending> late_;
  int reads_ = 0;
  int commits_ = 0;
  int arrived_ = 0;
};

class FakeKv final : public EtcdKv {
 public:
  explicit FakeKv(FakeEtcd& etcd) : etcd_(etcd) {}
  EtcdRead read(std::string_view key, std::string_view record_key) override {
    return etcd_.read(key, record_key);
  }
  EtcdCommit commit(std::string_view key, std::int64_t expected, std::string_view value,
                    std::string_view record_key, std::string_view record_value) override {
    return etcd_.commit(key, expected, value, record_key, record_value);
  }
  std::string where() const override { return "the fake"; }

 private:
  FakeEtcd& etcd_;  // owned by the test
};

constexpr char kKey[] = "/count-server/value";

std::unique_ptr<EtcdStore> make_store(FakeEtcd& etcd, milliseconds timeout = milliseconds(2000)) {
  EtcdStoreOptions options;
  options.request_timeout = timeout;
  return std::make_unique<EtcdStore>(std::make_unique<FakeKv>(etcd), options);
}

// A request joined the store; what it was answered, once decided.
struct Pending {
  std::shared_ptr<const LateReplies> later;
  std::size_t index = 0;
  Seq seq = 0;
};

Pending add(Store& store, std::int64_t delta) {
  Applied applied = store.add(delta);
  EXPECT_NE(applied.later, nullptr);
  return {std::move(applied.later), applied.later_index, applied.seq};
}

Pending get(Store& store) {
  Snapshot snapshot = store.get();
  EXPECT_NE(snapshot.later, nullptr);
  return {std::move(snapshot.later), snapshot.later_index, snapshot.seq};
}

// Waits (bounded) until the store has decided `pending`, and returns the reply line.
std::string answer(Store& /*store*/, const Pending& pending,
                   milliseconds limit = milliseconds(10000)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pending.later->decided.load(std::memory_order_acquire)) {
    if (std::chrono::steady_clock::now() >= deadline) return "(no answer)";
    std::this_thread::sleep_for(milliseconds(1));
  }
  std::string line;
  append_reply(pending.later->replies[pending.index], line);
  line.pop_back();
  return line;
}

TEST(EtcdStore, ANewKeyStartsAtZeroAndOneRoundIsOneTransaction) {
  FakeEtcd etcd;
  auto store = make_store(etcd);
  const Pending a = add(*store, 5), b = add(*store, -2), c = get(*store), d = add(*store, 1);
  store->commit();
  EXPECT_EQ(answer(*store, a), "ok");
  EXPECT_EQ(answer(*store, b), "ok");
  EXPECT_EQ(answer(*store, c), "val 3");
  EXPECT_EQ(answer(*store, d), "ok");
  EXPECT_EQ(etcd.value(kKey), "4");
  EXPECT_EQ(store->stats().transactions, 1U);
  EXPECT_EQ(etcd.value(store->record_key()), "1");
  EXPECT_TRUE(store->close());
}

TEST(EtcdStore, TheRangeRuleHoldsRequestByRequestInArrivalOrder) {
  FakeEtcd etcd;
  const std::int64_t max = std::numeric_limits<std::int64_t>::max();
  etcd.put(kKey, std::to_string(max - 1));
  auto store = make_store(etcd);
  EXPECT_EQ(store->initial_value(), max - 1);
  const Pending a = add(*store, 1), b = add(*store, 1), c = get(*store), d = add(*store, -1),
                e = get(*store);
  store->commit();
  EXPECT_EQ(answer(*store, a), "ok");
  EXPECT_EQ(answer(*store, b), "err");
  EXPECT_EQ(answer(*store, c), "val " + std::to_string(max));
  EXPECT_EQ(answer(*store, d), "ok");
  EXPECT_EQ(answer(*store, e), "val " + std::to_string(max - 1));
  EXPECT_EQ(etcd.value(kKey), std::to_string(max - 1));
}

TEST(EtcdStore, RequestsArrivingDuringARoundTripShareTheNextTransaction) {
  FakeEtcd etcd;
  auto store = make_store(etcd);
  etcd.hold(true);
  const Pending first = add(*store, 1);
  store->commit();
  ASSERT_TRUE(etcd.wait_for_commits(1));  // its round trip is in flight
  std::vector<Pending> meanwhile;
  for (int i = 0; i < 100; ++i) {
    meanwhile.push_back(add(*store, 1));
    store->commit();
  }
  etcd.hold(false);
  EXPECT_EQ(answer(*store, first), "ok");
  for (const Pending& pending : meanwhile) EXPECT_EQ(answer(*store, pending), "ok");
  EXPECT_EQ(etcd.value(kKey), "101");
  EXPECT_EQ(store->stats().transactions, 2U);
  EXPECT_EQ(store->stats().requests, 101U);
}

TEST(EtcdStore, ALostCompareIsRetriedOnTheValueThatWon) {
  FakeEtcd etcd;
  auto store = make_store(etcd);
  etcd.put(kKey, "1000");  // another front end, after this one read 0
  const Pending a = add(*store, 7), b = get(*store);
  store->commit();
  EXPECT_EQ(answer(*store, a), "ok");
  EXPECT_EQ(answer(*store, b), "val 1007");
  EXPECT_EQ(etcd.value(kKey), "1007");
  EXPECT_EQ(store->stats().conflicts, 1U);
}

TEST(EtcdStore, GetsAloneAreAnsweredFromAFreshReadWithoutATransaction) {
  FakeEtcd etcd;
  auto store = make_store(etcd);
  etcd.put(kKey, "42");
  const Pending a = get(*store), b = get(*store);
  store->commit();
  EXPECT_EQ(answer(*store, a), "val 42");
  EXPECT_EQ(answer(*store, b), "val 42");
  EXPECT_EQ(etcd.commits(), 0);
}

// WATCH counts every mutation applied, even one that changes nothing, on every front end:
// so each is written, and moves the key's revision.
TEST(EtcdStore, AMutationThatAddsZeroIsStillWritten) {
  FakeEtcd etcd;
  auto store = make_store(etcd);
  const Pending a = add(*store, 0);
  store->commit();
  EXPECT_EQ(answer(*store, a), "ok");
  EXPECT_EQ(etcd.commits(), 1);
  const Pending b = add(*store, 5), c = add(*store, -5);
  store->commit();
  EXPECT_EQ(answer(*store, b), "ok");
  EXPECT_EQ(answer(*store, c), "ok");
  EXPECT_EQ(etcd.commits(), 2);
}

TEST(EtcdStore, AnUnknownOutcomeThatAppliedIsFoundInTheRecordAndNotAppliedTwice) {
  FakeEtcd etcd;
  auto store = make_store(etcd);
  etcd.set_fault(FakeEtcd::Fault::kUnknownApplied);
  const Pending a = add(*store, 3);
  store->commit();
  EXPECT_EQ(answer(*store, a), "ok");
  EXPECT_EQ(etcd.value(kKey), "3");
  EXPECT_EQ(store->stats().unknown, 1U);
  const Pending b = add(*store, 1);
  store->commit();
  EXPECT_EQ(answer(*store, b), "ok");
  EXPECT_EQ(etcd.value(kKey), "4");
}

TEST(EtcdStore, AnUnknownOutcomeThatDidNotApplyIsSentAgainOnce) {
  FakeEtcd etcd;
  auto store = make_store(etcd);
  etcd.set_fault(FakeEtcd::Fault::kUnknownLost);
  const Pending a = add(*store, 3);
  store->commit();
  EXPECT_EQ(answer(*store, a), "ok");
  EXPECT_EQ(etcd.value(kKey), "3");
}

// The transaction etcd could not confirm commits late, just before the one sent again:
// exactly one of the two applies, and the round is answered once.
TEST(EtcdStore, AnUnknownOutcomeThatAppliesLateIsNotAppliedTwice) {
  FakeEtcd etcd;
  auto store = make_store(etcd);
  etcd.set_fault(FakeEtcd::Fault::kUnknownLate);
  const Pending a = add(*store, 3), b = get(*store);
  store->commit();
  EXPECT_EQ(answer(*store, a), "ok");
  EXPECT_EQ(answer(*store, b), "val 3");
  EXPECT_EQ(etcd.value(kKey), "3");
  EXPECT_EQ(store->stats().conflicts, 1U);
}

TEST(EtcdStore, WithoutEtcdRequestsGetErrAfterTheTimeoutAndServeAgainWhenItReturns) {
  FakeEtcd etcd;
  auto store = make_store(etcd, milliseconds(200));
  etcd.put(kKey, "10");
  etcd.set_fault(FakeEtcd::Fault::kUnavailable);
  const auto start = std::chrono::steady_clock::now();
  const Pending a = add(*store, 1), b = get(*store);
  store->commit();
  EXPECT_EQ(answer(*store, a), "err");
  EXPECT_EQ(answer(*store, b), "err");
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(200));
  EXPECT_EQ(etcd.value(kKey), "10");
  EXPECT_EQ(store->stats().failed_rounds, 1U);
  etcd.set_fault(FakeEtcd::Fault::kNone);
  const Pending c = add(*store, 1), d = get(*store);
  store->commit();
  EXPECT_EQ(answer(*store, c), "ok");
  EXPECT_EQ(answer(*store, d), "val 11");
}

// Quorum lost with a transaction in flight: its requests wait until etcd can say what became
// of it, while the requests that came after it, never sent, get err after the timeout.
TEST(EtcdStore, OnlyTheRequestsOfAnUnresolvedTransactionWaitPastTheTimeout) {
  FakeEtcd etcd;
  auto store = make_store(etcd, milliseconds(300));
  etcd.set_fault(FakeEtcd::Fault::kUnknownLost);
  const Pending in_flight = add(*store, 5);
  store->commit();
  ASSERT_TRUE(etcd.wait_for_commits(1));
  etcd.set_fault(FakeEtcd::Fault::kUnavailable);
  const Pending later = add(*store, 1);
  store->commit();
  EXPECT_EQ(answer(*store, later), "err");
  EXPECT_FALSE(in_flight.later->decided.load());
  std::this_thread::sleep_for(milliseconds(400));
  EXPECT_FALSE(in_flight.later->decided.load()) << "answered before etcd could tell";
  etcd.set_fault(FakeEtcd::Fault::kNone);
  EXPECT_EQ(answer(*store, in_flight), "ok");
  EXPECT_EQ(etcd.value(kKey), "5");
}

TEST(EtcdStore, AKeyThatIsNotOursStopsTheStart) {
  FakeEtcd etcd;
  etcd.put(kKey, "hello");
  try {
    make_store(etcd);
    ADD_FAILURE() << "started on a key that is not ours";
  } catch (const EtcdStoreError& e) {
    EXPECT_NE(std::string(e.what()).find("not a count-server value"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(etcd.value(kKey), "hello");
}

TEST(EtcdStore, AnUnreachableClusterStopsTheStartWithinTheTimeout) {
  FakeEtcd etcd;
  etcd.set_fault(FakeEtcd::Fault::kUnavailable);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(make_store(etcd, milliseconds(300)), EtcdStoreError);
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(3000));
}

// Two front ends on one key, each from its own threads: every ok counts exactly once, and
// both get their share of the transactions.
TEST(EtcdStore, TwoFrontEndsLoseNoUpdateAndNeitherStarves) {
  FakeEtcd etcd;
  auto first = make_store(etcd);
  auto second = make_store(etcd);
  std::atomic<std::int64_t> acknowledged{0};
  const auto hammer = [&](EtcdStore& store) {
    for (int batch = 0; batch < 200; ++batch) {
      std::vector<Pending> pending;
      for (int i = 0; i < 5; ++i) pending.push_back(add(store, 1));
      store.commit();
      for (const Pending& one : pending) {
        if (answer(store, one) == "ok") acknowledged.fetch_add(1);
      }
    }
  };
  std::thread a([&] { hammer(*first); });
  std::thread b([&] { hammer(*second); });
  a.join();
  b.join();
  EXPECT_EQ(acknowledged.load(), 2000);
  EXPECT_EQ(etcd.value(kKey), "2000");
  EXPECT_GE(first->stats().rounds, 1U);
  EXPECT_GE(second->stats().rounds, 1U);
}

}  // namespace
}  // namespace count
