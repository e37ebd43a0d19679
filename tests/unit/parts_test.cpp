// The parts layout without etcd: what each key holds, one spelling each; the state parsed
// from the two reads, refusing what is not ours; and what each transaction asks for.
#include "store/parts.hpp"

#include <gtest/gtest.h>

#include <limits>

namespace count {
namespace {

constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

EtcdKeyValue kv(std::string key, std::string value, std::int64_t mod_revision = 5) {
  return {std::move(key), std::move(value), 1, mod_revision, 1, 0};
}

TEST(PartsEncoding, PartsAndGrantsHaveOneSpellingEach) {
  EXPECT_EQ(encode_part(-42, 7), "-42 7");
  const std::optional<PartValue> part = decode_part(encode_part(kMin, 18446744073709551615U));
  ASSERT_TRUE(part.has_value());
  EXPECT_EQ(part->value, kMin);
  EXPECT_EQ(part->txn, 18446744073709551615U);
  EXPECT_EQ(decode_grant(encode_grant({kMin, kMax})), (Grant{kMin, kMax}));
  for (const char* bad : {"", "1", "1 ", " 1 2", "1  2", "01 2", "1 02", "-0 1", "1 -1", "a 1",
                          "1 2 3", "9223372036854775808 1"}) {
    EXPECT_EQ(decode_part(bad), std::nullopt) << '"' << bad << '"';
  }
  EXPECT_EQ(decode_grant("3 2"), std::nullopt);  // lo above hi
  EXPECT_EQ(decode_grant("-1 1"), (Grant{-1, 1}));
}

TEST(PartsState, ParsesEveryKeyOfTheCounterAndIgnoresOthers) {
  const PartsKeys keys("c");
  std::string error;
  const std::optional<PartsState> state =
      parse_parts(keys, 9, {kv("c", "100", 3)},
                  {kv("c/alive/a", ""), kv("c/front-end/old", "7"), kv("c/grant/a", "-5 5", 6),
                   kv("c/grant/b", "0 3", 7), kv("c/part/a", "4 2", 8), kv("c/part/b", "-1 9", 8),
                   kv("c/something-else", "x")},
                  &error);
  ASSERT_TRUE(state.has_value()) << error;
  EXPECT_EQ(state->revision, 9);
  EXPECT_EQ(state->base, 100);
  EXPECT_EQ(state->base_mod_revision, 3);
  EXPECT_EQ(state->total(), 103);
  ASSERT_EQ(state->front_ends.size(), 2U);
  const PartRecord& a = state->front_ends.at("a");
  EXPECT_TRUE(a.alive);
  EXPECT_EQ(a.part.value, 4);
  EXPECT_EQ(a.part.txn, 2U);
  EXPECT_EQ(a.grant, (Grant{-5, 5}));
  EXPECT_EQ(a.grant_mod_revision, 6);
  EXPECT_FALSE(state->front_ends.at("b").alive);  // gone: its lease key is not there
  EXPECT_EQ(state->old_records, std::vector<std::string>{"c/front-end/old"});
  // The caller joins the escrow view as live, with nothing yet.
  const std::vector<PartState> view = state->escrow_view("z");
  ASSERT_EQ(view.size(), 3U);
  EXPECT_EQ(view[2].id, "z");
  EXPECT_TRUE(view[2].alive);
}

TEST(PartsState, RefusesWhatIsNotOurs) {
  const PartsKeys keys("c");
  std::string error;
  EXPECT_FALSE(parse_parts(keys, 1, {kv("c", "x")}, {}, &error).has_value());
  EXPECT_NE(error.find("not a count-server value"), std::string::npos) << error;
  EXPECT_FALSE(parse_parts(keys, 1, {}, {kv("c/part/a", "5")}, &error).has_value());
  EXPECT_NE(error.find("not a part"), std::string::npos) << error;
  EXPECT_FALSE(parse_parts(keys, 1, {}, {kv("c/grant/a", "5")}, &error).has_value());
  EXPECT_NE(error.find("not a grant"), std::string::npos) << error;
  EXPECT_FALSE(
      parse_parts(keys, 1, {kv("c", std::to_string(kMax))}, {kv("c/part/a", "1 1")}, &error)
          .has_value());
  EXPECT_NE(error.find("past the 64-bit range"), std::string::npos) << error;
  // A missing base is 0.
  const std::optional<PartsState> empty = parse_parts(keys, 1, {}, {}, &error);
  ASSERT_TRUE(empty.has_value());
  EXPECT_EQ(empty->total(), 0);
}

TEST(PartsTransactions, TheFastPathComparesItsOwnGrantOnly) {
  const PartsKeys keys("c");
  const EtcdTransaction t = fast_path(keys, "a", 12, {5, 3}, 77);
  ASSERT_EQ(t.conditions.size(), 1U);
  EXPECT_EQ(t.conditions[0].key, "c/grant/a");
  EXPECT_TRUE(t.conditions[0].range_end.empty());
  EXPECT_EQ(t.conditions[0].number, 12);
  ASSERT_EQ(t.then.size(), 4U);
  EXPECT_EQ(t.then[0].key, "c/part/a");
  EXPECT_EQ(t.then[0].value, "5 3");
  EXPECT_EQ(t.then[1].key, "c/alive/a");
  EXPECT_EQ(t.then[1].lease, 77);
  EXPECT_EQ(t.then[3].key, "c/");
  EXPECT_EQ(t.then[3].range_end, "c0");
  EXPECT_EQ(t.otherwise.size(), 2U);
}

TEST(PartsTransactions, FreezeMovesEveryGrantAndRebalanceRewritesEverything) {
  const PartsKeys keys("c");
  std::string error;
  const std::optional<PartsState> state =
      parse_parts(keys, 20, {kv("c", "10")},
                  {kv("c/alive/a", ""), kv("c/front-end/old", "1"), kv("c/grant/a", "-5 5"),
                   kv("c/grant/b", "-5 5"), kv("c/part/a", "4 2"), kv("c/part/b", "-1 9")},
                  &error);
  ASSERT_TRUE(state.has_value()) << error;
  const EtcdTransaction frozen = freeze(keys, *state);
  ASSERT_EQ(frozen.conditions.size(), 1U);
  EXPECT_EQ(frozen.conditions[0].key, "c/grant/");
  EXPECT_EQ(frozen.conditions[0].relation, EtcdCondition::Relation::kLess);
  EXPECT_EQ(frozen.conditions[0].number, 21);
  ASSERT_EQ(frozen.then.size(), 4U);  // two grants again, then the reads
  EXPECT_EQ(frozen.then[0].value, "-5 5");

  const Rebalanced r = rebalance(state->total() + 1, state->escrow_view("a"), "a");
  const EtcdTransaction t = rebalance_transaction(keys, *state, r, "a", 3, 77);
  ASSERT_EQ(t.conditions.size(), 2U);
  std::vector<std::string> written;
  for (const EtcdOperation& op : t.then) {
    if (op.kind == EtcdOperation::Kind::kRange) continue;
    written.push_back((op.kind == EtcdOperation::Kind::kPut ? "put " : "delete ") + op.key +
                      (op.kind == EtcdOperation::Kind::kPut ? " " + op.value : ""));
  }
  const std::string grant = encode_grant(r.grants.at(0).second);
  EXPECT_EQ(written, (std::vector<std::string>{
                         "put c 14", "put c/part/a 0 3", "put c/grant/a " + grant, "put c/alive/a ",
                         "delete c/part/b", "delete c/grant/b", "put c/folded 9",
                         "delete c/front-end/old"}));
}

// The version: every part's TXN and those of the parts folded before; a fold keeps it.
TEST(PartsState, TheVersionAddsTheFoldedTxnsAndEveryPartsAndAFoldKeepsIt) {
  const PartsKeys keys("c");
  std::string error;
  const std::optional<PartsState> state = parse_parts(
      keys, 20, {kv("c", "10")},
      {kv("c/alive/a", ""), kv("c/folded", "100"), kv("c/part/a", "4 2"), kv("c/part/b", "-1 9")},
      &error);
  ASSERT_TRUE(state.has_value()) << error;
  EXPECT_EQ(state->folded, 100U);
  EXPECT_EQ(state->version(), 111U);
  const Rebalanced r = rebalance(state->total(), state->escrow_view("a"), "a");
  const EtcdTransaction t = rebalance_transaction(keys, *state, r, "a", 2, 77);
  bool put_folded = false;
  for (const EtcdOperation& op : t.then) {
    if (op.kind == EtcdOperation::Kind::kPut && op.key == "c/folded") {
      EXPECT_EQ(op.value, "109");
      put_folded = true;
    }
  }
  EXPECT_TRUE(put_folded);
  for (const char* bad : {"", "-1", "01", "x", "1 2"}) {
    EXPECT_FALSE(parse_parts(keys, 20, {}, {kv("c/folded", bad)}, &error).has_value()) << bad;
  }
}

}  // namespace
}  // namespace count
