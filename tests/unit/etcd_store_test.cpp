// The etcd store over parts, on MemoryEtcd (one etcd's key space in memory, with the faults a
// real cluster shows): every reply is what one server holding the value would answer, no
// mutation is applied twice, no `ok` is sent for one that was not applied, and front ends
// write their own parts without contending.
#include "store/etcd_store.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "protocol/reply.hpp"
#include "support/memory_etcd.hpp"

namespace count {
namespace {

using std::chrono::milliseconds;
using test::MemoryEtcd;

constexpr char kKey[] = "/count-server/value";
constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();

// One front end's view of the shared MemoryEtcd: counts its transactions, can hold them (a
// round trip in flight), and can run something just before its next one.
class FrontEndKv final : public EtcdTxnKv {
 public:
  explicit FrontEndKv(MemoryEtcd& etcd) : etcd_(etcd) {}

  EtcdTransacted transact(const EtcdTransaction& transaction) override {
    std::function<void()> before;
    {
      std::unique_lock lock(mutex_);
      ++arrived_;
      changed_.notify_all();
      changed_.wait(lock, [this] { return !holding_; });
      ++transactions_;
      before = std::exchange(before_next_, nullptr);
    }
    if (before) before();
    return etcd_.transact(transaction);
  }
  EtcdTransacted read_ranges(const std::vector<EtcdOperation>& ranges,
                             std::int64_t at_revision) override {
    return etcd_.read_ranges(ranges, at_revision);
  }
  EtcdLease grant_lease(std::int64_t ttl_seconds) override {
    return etcd_.grant_lease(ttl_seconds);
  }
  EtcdLease keep_alive(std::int64_t id) override { return etcd_.keep_alive(id); }
  bool revoke_lease(std::int64_t id, std::string* error) override {
    return etcd_.revoke_lease(id, error);
  }
  std::string where() const override { return "memory"; }

  void hold(bool on) {
    {
      const std::lock_guard lock(mutex_);
      holding_ = on;
    }
    changed_.notify_all();
  }
  // Waits (bounded) until `n` transactions have reached etcd, held or not.
  bool wait_for_transactions(int n) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(10), [&] { return arrived_ >= n; });
  }
  int transactions() {
    const std::lock_guard lock(mutex_);
    return transactions_;
  }
  void before_next(std::function<void()> action) {
    const std::lock_guard lock(mutex_);
    before_next_ = std::move(action);
  }

 private:
  MemoryEtcd& etcd_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool holding_ = false;
  int arrived_ = 0;
  int transactions_ = 0;
  std::function<void()> before_next_;
};

// Runs `action` just before the `n`th next transaction of `kv` (1: the next one).
void before_transaction(FrontEndKv& kv, int n, std::function<void()> action) {
  if (n == 1) return kv.before_next(std::move(action));
  kv.before_next([&kv, n, action = std::move(action)] { before_transaction(kv, n - 1, action); });
}

struct FrontEnd {
  FrontEndKv* kv = nullptr;  // owned by the store
  std::unique_ptr<EtcdStore> store;
};

FrontEnd start(MemoryEtcd& etcd, milliseconds timeout = milliseconds(2000), std::string id = {},
               std::chrono::microseconds max_linger = EtcdStoreOptions{}.max_linger) {
  EtcdStoreOptions options;
  options.request_timeout = timeout;
  options.front_end_id = std::move(id);
  options.max_linger = max_linger;
  auto kv = std::make_unique<FrontEndKv>(etcd);
  FrontEnd front_end;
  front_end.kv = kv.get();
  front_end.store = std::make_unique<EtcdStore>(std::move(kv), options);
  return front_end;
}

// A request joined the store; what it was answered, once decided.
struct Pending {
  std::shared_ptr<const LateReplies> later;
  std::size_t index = 0;
};

template <typename Result>
Pending pending(Result result) {
  EXPECT_NE(result.later, nullptr);
  return {std::move(result.later), result.later_index};
}
Pending add(Store& store, std::int64_t delta) { return pending(store.add(delta)); }
Pending get(Store& store) { return pending(store.get()); }

// Waits (bounded) until the store has decided `request`; the reply line.
std::string answer(const Pending& request, milliseconds limit = milliseconds(10000)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!request.later->decided.load(std::memory_order_acquire)) {
    if (std::chrono::steady_clock::now() >= deadline) return "(no answer)";
    std::this_thread::sleep_for(milliseconds(1));
  }
  std::string line;
  append_reply(request.later->replies[request.index], line);
  line.pop_back();
  return line;
}

