// count-server against a real redis-server (docs/protocol.md, "The Redis protocol": "Replies
// are Redis 7's, byte for byte"): the same requests, sent in RESP over raw sockets to both, must
// get the same bytes back, for everything the contract says matches Redis. Left out on purpose:
// other keys' errors, HELLO, INFO, CLIENT and COMMAND (server details), SELECT of a database
// Redis has, the limits Redis lacks (4096-byte requests, 1000 queued requests), the pause after
// a wrong password. Every wait is bounded; both servers are stopped by PID.
#include <gtest/gtest.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "support/other_server.hpp"
#include "support/process.hpp"

namespace count::test {
namespace {

constexpr char kRedis[] = "/usr/bin/redis-server";
constexpr auto kReplyTimeout = std::chrono::seconds(5);

// --- RESP on the wire ---

std::string request(const std::vector<std::string>& words) {
  std::string out;
  out.append("*").append(std::to_string(words.size())).append("\r\n");
  for (const std::string& word : words) {
    out.append("$").append(std::to_string(word.size())).append("\r\n");
    out.append(word).append("\r\n");
  }
  return out;
}

// Bytes as a C string literal would show them, for failure messages.
std::string escape(std::string_view bytes, std::size_t limit = 600) {
  std::string out;
  for (const char c : bytes.substr(0, limit)) {
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c < ' ' || c > '~') {
      static constexpr char kHex[] = "0123456789abcdef";
      const auto byte = static_cast<unsigned char>(c);
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 15];
    } else {
      out += c;
    }
  }
  if (bytes.size() > limit) out += "...(" + std::to_string(bytes.size()) + " bytes)";
  return "\"" + out + "\"";
}

std::optional<std::int64_t> header_number(std::string_view text) {
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Where the reply that starts at `pos` ends, or nothing when it has not all arrived. Throws on
// bytes that are no RESP reply.
std::optional<std::size_t> reply_end(std::string_view data, std::size_t pos) {
  if (pos >= data.size()) return std::nullopt;
  const std::size_t line_end = data.find("\r\n", pos);
  if (line_end == std::string_view::npos) return std::nullopt;
  const char type = data[pos];
  std::size_t next = line_end + 2;
  switch (type) {
    case '+':
    case '-':
    case ':':
    case '_':
    case ',':
    case '#':
    case '(':
      return next;
    case '$':
    case '=':
    case '!':
    case '*':
    case '~':
    case '%':
    case '>': {
      const std::optional<std::int64_t> n = header_number(data.substr(pos + 1, line_end - pos - 1));
      if (!n) break;
      if (*n < 0) return next;
      const auto size = static_cast<std::size_t>(*n);
      if (type == '$' || type == '=' || type == '!') {
        if (data.size() < next + size + 2) return std::nullopt;
        return next + size + 2;
      }
      const std::size_t items = type == '%' ? 2 * size : size;
      for (std::size_t i = 0; i < items; ++i) {
        const std::optional<std::size_t> end = reply_end(data, next);
        if (!end) return std::nullopt;
        next = *end;
      }
      return next;
    }
    default:
      break;
  }
  throw std::runtime_error("not a RESP reply: " + escape(data.substr(pos, 40)));
}

// One connection, with what it has read and not yet handed out.
struct Connection {
  explicit Connection(std::uint16_t port) : client(Client::connect("127.0.0.1", port)) {
    client.set_receive_timeout(kReplyTimeout);
  }

  // The next `n` replies, one string each; fewer when the connection ends or the time passes.
  std::vector<std::string> read_replies(std::size_t n) {
    std::vector<std::string> replies;
    std::size_t used = 0;
    const auto deadline = std::chrono::steady_clock::now() + kReplyTimeout;
    while (replies.size() < n) {
      const std::optional<std::size_t> end = reply_end(buffer, used);
      if (end) {
        replies.push_back(buffer.substr(used, *end - used));
        used = *end;
        continue;
      }
      if (closed || std::chrono::steady_clock::now() > deadline) break;
      read_more();
    }
    buffer.erase(0, used);
    return replies;
  }

  // Everything until the server closes the connection (5 s at most).
  std::string read_to_end() {
    const auto deadline = std::chrono::steady_clock::now() + kReplyTimeout;
    while (!closed && std::chrono::steady_clock::now() < deadline) read_more();
    std::string all = std::move(buffer);
    buffer.clear();
    return all + (closed ? "<closed>" : "<still open>");
  }

  void read_more() {
    char data[16384];
    try {
      const std::size_t n = client.read_some(data, sizeof data);
      if (n == 0) closed = true;
      buffer.append(data, n);
    } catch (const ClientError&) {
      closed = true;  // a reset or the timeout: nothing more will come
    }
  }

  Client client;
  std::string buffer;
  bool closed = false;
};

// --- The two servers ---

class RespDifferentialTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(kRedis)) return;
    const std::uint16_t port = free_port();
    redis_ = new OtherServer({kRedis, "--bind", "127.0.0.1", "--port", std::to_string(port),
                              "--save", "", "--appendonly", "no", "--databases", "16"},
                             port);
    count_ = new ServerProcess({"--in-memory"});
  }
  static void TearDownTestSuite() {
    delete count_;  // stopped by PID in their destructors
    delete redis_;
    count_ = nullptr;
    redis_ = nullptr;
  }
  void SetUp() override {
    if (redis_ == nullptr) GTEST_SKIP() << "redis-server is not installed";
  }

  // count-server's value now, read on a connection of its own.
  static std::int64_t count_value() {
    Connection c(count_->port());
    c.client.send(request({"GET", "count"}));
    const std::vector<std::string> reply = c.read_replies(1);
    if (reply.size() != 1) throw std::runtime_error("count-server did not answer GET");
    const std::string& bytes = reply[0];  // "$N\r\nVALUE\r\n"
    const std::size_t start = bytes.find("\r\n") + 2;
    return header_number(std::string_view(bytes).substr(start, bytes.size() - start - 2)).value();
  }

  // Redis's counter set to count-server's (count-server has no SET: Redis follows it).
  static void align_redis() {
    Connection c(redis_->port());
    c.client.send(request({"SET", "count", std::to_string(count_value())}));
    const std::vector<std::string> reply = c.read_replies(1);
    if (reply != std::vector<std::string>{"+OK\r\n"}) throw std::runtime_error("SET failed");
  }

  static OtherServer* redis_;
  static ServerProcess* count_;
};

