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
  // Names are compared whole, as 3 or 4 bytes: no prefix, no longer word, no padding.
  for (const char* word :
       {"", "g", "ge", "incrx", "gett", "get ", " get", "in", "adds", "auth0", "quitquit"}) {
    EXPECT_EQ(find_command(std::string_view(word)), nullptr) << word;
  }
  EXPECT_EQ(find_command(std::string_view("get\0", 4)), nullptr);
  EXPECT_EQ(find_command(std::string_view("ge\0", 3)), nullptr);
}

// A line that is a command word alone takes a shorter way than one taken apart into words:
// both must answer alike.
TEST(CommandTable, ABareCommandWordAnswersAsTheSameLineWithBlanks) {
  for (const char* word : {"get", "incr", "decr", "add", "quit", "auth", "GET", "Incr"}) {
    MemoryStore bare_store;
    MemoryStore spaced_store;
    ConnectionState bare;
    ConnectionState spaced;
    const Reply a = execute_line(word, bare_store, bare);
    const Reply b = execute_line(std::string(" ") + word + "\t", spaced_store, spaced);
    EXPECT_EQ(a, b) << word;
    EXPECT_EQ(a.cause, b.cause) << word;
    EXPECT_EQ(bare.last_command, spaced.last_command) << word;
    EXPECT_EQ(bare_store.get().value, spaced_store.get().value) << word;
  }
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

  ServerPassword password_{"s3cret!"};
  MemoryStore store_;
  ConnectionState connection_;
};

// A reload replaces the password: `auth` checks the new one from then on, and a connection
// that authenticated before stays so.
TEST_F(AuthTest, AReplacedPasswordIsTheOneCheckedAndAnOpenedConnectionStaysOpen) {
  ConnectionState opened;
  opened.password = &password_;
  ASSERT_EQ(execute_line("auth s3cret!", store_, opened), Reply::ok(0));
  EXPECT_TRUE(password_.replace("n3w-one"));
  EXPECT_FALSE(password_.replace("n3w-one"));
  EXPECT_EQ(execute_line("incr", store_, opened).kind, Reply::Kind::kOk);
  EXPECT_EQ(run("auth s3cret!"), Reply::err());
  EXPECT_EQ(run("auth n3w-one"), Reply::ok(0));
  EXPECT_EQ(run("get").kind, Reply::Kind::kVal);
}

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

// The Redis command layer (docs/protocol.md, "The Redis protocol"): execute_resp's reply bytes
// for every command and error the contract lists, authentication, transactions and WATCH,
// over the memory store and the file store.
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <initializer_list>
#include <memory>

#include "commands/resp_commands.hpp"
#include "store/file_store.hpp"

namespace count {
namespace {

constexpr std::int64_t kRespMax = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kRespMin = std::numeric_limits<std::int64_t>::min();

const std::string kOverflow = "-ERR increment or decrement would overflow\r\n";
const std::string kNotInteger = "-ERR value is not an integer or out of range\r\n";
const std::string kNoAuth = "-NOAUTH Authentication required.\r\n";
const std::string kWrongPass = "-WRONGPASS invalid username-password pair or user is disabled.\r\n";
const std::string kExecAbort = "-EXECABORT Transaction discarded because of previous errors.\r\n";

std::string bulk(std::string_view text) {
  return "$" + std::to_string(text.size()) + "\r\n" + std::string(text) + "\r\n";
}
std::string integer(std::int64_t value) { return ":" + std::to_string(value) + "\r\n"; }
std::string arity(std::string_view name) {
  return "-ERR wrong number of arguments for '" + std::string(name) + "' command\r\n";
}

// One RESP connection to a store: its line-protocol state and its RESP state.
struct RespClient {
  RespClient(const RespSettings& settings, std::uint64_t id,
             const ServerPassword* password = nullptr)
      : resp(settings, id) {
    connection.password = password;
  }

  // Runs one request; returns its reply bytes (the kind of outcome in `last`).
  std::string run(Store& store, std::initializer_list<std::string_view> words) {
    const std::vector<std::string_view> list(words);
    std::string out;
    last = execute_resp(list, store, connection, resp, out);
    EXPECT_NE(last.kind, RespOutcome::Kind::kLater) << "these stores decide at once";
    return out;
  }