// One round: the requests, committed, and their answers.
std::vector<std::string> round(Store& store, const std::vector<std::optional<std::int64_t>>& deltas) {
  std::vector<Pending> requests;
  for (const auto& delta : deltas) requests.push_back(delta ? add(store, *delta) : get(store));
  store.commit();
  std::vector<std::string> answers;
  for (const Pending& request : requests) answers.push_back(answer(request));
  return answers;
}
constexpr std::nullopt_t kGet = std::nullopt;

// The counter as etcd holds it now.
PartsState state_of(MemoryEtcd& etcd) {
  const PartsKeys keys(kKey);
  const EtcdTransacted read = etcd.read_ranges(keys.read_all());
  EXPECT_EQ(read.status, TransactStatus::kThen) << read.error;
  std::string error;
  std::optional<PartsState> state =
      parse_parts(keys, read.revision, read.ranges.at(0), read.ranges.at(1), &error);
  EXPECT_TRUE(state.has_value()) << error;
  EXPECT_TRUE(state && grants_hold(state->base, state->escrow_view())) << "grants break the range";
  return state.value_or(PartsState{});
}

void put(MemoryEtcd& etcd, const std::string& key, const std::string& value) {
  EtcdTransaction transaction;
  transaction.then = {{EtcdOperation::Kind::kPut, key, "", value, 0}};
  ASSERT_EQ(etcd.transact(transaction).status, TransactStatus::kThen);
}

TEST(EtcdStore, ANewFrontEndRebalancesOnceThenCommitsEachRoundAloneWithinItsGrant) {
  MemoryEtcd etcd;
  FrontEnd a = start(etcd);
  EXPECT_EQ(a.store->initial_value(), 0);
  EXPECT_EQ(round(*a.store, {5, -2, kGet, 1}), (std::vector<std::string>{"ok", "ok", "val 3", "ok"}));
  EXPECT_EQ(a.kv->transactions(), 2);  // the freeze, then the rebalance that grants it a share
  EXPECT_EQ(a.store->stats().rebalances, 1U);
  EXPECT_EQ(round(*a.store, {10, kGet}), (std::vector<std::string>{"ok", "val 14"}));
  EXPECT_EQ(a.kv->transactions(), 3);  // within the grant: its part alone
  EXPECT_EQ(a.store->stats().fast_paths, 1U);
  const PartsState state = state_of(etcd);
  EXPECT_EQ(state.total(), 14);
  EXPECT_EQ(state.base, 4);  // the rebalance made the total the base
  EXPECT_EQ(state.find(a.store->front_end_id())->part.value, 10);
  EXPECT_TRUE(a.store->close());
}

TEST(EtcdStore, TheRangeRuleHoldsRequestByRequestAcrossFrontEndsAtBothEnds) {
  for (const std::int64_t start_value : {kMax - 3, kMin + 3}) {
    MemoryEtcd etcd;
    put(etcd, kKey, std::to_string(start_value));  // an earlier version's single key
    const std::int64_t toward = start_value > 0 ? 1 : -1;
    FrontEnd a = start(etcd);
    FrontEnd b = start(etcd);
    EXPECT_EQ(a.store->initial_value(), start_value);
    // Three steps of headroom between two front ends: exactly three are applied, in order.
    EXPECT_EQ(round(*a.store, {toward, toward}), (std::vector<std::string>{"ok", "ok"}));
    EXPECT_EQ(round(*b.store, {toward, toward, kGet, -toward, kGet}),
              (std::vector<std::string>{"ok", "err", "val " + std::to_string(start_value + 3 * toward),
                                        "ok", "val " + std::to_string(start_value + 2 * toward)}));
    EXPECT_EQ(round(*a.store, {toward, toward, kGet}),
              (std::vector<std::string>{"ok", "err", "val " + std::to_string(start_value + 3 * toward)}));
    EXPECT_EQ(state_of(etcd).total(), start_value + 3 * toward);
  }
}