OtherServer* RespDifferentialTest::redis_ = nullptr;
ServerProcess* RespDifferentialTest::count_ = nullptr;

// A connection to each server, spoken to alike.
struct Pair {
  Pair(std::uint16_t redis_port, std::uint16_t count_port) : redis(redis_port), count(count_port) {}
  Connection redis;
  Connection count;
};

// Sends `bytes` to both (in the given pieces, as separate writes) and returns whether the
// `replies` replies that follow are the same, reporting the first difference.
// What the random sequences met, so that a run shows it reached the cases that matter.
struct Coverage {
  std::size_t replies = 0, overflows = 0, not_integers = 0, aborted_execs = 0, execaborts = 0,
              execs_run = 0, unknown = 0, arity = 0, closes = 0;
  void count(const std::string& reply) {
    ++replies;
    const auto has = [&](std::string_view text) { return reply.find(text) != std::string::npos; };
    overflows += has("would overflow") ? 1 : 0;
    not_integers += has("not an integer") ? 1 : 0;
    aborted_execs += reply == "*-1\r\n" ? 1 : 0;
    execaborts += has("EXECABORT") ? 1 : 0;
    execs_run += reply.size() > 2 && reply[0] == '*' && reply != "*-1\r\n" ? 1 : 0;
    unknown += has("unknown command") ? 1 : 0;
    arity += has("wrong number of arguments") ? 1 : 0;
  }
};

