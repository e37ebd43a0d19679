// Escrow's arithmetic: the fast path's check, the exact judgement, the rebalance and its
// invariant, at both ends of the 64-bit range; and a simulation of front ends taking the
// fast path within their grants and the slow path past them, against one server judging the
// same requests in the same order.
#include "store/escrow.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <random>

namespace count {
namespace {

constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

__extension__ using Wide = __int128;

std::vector<std::int64_t> d(std::initializer_list<std::int64_t> deltas) { return deltas; }

PartState part(std::string id, std::int64_t value, std::optional<Grant> grant = std::nullopt,
               bool alive = true) {
  return {std::move(id), value, grant, alive};
}

TEST(EscrowWithinGrant, EveryStepMustStayWithinTheGrant) {
  EXPECT_EQ(within_grant(0, {-5, 5}, d({1, 2, 2})), 5);
  EXPECT_EQ(within_grant(0, {-5, 5}, d({1, 2, 3})), std::nullopt);
  // Leaving and coming back is leaving: another front end may be at its own edge meanwhile.
  EXPECT_EQ(within_grant(0, {-5, 5}, d({6, -6})), std::nullopt);
  EXPECT_EQ(within_grant(0, {-5, 5}, d({-5, 10})), 5);
  EXPECT_EQ(within_grant(3, {-5, 5}, d({})), 3);
  // The whole range, without overflowing on the way.
  EXPECT_EQ(within_grant(kMax, {kMin, kMax}, d({1})), std::nullopt);
  EXPECT_EQ(within_grant(kMin, {kMin, kMax}, d({-1})), std::nullopt);
  EXPECT_EQ(within_grant(kMin, {kMin, kMax}, d({kMax, 1})), 0);
}

TEST(EscrowJudge, RefusesExactlyWhatWouldLeaveTheRange) {
  const Judged up = judge(kMax - 1, d({1, 1, -3, 2}));
  EXPECT_EQ(up.applied, (std::vector<bool>{true, false, true, true}));
  EXPECT_EQ(up.total, kMax - 1);
  const Judged down = judge(kMin + 1, d({-1, -1, kMin, kMax}));
  EXPECT_EQ(down.applied, (std::vector<bool>{true, false, false, true}));
  EXPECT_EQ(down.total, -1);
  EXPECT_EQ(judge(0, d({kMin})).total, kMin);
  EXPECT_TRUE(judge(5, d({})).applied.empty());
}

TEST(EscrowTotal, IsTheSumOrNotOursPastTheRange) {
  EXPECT_EQ(total_of(10, std::vector<PartState>{part("a", 5), part("b", -7)}), 8);
  EXPECT_EQ(total_of(kMax, std::vector<PartState>{part("a", 5), part("b", -5)}), kMax);
  EXPECT_EQ(total_of(kMax, std::vector<PartState>{part("a", 1)}), std::nullopt);
  EXPECT_EQ(total_of(kMin, std::vector<PartState>{part("a", -1)}), std::nullopt);
}

TEST(EscrowRebalance, SharesTheHeadroomEvenlyWithTheRestToTheCaller) {
  const std::vector<PartState> parts{part("a", 4, Grant{-10, 10}), part("b", -3, Grant{-10, 10}),
                                     part("gone", 7, Grant{0, 9}, false), part("c", 0)};
  const Rebalanced r = rebalance(kMax - 10, parts, "c");
  EXPECT_EQ(r.base, kMax - 10);
  EXPECT_EQ(r.folded, std::vector<std::string>{"gone"});
  ASSERT_EQ(r.grants.size(), 3U);
  // 10 up among 3: 3 each and 1 more for the caller. Down: (2^64 - 11) / 3 each, cut to
  // int64 nowhere (each is below 2^63).
  EXPECT_EQ(r.grants[0].first, "a");
  EXPECT_EQ(r.grants[0].second.hi, 3);
  EXPECT_EQ(r.grants[1].second.hi, 3);
  EXPECT_EQ(r.grants[2].first, "c");
  EXPECT_EQ(r.grants[2].second.hi, 4);
  const std::uint64_t down = (~std::uint64_t{0}) - 10;
  EXPECT_EQ(r.grants[0].second.lo, -static_cast<std::int64_t>(down / 3));
  EXPECT_EQ(r.grants[2].second.lo, -static_cast<std::int64_t>(down / 3 + down % 3));
}

// After any rebalance, the state it writes (base = total, live parts 0) holds the invariant
// and uses the headroom up to the last unit, but for what a share past int64 leaves.
TEST(EscrowRebalance, TheStateItWritesHoldsTheInvariantAtEveryTotal) {
  for (const std::int64_t total : {kMin, kMin + 1, kMin + 2, std::int64_t{-1}, std::int64_t{0},
                                   std::int64_t{1}, kMax - 2, kMax - 1, kMax}) {
    for (std::size_t live = 1; live <= 5; ++live) {
      std::vector<PartState> parts;
      for (std::size_t i = 0; i < live; ++i) parts.push_back(part("p" + std::to_string(i), 0));
      parts.push_back(part("gone", 0, std::nullopt, false));
      const Rebalanced r = rebalance(total, parts, "p0");
      std::vector<PartState> written;
      Wide up = 0;
      Wide down = 0;
      for (const auto& [id, grant] : r.grants) {
        EXPECT_LE(grant.lo, 0);
        EXPECT_GE(grant.hi, 0);
        written.push_back(part(id, 0, grant));
        up += grant.hi;
        down -= grant.lo;
      }
      SCOPED_TRACE("total " + std::to_string(total) + ", " + std::to_string(live) + " live");
      EXPECT_EQ(r.folded, std::vector<std::string>{"gone"});
      EXPECT_TRUE(grants_hold(r.base, written));
      const Wide room_up = Wide{kMax} - total;
      const Wide room_down = Wide{total} - kMin;
      EXPECT_LE(up, room_up);
      EXPECT_LE(down, room_down);
      // Cut only where a share is past int64: with one live part at the far end.
      if (room_up <= kMax) {
        EXPECT_EQ(up, room_up);
      }
      if (room_down <= (Wide{1} << 63)) {
        EXPECT_EQ(down, room_down);
      }
    }
  }
}

TEST(EscrowInvariant, FailsForAPartOutsideItsGrantOrGrantsPastTheRange) {
  EXPECT_TRUE(grants_hold(0, std::vector<PartState>{part("a", 5, Grant{-5, 5})}));
  EXPECT_FALSE(grants_hold(0, std::vector<PartState>{part("a", 6, Grant{-5, 5})}));
  EXPECT_FALSE(grants_hold(
      kMax - 5, std::vector<PartState>{part("a", 0, Grant{0, 3}), part("b", 0, Grant{0, 3})}));
  EXPECT_TRUE(grants_hold(
      kMax - 6, std::vector<PartState>{part("a", 0, Grant{0, 3}), part("b", 0, Grant{0, 3})}));
  // A part without a grant stays where it is.
  EXPECT_TRUE(grants_hold(kMax - 1, std::vector<PartState>{part("a", 1)}));
}

// Front ends serve rounds of random mutations, one after another as etcd would order their
// commits: a round within its grant goes the fast path (applied whole, unjudged); one that
// is not takes the slow path (judged exactly against the total, then everything
// rebalanced). One server judges the same rounds in the same order. Every reply must be the
// same, and the invariant must hold after every round. Values start near either end.
TEST(EscrowSimulation, FrontEndsWithinTheirGrantsAnswerAsOneServer) {
  std::mt19937_64 random(20261207);
  for (const std::int64_t start : {kMin, kMin + 50, std::int64_t{0}, kMax - 50, kMax}) {
    SCOPED_TRACE("start " + std::to_string(start));
    std::int64_t base = start;
    std::vector<PartState> parts{part("a", 0), part("b", 0), part("c", 0)};
    std::int64_t server = start;
    int fast = 0;
    int slow = 0;
    for (int round = 0; round < 3000; ++round) {
      const std::size_t who = random() % parts.size();
      std::vector<std::int64_t> deltas(1 + random() % 4);
      for (std::int64_t& delta : deltas) {
        const auto pick = random() % 10;
        delta = pick == 0   ? kMax
                : pick == 1 ? kMin
                : pick < 6  ? static_cast<std::int64_t>(random() % 41) - 20
                            : static_cast<std::int64_t>(random() % 7) - 3;
      }
      const Judged reference = judge(server, deltas);
      server = reference.total;

      PartState& part = parts[who];
      std::optional<std::int64_t> fits;
      if (part.grant) fits = within_grant(part.value, *part.grant, deltas);
      if (fits) {
        ++fast;
        part.value = *fits;
        EXPECT_EQ(reference.applied, std::vector<bool>(deltas.size(), true));
      } else {
        ++slow;
        const std::optional<std::int64_t> total = total_of(base, parts);
        ASSERT_TRUE(total.has_value());
        const Judged judged = judge(*total, deltas);
        EXPECT_EQ(judged.applied, reference.applied);
        const Rebalanced r = rebalance(judged.total, parts, part.id);
        base = r.base;
        for (std::size_t i = 0; i < parts.size(); ++i) {
          parts[i].value = 0;
          parts[i].grant = r.grants[i].second;
        }
      }
      ASSERT_TRUE(grants_hold(base, parts));
      ASSERT_EQ(total_of(base, parts), server);
    }
    // Both paths were exercised.
    EXPECT_GT(fast, 100);
    EXPECT_GT(slow, 10);
  }
}

}  // namespace
}  // namespace count
