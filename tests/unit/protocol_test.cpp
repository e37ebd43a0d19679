// The protocol layer on plain strings: line splitting at every fragment size, request
// parsing, integers, and reply bytes.
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "protocol/line_splitter.hpp"
#include "protocol/reply.hpp"
#include "protocol/request.hpp"

namespace count {
namespace {

// What the splitter reports, as strings: a line, or "<too long>".
std::vector<std::string> split_in_pieces(const std::string& stream, std::size_t piece,
                                         bool finish = true) {
  LineSplitter splitter;
  std::vector<std::string> events;
  auto sink = [&](LineSplitter::Event event, std::string_view line) {
    events.push_back(event == LineSplitter::Event::kLine ? std::string(line) : "<too long>");
    return true;
  };
  for (std::size_t at = 0; at < stream.size(); at += piece) {
    splitter.feed(std::string_view(stream).substr(at, piece), sink);
  }
  if (finish) splitter.finish(sink);
  return events;
}

std::vector<std::string> split_whole(const std::string& stream, bool finish = true) {
  return split_in_pieces(stream, std::max<std::size_t>(stream.size(), 1), finish);
}

// Every way of cutting the stream in two, and fixed piece sizes, must give the same lines.
void expect_same_at_every_split(const std::string& stream, const std::vector<std::string>& want) {
  ASSERT_EQ(split_whole(stream), want);
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    LineSplitter splitter;
    std::vector<std::string> events;
    auto sink = [&](LineSplitter::Event event, std::string_view line) {
      events.push_back(event == LineSplitter::Event::kLine ? std::string(line) : "<too long>");
      return true;
    };
    splitter.feed(std::string_view(stream).substr(0, cut), sink);
    splitter.feed(std::string_view(stream).substr(cut), sink);
    splitter.finish(sink);
    ASSERT_EQ(events, want) << "cut at " << cut;
  }
  for (const std::size_t piece : {1, 2, 5}) {
    ASSERT_EQ(split_in_pieces(stream, piece), want) << "pieces of " << piece;
  }
}

TEST(LineSplitter, SplitsPipelinedRequestsAtEveryFragmentSize) {
  expect_same_at_every_split("get\nincr\nadd -5\r\n\nquit\n",
                             {"get", "incr", "add -5\r", "", "quit"});
}

TEST(LineSplitter, GivesTheLastLineWithoutNewlineAtEndOfStream) {
  expect_same_at_every_split("get\nincr", {"get", "incr"});
  EXPECT_EQ(split_whole("get\nincr", /*finish=*/false), std::vector<std::string>{"get"});
}

TEST(LineSplitter, NoExtraLineAfterAFinalNewline) {
  EXPECT_EQ(split_whole("get\n"), std::vector<std::string>{"get"});
  EXPECT_TRUE(split_whole("").empty());
}

TEST(LineSplitter, AcceptsALineOfExactlyTheLimit) {
  const std::string line(kMaxLineBytes, 'x');
  expect_same_at_every_split(line + "\nget\n", {line, "get"});
}

TEST(LineSplitter, ReportsALineOverTheLimitOnceAndGoesOnAfterIt) {
  const std::string line(kMaxLineBytes + 1, 'x');
  EXPECT_EQ(split_whole(line + "\nget\n"), (std::vector<std::string>{"<too long>", "get"}));
  for (const std::size_t piece : {1, 7, 4096, 5000}) {
    EXPECT_EQ(split_in_pieces(line + "\nget\n", piece),
              (std::vector<std::string>{"<too long>", "get"}))
        << piece;
  }
}

TEST(LineSplitter, SkipsAHugeLineWithoutKeepingIt) {
  LineSplitter splitter;
  int too_long = 0;
  std::vector<std::string> lines;
  auto sink = [&](LineSplitter::Event event, std::string_view line) {
    if (event == LineSplitter::Event::kTooLong) ++too_long;
    if (event == LineSplitter::Event::kLine) lines.emplace_back(line);
    return true;
  };
  const std::string chunk(64 * 1024, 'y');
  for (int i = 0; i < 256; ++i) splitter.feed(chunk, sink);  // 16 MiB, no newline
  EXPECT_TRUE(splitter.mid_line());
  splitter.feed("tail\nget\n", sink);
  splitter.finish(sink);
  EXPECT_EQ(too_long, 1);
  EXPECT_EQ(lines, std::vector<std::string>{"get"});
}

TEST(LineSplitter, AnOverLongLastLineWithoutNewlineGetsOneReport) {
  EXPECT_EQ(split_whole(std::string(kMaxLineBytes + 10, 'z')),
            std::vector<std::string>{"<too long>"});
}

TEST(LineSplitter, StopsWhenTheSinkSaysSo) {
  LineSplitter splitter;
  std::vector<std::string> lines;
  const bool went_on = splitter.feed("get\nquit\nget\n", [&](auto, std::string_view line) {
    lines.emplace_back(line);
    return line != "quit";
  });
  EXPECT_FALSE(went_on);
  EXPECT_EQ(lines, (std::vector<std::string>{"get", "quit"}));
}

TEST(LineSplitter, GivesBackWhatFollowsAStopToBeFedAgain) {
  LineSplitter splitter;
  std::vector<std::string> lines;
  const auto sink = [&](auto, std::string_view line) {
    lines.emplace_back(line);
    return line != "stop";
  };
  ASSERT_TRUE(splitter.feed("get\nst", sink));
  std::string_view rest;
  EXPECT_FALSE(splitter.feed("op\nincr\nde", sink, &rest));
  EXPECT_EQ(rest, "incr\nde");
  EXPECT_TRUE(splitter.feed(rest, sink));
  EXPECT_TRUE(splitter.feed("cr\n", sink));
  EXPECT_EQ(lines, (std::vector<std::string>{"get", "stop", "incr", "decr"}));
}

Request parsed_ok(std::string_view line) {
  const ParsedRequest parsed = parse_request(line);
  EXPECT_TRUE(parsed.ok()) << line;
  return parsed.request;
}

TEST(ParseRequest, SplitsWordsOnRunsOfSpacesAndTabs) {
  const Request request = parsed_ok(" \tadd \t 5\t ");
  EXPECT_EQ(request.name, "add");
  EXPECT_EQ(request.arg_count, 1U);
  EXPECT_EQ(request.args[0], "5");
}

TEST(ParseRequest, DropsACarriageReturnBeforeTheEnd) {
  const Request request = parsed_ok("get\r");
  EXPECT_EQ(request.name, "get");
  EXPECT_EQ(request.arg_count, 0U);
  EXPECT_EQ(parsed_ok("get \r").name, "get");
}

TEST(ParseRequest, CountsEveryArgumentEvenPastTheStoredOnes) {
  const Request request = parsed_ok("add 1 2 3 4");
  EXPECT_EQ(request.arg_count, 4U);
}

TEST(ParseRequest, BlankLinesAreNotRequests) {
  for (const char* line : {"", " ", "\t", " \t ", "\r", "  \r"}) {
    EXPECT_EQ(parse_request(line).status, ParseStatus::kBlank) << '"' << line << '"';
  }
}

TEST(ParseRequest, BytesThatAreNotPrintableAsciiAreRefused) {
  using namespace std::string_literals;
  for (const std::string& line :
       {"get\x01"s,
        "g\x7f"
        "et"s,
        "get\r\r"s, "ge\rt"s, "add \xc3\xa9"s, "get\0"s, "\x80"s, "add\v5"s, "add\f5"s}) {
    EXPECT_EQ(parse_request(line).status, ParseStatus::kNotPrintable) << line;
  }
}

TEST(ParseInt64, AcceptsSignsLeadingZerosAndBothEnds) {
  EXPECT_EQ(parse_int64("0"), 0);
  EXPECT_EQ(parse_int64("+7"), 7);
  EXPECT_EQ(parse_int64("-7"), -7);
  EXPECT_EQ(parse_int64("0007"), 7);
  EXPECT_EQ(parse_int64("-0"), 0);
  EXPECT_EQ(parse_int64("9223372036854775807"), std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(parse_int64("-9223372036854775808"), std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(parse_int64("+0009223372036854775807"), std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(parse_int64(std::string(4000, '0') + "42"), 42);
}

TEST(ParseInt64, RefusesAnythingElse) {
  for (const char* text :
       {"", "+", "-", "x", "1.5", "0x10", "1e3", "--5", "+-5", "-+5", "++5", " 5", "5 ", "5x",
        "9223372036854775808", "-9223372036854775809", "99999999999999999999999"}) {
    EXPECT_FALSE(parse_int64(text).has_value()) << text;
  }
}

std::string reply_bytes(const Reply& reply) {
  std::string out;
  append_reply(reply, out);
  return out;
}

TEST(AppendReply, WritesEachKindOnOneLine) {
  EXPECT_EQ(reply_bytes(Reply::ok(3)), "ok\n");
  EXPECT_EQ(reply_bytes(Reply::err()), "err\n");
  EXPECT_EQ(reply_bytes(Reply::quit()), "quit\n");
  EXPECT_EQ(reply_bytes(Reply::val(0, 0)), "val 0\n");
  EXPECT_EQ(reply_bytes(Reply::val(-4, 0)), "val -4\n");
  EXPECT_EQ(reply_bytes(Reply::val(std::numeric_limits<std::int64_t>::min(), 0)),
            "val -9223372036854775808\n");
  EXPECT_EQ(reply_bytes(Reply::val(std::numeric_limits<std::int64_t>::max(), 0)),
            "val 9223372036854775807\n");
  EXPECT_EQ(reply_bytes(Reply::val(std::numeric_limits<std::int64_t>::min(), 0)).size(),
            kMaxReplyBytes);
}

TEST(ParseReply, ReadsWhatAppendReplyWrites) {
  for (const Reply& reply : {Reply::ok(0), Reply::err(), Reply::quit(), Reply::val(-12, 0),
                             Reply::val(std::numeric_limits<std::int64_t>::min(), 0)}) {
    std::string line = reply_bytes(reply);
    line.pop_back();
    EXPECT_EQ(parse_reply(line), reply) << line;
  }
  for (const char* line : {"", "OK", "val", "val ", "val +1", "val x", "ok ", "val_5"}) {
    EXPECT_FALSE(parse_reply(line).has_value()) << line;
  }
}

}  // namespace
}  // namespace count

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "protocol/password.hpp"

namespace count {
namespace {

// A password file with `content`, removed with the object.
class PasswordFile {
 public:
  explicit PasswordFile(const std::string& content)
      : path_(
            std::filesystem::temp_directory_path() /
            ("count-password-test-" + std::to_string(::getpid()) + "-" + std::to_string(next_++))) {
    std::ofstream(path_, std::ios::binary) << content;
  }
  ~PasswordFile() { std::filesystem::remove(path_); }
  PasswordFile(const PasswordFile&) = delete;
  PasswordFile& operator=(const PasswordFile&) = delete;
  std::string path() const { return path_.string(); }

 private:
  static inline int next_ = 0;
  std::filesystem::path path_;
};

std::string read_back(const std::string& content) {
  return read_password_file(PasswordFile(content).path());
}

std::string problem_with(const std::string& content) {
  try {
    read_back(content);
  } catch (const PasswordFileError& e) {
    return e.what();
  }
  return "no problem";
}

TEST(PasswordFile, ThePasswordIsTheFirstLineWithoutItsLineEnd) {
  EXPECT_EQ(read_back("s3cret"), "s3cret");
  EXPECT_EQ(read_back("s3cret\n"), "s3cret");
  EXPECT_EQ(read_back("s3cret\r\n"), "s3cret");
  EXPECT_EQ(read_back("!#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~\n"),
            "!#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~");
  EXPECT_EQ(read_back(std::string(kMaxPasswordBytes, 'p') + "\n"),
            std::string(kMaxPasswordBytes, 'p'));
}

TEST(PasswordFile, AnythingElseIsRefusedWithTheReason) {
  EXPECT_NE(problem_with("").find("it is empty"), std::string::npos);
  EXPECT_NE(problem_with("\n").find("it is empty"), std::string::npos);
  EXPECT_NE(problem_with("a b\n").find("space or a tab"), std::string::npos);
  EXPECT_NE(problem_with("a\tb\n").find("space or a tab"), std::string::npos);
  EXPECT_NE(problem_with("s3cret \n").find("space or a tab"), std::string::npos);
  EXPECT_NE(problem_with("caf\xc3\xa9\n").find("not printable ASCII"), std::string::npos);
  EXPECT_NE(problem_with("a\rb\n").find("not printable ASCII"), std::string::npos);
  EXPECT_NE(problem_with("one\ntwo\n").find("more than one line"), std::string::npos);
  EXPECT_NE(problem_with("s3cret\n\n").find("more than one line"), std::string::npos);
  EXPECT_NE(problem_with(std::string(kMaxPasswordBytes + 1, 'p')).find("longer than 512"),
            std::string::npos);
  EXPECT_NE(problem_with(std::string(100000, 'p')).find("longer than 512"), std::string::npos);
}

TEST(PasswordFile, AMissingFileIsNamed) {
  try {
    read_password_file("/nonexistent/password");
    FAIL() << "no error";
  } catch (const PasswordFileError& e) {
    EXPECT_EQ(std::string(e.what()), "cannot read the password file /nonexistent/password");
  }
}

}  // namespace
}  // namespace count

// The Redis protocol (docs/protocol.md, "The Redis protocol"): the resumable request parser
// at every fragment size, its errors and its limit, Redis's strict integers, and reply bytes.
#include <atomic>
#include <cstdlib>
#include <new>

#include "protocol/resp.hpp"

// The largest single allocation while `g_track_allocations` is set: the parser must not
// trust a length before the bytes it claims have arrived.
namespace {
std::atomic<bool> g_track_allocations{false};
std::atomic<std::size_t> g_largest_allocation{0};
}  // namespace

void* operator new(std::size_t size) {
  if (g_track_allocations.load(std::memory_order_relaxed)) {
    std::size_t seen = g_largest_allocation.load(std::memory_order_relaxed);
    while (size > seen && !g_largest_allocation.compare_exchange_weak(seen, size)) {
    }
  }
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
// GCC sees the replaced operator new's malloc and this free as a mismatch; they are a pair.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpragmas"
#pragma GCC diagnostic ignored "-Wunknown-warning-option"
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t /*size*/) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace count {
namespace {

// One request as a string that tells its words apart ("4:INCR|5:count|"), or
// "error: TEXT" for the parser's error.
using RespEvents = std::vector<std::string>;

std::string render_words(std::span<const std::string_view> words) {
  std::string text;
  for (const std::string_view word : words) {
    text += std::to_string(word.size()) + ":" + std::string(word) + "|";
  }
  return text;
}

// Feeds `stream` cut at each of `cuts` (increasing offsets) and records every event; fails
// the test when a feed call's result disagrees with what it delivered.
RespEvents parse_resp_cut(const std::string& stream, const std::vector<std::size_t>& cuts,
                          const RespShortcuts* shortcuts = nullptr) {
  RespParser parser(shortcuts);
  RespEvents events;
  const auto sink = [&](RespParser::Event event, std::span<const std::string_view> words) {
    if (event == RespParser::Event::kError) {
      EXPECT_TRUE(words.empty());
      events.push_back("error: " + parser.error());
    } else {
      EXPECT_FALSE(words.empty()) << "an empty array is not a request";
      events.push_back(render_words(words));
    }
    return true;
  };
  std::size_t at = 0;
  for (std::size_t cut : cuts) {
    cut = std::min(cut, stream.size());
    const bool failed_before = parser.failed();
    const bool went_on = parser.feed(std::string_view(stream).substr(at, cut - at), sink);
    // The sink never stops it: feed says false only for the call that met the error.
    EXPECT_EQ(went_on, !(parser.failed() && !failed_before));
    at = cut;
  }
  parser.feed(std::string_view(stream).substr(at), sink);
  return events;
}

RespEvents parse_resp_whole(const std::string& stream, const RespShortcuts* shortcuts = nullptr) {
  return parse_resp_cut(stream, {}, shortcuts);
}

RespEvents parse_resp_pieces(const std::string& stream, std::size_t piece,
                             const RespShortcuts* shortcuts = nullptr) {
  std::vector<std::size_t> cuts;
  for (std::size_t at = piece; at < stream.size(); at += piece) cuts.push_back(at);
  return parse_resp_cut(stream, cuts, shortcuts);
}

// The style guide's rule for parsers: whole, cut in two at every byte, and in 1-, 2- and
// 5-byte pieces, the same events; and the same again with the shortcuts of the key "count"
// (a session's), which must change nothing but the speed.
void expect_same_resp_at_every_split(const std::string& stream, const RespEvents& want) {
  const RespShortcuts count_key("count");
  for (const RespShortcuts* shortcuts : {static_cast<const RespShortcuts*>(nullptr), &count_key}) {
    const char* with = shortcuts == nullptr ? "without shortcuts" : "with shortcuts";
    ASSERT_EQ(parse_resp_whole(stream, shortcuts), want) << with;
    for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
      ASSERT_EQ(parse_resp_cut(stream, {cut}, shortcuts), want) << "cut at " << cut << ", " << with;
    }
    for (const std::size_t piece : {1, 2, 5}) {
      ASSERT_EQ(parse_resp_pieces(stream, piece, shortcuts), want)
          << "pieces of " << piece << ", " << with;
    }
  }
}

// A request as a Redis client writes it.
std::string resp_request(std::initializer_list<std::string_view> words) {
  std::string out = "*" + std::to_string(words.size()) + "\r\n";
  for (const std::string_view word : words) {
    out += "$" + std::to_string(word.size()) + "\r\n" + std::string(word) + "\r\n";
  }
  return out;
}

TEST(RespParser, ParsesPipelinedRequestsAtEveryFragmentSize) {
  const std::string stream = resp_request({"INCR", "count"}) + resp_request({"get", "count"}) +
                             resp_request({"INCRBY", "count", "-5"}) + resp_request({"PING"});
  expect_same_resp_at_every_split(
      stream, {"4:INCR|5:count|", "3:get|5:count|", "6:INCRBY|5:count|2:-5|", "4:PING|"});
}

TEST(RespParser, TheShortcutsTakeTheKeysGetIncrAndDecrWholeAndNothingElse) {
  const RespShortcuts shortcuts("count");
  std::vector<std::string_view> words;  // views into the bytes matched: they must stay
  const std::string incr = resp_request({"INCR", "count"});
  const std::string incr_and_more = incr + "rest";
  EXPECT_EQ(shortcuts.match(incr_and_more, words), incr.size());
  EXPECT_EQ(render_words(words), "4:INCR|5:count|");
  const std::string get = resp_request({"GET", "count"});
  EXPECT_EQ(shortcuts.match(get, words), get.size());
  EXPECT_EQ(render_words(words), "3:GET|5:count|");
  const std::string decr = resp_request({"DECR", "count"});
  EXPECT_EQ(shortcuts.match(decr, words), decr.size());
  EXPECT_EQ(render_words(words), "4:DECR|5:count|");
  // Not theirs: the long way. `words` is left as it was.
  const std::vector<std::string> others{resp_request({"incr", "count"}),
                                        resp_request({"INCR", "counter"}),
                                        resp_request({"INCR", "coun"}),
                                        resp_request({"INCRBY", "count", "1"}),
                                        resp_request({"INCR", "count", "x"}),
                                        resp_request({"GET"}),
                                        incr.substr(0, incr.size() - 1),
                                        "*2\r\n$4\r\nINCR\r\n$5\r\ncount\n\n",
                                        ""};
  for (const std::string& other : others) {
    EXPECT_EQ(shortcuts.match(other, words), 0U) << other;
    EXPECT_EQ(render_words(words), "4:DECR|5:count|") << other;
  }
  // Another key has its own.
  const RespShortcuts orders("orders");
  const std::string incr_orders = resp_request({"INCR", "orders"});
  EXPECT_EQ(orders.match(incr_orders, words), incr_orders.size());
  EXPECT_EQ(orders.match(incr, words), 0U);
  EXPECT_EQ(RespShortcuts().match(incr, words), 0U);
}

TEST(RespParser, ShortcutsAndTheLongWayGiveTheSameRequestsMixedAndCutAnywhere) {
  const std::string stream = resp_request({"INCR", "count"}) + resp_request({"GET", "count"}) +
                             resp_request({"incr", "count"}) + resp_request({"DECR", "count"}) +
                             resp_request({"INCR", "other"}) + resp_request({"GET", "count"}) +
                             resp_request({"DECR", "count"});
  expect_same_resp_at_every_split(
      stream, {"4:INCR|5:count|", "3:GET|5:count|", "4:incr|5:count|", "4:DECR|5:count|",
               "4:INCR|5:other|", "3:GET|5:count|", "4:DECR|5:count|"});
}

TEST(RespParser, WordsAreBinarySafeAndMayBeEmpty) {
  const std::string binary("a\r\nb\0*$", 7);
  const std::string stream =
      resp_request({"ECHO", binary}) + resp_request({"ECHO", ""}) + resp_request({"", "x"});
  expect_same_resp_at_every_split(stream, {"4:ECHO|7:" + binary + "|", "4:ECHO|0:|", "0:|1:x|"});
}

TEST(RespParser, EmptyArraysAreSkipped) {
  const std::string stream = "*0\r\n" + resp_request({"PING"}) + "*-1\r\n*0\r\n" +
                             resp_request({"GET", "count"}) + "*-1\r\n";
  expect_same_resp_at_every_split(stream, {"4:PING|", "3:GET|5:count|"});
  expect_same_resp_at_every_split("*0\r\n*-1\r\n", {});
}

// Each malformed form: the requests before it, then one error with Redis's text (or ours, for
// what Redis does not refuse), and nothing after it, however the bytes arrive.
TEST(RespParser, EveryMalformedRequestGivesOneErrorWithItsText) {
  const std::string ping = resp_request({"PING"});
  struct Case {
    std::string bytes;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"*1\r\n+PING\r\n", "Protocol error: expected '$', got '+'"},
      {"*2\r\n$4\r\nINCR\r\n:5\r\n", "Protocol error: expected '$', got ':'"},
      {"*1\r\nPING\r\n", "Protocol error: expected '$', got 'P'"},
      {"*x\r\n", "Protocol error: invalid multibulk length"},
      {"*\r\n", "Protocol error: invalid multibulk length"},
      {"*+1\r\n$4\r\nPING\r\n", "Protocol error: invalid multibulk length"},
      {"*01\r\n$4\r\nPING\r\n", "Protocol error: invalid multibulk length"},
      {"*-0\r\n", "Protocol error: invalid multibulk length"},
      {"*1.5\r\n", "Protocol error: invalid multibulk length"},
      {"* 1\r\n", "Protocol error: invalid multibulk length"},
      {"*1 \r\n", "Protocol error: invalid multibulk length"},
      {"*1\rX$4\r\nPING\r\n", "Protocol error: invalid multibulk length"},
      {"*1\r\n$x\r\n", "Protocol error: invalid bulk length"},
      {"*1\r\n$\r\n\r\n", "Protocol error: invalid bulk length"},
      {"*1\r\n$-1\r\n", "Protocol error: invalid bulk length"},
      {"*1\r\n$-0\r\n\r\n", "Protocol error: invalid bulk length"},
      {"*1\r\n$+4\r\nPING\r\n", "Protocol error: invalid bulk length"},
      {"*1\r\n$04\r\nPING\r\n", "Protocol error: invalid bulk length"},
      {"*1\r\n$4\rXPING\r\n", "Protocol error: invalid bulk length"},
      // Redis skips the two bytes after a bulk string unread; count-server checks them.
      {"*1\r\n$4\r\nPINGxx", "Protocol error: expected '\\r\\n' after a bulk string"},
      {"*1\r\n$4\r\nPING\rx", "Protocol error: expected '\\r\\n' after a bulk string"},
      // Only arrays: Redis's inline requests are not spoken after the first byte chose RESP.
      {"PING\r\n", "Protocol error: expected '*', got 'P'"},
      {"$4\r\nPING\r\n", "Protocol error: expected '*', got '$'"},
      {"\r\n", "Protocol error: expected '*', got '\r'"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.bytes);
    // The malformed request alone, after a good one, and followed by good ones: nothing after
    // the error is delivered.
    expect_same_resp_at_every_split(c.bytes, {"error: " + c.error});
    expect_same_resp_at_every_split(ping + c.bytes + ping + ping, {"4:PING|", "error: " + c.error});
  }
}

TEST(RespParser, TakesNothingMoreAfterAnError) {
  RespParser parser;
  int requests = 0;
  int errors = 0;
  const auto sink = [&](RespParser::Event event, std::span<const std::string_view>) {
    (event == RespParser::Event::kError ? errors : requests)++;
    return true;
  };
  std::string_view rest = "untouched";
  EXPECT_FALSE(parser.feed("*1\r\n$4\r\nPING\r\n*1\r\n+PING\r\n*1\r\n$4\r\nPING\r\n", sink, &rest));
  EXPECT_TRUE(rest.empty());  // nothing to serve after the error
  EXPECT_TRUE(parser.failed());
  EXPECT_EQ(parser.error(), "Protocol error: expected '$', got '+'");
  EXPECT_TRUE(parser.feed("*1\r\n$4\r\nPING\r\n", sink));
  EXPECT_FALSE(parser.mid_request());
  EXPECT_EQ(requests, 1);
  EXPECT_EQ(errors, 1);
}

// "$N\r\n" + N bytes + "\r\n" after "*1\r\n": the size of a one-word request on the wire.
std::string one_word_request_of_size(std::size_t total) {
  for (std::size_t n = total; n > 0; --n) {
    std::string request = resp_request({std::string(n, 'x')});
    if (request.size() == total) return request;
  }
  return {};
}

TEST(RespParser, ARequestOfExactlyTheLimitIsAccepted) {
  const std::string request = one_word_request_of_size(kMaxRespRequestBytes);
  ASSERT_EQ(request.size(), kMaxRespRequestBytes);
  const std::string word(kMaxRespRequestBytes - 13, 'x');  // "*1\r\n$4083\r\n" ... "\r\n"
  ASSERT_TRUE(request == resp_request({word}));
  expect_same_resp_at_every_split(request + resp_request({"PING"}),
                                  {std::to_string(word.size()) + ":" + word + "|", "4:PING|"});
  // As many empty words as fit: 680 of "$0\r\n\r\n" after "*680\r\n" is 4086 bytes.
  std::string many = "*680\r\n";
  for (int i = 0; i < 680; ++i) many += "$0\r\n\r\n";
  ASSERT_LE(many.size(), kMaxRespRequestBytes);
  std::string want;
  for (int i = 0; i < 680; ++i) want += "0:|";
  EXPECT_EQ(parse_resp_whole(many), RespEvents{want});
  EXPECT_EQ(parse_resp_pieces(many, 1), RespEvents{want});
}

TEST(RespParser, ARequestOverTheLimitIsAnError) {
  const std::string too_long = "error: Protocol error: request longer than 4096 bytes";
  const std::string request = one_word_request_of_size(kMaxRespRequestBytes + 1);
  ASSERT_EQ(request.size(), kMaxRespRequestBytes + 1);
  expect_same_resp_at_every_split(resp_request({"PING"}) + request + resp_request({"PING"}),
                                  {"4:PING|", too_long});
  // Words each within the limit, together past it.
  const std::string half(2100, 'y');
  EXPECT_EQ(parse_resp_whole(resp_request({half, half})), RespEvents{too_long});
  EXPECT_EQ(parse_resp_pieces(resp_request({half, half}), 1), RespEvents{too_long});
  // A header line that never ends.
  const std::string endless = "*" + std::string(5000, '1');
  EXPECT_EQ(parse_resp_whole(endless), RespEvents{too_long});
  EXPECT_EQ(parse_resp_pieces(endless, 5), RespEvents{too_long});
  EXPECT_EQ(parse_resp_whole("*1\r\n$" + std::string(5000, '1')), RespEvents{too_long});
}

// A length that claims more than the limit is refused as soon as it is read, before the bytes
// it claims: Redis would wait for them (up to 512 MB).
TEST(RespParser, ALengthClaimingMoreThanTheLimitIsRefusedAtOnce) {
  const std::string too_long = "error: Protocol error: request longer than 4096 bytes";
  for (const std::string claim :
       {"*1\r\n$4086\r\n", "*1\r\n$2147483647\r\n", "*1\r\n$9223372036854775807\r\n",
        "*2\r\n$4\r\nINCR\r\n$4080\r\n", "*682\r\n", "*1000000\r\n", "*2147483648\r\n",
        "*9223372036854775807\r\n"}) {
    SCOPED_TRACE(claim);
    expect_same_resp_at_every_split(claim, {too_long});
  }
  // The most words that could fit is still waited for.
  EXPECT_EQ(parse_resp_whole("*681\r\n"), RespEvents{});
  // A length past int64 is no number at all.
  EXPECT_EQ(parse_resp_whole("*9223372036854775808\r\n"),
            RespEvents{"error: Protocol error: invalid multibulk length"});
  EXPECT_EQ(parse_resp_whole("*1\r\n$9223372036854775808\r\n"),
            RespEvents{"error: Protocol error: invalid bulk length"});
}

// Whatever lengths claim and however the bytes arrive, the parser holds at most one request's
// worth: no allocation is sized by a claim, and the unfinished request takes one block of the
// limit's size (plus one byte, to see it passed), never grown.
TEST(RespParser, HoldsNoMoreThanTheLimitWhateverTheLengthsClaim) {
  const std::string big(64 * 1024, 'z');
  const std::vector<std::string> streams = {
      "*1\r\n$2147483647\r\n" + big,
      "*1\r\n$4000\r\n" + big,
      "*2147483647\r\n" + big,
      "*" + big,
      "*1\r\n$" + big,
  };
  for (const std::string& stream : streams) {
    for (const std::size_t piece :
         {std::size_t{1}, std::size_t{100}, std::size_t{3000}, std::size_t{4096}, stream.size()}) {
      RespParser parser;
      int events = 0;
      const auto sink = [&](RespParser::Event, std::span<const std::string_view>) {
        ++events;
        return true;
      };
      g_largest_allocation = 0;
      g_track_allocations = true;
      for (std::size_t at = 0; at < stream.size(); at += piece) {
        parser.feed(std::string_view(stream).substr(at, piece), sink);
      }
      g_track_allocations = false;
      EXPECT_EQ(events, 1) << stream.substr(0, 20) << " in pieces of " << piece;
      EXPECT_TRUE(parser.failed());
      EXPECT_LE(g_largest_allocation.load(), kMaxRespRequestBytes + 2)
          << stream.substr(0, 20) << " in pieces of " << piece;
    }
  }
}

TEST(RespParser, SaysWhenItHoldsAnUnfinishedRequest) {
  RespParser parser;
  const auto sink = [](RespParser::Event, std::span<const std::string_view>) { return true; };
  EXPECT_FALSE(parser.mid_request());
  parser.feed("*1\r\n$4\r\nPI", sink);
  EXPECT_TRUE(parser.mid_request());
  parser.feed("NG\r\n", sink);
  EXPECT_FALSE(parser.mid_request());
  parser.feed("*", sink);
  EXPECT_TRUE(parser.mid_request());
}

// The sink stops the parser (QUIT, a wrong password): what follows that request is handed back
// in *rest, to be fed again later, whether the request came whole or across calls.
TEST(RespParser, GivesBackWhatFollowsAStopToBeFedAgain) {
  const std::string stop = resp_request({"STOP"});
  const std::string incr = resp_request({"INCR", "count"});
  RespParser parser;
  std::vector<std::string> seen;
  const auto sink = [&](RespParser::Event event, std::span<const std::string_view> words) {
    EXPECT_EQ(event, RespParser::Event::kRequest);
    seen.emplace_back(words[0]);
    return words[0] != "STOP";
  };
  // A stop inside one call.
  std::string_view rest;
  const std::string first = resp_request({"PING"}) + stop + incr + "*1\r\n$4\r\nDE";
  EXPECT_FALSE(parser.feed(first, sink, &rest));
  EXPECT_EQ(rest, incr + "*1\r\n$4\r\nDE");
  EXPECT_FALSE(parser.mid_request());  // nothing of the rest was taken
  // A stop on a request that began in an earlier call.
  const std::string again = std::string(rest) + "CR\r\n" + stop.substr(0, 5);
  EXPECT_TRUE(parser.feed(again, sink, &rest));
  EXPECT_TRUE(parser.mid_request());
  const std::string get = resp_request({"GET", "count"});
  const std::string third = stop.substr(5) + get;
  EXPECT_FALSE(parser.feed(third, sink, &rest));
  EXPECT_EQ(rest, get);
  // A stop on the last request: nothing left.
  const std::string fourth = std::string(rest) + stop;
  EXPECT_FALSE(parser.feed(fourth, sink, &rest));
  EXPECT_TRUE(rest.empty());
  EXPECT_FALSE(parser.mid_request());
  EXPECT_EQ(seen,
            (std::vector<std::string>{"PING", "STOP", "INCR", "DECR", "STOP", "GET", "STOP"}));
}

TEST(RespParser, AStopIsNotAnError) {
  RespParser parser;
  const auto stop_all = [](RespParser::Event, std::span<const std::string_view>) { return false; };
  std::string_view rest;
  const std::string quit_ping = resp_request({"QUIT"}) + resp_request({"PING"});
  EXPECT_FALSE(parser.feed(quit_ping, stop_all, &rest));
  EXPECT_FALSE(parser.failed());
  EXPECT_EQ(rest, resp_request({"PING"}));
  // Without `rest`, a stop still stops.
  EXPECT_FALSE(parser.feed(resp_request({"QUIT"}), stop_all));
  // An empty array does not reach the sink, so it cannot stop the parser.
  EXPECT_TRUE(parser.feed("*0\r\n*-1\r\n", stop_all, &rest));
}

TEST(ParseStrictInt64, AcceptsRedisIntegersUpToBothEnds) {
  EXPECT_EQ(parse_strict_int64("0"), 0);
  EXPECT_EQ(parse_strict_int64("7"), 7);
  EXPECT_EQ(parse_strict_int64("-7"), -7);
  EXPECT_EQ(parse_strict_int64("10"), 10);
  EXPECT_EQ(parse_strict_int64("-10"), -10);
  EXPECT_EQ(parse_strict_int64("9223372036854775807"), std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(parse_strict_int64("-9223372036854775808"), std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(parse_strict_int64("9223372036854775806"),
            std::numeric_limits<std::int64_t>::max() - 1);
  EXPECT_EQ(parse_strict_int64("-9223372036854775807"),
            std::numeric_limits<std::int64_t>::min() + 1);
}

TEST(ParseStrictInt64, RefusesPlusLeadingZerosMinusZeroAndAnythingElse) {
  for (const char* text : {"",
                           "+",
                           "-",
                           "+5",
                           "+0",
                           "05",
                           "00",
                           "-05",
                           "-0",
                           "-00",
                           "007",
                           " 5",
                           "5 ",
                           "\t5",
                           "5\r",
                           "1.5",
                           "0x10",
                           "1e3",
                           "--5",
                           "-+5",
                           "5x",
                           "x",
                           "9223372036854775808",
                           "-9223372036854775809",
                           "18446744073709551616",
                           "99999999999999999999",
                           "-99999999999999999999",
                           "123456789012345678901",
                           "09223372036854775807"}) {
    EXPECT_FALSE(parse_strict_int64(text).has_value()) << '"' << text << '"';
  }
  EXPECT_FALSE(parse_strict_int64(std::string_view("5\0", 2)).has_value());
}

std::string written(void (*write)(std::string&)) {
  std::string out;
  write(out);
  return out;
}

TEST(RespReply, WritesEachTypeAsRedisDoes) {
  std::string out;
  append_simple(out, "OK");
  append_error(out, "ERR no");
  append_integer(out, 0);
  append_integer(out, -1);
  append_integer(out, std::numeric_limits<std::int64_t>::min());
  append_integer(out, std::numeric_limits<std::int64_t>::max());
  append_bulk(out, "");
  append_bulk(out, std::string_view("a\r\n\0", 4));
  append_array(out, 0);
  append_array(out, 3);
  using namespace std::string_literals;
  EXPECT_EQ(out,
            "+OK\r\n-ERR no\r\n:0\r\n:-1\r\n:-9223372036854775808\r\n:9223372036854775807\r\n"
            "$0\r\n\r\n$4\r\na\r\n\0\r\n*0\r\n*3\r\n"s);
}

std::string resp_reply_bytes(const Reply& reply) {
  std::string out;
  append_resp_reply(reply, out);
  return out;
}

// Integers are written by hand (digit count from the bits, two digits at a time, 32-bit
// arithmetic below 2^32, eight digits at a time above): every digit count's edges, both
// signs, the 32-bit edge and zeros in the middle, against the standard library's text.
TEST(RespReply, IntegersAreExactAtEveryDigitCountAndSign) {
  std::vector<std::int64_t> values{0,
                                   std::numeric_limits<std::int64_t>::min(),
                                   std::numeric_limits<std::int64_t>::max(),
                                   std::int64_t{std::numeric_limits<std::uint32_t>::max()},
                                   std::int64_t{std::numeric_limits<std::uint32_t>::max()} + 1,
                                   100000000,
                                   100000001,
                                   1000000000000000000,
                                   1000000000000000001,
                                   4294967296000000000};
  std::int64_t power = 1;
  for (int digits = 1; digits <= 18; ++digits) {
    power *= 10;
    for (const std::int64_t near : {power - 1, power, power + 1, power / 2 + 7}) {
      values.push_back(near);
    }
  }
  for (const std::int64_t value : values) {
    std::vector<std::int64_t> both_signs{value};
    // -min does not exist (min itself is in the list), and -0 is 0.
    if (value != 0 && value != std::numeric_limits<std::int64_t>::min()) {
      both_signs.push_back(-value);
    }
    for (const std::int64_t signed_value : both_signs) {
      std::string out = "x";
      append_integer(out, signed_value);
      EXPECT_EQ(out, "x:" + std::to_string(signed_value) + "\r\n");
      out.clear();
      append_bulk(out, std::string(static_cast<std::size_t>(value % 1000 + 1000), 'b'));
      EXPECT_EQ(out.substr(0, out.find('\n') + 1),
                "$" + std::to_string(value % 1000 + 1000) + "\r\n");
      EXPECT_EQ(resp_reply_bytes(Reply::ok(0, signed_value)),
                ":" + std::to_string(signed_value) + "\r\n");
    }
  }
}

TEST(RespReply, NullsMapsAndSetsDependOnTheProtocolVersion) {
  EXPECT_EQ(written([](std::string& o) { append_null(o, RespVersion::k2); }), "$-1\r\n");
  EXPECT_EQ(written([](std::string& o) { append_null(o, RespVersion::k3); }), "_\r\n");
  EXPECT_EQ(written([](std::string& o) { append_null_array(o, RespVersion::k2); }), "*-1\r\n");
  EXPECT_EQ(written([](std::string& o) { append_null_array(o, RespVersion::k3); }), "_\r\n");
  EXPECT_EQ(written([](std::string& o) { append_map(o, 7, RespVersion::k2); }), "*14\r\n");
  EXPECT_EQ(written([](std::string& o) { append_map(o, 7, RespVersion::k3); }), "%7\r\n");
  EXPECT_EQ(written([](std::string& o) { append_map(o, 0, RespVersion::k2); }), "*0\r\n");
  EXPECT_EQ(written([](std::string& o) { append_map(o, 0, RespVersion::k3); }), "%0\r\n");
  EXPECT_EQ(written([](std::string& o) { append_set(o, 3, RespVersion::k2); }), "*3\r\n");
  EXPECT_EQ(written([](std::string& o) { append_set(o, 3, RespVersion::k3); }), "~3\r\n");
}

TEST(RespReply, CounterRepliesAreRedisOnes) {
  constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  // A read: the value as a bulk string; a mutation: the value it produced as an integer.
  EXPECT_EQ(resp_reply_bytes(Reply::val(0, 0)), "$1\r\n0\r\n");
  EXPECT_EQ(resp_reply_bytes(Reply::val(-4, 0)), "$2\r\n-4\r\n");
  EXPECT_EQ(resp_reply_bytes(Reply::val(kMin, 0)), "$20\r\n-9223372036854775808\r\n");
  EXPECT_EQ(resp_reply_bytes(Reply::val(kMax, 0)), "$19\r\n9223372036854775807\r\n");
  EXPECT_EQ(resp_reply_bytes(Reply::ok(0, 1)), ":1\r\n");
  EXPECT_EQ(resp_reply_bytes(Reply::ok(0, kMin)), ":-9223372036854775808\r\n");
  EXPECT_EQ(resp_reply_bytes(Reply::quit()), "+OK\r\n");
  EXPECT_EQ(resp_reply_bytes(Reply::err(ErrCause::kOverflow)),
            "-ERR increment or decrement would overflow\r\n");
  EXPECT_EQ(resp_reply_bytes(Reply::err(ErrCause::kBadArgument)),
            "-ERR value is not an integer or out of range\r\n");
  EXPECT_EQ(resp_reply_bytes(Reply::err(ErrCause::kNotAuthenticated)),
            "-NOAUTH Authentication required.\r\n");
  EXPECT_EQ(resp_reply_bytes(Reply::err(ErrCause::kWrongPassword)),
            "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
  // Every error text is one line.
  for (const ErrCause cause :
       {ErrCause::kNone, ErrCause::kOverflow, ErrCause::kBadArgument, ErrCause::kNotAuthenticated,
        ErrCause::kWrongPassword, ErrCause::kStoreUnavailable}) {
    const std::string_view text = resp_error_text(cause);
    EXPECT_EQ(text.find_first_of("\r\n"), std::string_view::npos) << text;
    EXPECT_FALSE(text.empty());
  }
}

}  // namespace
}  // namespace count