::testing::AssertionResult same_replies(Pair& pair, const std::vector<std::string>& requests,
                                        const std::vector<std::size_t>& pieces, std::size_t replies,
                                        bool closes, Coverage* coverage = nullptr) {
  std::string bytes;
  for (const std::string& r : requests) bytes += r;
  for (Connection* c : {&pair.redis, &pair.count}) {
    std::size_t at = 0;
    for (const std::size_t piece : pieces) {
      if (at >= bytes.size()) break;
      c->client.send(std::string_view(bytes).substr(at, piece));
      at += piece;
    }
    if (at < bytes.size()) c->client.send(std::string_view(bytes).substr(at));
  }
  std::string shown;
  for (const std::string& r : requests) shown += "\n    " + escape(r);
  if (closes) {
    const std::string redis = pair.redis.read_to_end();
    const std::string count = pair.count.read_to_end();
    if (coverage != nullptr) ++coverage->closes;
    if (redis == count) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << "requests:" << shown << "\n  redis-server: " << escape(redis)
           << "\n  count-server: " << escape(count);
  }
  const std::vector<std::string> redis = pair.redis.read_replies(replies);
  const std::vector<std::string> count = pair.count.read_replies(replies);
  for (std::size_t i = 0; i < replies; ++i) {
    const std::string r = i < redis.size() ? redis[i] : "<none>";
    const std::string c = i < count.size() ? count[i] : "<none>";
    if (coverage != nullptr) coverage->count(r);
    if (r != c) {
      return ::testing::AssertionFailure()
             << "requests:" << shown << "\n  reply " << i + 1 << " of " << replies
             << "\n  redis-server: " << escape(r) << "\n  count-server: " << escape(c);
    }
  }
  return ::testing::AssertionSuccess();
}

// --- Fixed cases: each alone, on fresh connections, from the same value ---

struct FixedCase {
  std::vector<std::string> requests;  // each one whole request's bytes
  std::size_t replies;                // how many replies they get
  bool closes = false;                // the server closes the connection after them
};

FixedCase words(std::vector<std::vector<std::string>> list) {
  FixedCase c;
  for (const auto& w : list) c.requests.push_back(request(w));
  c.replies = list.size();
  return c;
}

