// The counter: range edges, and no lost update under concurrent mutation.
#include <gtest/gtest.h>

#include <limits>
#include <thread>
#include <vector>

#include "core/counter.hpp"

namespace count {
namespace {

constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();

TEST(CheckedAdd, RefusesResultsOutsideTheRange) {
  EXPECT_EQ(checked_add(kMax - 1, 1), kMax);
  EXPECT_FALSE(checked_add(kMax, 1).has_value());
  EXPECT_EQ(checked_add(kMin + 1, -1), kMin);
  EXPECT_FALSE(checked_add(kMin, -1).has_value());
  EXPECT_FALSE(checked_add(kMin, kMin).has_value());
  EXPECT_EQ(checked_add(kMax, kMin), -1);
}

TEST(Counter, StartsAtItsInitialValue) {
  EXPECT_EQ(Counter().load(), 0);
  EXPECT_EQ(Counter(-9).load(), -9);
}

TEST(Counter, AddPastInt64MaxIsRefusedAndKeepsValue) {
  Counter counter(kMax - 2);
  EXPECT_EQ(counter.add(2), kMax);
  EXPECT_FALSE(counter.add(1).has_value());
  EXPECT_EQ(counter.load(), kMax);
}

TEST(Counter, AddPastInt64MinIsRefusedAndKeepsValue) {
  Counter counter(kMin + 1);
  EXPECT_EQ(counter.add(-1), kMin);
  EXPECT_FALSE(counter.add(-1).has_value());
  EXPECT_FALSE(counter.add(kMin).has_value());
  EXPECT_EQ(counter.load(), kMin);
}

TEST(Counter, NoUpdateIsLostUnderConcurrentAdds) {
  Counter counter;
  constexpr int kThreads = 4;
  constexpr int kAddsEach = 100000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&counter, t] {
      for (int i = 0; i < kAddsEach; ++i) counter.add(t % 2 == 0 ? 3 : -1);
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(counter.load(), std::int64_t{kAddsEach} * (3 + 3 - 1 - 1));
}

}  // namespace
}  // namespace count