// At the end of the range, a round whose every mutation is refused is answered from a read:
// it writes nothing, so no other front end's grant moves.
TEST(EtcdStore, ARoundWhoseMutationsAreAllRefusedWritesNothing) {
  MemoryEtcd etcd;
  put(etcd, kKey, std::to_string(kMax - 1));
  FrontEnd a = start(etcd);
  EXPECT_EQ(round(*a.store, {1}), std::vector<std::string>{"ok"});
  const int before = a.kv->transactions();
  EXPECT_EQ(round(*a.store, {1, kGet, 2}),
            (std::vector<std::string>{"err", "val " + std::to_string(kMax), "err"}));
  EXPECT_EQ(a.kv->transactions(), before);
}

TEST(EtcdStore, RequestsArrivingDuringARoundTripShareTheNextTransaction) {
  MemoryEtcd etcd;
  FrontEnd a = start(etcd);
  EXPECT_EQ(round(*a.store, {1}), std::vector<std::string>{"ok"});
  const int before = a.kv->transactions();
  a.kv->hold(true);
  const Pending first = add(*a.store, 1);
  a.store->commit();
  ASSERT_TRUE(a.kv->wait_for_transactions(before + 1));  // its round trip is in flight
  std::vector<Pending> meanwhile;
  for (int i = 0; i < 100; ++i) {
    meanwhile.push_back(add(*a.store, 1));
    a.store->commit();
  }
  a.kv->hold(false);
  EXPECT_EQ(answer(first), "ok");
  for (const Pending& request : meanwhile) EXPECT_EQ(answer(request), "ok");
  EXPECT_EQ(state_of(etcd).total(), 102);
  EXPECT_EQ(a.kv->transactions(), before + 2);
}

// Two requests in a round trip held for `trip`, and a third that joined meanwhile: the first
// two answered, `before` the transactions before them.
struct HeldTrip {
  int before = 0;
  Pending first, second, meanwhile;
};
HeldTrip held_trip(FrontEnd& front_end, milliseconds trip) {
  HeldTrip held;
  held.before = front_end.kv->transactions();
  front_end.kv->hold(true);
  held.first = add(*front_end.store, 1);
  held.second = add(*front_end.store, 1);
  front_end.store->commit();
  EXPECT_TRUE(front_end.kv->wait_for_transactions(held.before + 1));
  held.meanwhile = add(*front_end.store, 1);
  front_end.store->commit();
  std::this_thread::sleep_for(trip);
  front_end.kv->hold(false);
  EXPECT_EQ(answer(held.first), "ok");
  EXPECT_EQ(answer(held.second), "ok");
  return held;
}

// Once a round is answered, the next one waits (at most half that round trip, and at most the
// longest linger) for the requests just answered to come back, as pipelining clients send
// again at once: one transaction then carries them with those that joined meanwhile.
TEST(EtcdStore, TheNextRoundWaitsForTheRequestsJustAnsweredToComeBack) {
  MemoryEtcd etcd;
  FrontEnd a = start(etcd, milliseconds(20000), {}, std::chrono::seconds(60));
  EXPECT_EQ(round(*a.store, {1}), std::vector<std::string>{"ok"});  // granted a share
  // A round trip of 2 s: the next round may then wait 1 s for the two clients answered.
  const HeldTrip held = held_trip(a, milliseconds(2000));
  const Pending first_again = add(*a.store, 1);
  a.store->commit();
  const Pending second_again = add(*a.store, 1);
  a.store->commit();
  EXPECT_EQ(answer(held.meanwhile), "ok");
  EXPECT_EQ(answer(first_again), "ok");
  EXPECT_EQ(answer(second_again), "ok");
  EXPECT_EQ(a.kv->transactions(), held.before + 2);  // the held one, then one for the three
  EXPECT_EQ(state_of(etcd).total(), 6);
}

// Clients that do not send again hold the next round up no longer than the linger.
TEST(EtcdStore, RequestsThatDoNotComeBackHoldTheNextRoundNoLongerThanTheLinger) {
  MemoryEtcd etcd;
  FrontEnd a = start(etcd, milliseconds(20000), {}, milliseconds(50));
  EXPECT_EQ(round(*a.store, {1}), std::vector<std::string>{"ok"});
  const HeldTrip held = held_trip(a, milliseconds(500));
  EXPECT_EQ(answer(held.meanwhile), "ok");  // alone, once the linger is over
  EXPECT_EQ(a.kv->transactions(), held.before + 2);
  EXPECT_EQ(state_of(etcd).total(), 4);
}