TEST_F(RespDifferentialTest, FixedCasesGetRedisBytes) {
  const std::string long_name(200, 'N');
  const std::string a(100, 'a');
  const std::string b(100, 'b');
  std::vector<std::string> many_args{"xyzzy"};
  for (int i = 0; i < 50; ++i) many_args.emplace_back("z");
  const std::vector<FixedCase> cases = {
      words({{"GET", "count"}, {"INCR", "count"}, {"DECR", "count"}, {"DECR", "count"}}),
      words({{"INCRBY", "count", "5"},
             {"DECRBY", "count", "7"},
             {"incrby", "count", "-3"},
             {"dEcRbY", "count", "-5"},
             {"Get", "count"}}),
      words({{"INCRBY", "count", "+5"},
             {"INCRBY", "count", "05"},
             {"INCRBY", "count", "-0"},
             {"INCRBY", "count", "1.5"},
             {"INCRBY", "count", " 5"},
             {"INCRBY", "count", "5 "},
             {"INCRBY", "count", ""},
             {"DECRBY", "count", "x"},
             {"DECRBY", "count", "0x10"},
             {"INCRBY", "count", "9223372036854775808"},
             {"DECRBY", "count", "-9223372036854775809"}}),
      words({{"INCRBY", "count", "9223372036854775807"},
             {"INCRBY", "count", "-9223372036854775807"},
             {"DECRBY", "count", "-9223372036854775808"},
             {"DECRBY", "count", "9223372036854775807"},
             {"DECR", "count"},
             {"DECR", "count"},
             {"GET", "count"},
             {"INCRBY", "count", "-9223372036854775808"},
             {"INCRBY", "count", "9223372036854775807"},
             {"INCRBY", "count", "9223372036854775807"},
             {"INCR", "count"},
             {"INCR", "count"},
             {"GET", "count"},
             {"INCRBY", "count", "-9223372036854775807"}}),
      words({{"GET"},
             {"GET", "count", "x"},
             {"INCR"},
             {"INCR", "count", "1"},
             {"DECR"},
             {"INCRBY", "count"},
             {"DECRBY", "count", "1", "2"},
             {"PING", "a", "b"},
             {"ECHO"},
             {"EXISTS"},
             {"TYPE"},
             {"TYPE", "a", "b"},
             {"DBSIZE", "x"},
             {"SELECT"},
             {"AUTH"},
             {"WATCH"},
             {"UNWATCH", "x"},
             {"MULTI", "x"},
             {"DISCARD", "x"},
             {"EXEC", "x"}}),
      words({{"FOO"},
             {"foo", "a", "b c"},
             {""},
             {"GETT", "count"},
             {"F\r\nO", "x\ny"},
             {long_name, a, b, "c"},
             {"FOO", std::string(300, 'x'), "next"},
             many_args}),
      words({{"PING"},
             {"PING", "hello"},
             {"ECHO", std::string("a\r\n\0b", 5)},
             {"ECHO", ""},
             {"EXISTS", "count"},
             {"EXISTS", "count", "other", "count"},
             {"EXISTS", "other"},
             {"TYPE", "count"},
             {"TYPE", "other"},
             {"DBSIZE"},
             {"SELECT", "0"},
             {"SELECT", "-1"},
             {"SELECT", "16"},
             {"SELECT", "x"},
             {"SELECT", "00"}}),
      words({{"AUTH", "x"}, {"AUTH", "default", "anything"}, {"AUTH", "a", "b", "c"}}),
      // CLIENT as clients use it on connecting (not ID: the numbers differ).
      words({{"CLIENT", "GETNAME"},
             {"CLIENT", "SETNAME", "worker"},
             {"client", "getname"},
             {"CLIENT", "SETNAME", "a b"},
             {"CLIENT", "SETNAME"},
             {"CLIENT", "GETNAME", "x"},
             {"CLIENT", "ID", "x"},
             {"CLIENT", "FOO"},
             {"CLIENT"},
             {"COMMAND", "FOO"}}),
      // Transactions.
      words({{"MULTI"},
             {"INCR", "count"},
             {"GET", "count"},
             {"INCRBY", "count", "abc"},
             {"PING"},
             {"ECHO", "e"},
             {"EXISTS", "count"},
             {"TYPE", "count"},
             {"DBSIZE"},
             {"SELECT", "0"},
             {"UNWATCH"},
             {"DECRBY", "count", "-9223372036854775808"},
             {"EXEC"},
             {"GET", "count"}}),
      words({{"MULTI"}, {"INCR", "count"}, {"FOO"}, {"INCR", "count"}, {"EXEC"}, {"GET", "count"}}),
      words({{"MULTI"}, {"INCR", "count"}, {"INCRBY", "count"}, {"EXEC"}, {"EXEC"}}),
      words({{"MULTI"},
             {"INCR", "count"},
             {"MULTI"},
             {"WATCH", "count"},
             {"INCR", "count"},
             {"EXEC"}}),
      words({{"MULTI"}, {"INCR", "count"}, {"DISCARD"}, {"DISCARD"}, {"EXEC"}, {"GET", "count"}}),
      words({{"MULTI"}, {"INCR", "count"}, {"EXEC", "now"}, {"EXEC"}}),
      words({{"INCRBY", "count", "9223372036854775806"},
             {"MULTI"},
             {"INCR", "count"},
             {"INCR", "count"},
             {"DECR", "count"},
             {"GET", "count"},
             {"EXEC"},
             {"DECRBY", "count", "9223372036854775806"}}),
      words({{"WATCH", "count"}, {"WATCH", "other"}, {"UNWATCH"}, {"MULTI"}, {"EXEC"}}),
      words({{"WATCH", "count"}, {"INCR", "count"}, {"MULTI"}, {"INCR", "count"}, {"EXEC"}}),
      words({{"WATCH", "count"},
             {"INCRBY", "count", "x"},
             {"GET", "count"},
             {"MULTI"},
             {"INCR", "count"},
             {"EXEC"}}),
      // Empty arrays get no reply.
      {{"*0\r\n", request({"PING"}), "*-1\r\n", request({"PING", "x"})}, 2},
      // Protocol errors: the error, then the connection closes.
      {{request({"PING"}), "*1\r\n+PING\r\n"}, 0, true},
      {{request({"PING"}), "*2\r\n$4\r\nECHO\r\n:1\r\n"}, 0, true},
      {{"*x\r\n"}, 0, true},
      {{"*01\r\n"}, 0, true},
      {{"*1\r\n$x\r\n"}, 0, true},
      {{"*1\r\n$-1\r\n"}, 0, true},
      {{"*1\r\n$04\r\nPING\r\n"}, 0, true},
      {{request({"INCR", "count"}), request({"QUIT"}), request({"INCR", "count"})}, 0, true},
      {{request({"MULTI"}), request({"INCR", "count"}), request({"QUIT"})}, 0, true},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const FixedCase& c = cases[i];
    align_redis();
    Pair pair(redis_->port(), count_->port());
    EXPECT_TRUE(same_replies(pair, c.requests, {}, c.replies, c.closes)) << "case " << i;
  }
}