  ConnectionState connection;
  RespConnection resp;
  RespOutcome last;
};

// A fresh store of either kind: the memory store, or the file store on a data file of its own
// (a mutation's reply is decided at once in both; only when it may leave differs).
std::unique_ptr<Store> make_store(const std::string& kind, const std::filesystem::path& dir) {
  if (kind == "memory") return std::make_unique<MemoryStore>();
  FileStoreOptions options;
  options.path = dir / "count.data";
  options.fsync = FsyncPolicy::kNever;
  return std::make_unique<FileStore>(std::move(options));
}

class RespCommandsTest : public ::testing::TestWithParam<std::string> {
 protected:
  RespCommandsTest() {
    static std::atomic<int> next{0};
    dir_ = std::filesystem::temp_directory_path() /
           ("count-resp-test-" + std::to_string(::getpid()) + "-" + std::to_string(next++));
    std::filesystem::create_directories(dir_);
    store_ = make_store(GetParam(), dir_);
  }
  ~RespCommandsTest() override {
    store_->close();
    store_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::string run(std::initializer_list<std::string_view> words) { return a_.run(*store_, words); }
  std::string other(std::initializer_list<std::string_view> words) {
    return b_.run(*store_, words);
  }
  std::int64_t value() const { return store_->get().value; }
  // Takes the counter to `target` from whatever it holds, through the other connection.
  void set_value(std::int64_t target) {
    const std::int64_t now = value();
    std::int64_t delta = 0;
    if (__builtin_sub_overflow(target, now, &delta)) {  // through 0 when one step cannot
      other({"DECRBY", "count", std::to_string(now)});
      delta = target;
    }
    if (delta != 0) other({"INCRBY", "count", std::to_string(delta)});
    ASSERT_EQ(value(), target);
  }

  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
  RespSettings settings_;
  RespClient a_{settings_, 1};
  RespClient b_{settings_, 2};
};

INSTANTIATE_TEST_SUITE_P(Stores, RespCommandsTest, ::testing::Values("memory", "file"),
                         [](const ::testing::TestParamInfo<std::string>& store) {
                           return store.param;
                         });

TEST_P(RespCommandsTest, CounterRequestsAnswerAsRedisDoes) {
  EXPECT_EQ(run({"GET", "count"}), "$1\r\n0\r\n");
  EXPECT_EQ(run({"INCR", "count"}), ":1\r\n");
  EXPECT_EQ(run({"INCRBY", "count", "10"}), ":11\r\n");
  EXPECT_EQ(run({"DECR", "count"}), ":10\r\n");
  EXPECT_EQ(run({"DECRBY", "count", "15"}), ":-5\r\n");
  EXPECT_EQ(run({"GET", "count"}), "$2\r\n-5\r\n");
  EXPECT_EQ(run({"incrby", "count", "-1"}), ":-6\r\n");
  EXPECT_EQ(run({"DecrBy", "count", "-6"}), ":0\r\n");
  EXPECT_EQ(run({"gEt", "count"}), "$1\r\n0\r\n");
  EXPECT_EQ(run({"INCRBY", "count", "0"}), ":0\r\n");
}

TEST_P(RespCommandsTest, MutationsStopAtBothEndsOfTheRange) {
  set_value(kRespMax - 1);
  EXPECT_EQ(run({"INCR", "count"}), integer(kRespMax));
  EXPECT_EQ(run({"INCR", "count"}), kOverflow);
  EXPECT_EQ(run({"INCRBY", "count", "1"}), kOverflow);
  EXPECT_EQ(run({"DECRBY", "count", "-1"}), kOverflow);
  EXPECT_EQ(run({"INCRBY", "count", "9223372036854775807"}), kOverflow);
  EXPECT_EQ(run({"INCRBY", "count", "0"}), integer(kRespMax));
  EXPECT_EQ(run({"GET", "count"}), bulk("9223372036854775807"));
  EXPECT_EQ(run({"INCRBY", "count", "-9223372036854775808"}), ":-1\r\n");
  EXPECT_EQ(run({"INCRBY", "count", "-9223372036854775807"}), integer(kRespMin));
  EXPECT_EQ(run({"DECR", "count"}), kOverflow);
  EXPECT_EQ(run({"DECRBY", "count", "1"}), kOverflow);
  EXPECT_EQ(run({"INCRBY", "count", "-9223372036854775808"}), kOverflow);
  EXPECT_EQ(run({"GET", "count"}), bulk("-9223372036854775808"));
  EXPECT_EQ(run({"DECRBY", "count", "-9223372036854775807"}), ":-1\r\n");
  EXPECT_EQ(value(), -1);
}

// Redis negates DECRBY's argument first, so its most negative one is refused whatever the value.
TEST_P(RespCommandsTest, DecrbyOfTheMostNegativeIntegerIsRefusedWhateverTheValue) {
  for (const std::int64_t start : {std::int64_t{0}, std::int64_t{-1}, kRespMin}) {
    set_value(start);
    EXPECT_EQ(run({"DECRBY", "count", "-9223372036854775808"}),
              "-ERR decrement would overflow\r\n");
    EXPECT_EQ(value(), start);
  }
  EXPECT_EQ(run({"DECRBY", "count", "1"}), kOverflow);
  set_value(-1);
  EXPECT_EQ(run({"DECRBY", "count", "9223372036854775807"}), integer(kRespMin));
}

TEST_P(RespCommandsTest, OnlyRedisStrictIntegersAreAccepted) {
  run({"INCRBY", "count", "7"});
  for (const char* n : {"+5", "05", "-0", "00", "1.5", " 5", "5 ", "", "x", "0x10", "1e3", "--5",
                        "9223372036854775808", "-9223372036854775809"}) {
    EXPECT_EQ(run({"INCRBY", "count", n}), kNotInteger) << '"' << n << '"';
    EXPECT_EQ(run({"DECRBY", "count", n}), kNotInteger) << '"' << n << '"';
  }
  // The integer is checked before the key, as Redis does.
  EXPECT_EQ(run({"INCRBY", "other", "x"}), kNotInteger);
  EXPECT_EQ(value(), 7);
}

TEST_P(RespCommandsTest, AnotherKeyGetsAnErrorNamingTheCounter) {
  const std::string no_such =
      "-ERR no such key 'other': this server holds one counter, 'count'\r\n";
  EXPECT_EQ(run({"GET", "other"}), no_such);
  EXPECT_EQ(run({"INCR", "other"}), no_such);
  EXPECT_EQ(run({"DECR", "other"}), no_such);
  EXPECT_EQ(run({"INCRBY", "other", "5"}), no_such);
  EXPECT_EQ(run({"DECRBY", "other", "5"}), no_such);
  // The key is compared exactly; a line end in it stays out of the one-line error.
  EXPECT_EQ(run({"INCR", "COUNT"}),
            "-ERR no such key 'COUNT': this server holds one counter, 'count'\r\n");
  EXPECT_EQ(run({"GET", "a\r\nb"}),
            "-ERR no such key 'a  b': this server holds one counter, 'count'\r\n");
  EXPECT_EQ(value(), 0);
}

TEST(RespCommands, TheCounterKeyIsTheOneTheOperatorNamed) {
  MemoryStore store;
  RespSettings settings;
  settings.key = "hits";
  RespClient client(settings, 1);
  EXPECT_EQ(client.run(store, {"INCR", "hits"}), ":1\r\n");
  EXPECT_EQ(client.run(store, {"INCR", "count"}),
            "-ERR no such key 'count': this server holds one counter, 'hits'\r\n");
  EXPECT_EQ(client.run(store, {"EXISTS", "hits", "count"}), ":1\r\n");
  EXPECT_EQ(client.run(store, {"TYPE", "hits"}), "+string\r\n");
  EXPECT_EQ(client.run(store, {"TYPE", "count"}), "+none\r\n");
}

TEST_P(RespCommandsTest, AWrongNumberOfArgumentsNamesTheCommandInLowerCase) {
  EXPECT_EQ(run({"GET"}), arity("get"));
  EXPECT_EQ(run({"gEt", "count", "x"}), arity("get"));
  EXPECT_EQ(run({"INCR"}), arity("incr"));
  EXPECT_EQ(run({"INCR", "count", "1"}), arity("incr"));
  EXPECT_EQ(run({"DECR"}), arity("decr"));
  EXPECT_EQ(run({"INCRBY", "count"}), arity("incrby"));
  EXPECT_EQ(run({"DECRBY", "count", "1", "2"}), arity("decrby"));
  EXPECT_EQ(run({"PING", "a", "b"}), arity("ping"));
  EXPECT_EQ(run({"ECHO"}), arity("echo"));
  EXPECT_EQ(run({"EXISTS"}), arity("exists"));
  EXPECT_EQ(run({"TYPE"}), arity("type"));
  EXPECT_EQ(run({"DBSIZE", "x"}), arity("dbsize"));
  EXPECT_EQ(run({"SELECT"}), arity("select"));
  EXPECT_EQ(run({"AUTH"}), arity("auth"));
  EXPECT_EQ(run({"WATCH"}), arity("watch"));
  EXPECT_EQ(run({"UNWATCH", "count"}), arity("unwatch"));
  EXPECT_EQ(run({"MULTI", "x"}), arity("multi"));
  EXPECT_EQ(run({"DISCARD", "x"}), arity("discard"));
  // EXEC's, as Redis, aborts a transaction there may be.
  EXPECT_EQ(run({"EXEC", "x"}),
            "-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' "
            "command\r\n");
  EXPECT_EQ(value(), 0);
}

TEST_P(RespCommandsTest, AnUnknownCommandGetsRedisTextWithItsArguments) {
  EXPECT_EQ(run({"FOO"}), "-ERR unknown command 'FOO', with args beginning with: \r\n");
  EXPECT_EQ(run({"foo", "a", "b c"}),
            "-ERR unknown command 'foo', with args beginning with: 'a' 'b c' \r\n");
  EXPECT_EQ(run({""}), "-ERR unknown command '', with args beginning with: \r\n");
  EXPECT_EQ(run({"GETT", "count"}),
            "-ERR unknown command 'GETT', with args beginning with: 'count' \r\n");
  // Names are found whole, in any case: no prefix, no longer word, no byte that only folds
  // to a letter, no name padded with a NUL or a space.
  EXPECT_EQ(run({"GE", "count"}),
            "-ERR unknown command 'GE', with args beginning with: 'count' \r\n");
  EXPECT_EQ(run({"unwatchx"}), "-ERR unknown command 'unwatchx', with args beginning with: \r\n");
  EXPECT_EQ(run({"commandxx"}), "-ERR unknown command 'commandxx', with args beginning with: \r\n");
  EXPECT_EQ(run({"g\x05t", "count"}),
            "-ERR unknown command 'g\x05t', with args beginning with: 'count' \r\n");
  EXPECT_EQ(run({"get ", "count"}),
            "-ERR unknown command 'get ', with args beginning with: 'count' \r\n");
  EXPECT_EQ(run({std::string_view("ping\0", 5)}).substr(0, 22), "-ERR unknown command '");
  EXPECT_EQ(run({"GeT", "count"}), "$1\r\n0\r\n");
  EXPECT_EQ(run({"PiNg"}), "+PONG\r\n");
  // Line ends become spaces.
  EXPECT_EQ(run({"F\r\nO", "x\ny"}),
            "-ERR unknown command 'F  O', with args beginning with: 'x y' \r\n");
  EXPECT_EQ(value(), 0);
}

// Redis's cut: the name at 128 bytes; the arguments while their text is under 128 bytes, each
// cut to what is left of the 128.
TEST_P(RespCommandsTest, AnUnknownCommandsTextIsCutAt128Bytes) {
  const std::string name(200, 'N');
  const std::string a(100, 'a');
  const std::string b(100, 'b');
  EXPECT_EQ(run({name, a, b, "c"}), "-ERR unknown command '" + std::string(128, 'N') +
                                        "', with args beginning with: '" + a + "' '" +
                                        std::string(128 - 103, 'b') + "' \r\n");
  const std::string long_arg(300, 'x');
  EXPECT_EQ(
      run({"FOO", long_arg, "next"}),
      "-ERR unknown command 'FOO', with args beginning with: '" + std::string(128, 'x') + "' \r\n");
  // 31 arguments of one byte make 124 bytes of text ("'z' " each): the 32nd still goes in,
  // the 33rd not.
  std::vector<std::string> words{"FOO"};
  for (int i = 0; i < 50; ++i) words.emplace_back("z");
  const std::vector<std::string_view> views(words.begin(), words.end());
  std::string out;
  execute_resp(views, *store_, a_.connection, a_.resp, out);
  std::string args;
  for (int i = 0; i < 32; ++i) args += "'z' ";
  EXPECT_EQ(out, "-ERR unknown command 'FOO', with args beginning with: " + args + "\r\n");
}

TEST_P(RespCommandsTest, ConnectionCommandsAnswerWhatClientsExpect) {
  EXPECT_EQ(run({"PING"}), "+PONG\r\n");
  EXPECT_EQ(run({"ping", "hello"}), bulk("hello"));
  EXPECT_EQ(run({"ECHO", "a\r\nb"}), bulk("a\r\nb"));
  EXPECT_EQ(run({"ECHO", ""}), "$0\r\n\r\n");
  EXPECT_EQ(run({"EXISTS", "count"}), ":1\r\n");
  EXPECT_EQ(run({"EXISTS", "count", "other", "count"}), ":2\r\n");
  EXPECT_EQ(run({"EXISTS", "other"}), ":0\r\n");
  EXPECT_EQ(run({"TYPE", "count"}), "+string\r\n");
  EXPECT_EQ(run({"TYPE", "other"}), "+none\r\n");
  EXPECT_EQ(run({"DBSIZE"}), ":1\r\n");
  EXPECT_EQ(run({"SELECT", "0"}), "+OK\r\n");
  EXPECT_EQ(run({"SELECT", "1"}), "-ERR DB index is out of range\r\n");
  EXPECT_EQ(run({"SELECT", "-1"}), "-ERR DB index is out of range\r\n");
  EXPECT_EQ(run({"SELECT", "x"}), kNotInteger);
  EXPECT_EQ(run({"SELECT", "00"}), kNotInteger);
  EXPECT_EQ(run({"QUIT"}), "+OK\r\n");
  EXPECT_EQ(a_.last.kind, RespOutcome::Kind::kQuit);
  EXPECT_EQ(run({"quit", "now"}), "+OK\r\n");  // Redis takes any arguments
  EXPECT_EQ(a_.last.kind, RespOutcome::Kind::kQuit);
  EXPECT_EQ(value(), 0);
}

TEST_P(RespCommandsTest, InfoClientAndCommandAnswerWhatClientsReadOnConnecting) {
  settings_.version = "9.8.7";
  const std::string info = run({"INFO"});
  ASSERT_EQ(info[0], '$');
  const std::size_t body = info.find("\r\n") + 2;
  EXPECT_EQ(info.substr(1, body - 3), std::to_string(info.size() - body - 2));
  for (const char* line : {"redis_version:7.0.0\r\n", "count_server_version:9.8.7\r\n",
                           "loading:0\r\n", "role:master\r\n"}) {
    EXPECT_NE(info.find(line), std::string::npos) << line;
  }
  EXPECT_EQ(run({"INFO", "persistence"}), bulk("# Persistence\r\nloading:0\r\n"));
  EXPECT_EQ(run({"CLIENT", "ID"}), ":1\r\n");
  EXPECT_EQ(other({"CLIENT", "ID"}), ":2\r\n");
  EXPECT_EQ(run({"CLIENT", "GETNAME"}), "$-1\r\n");
  EXPECT_EQ(run({"CLIENT", "SETNAME", "a b"}),
            "-ERR Client names cannot contain spaces, newlines or special characters.\r\n");
  EXPECT_EQ(run({"CLIENT", "SETNAME", "worker"}), "+OK\r\n");
  EXPECT_EQ(run({"client", "getname"}), bulk("worker"));
  EXPECT_EQ(run({"CLIENT", "SETINFO", "lib-name", "redis-py"}), "+OK\r\n");
  EXPECT_EQ(run({"CLIENT", "SETINFO", "LIB-VER", "5.0"}), "+OK\r\n");
  EXPECT_EQ(run({"CLIENT", "SETINFO", "other", "x"}), "-ERR Unrecognized option 'other'\r\n");
  EXPECT_EQ(run({"CLIENT", "ID", "x"}), arity("client|id"));
  EXPECT_EQ(run({"CLIENT", "FOO"}), "-ERR unknown subcommand 'FOO'. Try CLIENT HELP.\r\n");
  EXPECT_EQ(run({"COMMAND", "COUNT"}), ":22\r\n");
  EXPECT_EQ(run({"COMMAND", "DOCS"}), "*0\r\n");
  EXPECT_EQ(run({"COMMAND", "INFO", "nope"}), "*1\r\n*-1\r\n");
  EXPECT_EQ(run({"COMMAND", "FOO"}), "-ERR unknown subcommand 'FOO'. Try COMMAND HELP.\r\n");
  run({"HELLO", "3"});
  EXPECT_EQ(run({"COMMAND", "DOCS"}), "%0\r\n");
  EXPECT_EQ(run({"CLIENT", "SETNAME", "x"}), "+OK\r\n");
  a_.resp.name.clear();
  EXPECT_EQ(run({"CLIENT", "GETNAME"}), "_\r\n");
}

// --- Authentication ---

class RespAuthTest : public ::testing::Test {
 protected:
  std::string run(std::initializer_list<std::string_view> words) {
    return client_.run(store_, words);
  }