// Another front end's rebalance moves every grant: a fast path that compared the old one
// loses its compare once, and goes again from the state it read.
TEST(EtcdStore, AFastPathThatLostToARebalanceGoesAgainFromTheNewGrant) {
  MemoryEtcd etcd;
  FrontEnd a = start(etcd);
  FrontEnd b = start(etcd);
  EXPECT_EQ(round(*a.store, {100}), std::vector<std::string>{"ok"});
  EXPECT_EQ(round(*b.store, {10}), std::vector<std::string>{"ok"});  // its first: a rebalance
  EXPECT_EQ(round(*a.store, {1, kGet}), (std::vector<std::string>{"ok", "val 111"}));
  EXPECT_EQ(a.store->stats().conflicts, 1U);
  EXPECT_EQ(round(*a.store, {1, kGet}), (std::vector<std::string>{"ok", "val 112"}));
  EXPECT_EQ(a.store->stats().conflicts, 1U);
  // B's part moved without B: its get reads the total.
  EXPECT_EQ(round(*b.store, {kGet}), std::vector<std::string>{"val 112"});
}

TEST(EtcdStore, GetsAloneAreAnsweredFromAFreshReadWithoutATransaction) {
  MemoryEtcd etcd;
  FrontEnd a = start(etcd);
  put(etcd, kKey, "42");
  EXPECT_EQ(round(*a.store, {kGet, kGet}), (std::vector<std::string>{"val 42", "val 42"}));
  EXPECT_EQ(a.kv->transactions(), 0);
}

// WATCH sees every mutation applied, even one that changes nothing, through any front end:
// each is written, and moves the version.
TEST(EtcdStore, AMutationThatAddsZeroMovesTheVersion) {
  MemoryEtcd etcd;
  FrontEnd a = start(etcd);
  EXPECT_EQ(round(*a.store, {0}), std::vector<std::string>{"ok"});
  const std::uint64_t version = state_of(etcd).version();
  EXPECT_EQ(round(*a.store, {5, -5}), (std::vector<std::string>{"ok", "ok"}));
  EXPECT_GT(state_of(etcd).version(), version);
  EXPECT_EQ(state_of(etcd).total(), 0);
}

// WATCH, then a change through another front end: EXEC runs nothing. Without one, it runs.
TEST(EtcdStore, WatchSeesAChangeMadeThroughAnotherFrontEnd) {
  MemoryEtcd etcd;
  FrontEnd a = start(etcd);
  FrontEnd b = start(etcd);
  EXPECT_EQ(round(*b.store, {1}), std::vector<std::string>{"ok"});
  EXPECT_EQ(round(*a.store, {1}), std::vector<std::string>{"ok"});
  const std::vector<Step> steps = {{5, false}, {0, true}};
  for (const bool changed : {false, true}) {
    const Watched watched = a.store->watch();
    a.store->commit();
    ASSERT_EQ(answer({watched.later, watched.later_index}), "ok");
    if (changed) {
      EXPECT_EQ(round(*b.store, {1}), std::vector<std::string>{"ok"});
    }
    const std::int64_t before = state_of(etcd).total();
    const Transacted exec = a.store->transact(steps, &watched);
    a.store->commit();
    EXPECT_EQ(answer({exec.later, exec.later_index}), changed ? "err" : "ok") << changed;
    if (!changed) {
      EXPECT_EQ(answer({exec.later, exec.later_index + 2}), "val " + std::to_string(before + 5));
    }
    EXPECT_EQ(state_of(etcd).total(), before + (changed ? 0 : 5));
  }
}

enum class Path { kRebalance, kFastPath };

// Where a front end's next round sends the transaction that decides it: after a freeze when
// it is a rebalance.
int decisive(Path path) { return path == Path::kRebalance ? 2 : 1; }

// The first round of a front end is a rebalance, the next ones fast paths: an answer lost
// after either applied is found applied, and nothing is applied twice.
TEST(EtcdStore, AnUnknownOutcomeThatAppliedIsFoundAndNotAppliedTwice) {
  for (const Path path : {Path::kRebalance, Path::kFastPath}) {
    MemoryEtcd etcd;
    FrontEnd a = start(etcd);
    if (path == Path::kFastPath) {
      EXPECT_EQ(round(*a.store, {1}), std::vector<std::string>{"ok"});
    }
    const std::int64_t before = state_of(etcd).total();
    before_transaction(*a.kv, decisive(path),
                       [&] { etcd.fault_next(MemoryEtcd::Fault::kLostAnswer); });
    EXPECT_EQ(round(*a.store, {3, kGet}),
              (std::vector<std::string>{"ok", "val " + std::to_string(before + 3)}));
    EXPECT_EQ(a.store->stats().unknown, 1U);
    EXPECT_EQ(state_of(etcd).total(), before + 3);
    EXPECT_EQ(round(*a.store, {1, kGet}), (std::vector<std::string>{"ok", "val " + std::to_string(before + 4)}));
  }
}

