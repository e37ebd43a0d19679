// count-bench's engine without sockets: the histogram's error bound, the command mix, the
// reply parsing and judging of each wire protocol (whole and split at every byte), the list
// of servers from -h and -p, and the final counter checks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "loadgen/codec.hpp"
#include "loadgen/command_mix.hpp"
#include "loadgen/counter_check.hpp"
#include "loadgen/histogram.hpp"
#include "loadgen/server_list.hpp"

namespace count {
namespace {

// ---- Histogram ----

TEST(Histogram, EveryValueFallsInsideItsBucketAndBucketsAreNarrow) {
  std::vector<std::uint64_t> values;
  for (std::uint64_t v = 0; v < 5000; ++v) values.push_back(v);
  for (unsigned shift = 12; shift < 64; ++shift) {
    const std::uint64_t base = std::uint64_t{1} << shift;
    for (const std::uint64_t v : {base - 1, base, base + 1, base + base / 3, base | (base - 1)}) {
      values.push_back(v);
    }
  }
  values.push_back(std::numeric_limits<std::uint64_t>::max());
  for (const std::uint64_t v : values) {
    const std::size_t bucket = Histogram::bucket_of(v);
    ASSERT_LT(bucket, Histogram::bucket_count()) << v;
    ASSERT_LE(Histogram::bucket_low(bucket), v) << v;
    ASSERT_GE(Histogram::bucket_high(bucket), v) << v;
    const double width =
        static_cast<double>(Histogram::bucket_high(bucket) - Histogram::bucket_low(bucket)) + 1.0;
    ASSERT_LE(width / 2.0, std::max(1.0, static_cast<double>(v) * Histogram::kMaxRelativeError))
        << v;
  }
}

TEST(Histogram, BucketsAreContiguous) {
  for (std::size_t b = 0; b + 1 < Histogram::bucket_count(); ++b) {
    ASSERT_EQ(Histogram::bucket_high(b) + 1, Histogram::bucket_low(b + 1)) << b;
  }
}

TEST(Histogram, EmptyReportsZero) {
  const Histogram histogram;
  EXPECT_EQ(histogram.count(), 0U);
  EXPECT_EQ(histogram.value_at_quantile(0.99), 0U);
  EXPECT_EQ(histogram.max(), 0U);
  EXPECT_EQ(histogram.min(), 0U);
}

// The exact quantile of a sorted sample, by the same rank rule.
std::uint64_t exact_quantile(const std::vector<std::uint64_t>& sorted, double q) {
  auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

void expect_quantiles_within_error(const std::vector<std::uint64_t>& sample) {
  Histogram histogram;
  for (const std::uint64_t v : sample) histogram.record(v);
  std::vector<std::uint64_t> sorted = sample;
  std::sort(sorted.begin(), sorted.end());
  for (const double q : {0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0}) {
    const auto exact = static_cast<double>(exact_quantile(sorted, q));
    const auto reported = static_cast<double>(histogram.value_at_quantile(q));
    EXPECT_LE(std::abs(reported - exact), exact * 0.01 + 0.5) << "q=" << q;
    EXPECT_LE(std::abs(reported - exact), exact * Histogram::kMaxRelativeError + 0.5) << "q=" << q;
  }
  EXPECT_EQ(histogram.max(), sorted.back());
  EXPECT_EQ(histogram.min(), sorted.front());
  EXPECT_EQ(histogram.count(), sample.size());
}

TEST(Histogram, UniformQuantilesAreWithinOnePercent) {
  std::vector<std::uint64_t> sample;
  for (std::uint64_t v = 1; v <= 100000; ++v) sample.push_back(v * 37);
  expect_quantiles_within_error(sample);
  Histogram histogram;
  for (const std::uint64_t v : sample) histogram.record(v);
  EXPECT_NEAR(static_cast<double>(histogram.value_at_quantile(0.5)), 50000.0 * 37,
              50000.0 * 37 * 0.01);
  EXPECT_NEAR(static_cast<double>(histogram.value_at_quantile(0.99)), 99000.0 * 37,
              99000.0 * 37 * 0.01);
  EXPECT_NEAR(static_cast<double>(histogram.value_at_quantile(0.999)), 99900.0 * 37,
              99900.0 * 37 * 0.01);
  EXPECT_EQ(histogram.max(), 100000U * 37);
}

TEST(Histogram, LongTailQuantilesAreWithinOnePercent) {
  // Latency-like: most values near 20 us, a tail out to tens of milliseconds (in ns).
  std::vector<std::uint64_t> sample;
  std::uint64_t state = 42;
  for (int i = 0; i < 200000; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const double u = static_cast<double>(state >> 11) / static_cast<double>(std::uint64_t{1} << 53);
    sample.push_back(static_cast<std::uint64_t>(20000.0 / std::pow(1.0 - u * 0.9999, 0.7)));
  }
  expect_quantiles_within_error(sample);
}

TEST(Histogram, MergeEqualsRecordingEverythingInOne) {
  Histogram left;
  Histogram right;
  Histogram all;
  for (std::uint64_t v = 0; v < 10000; ++v) {
    (v % 3 == 0 ? left : right).record(v * v);
    all.record(v * v);
  }
  left.merge(right);
  EXPECT_EQ(left.count(), all.count());
  EXPECT_EQ(left.max(), all.max());
  EXPECT_EQ(left.min(), all.min());
  EXPECT_DOUBLE_EQ(left.mean(), all.mean());
  for (const double q : {0.5, 0.9, 0.99, 0.999}) {
    EXPECT_EQ(left.value_at_quantile(q), all.value_at_quantile(q));
  }
}

// ---- Command mix ----

TEST(CommandMix, NineToOneSpreadsOneGetPerTenRequests) {
  std::string error;
  const auto mix = CommandMix::parse("incr:get=9:1", error);
  ASSERT_TRUE(mix) << error;
  ASSERT_EQ(mix->cycle_length(), 10U);
  std::size_t gets = 0;
  for (std::size_t i = 0; i < 10; ++i) gets += mix->at(i) == Op::kGet ? 1 : 0;
  EXPECT_EQ(gets, 1U);
  EXPECT_EQ(mix->text(), "incr:get=9:1");
  EXPECT_TRUE(mix->uses(Op::kIncr));
  EXPECT_FALSE(mix->uses(Op::kDecr));
}

TEST(CommandMix, EqualWeightsAlternate) {
  std::string error;
  const auto mix = CommandMix::parse("incr:decr=1:1", error);
  ASSERT_TRUE(mix) << error;
  EXPECT_NE(mix->at(0), mix->at(1));
  EXPECT_EQ(mix->at(0), mix->at(2));
}

TEST(CommandMix, OneNameMeansOnlyThatCommand) {
  std::string error;
  const auto mix = CommandMix::parse("add", error);
  ASSERT_TRUE(mix) << error;
  EXPECT_EQ(mix->at(0), Op::kAdd);
  EXPECT_EQ(mix->at(12345), Op::kAdd);
  EXPECT_EQ(mix->text(), "add=1");
}

TEST(CommandMix, BadTextsAreRefusedWithAReason) {
  for (const char* text : {"", "incr:get=9", "incr=x", "bogus", "incr:incr=1:1", "incr=0",
                           "incr=1001", "incr=-1", "incr:get=1:2:3"}) {
    std::string error;
    EXPECT_FALSE(CommandMix::parse(text, error)) << text;
    EXPECT_FALSE(error.empty()) << text;
  }
}

// ---- Codecs ----

Codec make_codec(WireProtocol protocol, const char* mix_text = "incr:add:get=1:1:1",
                 std::int64_t add_value = 5) {
  std::string error;
  const auto mix = CommandMix::parse(mix_text, error);
  EXPECT_TRUE(mix) << error;
  auto codec = Codec::make(protocol, "counter", add_value, *mix, error);
  EXPECT_TRUE(codec) << error;
  return *codec;
}

struct Seen {
  WireReply::Kind kind;
  std::int64_t value;
  friend bool operator==(const Seen&, const Seen&) = default;
};

// Feeds `stream` in pieces as the load generator gets it from reads, taking every whole
// reply from the front of the buffer each time.
std::vector<Seen> parse_stream(const Codec& codec, const std::string& stream,
                               const std::vector<std::size_t>& cuts) {
  std::vector<Seen> seen;
  std::string buffer;
  std::size_t from = 0;
  std::vector<std::size_t> ends = cuts;
  ends.push_back(stream.size());
  for (const std::size_t to : ends) {
    buffer.append(stream, from, to - from);
    from = to;
    for (int guard = 0; guard < 1000; ++guard) {
      const WireReply reply = codec.parse(buffer);
      if (reply.kind == WireReply::Kind::kNeedMore) break;
      EXPECT_GT(reply.consumed, 0U);
      seen.push_back({reply.kind, reply.value});
      buffer.erase(0, reply.consumed);
      if (reply.kind == WireReply::Kind::kBroken) return seen;
    }
  }
  EXPECT_TRUE(buffer.empty()) << "left over: " << buffer;
  return seen;
}

void expect_same_at_every_split(const Codec& codec, const std::string& stream,
                                const std::vector<Seen>& expected) {
  EXPECT_EQ(parse_stream(codec, stream, {}), expected) << "whole";
  for (std::size_t cut = 1; cut < stream.size(); ++cut) {
    EXPECT_EQ(parse_stream(codec, stream, {cut}), expected) << "split at " << cut;
  }
  for (const std::size_t piece : {1U, 2U, 5U}) {
    std::vector<std::size_t> cuts;
    for (std::size_t at = piece; at < stream.size(); at += piece) cuts.push_back(at);
    EXPECT_EQ(parse_stream(codec, stream, cuts), expected) << piece << "-byte pieces";
  }
}

using K = WireReply::Kind;

TEST(Codec, LineRequestsAreOurProtocol) {
  const Codec codec = make_codec(WireProtocol::kLine, "incr:decr:add:get=1:1:1:1", -7);
  EXPECT_EQ(codec.request(Op::kIncr), "incr\n");
  EXPECT_EQ(codec.request(Op::kDecr), "decr\n");
  EXPECT_EQ(codec.request(Op::kAdd), "add -7\n");
  EXPECT_EQ(codec.request(Op::kGet), "get\n");
  EXPECT_TRUE(codec.setup_request().empty());
}

TEST(Codec, LineRepliesParseAtEverySplit) {
  const Codec codec = make_codec(WireProtocol::kLine);
  expect_same_at_every_split(codec, "ok\nval -42\nerr\nval 9223372036854775807\nquit\nbogus\nok\n",
                             {{K::kOk, 0},
                              {K::kInteger, -42},
                              {K::kError, 0},
                              {K::kInteger, INT64_MAX},
                              {K::kMalformed, 0},
                              {K::kMalformed, 0},
                              {K::kOk, 0}});
}

TEST(Codec, LineJudgesEachRequestsReply) {
  const Codec codec = make_codec(WireProtocol::kLine);
  const WireReply ok = codec.parse("ok\n");
  const WireReply val = codec.parse("val 3\n");
  const WireReply err = codec.parse("err\n");
  const WireReply junk = codec.parse("val x\n");
  EXPECT_EQ(codec.judge(Op::kIncr, ok), Verdict::kGood);
  EXPECT_EQ(codec.judge(Op::kAdd, ok), Verdict::kGood);
  EXPECT_EQ(codec.judge(Op::kGet, val), Verdict::kGood);
  EXPECT_EQ(codec.judge(Op::kGet, ok), Verdict::kUnexpected);  // what ok-server answers
  EXPECT_EQ(codec.judge(Op::kIncr, val), Verdict::kUnexpected);
  EXPECT_EQ(codec.judge(Op::kIncr, err), Verdict::kErrorReply);
  EXPECT_EQ(codec.judge(Op::kGet, junk), Verdict::kUnexpected);
  EXPECT_EQ(codec.value_of(val), 3);
  EXPECT_FALSE(codec.value_of(ok));
}

TEST(Codec, LineWithoutNewlineForTooLongIsBroken) {
  const Codec codec = make_codec(WireProtocol::kLine);
  EXPECT_EQ(codec.parse(std::string(100, 'x')).kind, K::kNeedMore);
  EXPECT_EQ(codec.parse(std::string(kMaxWireReplyBytes + 1, 'x')).kind, K::kBroken);
}

TEST(Codec, RespRequestsAreArraysOfBulkStrings) {
  const Codec codec = make_codec(WireProtocol::kResp, "incr:decr:add:get=1:1:1:1", -7);
  EXPECT_EQ(codec.request(Op::kIncr), "*2\r\n$4\r\nINCR\r\n$7\r\ncounter\r\n");
  EXPECT_EQ(codec.request(Op::kDecr), "*2\r\n$4\r\nDECR\r\n$7\r\ncounter\r\n");
  EXPECT_EQ(codec.request(Op::kAdd), "*3\r\n$6\r\nINCRBY\r\n$7\r\ncounter\r\n$2\r\n-7\r\n");
  EXPECT_EQ(codec.request(Op::kGet), "*2\r\n$3\r\nGET\r\n$7\r\ncounter\r\n");
}

TEST(Codec, RespRepliesParseAtEverySplit) {
  const Codec codec = make_codec(WireProtocol::kResp);
  expect_same_at_every_split(
      codec,
      ":1\r\n:-9\r\n$2\r\n17\r\n$-1\r\n-ERR value is not an integer\r\n+OK\r\n$3\r\nabc\r\n:5\r\n",
      {{K::kInteger, 1},
       {K::kInteger, -9},
       {K::kInteger, 17},
       {K::kNil, 0},
       {K::kError, 0},
       {K::kOk, 0},
       {K::kMalformed, 0},
       {K::kInteger, 5}});
}

TEST(Codec, RespJudgesEachRequestsReply) {
  const Codec codec = make_codec(WireProtocol::kResp);
  EXPECT_EQ(codec.judge(Op::kIncr, codec.parse(":12\r\n")), Verdict::kGood);
  EXPECT_EQ(codec.judge(Op::kIncr, codec.parse("+OK\r\n")), Verdict::kUnexpected);
  EXPECT_EQ(codec.judge(Op::kIncr, codec.parse("-ERR overflow\r\n")), Verdict::kErrorReply);
  EXPECT_EQ(codec.judge(Op::kGet, codec.parse("$2\r\n12\r\n")), Verdict::kGood);
  EXPECT_EQ(codec.judge(Op::kGet, codec.parse("$-1\r\n")), Verdict::kGood);
  EXPECT_EQ(codec.value_of(codec.parse("$-1\r\n")), 0);  // a key never set reads as 0
  EXPECT_EQ(codec.value_of(codec.parse("$3\r\n-12\r\n")), -12);
}

TEST(Codec, RespUnknownTypesAndBadBulkFramingAreBroken) {
  const Codec codec = make_codec(WireProtocol::kResp);
  EXPECT_EQ(codec.parse("*1\r\n:1\r\n").kind, K::kBroken);
  EXPECT_EQ(codec.parse("$2\r\n123\r\n").kind, K::kBroken);
  EXPECT_EQ(codec.parse("$x\r\n").kind, K::kBroken);
  EXPECT_EQ(codec.parse("\r\n").kind, K::kBroken);
}

TEST(Codec, AuthRequestsLogInAsEachServerExpects) {
  const Codec line = make_codec(WireProtocol::kLine, "incr", 1);
  EXPECT_EQ(line.auth_request("s3cret!"), "auth s3cret!\n");
  EXPECT_EQ(line.parse("ok\n").kind, K::kOk);
  EXPECT_EQ(line.parse("err\n").kind, K::kError);
  const Codec resp = make_codec(WireProtocol::kResp, "incr", 1);
  EXPECT_EQ(resp.auth_request("s3cret!"), "*2\r\n$4\r\nAUTH\r\n$7\r\ns3cret!\r\n");
  EXPECT_EQ(resp.parse("+OK\r\n").kind, K::kOk);
  EXPECT_EQ(resp.parse("-WRONGPASS invalid username-password pair\r\n").kind, K::kError);
  EXPECT_EQ(make_codec(WireProtocol::kMemcache, "incr", 1).auth_request("s3cret!"), "");
}

TEST(Codec, MemcacheRequestsUseIncrAndSetTheKeyFirst) {
  const Codec codec = make_codec(WireProtocol::kMemcache, "incr:add:get=1:1:1", 5);
  EXPECT_EQ(codec.request(Op::kIncr), "incr counter 1\r\n");
  EXPECT_EQ(codec.request(Op::kAdd), "incr counter 5\r\n");
  EXPECT_EQ(codec.request(Op::kGet), "get counter\r\n");
  EXPECT_EQ(codec.setup_request(), "set counter 0 0 1\r\n0\r\n");
}

TEST(Codec, MemcacheRepliesParseAtEverySplit) {
  const Codec codec = make_codec(WireProtocol::kMemcache);
  expect_same_at_every_split(
      codec,
      "STORED\r\n7\r\nVALUE counter 0 2\r\n42\r\nEND\r\nEND\r\nNOT_FOUND\r\nERROR\r\n"
      "CLIENT_ERROR cannot increment or decrement non-numeric value\r\nVALUE counter 0 "
      "1\r\nx\r\nEND\r\n"
      "SERVER_ERROR out of memory\r\n18446744073709551615\r\nDELETED\r\n8\r\n",
      {{K::kOk, 0},
       {K::kInteger, 7},
       {K::kInteger, 42},
       {K::kNil, 0},
       {K::kError, 0},
       {K::kError, 0},
       {K::kError, 0},
       {K::kMalformed, 0},
       {K::kError, 0},
       {K::kMalformed, 0},
       {K::kMalformed, 0},
       {K::kInteger, 8}});
}

TEST(Codec, MemcacheJudgesEachRequestsReply) {
  const Codec codec = make_codec(WireProtocol::kMemcache);
  EXPECT_EQ(codec.judge(Op::kIncr, codec.parse("12\r\n")), Verdict::kGood);
  EXPECT_EQ(codec.judge(Op::kAdd, codec.parse("17\r\n")), Verdict::kGood);
  EXPECT_EQ(codec.judge(Op::kIncr, codec.parse("NOT_FOUND\r\n")), Verdict::kErrorReply);
  EXPECT_EQ(codec.judge(Op::kIncr, codec.parse("STORED\r\n")), Verdict::kUnexpected);
  EXPECT_EQ(codec.judge(Op::kGet, codec.parse("VALUE counter 0 2\r\n12\r\nEND\r\n")),
            Verdict::kGood);
  // The key was set before the run: a missing key means the value was lost.
  EXPECT_EQ(codec.judge(Op::kGet, codec.parse("END\r\n")), Verdict::kUnexpected);
}

TEST(Codec, MemcacheRefusesMixesItCannotRun) {
  std::string error;
  const auto decr = CommandMix::parse("incr:decr=1:1", error);
  EXPECT_FALSE(Codec::make(WireProtocol::kMemcache, "counter", 1, *decr, error));
  EXPECT_NE(error.find("decr"), std::string::npos) << error;
  const auto add = CommandMix::parse("add", error);
  error.clear();
  EXPECT_FALSE(Codec::make(WireProtocol::kMemcache, "counter", -1, *add, error));
  EXPECT_NE(error.find("negative"), std::string::npos) << error;
  EXPECT_TRUE(Codec::make(WireProtocol::kMemcache, "counter", 0, *add, error));
  EXPECT_FALSE(Codec::make(WireProtocol::kMemcache, "two words", 1, *add, error));
  // Our protocol and Redis take both.
  EXPECT_TRUE(Codec::make(WireProtocol::kLine, "counter", -1, *decr, error));
  EXPECT_TRUE(Codec::make(WireProtocol::kResp, "counter", -1, *decr, error));
}

// ---- Counter check ----

TEST(CounterCheck, ExactMovementPasses) {
  const CounterCheck check = check_counter(10, 10 + 100 - 30 + 5 * -7, {100, 30, 5}, -7);
  EXPECT_TRUE(check.ok) << check.message;
  EXPECT_EQ(check.expected_delta, 35);
  EXPECT_EQ(check.actual_delta, 35);
}

TEST(CounterCheck, LostUpdatesFailAndSaySo) {
  const CounterCheck check = check_counter(0, 999, {1000, 0, 0}, 1);
  EXPECT_FALSE(check.ok);
  EXPECT_NE(check.message.find("MISMATCH"), std::string::npos) << check.message;
  EXPECT_NE(check.message.find("off by 1"), std::string::npos) << check.message;
}

TEST(CounterCheck, MovingMoreThanAcknowledgedFails) {
  const CounterCheck check = check_counter(0, 1001, {1000, 0, 0}, 1);
  EXPECT_FALSE(check.ok) << check.message;
}

TEST(CounterCheck, ACounterThatDoesNotMoveFails) {
  // ok-server: every incr acknowledged, the value never changes.
  EXPECT_FALSE(check_counter(0, 0, {50, 0, 0}, 1).ok);
}

TEST(CounterCheck, NothingAcknowledgedAndNothingMovedPasses) {
  EXPECT_TRUE(check_counter(-5, -5, {}, 1).ok);
}

TEST(CounterCheck, ExtremesAreCheckedWithoutOverflow) {
  constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  EXPECT_TRUE(check_counter(kMax - 1, kMax, {1, 0, 0}, 1).ok);
  EXPECT_TRUE(check_counter(kMin + 3, kMin, {0, 3, 0}, 1).ok);
  EXPECT_TRUE(check_counter(kMin, kMin + kMax, {0, 0, 1}, kMax).ok);
  const CounterCheck too_far = check_counter(kMin, kMax, {0, 0, 0}, 1);
  EXPECT_FALSE(too_far.ok);
  EXPECT_FALSE(too_far.actual_delta);
  EXPECT_FALSE(check_counter(0, 0, {0, 0, 3}, kMax).ok);
}

TEST(CounterCheck, ServersThatAllReadTheFirstValueAgree) {
  const AgreementCheck check =
      check_agreement("127.0.0.1:4444", 42, {{"127.0.0.1:4445", 42, ""}, {"[::1]:4446", 42, ""}});
  EXPECT_TRUE(check.ok) << check.message;
  EXPECT_NE(check.message.find("all 3 servers agree"), std::string::npos) << check.message;
  EXPECT_TRUE(check_agreement("127.0.0.1:4444", -7, {}).ok);
}

TEST(CounterCheck, AServerThatReadsAnotherValueOrCannotBeReadDisagreesAndIsNamed) {
  const AgreementCheck other_value = check_agreement(
      "127.0.0.1:4444", 42, {{"127.0.0.1:4445", 42, ""}, {"127.0.0.1:4446", 41, ""}});
  EXPECT_FALSE(other_value.ok);
  EXPECT_NE(other_value.message.find("DISAGREE"), std::string::npos) << other_value.message;
  EXPECT_NE(other_value.message.find("127.0.0.1:4446 read 41"), std::string::npos)
      << other_value.message;
  EXPECT_EQ(other_value.message.find("4445"), std::string::npos) << other_value.message;

  const AgreementCheck unread =
      check_agreement("127.0.0.1:4444", 42, {{"127.0.0.1:4445", std::nullopt, "refused"}});
  EXPECT_FALSE(unread.ok);
  EXPECT_NE(unread.message.find("127.0.0.1:4445 could not be read (refused)"), std::string::npos)
      << unread.message;
}

// ---- Server list (-h, -p) ----

std::vector<std::string> servers_of(const std::vector<std::string>& hosts,
                                    const std::vector<std::string>& ports) {
  std::string error;
  const auto servers = parse_server_list(hosts, ports, error);
  EXPECT_TRUE(servers) << error;
  std::vector<std::string> texts;
  if (servers) {
    for (const ServerAddress& server : *servers) texts.push_back(server.text());
  }
  return texts;
}

// The error for a list that must be refused, or "" when it is accepted.
std::string refusal_of(const std::vector<std::string>& hosts,
                       const std::vector<std::string>& ports) {
  std::string error;
  const auto servers = parse_server_list(hosts, ports, error);
  EXPECT_FALSE(servers);
  return servers ? "" : error;
}

using Texts = std::vector<std::string>;

TEST(ServerList, NothingGivenIsTheDefaultServer) {
  EXPECT_EQ(servers_of({}, {}), Texts{"127.0.0.1:4444"});
  EXPECT_EQ(servers_of({"localhost"}, {}), Texts{"localhost:4444"});
  EXPECT_EQ(servers_of({}, {"5000"}), Texts{"127.0.0.1:5000"});
}

TEST(ServerList, CommaListsAndRepeatedFlagsAddUpInOrder) {
  EXPECT_EQ(servers_of({"127.0.0.1:4444,127.0.0.1:4445"}, {}),
            (Texts{"127.0.0.1:4444", "127.0.0.1:4445"}));
  EXPECT_EQ(servers_of({"127.0.0.1:4444", "127.0.0.1:4445,127.0.0.2:4444"}, {}),
            (Texts{"127.0.0.1:4444", "127.0.0.1:4445", "127.0.0.2:4444"}));
}

TEST(ServerList, OnePortServesEveryEntryWithoutItsOwn) {
  EXPECT_EQ(servers_of({"127.0.0.1,127.0.0.2:7000,127.0.0.3"}, {"5000"}),
            (Texts{"127.0.0.1:5000", "127.0.0.2:7000", "127.0.0.3:5000"}));
}

TEST(ServerList, SeveralPortsGoToOneHostOrPairWithThePortlessEntriesInOrder) {
  EXPECT_EQ(servers_of({"127.0.0.1"}, {"4444,4445", "4446"}),
            (Texts{"127.0.0.1:4444", "127.0.0.1:4445", "127.0.0.1:4446"}));
  EXPECT_EQ(servers_of({}, {"4444", "4445"}), (Texts{"127.0.0.1:4444", "127.0.0.1:4445"}));
  EXPECT_EQ(servers_of({"127.0.0.1", "127.0.0.2"}, {"4444,4445"}),
            (Texts{"127.0.0.1:4444", "127.0.0.2:4445"}));
  EXPECT_EQ(servers_of({"127.0.0.1,127.0.0.9:9,127.0.0.2"}, {"4444,4445"}),
            (Texts{"127.0.0.1:4444", "127.0.0.9:9", "127.0.0.2:4445"}));
}

TEST(ServerList, Ipv6GoesInBracketsToCarryAPort) {
  EXPECT_EQ(servers_of({"[::1]:5000,::1"}, {}), (Texts{"[::1]:5000", "[::1]:4444"}));
  EXPECT_EQ(servers_of({"[::1]"}, {"6000"}), Texts{"[::1]:6000"});
  std::string error;
  const auto servers = parse_server_list({"[::1]:5000"}, {}, error);
  ASSERT_TRUE(servers) << error;
  EXPECT_EQ(servers->front().host, "::1");
  EXPECT_EQ(servers->front().port, 5000);
}

TEST(ServerList, MismatchesAreRefusedWithAReason) {
  EXPECT_NE(refusal_of({"127.0.0.1:1"}, {"2"}).find("-p is not used"), std::string::npos);
  EXPECT_NE(refusal_of({"127.0.0.1,127.0.0.2,127.0.0.3"}, {"1,2"}).find("2 ports (-p) for 3"),
            std::string::npos);
  EXPECT_NE(refusal_of({"127.0.0.1:1,127.0.0.2"}, {"1,2"}).find("for 1 -h entry"),
            std::string::npos);
  EXPECT_NE(refusal_of({"127.0.0.1:4444,127.0.0.1:4444"}, {}).find("listed twice"),
            std::string::npos);
  EXPECT_NE(refusal_of({"127.0.0.1"}, {"4444,4444"}).find("127.0.0.1:4444 is listed twice"),
            std::string::npos);
}

TEST(ServerList, BadEntriesAndPortsAreRefusedAndNamed) {
  for (const char* bad : {"127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:", "127.0.0.1:x",
                          "127.0.0.1:+1", ":4444", "[::1", "[]:1", "[::1]4444", "[::1]:"}) {
    const std::string error = refusal_of({bad}, {});
    EXPECT_NE(error.find(bad), std::string::npos) << bad << ": " << error;
  }
  for (const char* bad : {"0", "65536", "", "12a", "-1"}) {
    const std::string error = refusal_of({}, {bad});
    EXPECT_NE(error.find("-p"), std::string::npos) << bad << ": " << error;
  }
  EXPECT_NE(refusal_of({"127.0.0.1,,127.0.0.2"}, {}).find("empty"), std::string::npos);
  EXPECT_NE(refusal_of({"127.0.0.1,"}, {}).find("empty"), std::string::npos);
  EXPECT_NE(refusal_of({""}, {}).find("empty"), std::string::npos);
}

TEST(ServerList, SplitCommasKeepsEmptyEntriesForTheCallerToRefuse) {
  EXPECT_EQ(split_commas({"a,b", "c"}), (Texts{"a", "b", "c"}));
  EXPECT_EQ(split_commas({"a,,b,"}), (Texts{"a", "", "b", ""}));
  EXPECT_EQ(split_commas({}), Texts{});
}

}  // namespace
}  // namespace count