  const ServerPassword password_{"s3cret!"};
  MemoryStore store_;
  RespSettings settings_;
  RespClient client_{settings_, 9, &password_};
};

// Before any other check, even the command's existence or its arguments (unlike Redis).
TEST_F(RespAuthTest, BeforeAuthEveryRequestButAuthHelloAuthAndQuitGetsNoauth) {
  for (const auto& words :
       std::vector<std::vector<std::string_view>>{{"GET", "count"},
                                                  {"INCR", "count"},
                                                  {"INCRBY", "count", "5"},
                                                  {"DECR", "count"},
                                                  {"DECRBY", "count", "x"},
                                                  {"GET"},
                                                  {"INCR", "other"},
                                                  {"FOO", "bar"},
                                                  {"PING"},
                                                  {"ECHO", "x"},
                                                  {"EXISTS", "count"},
                                                  {"TYPE", "count"},
                                                  {"DBSIZE"},
                                                  {"SELECT", "0"},
                                                  {"INFO"},
                                                  {"COMMAND"},
                                                  {"CLIENT", "ID"},
                                                  {"MULTI"},
                                                  {"EXEC"},
                                                  {"DISCARD"},
                                                  {"WATCH", "count"},
                                                  {"UNWATCH"},
                                                  {"HELLO"},
                                                  {"HELLO", "3"},
                                                  {"HELLO", "3", "SETNAME", "x"}}) {
    std::string out;
    execute_resp(words, store_, client_.connection, client_.resp, out);
    EXPECT_EQ(out, kNoAuth) << words[0];
  }
  EXPECT_EQ(client_.connection.refused_before_auth, 25U);
  EXPECT_EQ(store_.get().value, 0);
  EXPECT_FALSE(client_.resp.in_multi);
  EXPECT_EQ(client_.resp.version, RespVersion::k2);
  EXPECT_EQ(run({"QUIT"}), "+OK\r\n");
  EXPECT_EQ(client_.last.kind, RespOutcome::Kind::kQuit);
}

TEST_F(RespAuthTest, AuthWithThePasswordOpensTheConnection) {
  EXPECT_EQ(run({"AUTH", "wrong"}), kWrongPass);
  EXPECT_EQ(client_.connection.wrong_passwords, 1U);
  EXPECT_EQ(run({"INCR", "count"}), kNoAuth);
  EXPECT_EQ(run({"auth", "s3cret!"}), "+OK\r\n");
  EXPECT_TRUE(client_.connection.authenticated);
  EXPECT_EQ(run({"INCR", "count"}), ":1\r\n");
  EXPECT_EQ(run({"AUTH", "wrong"}), kWrongPass);  // does not take it back
  EXPECT_EQ(run({"GET", "count"}), "$1\r\n1\r\n");
}

TEST_F(RespAuthTest, AuthAsTheDefaultUserOnly) {
  EXPECT_EQ(run({"AUTH", "other", "s3cret!"}), kWrongPass);
  EXPECT_EQ(run({"AUTH", "default", "wrong"}), kWrongPass);
  EXPECT_EQ(run({"AUTH", "a", "b", "c"}), "-ERR syntax error\r\n");
  EXPECT_EQ(run({"AUTH"}), arity("auth"));
  EXPECT_FALSE(client_.connection.authenticated);
  EXPECT_EQ(client_.connection.wrong_passwords, 2U);  // the well-formed ones count as guesses
  EXPECT_EQ(run({"AUTH", "default", "s3cret!"}), "+OK\r\n");
  EXPECT_TRUE(client_.connection.authenticated);
}

TEST_F(RespAuthTest, HelloWithAuthOpensTheConnection) {
  EXPECT_EQ(run({"HELLO", "3", "AUTH", "default", "wrong"}), kWrongPass);
  EXPECT_EQ(client_.resp.version, RespVersion::k2);  // a refused HELLO changes nothing
  EXPECT_EQ(run({"HELLO", "3", "AUTH", "other", "s3cret!"}), kWrongPass);
  const std::string map = run({"HELLO", "3", "AUTH", "default", "s3cret!"});
  EXPECT_EQ(map.substr(0, 4), "%7\r\n");
  EXPECT_TRUE(client_.connection.authenticated);
  EXPECT_EQ(client_.resp.version, RespVersion::k3);
  EXPECT_EQ(run({"INCR", "count"}), ":1\r\n");
}

TEST(RespAuthWithoutPassword, AuthAnswersAsRedisWithoutAPassword) {
  MemoryStore store;
  RespSettings settings;
  RespClient client(settings, 1);
  EXPECT_EQ(client.run(store, {"AUTH", "x"}),
            "-ERR AUTH <password> called without any password configured for the default user. "
            "Are you sure your configuration is correct?\r\n");
  EXPECT_EQ(client.run(store, {"AUTH", "default", "anything"}), "+OK\r\n");
  EXPECT_EQ(client.run(store, {"AUTH", "other", "anything"}), kWrongPass);
  EXPECT_EQ(client.run(store, {"HELLO", "2", "AUTH", "default", "anything"}).substr(0, 5),
            "*14\r\n");
  EXPECT_EQ(client.connection.wrong_passwords, 1U);
  EXPECT_EQ(client.run(store, {"INCR", "count"}), ":1\r\n");
}

// --- HELLO ---

TEST_P(RespCommandsTest, HelloAnswersTheServerMapInTheVersionAsked) {
  const std::string fields_after_proto =
      "$2\r\nid\r\n:1\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"
      "$7\r\nmodules\r\n*0\r\n";
  const std::string head =
      "$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.0.0\r\n"
      "$5\r\nproto\r\n";
  EXPECT_EQ(run({"HELLO"}), "*14\r\n" + head + ":2\r\n" + fields_after_proto);
  EXPECT_EQ(run({"HELLO", "3"}), "%7\r\n" + head + ":3\r\n" + fields_after_proto);
  EXPECT_EQ(a_.resp.version, RespVersion::k3);
  EXPECT_EQ(run({"HELLO"}), "%7\r\n" + head + ":3\r\n" + fields_after_proto);  // stays
  EXPECT_EQ(run({"hello", "2"}), "*14\r\n" + head + ":2\r\n" + fields_after_proto);
  EXPECT_EQ(a_.resp.version, RespVersion::k2);
}

TEST_P(RespCommandsTest, AWrongHelloGetsRedisErrorAndChangesNothing) {
  EXPECT_EQ(run({"HELLO", "4"}), "-NOPROTO unsupported protocol version\r\n");
  EXPECT_EQ(run({"HELLO", "1"}), "-NOPROTO unsupported protocol version\r\n");
  EXPECT_EQ(run({"HELLO", "x"}), "-ERR Protocol version is not an integer or out of range\r\n");
  EXPECT_EQ(run({"HELLO", "+3"}), "-ERR Protocol version is not an integer or out of range\r\n");
  EXPECT_EQ(run({"HELLO", "3", "FOO"}), "-ERR Syntax error in HELLO option 'FOO'\r\n");
  EXPECT_EQ(run({"HELLO", "3", "AUTH", "default"}), "-ERR Syntax error in HELLO option 'AUTH'\r\n");
  EXPECT_EQ(run({"HELLO", "3", "SETNAME"}), "-ERR Syntax error in HELLO option 'SETNAME'\r\n");
  EXPECT_EQ(run({"HELLO", "3", "SETNAME", "a b"}),
            "-ERR Client names cannot contain spaces, newlines or special characters.\r\n");
  EXPECT_EQ(a_.resp.version, RespVersion::k2);
  EXPECT_TRUE(a_.resp.name.empty());
  EXPECT_EQ(run({"HELLO", "3", "SETNAME", "worker-1"}).substr(0, 4), "%7\r\n");
  EXPECT_EQ(a_.resp.name, "worker-1");
}

// --- Transactions ---

TEST_P(RespCommandsTest, ExecRunsTheQueuedRequestsAndAnswersTheirRepliesInOrder) {
  EXPECT_EQ(run({"MULTI"}), "+OK\r\n");
  EXPECT_EQ(run({"INCR", "count"}), "+QUEUED\r\n");
  EXPECT_EQ(run({"GET", "count"}), "+QUEUED\r\n");
  EXPECT_EQ(run({"INCRBY", "count", "5"}), "+QUEUED\r\n");
  EXPECT_EQ(run({"PING"}), "+QUEUED\r\n");
  EXPECT_EQ(run({"DECRBY", "count", "2"}), "+QUEUED\r\n");
  EXPECT_EQ(run({"ECHO", "e"}), "+QUEUED\r\n");
  EXPECT_EQ(run({"EXISTS", "count"}), "+QUEUED\r\n");
  EXPECT_EQ(run({"TYPE", "other"}), "+QUEUED\r\n");
  EXPECT_EQ(run({"DBSIZE"}), "+QUEUED\r\n");
  EXPECT_EQ(run({"SELECT", "0"}), "+QUEUED\r\n");
  EXPECT_EQ(run({"UNWATCH"}), "+QUEUED\r\n");
  EXPECT_EQ(run({"DECR", "count"}), "+QUEUED\r\n");
  EXPECT_EQ(value(), 0);  // nothing runs before EXEC
  EXPECT_EQ(other({"GET", "count"}), "$1\r\n0\r\n");
  EXPECT_EQ(run({"EXEC"}),
            "*12\r\n:1\r\n$1\r\n1\r\n:6\r\n+PONG\r\n:4\r\n$1\r\ne\r\n:1\r\n+none\r\n:1\r\n+OK\r\n"
            "+OK\r\n:3\r\n");
  EXPECT_EQ(value(), 3);
  EXPECT_EQ(run({"EXEC"}), "-ERR EXEC without MULTI\r\n");
  EXPECT_EQ(run({"INCR", "count"}), ":4\r\n");  // no longer queued
}

TEST_P(RespCommandsTest, AnOverflowingStepGetsItsErrorWhileTheOthersRun) {
  set_value(kRespMax - 1);
  run({"MULTI"});
  run({"INCR", "count"});
  run({"INCR", "count"});
  run({"INCRBY", "count", "-9223372036854775807"});
  run({"DECRBY", "count", "9223372036854775807"});
  run({"DECRBY", "count", "1"});
  run({"GET", "count"});
  EXPECT_EQ(run({"EXEC"}), "*6\r\n" + integer(kRespMax) + kOverflow + ":0\r\n" +
                               integer(-kRespMax) + integer(kRespMin) +
                               bulk("-9223372036854775808"));
  EXPECT_EQ(value(), kRespMin);
}

// Errors Redis finds only when the request runs are queued, and answered in EXEC's array.
TEST_P(RespCommandsTest, RequestsThatFailWhenRunAreQueuedAndGetTheirErrorInExec) {
  run({"MULTI"});
  EXPECT_EQ(run({"INCR", "other"}), "+QUEUED\r\n");
  EXPECT_EQ(run({"INCRBY", "count", "abc"}), "+QUEUED\r\n");
  EXPECT_EQ(run({"DECRBY", "count", "-9223372036854775808"}), "+QUEUED\r\n");
  EXPECT_EQ(run({"SELECT", "1"}), "+QUEUED\r\n");
  EXPECT_EQ(run({"INCR", "count"}), "+QUEUED\r\n");
  EXPECT_EQ(run({"EXEC"}),
            "*5\r\n-ERR no such key 'other': this server holds one counter, 'count'\r\n" +
                kNotInteger + "-ERR decrement would overflow\r\n" +
                "-ERR DB index is out of range\r\n:1\r\n");
}

TEST_P(RespCommandsTest, ARequestRefusedWhileQueuingAbortsTheTransaction) {
  for (const auto& refused : std::vector<std::vector<std::string_view>>{
           {"FOO"}, {"INCR"}, {"GET", "count", "x"}, {"INCRBY", "count"}, {"ECHO"}}) {
    EXPECT_EQ(run({"MULTI"}), "+OK\r\n");
    EXPECT_EQ(run({"INCR", "count"}), "+QUEUED\r\n");
    std::string out;
    execute_resp(refused, *store_, a_.connection, a_.resp, out);
    EXPECT_EQ(out.substr(0, 5), "-ERR ") << refused[0];
    EXPECT_EQ(run({"INCR", "count"}), "+QUEUED\r\n");
    EXPECT_EQ(run({"EXEC"}), kExecAbort) << refused[0];
    EXPECT_EQ(value(), 0);
    EXPECT_EQ(run({"EXEC"}), "-ERR EXEC without MULTI\r\n");
  }
}

TEST_P(RespCommandsTest, NestedMultiAndWatchInsideMultiAreErrorsThatAbortNothing) {
  run({"MULTI"});
  run({"INCR", "count"});
  EXPECT_EQ(run({"MULTI"}), "-ERR MULTI calls can not be nested\r\n");
  EXPECT_EQ(run({"WATCH", "count"}), "-ERR WATCH inside MULTI is not allowed\r\n");
  run({"INCR", "count"});
  EXPECT_EQ(run({"EXEC"}), "*2\r\n:1\r\n:2\r\n");
}

TEST_P(RespCommandsTest, ExecAndDiscardWithoutMultiAreErrors) {
  EXPECT_EQ(run({"EXEC"}), "-ERR EXEC without MULTI\r\n");
  EXPECT_EQ(run({"DISCARD"}), "-ERR DISCARD without MULTI\r\n");
}

TEST_P(RespCommandsTest, DiscardDropsTheQueuedRequests) {
  run({"MULTI"});
  run({"INCR", "count"});
  run({"FOO"});
  EXPECT_EQ(run({"DISCARD"}), "+OK\r\n");
  EXPECT_EQ(value(), 0);
  EXPECT_EQ(run({"DISCARD"}), "-ERR DISCARD without MULTI\r\n");
  // A new transaction starts clean: the refused request of the last one is forgotten too.
  run({"MULTI"});
  run({"INCR", "count"});
  EXPECT_EQ(run({"EXEC"}), "*1\r\n:1\r\n");
}

TEST_P(RespCommandsTest, ExecWithArgumentsAbortsTheTransaction) {
  run({"MULTI"});
  run({"INCR", "count"});
  EXPECT_EQ(run({"EXEC", "now"}),
            "-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' "
            "command\r\n");
  EXPECT_EQ(value(), 0);
  EXPECT_EQ(run({"EXEC"}), "-ERR EXEC without MULTI\r\n");
}

TEST_P(RespCommandsTest, QuitInsideMultiIsNotQueued) {
  run({"MULTI"});
  EXPECT_EQ(run({"QUIT"}), "+OK\r\n");
  EXPECT_EQ(a_.last.kind, RespOutcome::Kind::kQuit);
}

TEST_P(RespCommandsTest, ATransactionHoldsAtMostAThousandRequests) {
  run({"MULTI"});
  for (std::size_t i = 0; i < kMaxQueuedRequests; ++i) {
    ASSERT_EQ(run({"INCR", "count"}), "+QUEUED\r\n") << i;
  }
  EXPECT_EQ(run({"INCR", "count"}),
            "-ERR a transaction holds at most 1000 requests and 64 KiB of them\r\n");
  EXPECT_EQ(run({"EXEC"}), kExecAbort);
  EXPECT_EQ(value(), 0);
  EXPECT_TRUE(a_.resp.queued.empty());
  // Exactly the limit runs.
  run({"MULTI"});
  for (std::size_t i = 0; i < kMaxQueuedRequests; ++i) run({"INCR", "count"});
  const std::string replies = run({"EXEC"});
  EXPECT_EQ(replies.substr(0, 7), "*1000\r\n");
  EXPECT_EQ(value(), 1000);
}

TEST_P(RespCommandsTest, ATransactionHoldsAtMost64KiBOfOtherRequests) {
  const std::string big(4000, 'e');
  run({"MULTI"});
  std::size_t queued = 0;
  std::string reply;
  for (; queued < 20; ++queued) {
    reply = run({"ECHO", big});
    if (reply != "+QUEUED\r\n") break;
  }
  EXPECT_EQ(queued, kMaxQueuedBytes / (big.size() + 4));
  EXPECT_EQ(reply, "-ERR a transaction holds at most 1000 requests and 64 KiB of them\r\n");
  EXPECT_EQ(run({"EXEC"}), kExecAbort);
}

// --- WATCH ---

TEST_P(RespCommandsTest, ExecAbortsAfterAMutationByAnotherConnection) {
  EXPECT_EQ(run({"WATCH", "count"}), "+OK\r\n");
  EXPECT_EQ(other({"INCR", "count"}), ":1\r\n");
  run({"MULTI"});
  run({"INCR", "count"});
  EXPECT_EQ(run({"EXEC"}), "*-1\r\n");
  EXPECT_EQ(value(), 1);
}

TEST_P(RespCommandsTest, EvenAMutationThatAddsZeroOrIsUndoneCounts) {
  run({"WATCH", "count"});
  EXPECT_EQ(other({"INCRBY", "count", "0"}), ":0\r\n");
  run({"MULTI"});
  run({"INCR", "count"});
  EXPECT_EQ(run({"EXEC"}), "*-1\r\n");
  run({"WATCH", "count"});
  other({"INCR", "count"});
  other({"DECR", "count"});
  run({"MULTI"});
  EXPECT_EQ(run({"EXEC"}), "*-1\r\n");
  EXPECT_EQ(value(), 0);
}

TEST_P(RespCommandsTest, AMutationOfTheLineProtocolCounts) {
  run({"WATCH", "count"});
  ConnectionState line_client;
  EXPECT_EQ(execute_line("add 0", *store_, line_client).kind, Reply::Kind::kOk);
  run({"MULTI"});
  EXPECT_EQ(run({"EXEC"}), "*-1\r\n");
}

TEST_P(RespCommandsTest, ItsOwnMutationCountsToo) {
  run({"WATCH", "count"});
  run({"INCR", "count"});
  run({"MULTI"});
  run({"INCR", "count"});
  EXPECT_EQ(run({"EXEC"}), "*-1\r\n");
  EXPECT_EQ(value(), 1);
}

TEST_P(RespCommandsTest, RefusedMutationsAndReadsDoNotCount) {
  set_value(kRespMax);
  run({"WATCH", "count"});
  EXPECT_EQ(other({"INCR", "count"}), kOverflow);
  EXPECT_EQ(other({"INCRBY", "count", "x"}), kNotInteger);
  EXPECT_EQ(other({"DECRBY", "count", "-9223372036854775808"}),
            "-ERR decrement would overflow\r\n");
  EXPECT_EQ(other({"INCR", "other"}).substr(0, 16), "-ERR no such key");
  EXPECT_EQ(other({"GET", "count"}), bulk("9223372036854775807"));
  ConnectionState line_client;
  EXPECT_EQ(execute_line("add 1", *store_, line_client).kind, Reply::Kind::kErr);
  // A transaction of another connection whose steps are all refused changes nothing either.
  other({"MULTI"});
  other({"INCR", "count"});
  EXPECT_EQ(other({"EXEC"}), "*1\r\n" + kOverflow);
  run({"MULTI"});
  run({"DECR", "count"});
  EXPECT_EQ(run({"EXEC"}), "*1\r\n" + integer(kRespMax - 1));
}

TEST_P(RespCommandsTest, AnotherConnectionsTransactionCounts) {
  run({"WATCH", "count"});
  other({"MULTI"});
  other({"GET", "count"});
  other({"INCRBY", "count", "0"});
  EXPECT_EQ(other({"EXEC"}), "*2\r\n$1\r\n0\r\n:0\r\n");
  run({"MULTI"});
  EXPECT_EQ(run({"EXEC"}), "*-1\r\n");
}

TEST_P(RespCommandsTest, OnlyTheCountersKeyIsWatched) {
  EXPECT_EQ(run({"WATCH", "other", "more"}), "+OK\r\n");
  other({"INCR", "count"});
  run({"MULTI"});
  run({"INCR", "count"});
  EXPECT_EQ(run({"EXEC"}), "*1\r\n:2\r\n");
  EXPECT_EQ(run({"WATCH", "other", "count"}), "+OK\r\n");
  other({"INCR", "count"});
  run({"MULTI"});
  EXPECT_EQ(run({"EXEC"}), "*-1\r\n");
}

// A second WATCH keeps the version of the first.
TEST_P(RespCommandsTest, WatchingAgainKeepsTheFirstWatch) {
  run({"WATCH", "count"});
  other({"INCR", "count"});
  EXPECT_EQ(run({"WATCH", "count"}), "+OK\r\n");
  run({"MULTI"});
  EXPECT_EQ(run({"EXEC"}), "*-1\r\n");
}

TEST_P(RespCommandsTest, UnwatchExecDiscardAndExecabortForgetTheWatch) {
  // UNWATCH.
  run({"WATCH", "count"});
  other({"INCR", "count"});
  EXPECT_EQ(run({"UNWATCH"}), "+OK\r\n");
  run({"MULTI"});
  EXPECT_EQ(run({"EXEC"}), "*0\r\n");
  // EXEC that ran.
  run({"WATCH", "count"});
  run({"MULTI"});
  EXPECT_EQ(run({"EXEC"}), "*0\r\n");
  other({"INCR", "count"});
  run({"MULTI"});
  EXPECT_EQ(run({"EXEC"}), "*0\r\n");
  // EXEC that was aborted by the watch.
  run({"WATCH", "count"});
  other({"INCR", "count"});
  run({"MULTI"});
  EXPECT_EQ(run({"EXEC"}), "*-1\r\n");
  other({"INCR", "count"});
  run({"MULTI"});
  EXPECT_EQ(run({"EXEC"}), "*0\r\n");
  // DISCARD.
  run({"WATCH", "count"});
  run({"MULTI"});
  EXPECT_EQ(run({"DISCARD"}), "+OK\r\n");
  other({"INCR", "count"});
  run({"MULTI"});
  EXPECT_EQ(run({"EXEC"}), "*0\r\n");
  // EXECABORT.
  run({"WATCH", "count"});
  run({"MULTI"});
  run({"FOO"});
  EXPECT_EQ(run({"EXEC"}), kExecAbort);
  other({"INCR", "count"});
  run({"MULTI"});
  EXPECT_EQ(run({"EXEC"}), "*0\r\n");
  EXPECT_FALSE(a_.resp.watched.has_value());
}

TEST_P(RespCommandsTest, AnAbortedExecIsANullInRespThree) {
  run({"HELLO", "3"});
  run({"WATCH", "count"});
  other({"INCR", "count"});
  run({"MULTI"});
  EXPECT_EQ(run({"EXEC"}), "_\r\n");
}

}  // namespace
}  // namespace count

namespace count {
namespace {

// A request as a Redis client writes it.
std::string resp_bytes(std::initializer_list<std::string_view> words) {
  std::string out = "*" + std::to_string(words.size()) + "\r\n";
  for (const std::string_view word : words) {
    out += "$" + std::to_string(word.size()) + "\r\n" + std::string(word) + "\r\n";
  }
  return out;
}

// What a session does with a connection's bytes: the parser (with the server's shortcuts, or
// with none) hands each request to execute_resp with the shortcut it was taken by. Returns
// each request's reply bytes; its outcome goes to `outcomes`, its shortcut to `taken`.
std::vector<std::string> serve(const std::string& stream, const RespShortcuts* shortcuts,
                               RespClient& client, Store& store, std::vector<RespOutcome>& outcomes,
                               std::vector<RespShortcut>& taken) {
  RespParser parser(shortcuts);
  std::vector<std::string> replies;
  parser.feed(stream, [&](RespParser::Event event, std::span<const std::string_view> words) {
    EXPECT_EQ(event, RespParser::Event::kRequest);
    std::string out;
    outcomes.push_back(
        execute_resp(words, store, client.connection, client.resp, out, parser.shortcut()));
    taken.push_back(parser.shortcut());
    replies.push_back(std::move(out));
    return true;
  });
  return replies;
}

// A request taken by a shortcut skips the command's lookup and its key's check; it must
// answer exactly as the long way does in every state of the connection: before and after
// AUTH, inside MULTI, under WATCH, at both ends of the range, next to what shortcuts do not
// take.
TEST(RespShortcutsInCommands, AnswerExactlyAsTheLongWayInEveryConnectionState) {
  const std::string max = std::to_string(kRespMax);
  const std::string min = std::to_string(kRespMin);
  const std::vector<std::string> requests{
      resp_bytes({"GET", "count"}),          // NOAUTH with a password
      resp_bytes({"INCR", "count"}),         // NOAUTH
      resp_bytes({"MULTI"}),                 // NOAUTH
      resp_bytes({"DECR", "count"}),         // NOAUTH
      resp_bytes({"AUTH", "wrong"}),         // WRONGPASS
      resp_bytes({"AUTH", "s3cret!"}),       // opens the connection (ERR without a password)
      resp_bytes({"INCR", "count"}),         // 1
      resp_bytes({"INCR", "count"}),         // 2
      resp_bytes({"DECR", "count"}),         // 1
      resp_bytes({"GET", "count"}),          // "1"
      resp_bytes({"incr", "count"}),         // the long way: 2
      resp_bytes({"INCR", "other"}),         // no such key
      resp_bytes({"MULTI"}),                 //
      resp_bytes({"INCR", "count"}),         // QUEUED
      resp_bytes({"GET", "count"}),          // QUEUED
      resp_bytes({"DECR", "count"}),         // QUEUED
      resp_bytes({"EXEC"}),                  // [3, "3", 2]
      resp_bytes({"WATCH", "count"}),        //
      resp_bytes({"INCR", "count"}),         // 3: the watch sees it
      resp_bytes({"MULTI"}),                 //
      resp_bytes({"INCR", "count"}),         // QUEUED
      resp_bytes({"EXEC"}),                  // null: aborted
      resp_bytes({"INCRBY", "count", max}),  // overflow
      resp_bytes({"DECRBY", "count", "3"}),  // 0
      resp_bytes({"INCRBY", "count", max}),  // max
      resp_bytes({"INCR", "count"}),         // overflow
      resp_bytes({"GET", "count"}),          // max
      resp_bytes({"DECRBY", "count", max}),  // 0
      resp_bytes({"INCRBY", "count", min}),  // min
      resp_bytes({"DECR", "count"}),         // overflow
      resp_bytes({"GET", "count"}),          // min
      resp_bytes({"INCR", "count"}),         // min + 1
  };
  std::string stream;
  for (const std::string& request : requests) stream += request;

  const ServerPassword password{"s3cret!"};
  for (const ServerPassword* server_password :
       {&password, static_cast<const ServerPassword*>(nullptr)}) {
    SCOPED_TRACE(server_password != nullptr ? "with a password" : "without a password");
    RespSettings settings;
    settings.shortcuts = RespShortcuts(settings.key);
    MemoryStore short_store;
    MemoryStore long_store;
    RespClient short_client(settings, 1, server_password);
    RespClient long_client(settings, 2, server_password);
    std::vector<RespOutcome> short_outcomes;
    std::vector<RespOutcome> long_outcomes;
    std::vector<RespShortcut> short_taken;
    std::vector<RespShortcut> long_taken;
    const std::vector<std::string> short_replies =
        serve(stream, &settings.shortcuts, short_client, short_store, short_outcomes, short_taken);
    const std::vector<std::string> long_replies =
        serve(stream, nullptr, long_client, long_store, long_outcomes, long_taken);
    ASSERT_EQ(short_replies.size(), requests.size());
    ASSERT_EQ(long_replies.size(), requests.size());
    std::size_t shortcuts_taken = 0;
    for (std::size_t i = 0; i < requests.size(); ++i) {
      SCOPED_TRACE("request " + std::to_string(i) + ": " + requests[i]);
      EXPECT_EQ(long_taken[i], RespShortcut::kNone);
      if (short_taken[i] != RespShortcut::kNone) ++shortcuts_taken;
      EXPECT_EQ(short_replies[i], long_replies[i]);
      EXPECT_EQ(short_outcomes[i].kind, long_outcomes[i].kind);
      EXPECT_EQ(short_outcomes[i].command, long_outcomes[i].command);
      EXPECT_EQ(short_outcomes[i].seq, long_outcomes[i].seq);
      EXPECT_EQ(short_outcomes[i].reply, long_outcomes[i].reply);
      EXPECT_EQ(short_outcomes[i].reply.cause, long_outcomes[i].reply.cause);
    }
    // Every GET, INCR and DECR of "count" in capitals was taken by a shortcut.
    EXPECT_EQ(shortcuts_taken, 17U);
    EXPECT_EQ(short_store.get().value, long_store.get().value);
    // Without a password the first MULTI opens a transaction that the EXEC runs; with one,
    // the requests answer as commented.
    if (server_password == nullptr) continue;
    EXPECT_EQ(short_store.get().value, kRespMin + 1);
    EXPECT_EQ(short_replies[0], kNoAuth);
    EXPECT_EQ(short_replies[6], integer(1));
    EXPECT_EQ(short_replies[16], "*3\r\n" + integer(3) + bulk("3") + integer(2));
    EXPECT_EQ(short_replies[21], "*-1\r\n");
    EXPECT_EQ(short_replies[25], kOverflow);
    EXPECT_EQ(short_replies[26], bulk(max));
    EXPECT_EQ(short_replies[29], kOverflow);
    EXPECT_EQ(short_replies[30], bulk(min));
  }
}

}  // namespace
}  // namespace count
