// LeaseKeeper over MemoryEtcd (whose leases end when their TTL passes without a renewal):
// renewed when due, kept past its TTL by ticks, lost when the ticks stop or etcd cannot be
// reached for a whole TTL, and granted anew after. Every wait is bounded.
#include "store/lease_keeper.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "support/memory_etcd.hpp"

namespace count {
namespace {

using namespace std::chrono_literals;
using test::MemoryEtcd;

// Puts a key on the lease.
void put_on(MemoryEtcd& etcd, std::int64_t lease) {
  EtcdTransaction put;
  put.then = {{EtcdOperation::Kind::kPut, "alive", "", "", lease}};
  ASSERT_EQ(etcd.transact(put).status, TransactStatus::kThen);
}
// True while the key on the lease is there.
bool alive(MemoryEtcd& etcd) {
  return !etcd.read_ranges({{EtcdOperation::Kind::kRange, "alive", "", "", 0}})
              .ranges.at(0)
              .empty();
}

// Ticks every 100 ms for `how_long` (a TTL of 2 s leaves a busy machine a second of slack).
void tick_for(LeaseKeeper& keeper, std::chrono::milliseconds how_long) {
  const auto until = LeaseKeeper::Clock::now() + how_long;
  for (int i = 0; i < 100 && LeaseKeeper::Clock::now() < until; ++i) {
    keeper.tick();
    std::this_thread::sleep_for(100ms);
  }
}

TEST(LeaseKeeper, TicksKeepItPastItsTtlAndStoppingLosesIt) {
  MemoryEtcd etcd;
  LeaseKeeper keeper(etcd, 2s);
  EXPECT_TRUE(keeper.lost());  // not started
  ASSERT_TRUE(keeper.start());
  EXPECT_FALSE(keeper.lost());
  put_on(etcd, keeper.id());
  tick_for(keeper, 4500ms);  // two and a quarter TTLs
  EXPECT_FALSE(keeper.lost());
  EXPECT_TRUE(alive(etcd));
  std::this_thread::sleep_for(2400ms);  // no tick for more than a TTL
  EXPECT_TRUE(keeper.lost());
  EXPECT_FALSE(alive(etcd));
  keeper.tick();  // etcd says it ended
  EXPECT_TRUE(keeper.lost());
  const std::int64_t old = keeper.id();
  ASSERT_TRUE(keeper.start());
  EXPECT_NE(keeper.id(), old);
  EXPECT_FALSE(keeper.lost());
}

TEST(LeaseKeeper, ATtlWithoutReachingEtcdIsLost) {
  MemoryEtcd etcd;
  LeaseKeeper keeper(etcd, 2s);
  ASSERT_TRUE(keeper.start());
  etcd.set_unreachable(true);
  std::string error;
  EXPECT_FALSE(LeaseKeeper(etcd, 1s).start(&error));
  EXPECT_FALSE(error.empty());
  tick_for(keeper, 1000ms);
  EXPECT_FALSE(keeper.lost());  // within its TTL: still ours
  tick_for(keeper, 1600ms);
  EXPECT_TRUE(keeper.lost());
}

TEST(LeaseKeeper, RevokingDeletesItsKeysAtOnce) {
  MemoryEtcd etcd;
  LeaseKeeper keeper(etcd, 30s);
  ASSERT_TRUE(keeper.start());
  put_on(etcd, keeper.id());
  EXPECT_TRUE(alive(etcd));
  EXPECT_GT(keeper.next_due(), LeaseKeeper::Clock::now() + 9s);  // a third of 30 s
  keeper.revoke();
  EXPECT_TRUE(keeper.lost());
  EXPECT_FALSE(alive(etcd));
}

}  // namespace
}  // namespace count