TEST(EtcdStore, AnUnknownOutcomeThatDidNotApplyIsSentAgainOnce) {
  for (const Path path : {Path::kRebalance, Path::kFastPath}) {
    MemoryEtcd etcd;
    FrontEnd a = start(etcd);
    if (path == Path::kFastPath) {
      EXPECT_EQ(round(*a.store, {1}), std::vector<std::string>{"ok"});
    }
    const std::int64_t before = state_of(etcd).total();
    before_transaction(*a.kv, decisive(path),
                       [&] { etcd.fault_next(MemoryEtcd::Fault::kDropped); });
    EXPECT_EQ(round(*a.store, {3, kGet}),
              (std::vector<std::string>{"ok", "val " + std::to_string(before + 3)}));
    EXPECT_EQ(state_of(etcd).total(), before + 3);
  }
}

// The transaction etcd could not confirm waits in its log: applied before the fence, it is
// found applied; after it, its condition fails. Exactly once either way.
TEST(EtcdStore, AnUnknownOutcomeThatAppliesLateIsAppliedOnce) {
  for (const Path path : {Path::kRebalance, Path::kFastPath}) {
    for (const bool before_fence : {true, false}) {
      MemoryEtcd etcd;
      FrontEnd a = start(etcd);
      if (path == Path::kFastPath) {
        EXPECT_EQ(round(*a.store, {1}), std::vector<std::string>{"ok"});
      }
      const std::int64_t before = state_of(etcd).total();
      before_transaction(*a.kv, decisive(path), [&] {
        etcd.fault_next(MemoryEtcd::Fault::kDelayed);
        // The next transaction is the fence.
        a.kv->before_next([&] {
          if (before_fence) etcd.apply_delayed();
        });
      });
      EXPECT_EQ(round(*a.store, {3, kGet}),
                (std::vector<std::string>{"ok", "val " + std::to_string(before + 3)}));
      if (!before_fence) etcd.apply_delayed();  // too late: changes nothing
      EXPECT_EQ(state_of(etcd).total(), before + 3) << before_fence;
      EXPECT_EQ(round(*a.store, {kGet}), std::vector<std::string>{"val " + std::to_string(before + 3)});
    }
  }
}

// Between a transaction in doubt and its fence another front end rebalances, moving this
// one's grant and part: the history says whether it applied, and at which total.
TEST(EtcdStore, AnUnknownOutcomeIsToldFromTheHistoryWhenTheGrantMovedMeanwhile) {
  for (const Path path : {Path::kRebalance, Path::kFastPath}) {
    for (const MemoryEtcd::Fault fault : {MemoryEtcd::Fault::kLostAnswer, MemoryEtcd::Fault::kDropped}) {
      MemoryEtcd etcd;
      FrontEnd a = start(etcd);
      FrontEnd b = start(etcd);
      if (path == Path::kFastPath) {
        EXPECT_EQ(round(*a.store, {1}), std::vector<std::string>{"ok"});
      }
      const std::int64_t before = state_of(etcd).total();
      before_transaction(*a.kv, decisive(path), [&] {
        etcd.fault_next(fault);
        // Before the fence: B's first round, a rebalance, with 1000 more.
        a.kv->before_next(
            [&] { EXPECT_EQ(round(*b.store, {1000}), std::vector<std::string>{"ok"}); });
      });
      const std::vector<std::string> answers = round(*a.store, {3, kGet});
      ASSERT_EQ(answers.size(), 2U);
      EXPECT_EQ(answers[0], "ok");
      if (fault == MemoryEtcd::Fault::kLostAnswer) {
        // Applied before B's 1000.
        EXPECT_EQ(answers[1], "val " + std::to_string(before + 3));
      } else {
        EXPECT_EQ(answers[1], "val " + std::to_string(before + 1003));  // sent again, after
      }
      EXPECT_EQ(state_of(etcd).total(), before + 1003);
    }
  }
}

