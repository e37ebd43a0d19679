// Every command through the table, every `err` case the protocol lists, both range edges.
#include "commands/commands.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "protocol/password.hpp"
#include "store/memory_store.hpp"

namespace count {
namespace {

constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();

class CommandsTest : public ::testing::Test {
 protected:
  Reply run(std::string_view line) { return execute_line(line, store_); }
  std::int64_t value() const { return store_.get().value; }

  MemoryStore store_;
};

TEST_F(CommandsTest, GetRepliesTheValue) { EXPECT_EQ(run("get"), Reply::val(0, 0)); }

// A mutation's ok carries the value it produced (RESP's INCR answers it; the line protocol
// shows `ok` only).
TEST_F(CommandsTest, IncrDecrAndAddChangeTheValueAndReplyOk) {
  EXPECT_EQ(run("incr"), Reply::ok(0, 1));
  EXPECT_EQ(run("add -5"), Reply::ok(0, -4));
  EXPECT_EQ(run("decr"), Reply::ok(0, -5));
  EXPECT_EQ(run("add +10"), Reply::ok(0, 5));
  EXPECT_EQ(run("get"), Reply::val(5, 0));
}

TEST_F(CommandsTest, QuitRepliesQuitAndChangesNothing) {
  EXPECT_EQ(run("quit"), Reply::quit());
  EXPECT_EQ(value(), 0);
}

TEST_F(CommandsTest, CommandWordsAreCaseInsensitive) {
  EXPECT_EQ(run("INCR"), Reply::ok(0, 1));
  EXPECT_EQ(run("Add 2"), Reply::ok(0, 3));
  EXPECT_EQ(run("dEcR"), Reply::ok(0, 2));
  EXPECT_EQ(run("GET"), Reply::val(2, 0));
  EXPECT_EQ(run("QUIT"), Reply::quit());
}

TEST_F(CommandsTest, SurroundingWhiteSpaceAndCarriageReturnAreDropped) {
  EXPECT_EQ(run("  incr\t"), Reply::ok(0, 1));
  EXPECT_EQ(run("add\t \t3\r"), Reply::ok(0, 4));
  EXPECT_EQ(run("\tget \r"), Reply::val(4, 0));
}

TEST_F(CommandsTest, EverythingElseRepliesErrAndChangesNothing) {
  run("add 7");
  for (const char* line : {"",
                           " ",
                           "\t",
                           "\r",
                           "bogus",
                           "gett",
                           "ge t",
                           "get 5",
                           "incr 1",
                           "decr x",
                           "add",
                           "add 1 2",
                           "quit now",
                           "add x",
                           "add 1.5",
                           "add 0x10",
                           "add 1e3",
                           "add --5",
                           "add +-5",
                           "add 9223372036854775808",
                           "add -9223372036854775809",
                           "add \x01",
                           "get\x7f",
                           "add 5\r\r",
                           "val 5",
                           "ok"}) {
    EXPECT_EQ(run(line), Reply::err()) << '"' << line << '"';
    EXPECT_EQ(value(), 7) << line;
  }
}

TEST(CommandsRange, IncrAtInt64MaxRepliesErrAndKeepsValue) {
  MemoryStore store(kMax);
  EXPECT_EQ(execute_line("incr", store), Reply::err());
  EXPECT_EQ(execute_line("add 1", store), Reply::err());
  EXPECT_EQ(execute_line("add 0", store), Reply::ok(0, kMax));
  EXPECT_EQ(execute_line("get", store), Reply::val(kMax, 0));
  EXPECT_EQ(execute_line("add -9223372036854775808", store), Reply::ok(0, -1));
  EXPECT_EQ(execute_line("get", store), Reply::val(-1, 0));
}

TEST(CommandsRange, DecrAtInt64MinRepliesErrAndKeepsValue) {
  MemoryStore store(kMin);
  EXPECT_EQ(execute_line("decr", store), Reply::err());
  EXPECT_EQ(execute_line("add -1", store), Reply::err());
  EXPECT_EQ(execute_line("add -9223372036854775808", store), Reply::err());
  EXPECT_EQ(execute_line("get", store), Reply::val(kMin, 0));
  EXPECT_EQ(execute_line("add 9223372036854775807", store), Reply::ok(0, -1));
  EXPECT_EQ(execute_line("get", store), Reply::val(-1, 0));
}

TEST(CommandsRange, AddReachesBothEndsExactly) {
  MemoryStore store;
  EXPECT_EQ(execute_line("add 9223372036854775807", store), Reply::ok(0, kMax));
  EXPECT_EQ(execute_line("get", store), Reply::val(kMax, 0));
  EXPECT_EQ(execute_line("add -9223372036854775807", store), Reply::ok(0, 0));
  EXPECT_EQ(execute_line("add -9223372036854775808", store), Reply::ok(0, kMin));
  EXPECT_EQ(execute_line("get", store), Reply::val(kMin, 0));
}

// A store whose mutations all land at seq 41 (refused ones judged at 40), to see which seq
// each reply carries.
class SeqStore final : public Store {
 public:
  Applied add(std::int64_t delta) override {
    return delta > 0 ? Applied{true, 1, 41} : Applied{false, 0, 40};
  }
  Snapshot get() const override { return {1, 41}; }
  Watched watch() override { return {41, 41}; }
  Transacted transact(std::span<const Step> /*steps*/, const Watched* /*watched*/) override {
    return {};
  }
  void commit() override {}
  Seq durable_seq() const override { return 0; }
  void on_durable(std::function<void()> /*listener*/) override {}
  bool close() override { return true; }
  void write_metrics(MetricsText& /*out*/) const override {}
};

TEST(CommandSeq, RepliesCarryTheSeqOfTheStateTheyReveal) {
  SeqStore store;
  EXPECT_EQ(execute_line("incr", store), Reply::ok(41, 1));
  EXPECT_EQ(execute_line("get", store), Reply::val(1, 41));
  // A refused mutation tells the value is at an end of the range: that state must be durable
  // before the err leaves.
  EXPECT_EQ(execute_line("decr", store).seq, 40U);
  EXPECT_EQ(execute_line("add -3", store).seq, 40U);
  // A malformed request reveals nothing.
  EXPECT_EQ(execute_line("add x", store).seq, 0U);
  EXPECT_EQ(execute_line("bogus", store).seq, 0U);
}

TEST(CommandTable, EveryCommandIsFoundByNameInAnyCase) {
  for (const CommandSpec& spec : command_table()) {
    EXPECT_EQ(find_command(spec.name), &spec);
    std::string upper(spec.name);
    for (char& c : upper) c = static_cast<char>(c - 32);
    EXPECT_EQ(find_command(upper), &spec);
  }
  EXPECT_EQ(find_command("nope"), nullptr);
  // The case-insensitive match relies on names of lower-case letters only.
  for (const CommandSpec& spec : command_table()) {
    for (const char c : spec.name) EXPECT_TRUE(c >= 'a' && c <= 'z') << spec.name;
  }
  // Bytes that differ from a letter by the case bit only when they are its other case.
  EXPECT_EQ(find_command("g\x05t"), nullptr);
  EXPECT_EQ(find_command("GeT"), find_command("get"));
  EXPECT_EQ(find_command("qu\x09t"), nullptr);
  EXPECT_EQ(find_command("\x07et"), nullptr);
  EXPECT_EQ(command_table().size(), 6U);
}

}  // namespace
}  // namespace count