// Redis writes the unknown command's name and arguments with printf's %s, which stops at a NUL
// byte; count-server copies the whole word. Found by the random sequences (seed 3889867889):
// the contract ("Redis's -ERR unknown command 'X', with args beginning with: ...") makes this a
// count-server bug, kept here until it is fixed.
TEST_F(RespDifferentialTest, UnknownCommandTextStopsAtANulByteAsRedisDoes) {
  using namespace std::string_literals;
  const std::vector<FixedCase> cases = {
      words({{"GETT", "r\0"s}}),
      words({{"FO\0O"s, "x"}}),
      words({{"FO\0O"s}}),
      words({{"FOO", "\0abc"s, "de\0"s, "xyz"}}),
      // The 128-byte cut counts what is written, so the NUL also changes where it falls.
      words({{"FOO", std::string(60, 'a') + "\0"s + std::string(60, 'a'), std::string(100, 'b')}}),
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    align_redis();
    Pair pair(redis_->port(), count_->port());
    EXPECT_TRUE(same_replies(pair, cases[i].requests, {}, cases[i].replies, false)) << "case " << i;
  }
}

// WATCH across two connections: the other's mutation, even of 0, makes EXEC abort; a refused
// one, or a read, does not.
TEST_F(RespDifferentialTest, WatchSeesOtherConnectionsMutationsAsRedisDoes) {
  const std::vector<std::vector<std::string>> others = {
      {"INCR", "count"},
      {"INCRBY", "count", "0"},
      {"DECRBY", "count", "0"},
      {"GET", "count"},
      {"INCRBY", "count", "x"},
      {"PING"},
      {"INCRBY", "count", "9223372036854775807"},
      {"DECRBY", "count", "-9223372036854775808"}};
  for (const auto& mutation : others) {
    for (const bool unwatch : {false, true}) {
      align_redis();
      Pair a(redis_->port(), count_->port());
      Pair b(redis_->port(), count_->port());
      EXPECT_TRUE(same_replies(a, {request({"WATCH", "count"})}, {}, 1, false));
      EXPECT_TRUE(same_replies(b, {request(mutation)}, {}, 1, false)) << mutation[0];
      if (unwatch) {
        EXPECT_TRUE(same_replies(a, {request({"UNWATCH"})}, {}, 1, false));
      }
      EXPECT_TRUE(same_replies(a,
                               {request({"MULTI"}), request({"INCR", "count"}),
                                request({"GET", "count"}), request({"EXEC"})},
                               {}, 4, false))
          << mutation[0] << (unwatch ? " then UNWATCH" : "");
    }
  }
}

// --- Random sequences ---

// Random requests of every kind the contract says matches Redis.
class Generator {
 public:
  explicit Generator(std::uint64_t seed) : rng_(seed) {}

  std::size_t below(std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
  }
  bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  template <typename T>
  const T& pick(const std::vector<T>& list) {
    return list[below(list.size())];
  }

  // A command name in a random case.
  std::string name(std::string_view lower) {
    std::string out(lower);
    for (char& c : out) {
      if (chance(0.3)) c = static_cast<char>(c - 32);
    }
    return out;
  }

  std::string number(std::int64_t value_now) {
    constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
    constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
    switch (below(6)) {
      case 0:
      case 1:
        return std::to_string(static_cast<std::int64_t>(below(2001)) - 1000);
      case 2:
        return pick(std::vector<std::string>{"9223372036854775807", "-9223372036854775808",
                                             "-9223372036854775807", "4611686018427387904",
                                             "-4611686018427387904", "0", "1", "-1"});
      case 3: {  // to an end of the range, give or take a few
        const std::int64_t slack = static_cast<std::int64_t>(below(5)) - 2;
        std::int64_t delta = 0;
        const std::int64_t end = chance(0.5) ? kMax : kMin;
        if (__builtin_sub_overflow(end, value_now, &delta) ||
            __builtin_add_overflow(delta, slack, &delta)) {
          return "1";
        }
        return std::to_string(delta);
      }
      case 4:
        return pick(std::vector<std::string>{
            "+5", "05", "-0", "00", "1.5", " 5", "5 ", "", "x", "0x10", "1e3", "--5",
            "9223372036854775808", "-9223372036854775809", "18446744073709551616", "5\r\n", "\t5"});
      default:
        return std::to_string(static_cast<std::int64_t>(rng_()));
    }
  }