TEST(EtcdStore, WithoutEtcdRequestsGetErrAfterTheTimeoutAndServeAgainWhenItReturns) {
  MemoryEtcd etcd;
  put(etcd, kKey, "10");
  FrontEnd a = start(etcd, milliseconds(200));
  etcd.set_unreachable(true);
  const auto began = std::chrono::steady_clock::now();
  EXPECT_EQ(round(*a.store, {1, kGet}), (std::vector<std::string>{"err", "err"}));
  EXPECT_GE(std::chrono::steady_clock::now() - began, milliseconds(200));
  EXPECT_EQ(a.store->stats().failed_rounds, 1U);
  etcd.set_unreachable(false);
  EXPECT_EQ(state_of(etcd).total(), 10);
  EXPECT_EQ(round(*a.store, {1, kGet}), (std::vector<std::string>{"ok", "val 11"}));
}

// Quorum lost with a transaction in flight: its requests wait until etcd can say what became
// of it, while the requests that came after it, never sent, get err after the timeout.
TEST(EtcdStore, OnlyTheRequestsOfAnUnresolvedTransactionWaitPastTheTimeout) {
  MemoryEtcd etcd;
  FrontEnd a = start(etcd, milliseconds(300));
  EXPECT_EQ(round(*a.store, {1}), std::vector<std::string>{"ok"});
  etcd.fault_next(MemoryEtcd::Fault::kDropped);  // the fast path's
  before_transaction(*a.kv, 2, [&] { etcd.set_unreachable(true); });  // the fence meets no member
  const Pending in_flight = add(*a.store, 5);
  a.store->commit();
  ASSERT_TRUE(a.kv->wait_for_transactions(4));  // the rebalance's two, the fast path, the fence
  const Pending later = add(*a.store, 1);
  a.store->commit();
  EXPECT_EQ(answer(later), "err");
  std::this_thread::sleep_for(milliseconds(400));
  EXPECT_FALSE(in_flight.later->decided.load()) << "answered before etcd could tell";
  etcd.set_unreachable(false);
  EXPECT_EQ(answer(in_flight), "ok");
  EXPECT_EQ(state_of(etcd).total(), 6);
}

// A call to etcd that blocks (a member that takes the request and never answers) holds up
// only the round it carries: the requests that came after it get err in their timeout.
TEST(EtcdStore, RequestsBehindACallThatBlocksGetErrInTheirTimeout) {
  MemoryEtcd etcd;
  FrontEnd a = start(etcd, milliseconds(300));
  EXPECT_EQ(round(*a.store, {1}), std::vector<std::string>{"ok"});
  a.kv->hold(true);
  const Pending blocked = add(*a.store, 5);
  a.store->commit();
  ASSERT_TRUE(a.kv->wait_for_transactions(3));
  const auto sent = std::chrono::steady_clock::now();
  const Pending later = add(*a.store, 1);
  a.store->commit();
  EXPECT_EQ(answer(later), "err");
  const auto waited = std::chrono::steady_clock::now() - sent;
  EXPECT_GE(waited, milliseconds(300));
  EXPECT_LT(waited, milliseconds(2000));
  EXPECT_FALSE(blocked.later->decided.load());
  a.kv->hold(false);
  EXPECT_EQ(answer(blocked), "ok");
  EXPECT_EQ(state_of(etcd).total(), 6);
}

TEST(EtcdStore, KeysThatAreNotOursStopTheStart) {
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {kKey, "hello"}, {std::string(kKey) + "/part/x", "1"}}) {
    MemoryEtcd etcd;
    put(etcd, key, value);
    try {
      start(etcd);
      ADD_FAILURE() << "started on " << key << " holding " << value;
    } catch (const EtcdStoreError& e) {
      EXPECT_NE(std::string(e.what()).find("not"), std::string::npos) << e.what();
    }
  }
}

TEST(EtcdStore, AnUnreachableClusterStopsTheStartWithinTheTimeout) {
  MemoryEtcd etcd;
  etcd.set_unreachable(true);
  const auto began = std::chrono::steady_clock::now();
  EXPECT_THROW(start(etcd, milliseconds(300)), EtcdStoreError);
  EXPECT_LT(std::chrono::steady_clock::now() - began, milliseconds(3000));
}

