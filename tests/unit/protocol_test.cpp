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