  // One request's words. `value_now` is the counter's value when asked, for the range ends.
  std::vector<std::string> words(std::int64_t value_now) {
    switch (below(20)) {
      case 0:
      case 1:
      case 2:
        return {name("get"), "count"};
      case 3:
      case 4:
        return {name(chance(0.5) ? "incr" : "decr"), "count"};
      case 5:
      case 6:
      case 7:
      case 8:
        return {name(chance(0.5) ? "incrby" : "decrby"), "count", number(value_now)};
      case 9:  // a wrong number of arguments
        return pick(std::vector<std::vector<std::string>>{{"GET"},
                                                          {"GET", "count", "x"},
                                                          {"INCR"},
                                                          {"DECR", "count", "1"},
                                                          {"INCRBY", "count"},
                                                          {"DECRBY", "count", "1", "2"},
                                                          {"ECHO"},
                                                          {"EXISTS"},
                                                          {"TYPE"},
                                                          {"DBSIZE", "x"},
                                                          {"SELECT"},
                                                          {"PING", "a", "b"},
                                                          {"WATCH"},
                                                          {"UNWATCH", "x"},
                                                          {"MULTI", "x"},
                                                          {"DISCARD", "x"},
                                                          {"AUTH"}});
      case 10: {  // an unknown command
        std::vector<std::string> w{pick(std::vector<std::string>{
            "xyzzy", "GETT", "INCRR", "decrbyy", "", "count", std::string(150, 'q')})};
        const std::size_t args = below(6);
        for (std::size_t i = 0; i < args; ++i) {
          w.push_back(chance(0.2) ? std::string(below(200), 'a') : random_text());
          // Not a NUL byte: that mismatch is known, and kept in
          // UnknownCommandTextStopsAtANulByteAsRedisDoes; here it would hide any other.
          std::replace(w.back().begin(), w.back().end(), '\0', '0');
        }
        return w;
      }
      case 11:
        return chance(0.5) ? std::vector<std::string>{name("ping")}
                           : std::vector<std::string>{name("ping"), random_text()};
      case 12:
        return {name("echo"), random_text()};
      case 13: {
        std::vector<std::string> w{name(chance(0.5) ? "exists" : "type")};
        const std::size_t keys = w[0].size() == 4 ? 1 : 1 + below(3);
        for (std::size_t i = 0; i < keys; ++i) w.push_back(chance(0.6) ? "count" : "other");
        return w;
      }
      case 14:
        return chance(0.5)
                   ? std::vector<std::string>{name("dbsize")}
                   : std::vector<std::string>{
                         name("select"), pick(std::vector<std::string>{"0", "-1", "16", "x", "00",
                                                                       "99999999999999999999"})};
      case 15:
      case 16:
        return {name(pick(std::vector<std::string>{"multi", "exec", "discard", "exec"}))};
      case 17:
        return chance(0.6)
                   ? std::vector<std::string>{name("watch"), chance(0.8) ? "count" : "other"}
                   : std::vector<std::string>{name("unwatch")};
      case 18:
        return chance(0.5) ? std::vector<std::string>{name("auth"), "x"}
                           : std::vector<std::string>{name("auth"), "default", random_text()};
      default:
        return {name("incrby"), "count", "0"};
    }
  }

  // The end of a sequence that closes the connection: QUIT, or a malformed request.
  std::string closing_request() {
    return pick(std::vector<std::string>{
        request({"QUIT"}), request({"quit", "now"}), "*1\r\n+PING\r\n", "*x\r\n", "*1\r\n$x\r\n",
        "*1\r\n$-1\r\n", "*2\r\n$4\r\nPING\r\n:1\r\n", "*1\r\n$-0\r\n"});
  }

  std::string random_text() {
    std::string out;
    const std::size_t size = below(12);
    for (std::size_t i = 0; i < size; ++i) {
      out += chance(0.1) ? static_cast<char>(below(256)) : static_cast<char>('a' + below(26));
    }
    return out;
  }