// A front end that stopped is folded into the base by the next rebalance: its keys go, the
// total and the version stay.
TEST(EtcdStore, AStoppedFrontEndsPartIsFoldedIntoTheBase) {
  MemoryEtcd etcd;
  FrontEnd a = start(etcd);
  EXPECT_EQ(round(*a.store, {7}), std::vector<std::string>{"ok"});
  EXPECT_EQ(round(*a.store, {8}), std::vector<std::string>{"ok"});
  const std::string gone = a.store->front_end_id();
  EXPECT_TRUE(a.store->close());  // its lease revoked: its alive key is gone
  const PartsState before = state_of(etcd);
  ASSERT_NE(before.find(gone), nullptr);
  EXPECT_FALSE(before.find(gone)->alive);
  FrontEnd b = start(etcd);
  EXPECT_EQ(round(*b.store, {1, kGet}), (std::vector<std::string>{"ok", "val 16"}));
  const PartsState after = state_of(etcd);
  EXPECT_EQ(after.find(gone), nullptr);
  EXPECT_EQ(after.front_ends.size(), 1U);
  EXPECT_EQ(after.base, 16);
  EXPECT_GT(after.version(), before.version());
  EXPECT_GE(after.folded, before.find(gone)->part.txn);
}

// An earlier version's key and records: the key is read as the base, the records deleted.
TEST(EtcdStore, AnEarlierVersionsKeyIsTheBaseAndItsRecordsAreDeleted) {
  MemoryEtcd etcd;
  put(etcd, kKey, "500");
  put(etcd, std::string(kKey) + "/front-end/0123456789abcdef", "17");
  FrontEnd a = start(etcd);
  EXPECT_EQ(a.store->initial_value(), 500);
  EXPECT_EQ(round(*a.store, {1, kGet}), (std::vector<std::string>{"ok", "val 501"}));
  EXPECT_TRUE(state_of(etcd).old_records.empty());
}

// A lease etcd ended (the front end lost etcd for its whole TTL): the next transaction is
// refused, a new lease granted, and the round goes again; nothing is applied twice.
TEST(EtcdStore, ALeaseThatEndedIsGrantedAgain) {
  MemoryEtcd etcd;
  FrontEnd a = start(etcd);
  EXPECT_EQ(round(*a.store, {1}), std::vector<std::string>{"ok"});
  const PartsKeys keys(kKey);
  const EtcdTransacted alive = etcd.read_ranges(
      {{EtcdOperation::Kind::kRange, keys.alive(a.store->front_end_id()), "", "", 0}});
  ASSERT_EQ(alive.ranges.at(0).size(), 1U);
  etcd.expire(alive.ranges[0][0].lease);
  EXPECT_EQ(round(*a.store, {2, kGet}), (std::vector<std::string>{"ok", "val 3"}));
  EXPECT_TRUE(state_of(etcd).find(a.store->front_end_id())->alive);
  EXPECT_EQ(state_of(etcd).total(), 3);
}

// Three front ends, each from its own thread: every ok counts exactly once, every front end
// is served, and once each holds a grant they no longer contend.
TEST(EtcdStore, ThreeFrontEndsLoseNoUpdateAndStopContendingOnceGranted) {
  MemoryEtcd etcd;
  std::vector<FrontEnd> front_ends;
  for (int i = 0; i < 3; ++i) front_ends.push_back(start(etcd));
  std::atomic<std::int64_t> acknowledged{0};
  const auto hammer = [&](EtcdStore& store) {
    for (int batch = 0; batch < 200; ++batch) {
      std::vector<Pending> requests;
      for (int i = 0; i < 5; ++i) requests.push_back(add(store, 1));
      store.commit();
      for (const Pending& request : requests) {
        if (answer(request) == "ok") acknowledged.fetch_add(1);
      }
    }
  };
  std::vector<std::thread> threads;
  for (FrontEnd& front_end : front_ends) threads.emplace_back([&] { hammer(*front_end.store); });
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(acknowledged.load(), 3000);
  EXPECT_EQ(state_of(etcd).total(), 3000);
  for (FrontEnd& front_end : front_ends) {
    const EtcdStore::Stats stats = front_end.store->stats();
    EXPECT_EQ(stats.rounds, stats.fast_paths + stats.rebalances);
    // Each rebalances at least once (its first grant), and only while the others join.
    EXPECT_GE(stats.rebalances, 1U);
    EXPECT_LE(stats.rebalances, 3U);
    EXPECT_LE(stats.conflicts, 6U);
  }
}

}  // namespace
}  // namespace count