namespace count {
namespace {

// docs/protocol.md, "Authentication": a connection to a server with a password.
class AuthTest : public ::testing::Test {
 protected:
  AuthTest() { connection_.password = &password_; }
  Reply run(std::string_view line) { return execute_line(line, store_, connection_); }

  const std::string password_ = "s3cret!";
  MemoryStore store_;
  ConnectionState connection_;
};

TEST_F(AuthTest, BeforeAuthEveryRequestButAuthAndQuitGetsErrAndChangesNothing) {
  for (const char* line : {"get", "incr", "decr", "add 5", "GET", "bogus", "add x"}) {
    EXPECT_EQ(run(line), Reply::err()) << line;
  }
  EXPECT_EQ(store_.get().value, 0);
  EXPECT_EQ(connection_.refused_before_auth, 6U);  // all but the unknown command
  EXPECT_EQ(run("quit"), Reply::quit());
}

TEST_F(AuthTest, TheRightPasswordOpensTheConnectionForGood) {
  EXPECT_EQ(run("auth s3cret!"), Reply::ok(0));
  EXPECT_TRUE(connection_.authenticated);
  EXPECT_EQ(run("incr"), Reply::ok(0, 1));
  EXPECT_EQ(run("auth wrong"), Reply::err());  // does not take it back
  EXPECT_EQ(run("get"), Reply::val(1, 0));
  EXPECT_EQ(run("AUTH s3cret!"), Reply::ok(0));  // the command word in any case, as every other
  EXPECT_EQ(connection_.wrong_passwords, 1U);
}

TEST_F(AuthTest, AWrongOrMalformedAuthGetsErrAndOpensNothing) {
  for (const char* line : {"auth wrong", "auth s3cret", "auth s3cret!!", "auth S3CRET!", "auth",
                           "auth s3cret! extra", "auth  s3cret! \t x", "auth \x01"}) {
    EXPECT_EQ(run(line), Reply::err()) << line;
    EXPECT_FALSE(connection_.authenticated) << line;
  }
  EXPECT_EQ(connection_.wrong_passwords, 4U);  // the well-formed ones count as guesses
  EXPECT_EQ(run("incr"), Reply::err());
  // Spaces and tabs around the words are not part of the password.
  EXPECT_EQ(run("\tauth   s3cret!  \r"), Reply::ok(0));
}

TEST(AuthWithoutPassword, AuthGetsErrAndEverythingElseWorksAsBefore) {
  MemoryStore store;
  ConnectionState connection;
  EXPECT_EQ(execute_line("auth anything", store, connection), Reply::err());
  EXPECT_EQ(execute_line("auth", store, connection), Reply::err());
  EXPECT_EQ(execute_line("incr", store, connection), Reply::ok(0, 1));
  EXPECT_FALSE(connection.authenticated);
  EXPECT_EQ(connection.wrong_passwords, 0U);
}

TEST(SamePassword, ComparesWholePasswordsOnly) {
  EXPECT_TRUE(same_password("abc", "abc"));
  EXPECT_FALSE(same_password("abc", "abd"));
  EXPECT_FALSE(same_password("ab", "abc"));
  EXPECT_FALSE(same_password("abcd", "abc"));
  EXPECT_FALSE(same_password("", "abc"));
  const std::string longest(kMaxPasswordBytes, 'x');
  EXPECT_TRUE(same_password(longest, longest));
  EXPECT_FALSE(same_password(longest + "x", longest + "x"));  // past the limit: never a password
  EXPECT_FALSE(same_password(std::string(kMaxPasswordBytes, '\0'), ""));
}

}  // namespace
}  // namespace count