 private:
  std::mt19937_64 rng_;
};

TEST_F(RespDifferentialTest, RandomPipelinedSequencesGetRedisBytes) {
  std::uint64_t seed = std::random_device{}();
  if (const char* given = std::getenv("COUNT_DIFF_SEED")) seed = std::strtoull(given, nullptr, 10);
  SCOPED_TRACE("seed " + std::to_string(seed) + " (COUNT_DIFF_SEED=" + std::to_string(seed) +
               " repeats it)");
  Generator gen(seed);
  // At least kSequences; then more, up to kMaxSequences, until the sequences have reached
  // every case checked at the end (one seed in some dozens reaches no WATCH abort in 20).
  constexpr int kSequences = 20;
  constexpr int kMaxSequences = 200;
  constexpr std::size_t kRequests = 200;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  int failures = 0;
  Coverage seen;
  const auto covered = [&seen] {
    return seen.overflows > 0 && seen.aborted_execs > 0 && seen.execaborts > 0 &&
           seen.execs_run > 0;
  };
  int sequence = 0;
  for (; (sequence < kSequences || (!covered() && sequence < kMaxSequences)) && failures < 5;
       ++sequence) {
    if (std::chrono::steady_clock::now() > give_up) {
      ADD_FAILURE() << "out of time after " << sequence << " sequences";
      break;
    }
    SCOPED_TRACE("sequence " + std::to_string(sequence));
    align_redis();
    std::vector<std::unique_ptr<Pair>> pairs;
    pairs.push_back(std::make_unique<Pair>(redis_->port(), count_->port()));
    pairs.push_back(std::make_unique<Pair>(redis_->port(), count_->port()));
    std::size_t sent = 0;
    bool ok = true;
    while (ok && sent < kRequests) {
      // A chunk of pipelined requests on one of the two connections (mostly the first, so that
      // the second's mutations land between its WATCH and EXEC).
      Pair& pair = *pairs[gen.chance(0.8) ? 0 : 1];
      const std::size_t size = 1 + gen.below(gen.chance(0.3) ? 30 : 6);
      const std::int64_t value = count_value();
      std::vector<std::string> chunk;
      std::size_t replies = 0;
      for (std::size_t i = 0; i < size && sent < kRequests; ++i, ++sent) {
        if (gen.chance(0.02)) {
          chunk.push_back(gen.chance(0.5) ? "*0\r\n" : "*-1\r\n");  // no reply
          continue;
        }
        chunk.push_back(request(gen.words(value)));
        ++replies;
      }
      std::vector<std::size_t> pieces;
      if (gen.chance(0.5)) {
        for (std::size_t i = 0; i < 4; ++i) pieces.push_back(1 + gen.below(40));
      }
      const ::testing::AssertionResult same =
          same_replies(pair, chunk, pieces, replies, false, &seen);
      if (!same) {
        ADD_FAILURE() << same.message();
        ok = false;
        ++failures;
      }
    }
    // Some sequences end with a request after which both servers close the connection.
    if (ok && gen.chance(0.3)) {
      const ::testing::AssertionResult same =
          same_replies(*pairs[0], {gen.closing_request()}, {}, 0, true, &seen);
      if (!same) {
        ADD_FAILURE() << same.message();
        ++failures;
      }
    }
  }
  std::printf(
      "seed %llu: %d sequences, %zu replies compared; %zu overflows, %zu bad integers, %zu "
      "EXECs run, %zu aborted by WATCH, %zu EXECABORT, %zu unknown commands, %zu wrong "
      "arities, %zu closes\n",
      static_cast<unsigned long long>(seed), sequence, seen.replies, seen.overflows,
      seen.not_integers, seen.execs_run, seen.aborted_execs, seen.execaborts, seen.unknown,
      seen.arity, seen.closes);
  // The sequences must reach the cases that matter, or they prove little.
  EXPECT_GT(seen.overflows, 0U);
  EXPECT_GT(seen.aborted_execs, 0U);
  EXPECT_GT(seen.execaborts, 0U);
  EXPECT_GT(seen.execs_run, 0U);
}

}  // namespace
}  // namespace count::test
