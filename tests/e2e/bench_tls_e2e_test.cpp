// count-bench over TLS and with a password: against a real redis-server (Debian's speaks TLS
// and takes --requirepass) for the load, the counter checks and the refusals; against
// count-server and ok-server for the line protocol's `auth`. Every process started here is
// stopped by PID; every wait is bounded.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "support/certs.hpp"
#include "support/other_server.hpp"
#include "support/process.hpp"

namespace count::test {
namespace {

using namespace std::chrono_literals;

constexpr char kRedis[] = "/usr/bin/redis-server";
constexpr char kPassword[] = "c0unt-b3nch!";

RunResult bench(std::uint16_t port, std::vector<std::string> args,
                const std::string& host = "127.0.0.1") {
  std::vector<std::string> argv{binary("count-bench"), "-h", host, "-p", std::to_string(port)};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, {}, 60s);
}

// redis-server with TLS only (no plain port), showing the test server certificate, with a
// password; `clients_need_certificates`: it demands a client certificate signed by the CA.
class TlsRedis {
 public:
  explicit TlsRedis(bool clients_need_certificates = false)
      : redis_({kRedis,
                "--bind",
                "127.0.0.1",
                "--port",
                "0",
                "--tls-port",
                std::to_string(port_),
                "--tls-cert-file",
                test_certificates().server_cert,
                "--tls-key-file",
                test_certificates().server_key,
                "--tls-ca-cert-file",
                test_certificates().ca,
                "--tls-auth-clients",
                clients_need_certificates ? "yes" : "no",
                "--requirepass",
                kPassword,
                "--save",
                "",
                "--appendonly",
                "no"},
               port_) {}

  std::uint16_t port() const { return redis_.port(); }

 private:
  std::uint16_t port_ = free_port();
  OtherServer redis_;
};

class BenchTlsE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    write_file(right_password_, std::string(kPassword) + "\n");
    write_file(wrong_password_, "not-the-password\n");
  }
  static bool have_redis() { return std::filesystem::exists(kRedis); }

  const TempDir dir_;
  const std::string right_password_ = (dir_.path() / "right").string();
  const std::string wrong_password_ = (dir_.path() / "wrong").string();
};

TEST_F(BenchTlsE2E, RedisOverTlsWithAPasswordPassesEveryCheck) {
  if (!have_redis()) GTEST_SKIP() << "redis-server is not installed";
  const TestCertificates& certs = test_certificates();
  TlsRedis redis;
  const RunResult result =
      bench(redis.port(), {"--protocol", "resp", "--cacert", certs.ca, "--password-file",
                           right_password_, "-n", "3000", "-c", "3", "-P", "4", "--ratio",
                           "incr:decr:add:get=4:1:2:1", "--add-value", "-9", "--json"});
  EXPECT_TRUE(exited_with(result, 0));
  EXPECT_NE(result.out.find("\"tls\":true"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("\"sent\":3000"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("\"good\":3000"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("\"passed\":true"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("\"ok\":true"), std::string::npos) << result.out;

  // By name, over two threads, timed: the table says TLS.
  const RunResult by_name =
      bench(redis.port(),
            {"--protocol", "resp", "--cacert", certs.ca, "--password-file", right_password_, "-d",
             "0.3", "--warmup", "0.1", "-c", "4", "-t", "2", "-P", "8"},
            "localhost");
  EXPECT_TRUE(exited_with(by_name, 0));
  EXPECT_NE(by_name.out.find("resp protocol over TLS, localhost:"), std::string::npos)
      << by_name.out;
  EXPECT_NE(by_name.out.find("counter check passed"), std::string::npos) << by_name.out;
}

TEST_F(BenchTlsE2E, RedisRefusingThePasswordIsAClearErrorAndExitTwo) {
  if (!have_redis()) GTEST_SKIP() << "redis-server is not installed";
  TlsRedis redis;
  const RunResult result =
      bench(redis.port(), {"--protocol", "resp", "--cacert", test_certificates().ca,
                           "--password-file", wrong_password_, "-n", "100"});
  EXPECT_TRUE(exited_with(result, 2));
  EXPECT_NE(result.err.find("count-bench: the server 127.0.0.1:" + std::to_string(redis.port()) +
                            " refused the password: it answered '-WRONGPASS"),
            std::string::npos)
      << result.err;
  EXPECT_EQ(result.out, "");
}

TEST_F(BenchTlsE2E, AServerItCannotVerifyIsRefusedBeforeAnyLoad) {
  if (!have_redis()) GTEST_SKIP() << "redis-server is not installed";
  TlsRedis redis;
  const std::string tls_failed = "count-bench: TLS with 127.0.0.1:" + std::to_string(redis.port()) +
                                 " failed: certificate verify failed";
  const RunResult other_ca =
      bench(redis.port(), {"--protocol", "resp", "--cacert", test_certificates().other_ca,
                           "--password-file", right_password_, "-n", "100"});
  EXPECT_TRUE(exited_with(other_ca, 2));
  EXPECT_NE(other_ca.err.find(tls_failed), std::string::npos) << other_ca.err;
  // --tls alone trusts only the system's CAs.
  const RunResult system_cas =
      bench(redis.port(),
            {"--protocol", "resp", "--tls", "--password-file", right_password_, "-n", "100"});
  EXPECT_TRUE(exited_with(system_cas, 2));
  EXPECT_NE(system_cas.err.find(tls_failed), std::string::npos) << system_cas.err;
}

TEST_F(BenchTlsE2E, RedisDemandingAClientCertificateGetsOne) {
  if (!have_redis()) GTEST_SKIP() << "redis-server is not installed";
  const TestCertificates& certs = test_certificates();
  TlsRedis redis(/*clients_need_certificates=*/true);
  const RunResult shown =
      bench(redis.port(),
            {"--protocol", "resp", "--cacert", certs.ca, "--cert", certs.client_cert, "--cert-key",
             certs.client_key, "--password-file", right_password_, "-n", "500", "-c", "2"});
  EXPECT_TRUE(exited_with(shown, 0));
  EXPECT_NE(shown.out.find("counter check passed"), std::string::npos) << shown.out;
  const RunResult missing = bench(redis.port(), {"--protocol", "resp", "--cacert", certs.ca,
                                                 "--password-file", right_password_, "-n", "100"});
  EXPECT_TRUE(exited_with(missing, 2));
  EXPECT_NE(missing.err.find("127.0.0.1:" + std::to_string(redis.port())), std::string::npos)
      << missing.err;
}

TEST_F(BenchTlsE2E, CountServerWithoutAPasswordRefusesAuth) {
  ServerProcess server({"--in-memory"});
  const RunResult result =
      bench(server.port(), {"--password-file", right_password_, "-n", "100", "--json"});
  EXPECT_TRUE(exited_with(result, 2));
  EXPECT_EQ(result.err, "count-bench: the server 127.0.0.1:" + std::to_string(server.port()) +
                            " refused the password: it answered 'err'\n");
  // Nothing ran: the counter is where it was.
  Client client = server.connect();
  EXPECT_EQ(client.call("get"), "val 0");
}

TEST_F(BenchTlsE2E, PlainRunsSayTlsFalse) {
  ServerProcess server({"--in-memory"});
  const RunResult result = bench(server.port(), {"-n", "200", "-c", "2", "--json"});
  EXPECT_TRUE(exited_with(result, 0));
  EXPECT_NE(result.out.find("{\"protocol\":\"line\",\"tls\":false,"), std::string::npos)
      << result.out;
}

TEST_F(BenchTlsE2E, LineProtocolLogsInBeforeTheLoad) {
  if (!std::filesystem::exists(binary("ok-server"))) GTEST_SKIP() << "ok-server is not built";
  OtherServer ok_server({binary("ok-server"), "--bind", "127.0.0.1", "--port", "0"}, 0);
  const RunResult result = bench(ok_server.port(), {"--password-file", right_password_, "-n", "500",
                                                    "-c", "2", "--no-counter-check", "--json"});
  EXPECT_TRUE(exited_with(result, 0));
  // The two `auth` replies are not counted among the load's.
  EXPECT_NE(result.out.find("\"sent\":500,"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("\"good\":500,"), std::string::npos) << result.out;
}

TEST_F(BenchTlsE2E, TlsAndPasswordsWithOtherProtocolsAreUsageErrors) {
  const std::string bench_program = binary("count-bench");
  const auto expect_usage = [](const RunResult& result, const std::string& says) {
    EXPECT_TRUE(exited_with(result, 2));
    EXPECT_NE(result.err.find(says), std::string::npos) << result.err;
  };
  expect_usage(run({bench_program, "--protocol", "memcache", "--tls"}),
               "--tls (and --cacert, --cert) works with --protocol line and resp only");
  expect_usage(run({bench_program, "--protocol", "etcd", "--cacert", test_certificates().ca}),
               "--tls (and --cacert, --cert) works with --protocol line and resp only");
  expect_usage(run({bench_program, "--protocol", "memcache", "--password-file", right_password_}),
               "--password-file works with --protocol line and resp only");
  expect_usage(run({bench_program, "--protocol", "etcd", "--password-file", right_password_}),
               "--password-file works with --protocol line and resp only");
  expect_usage(run({bench_program, "--cert", test_certificates().client_cert}),
               "--cert requires --cert-key");
  const std::string missing = (dir_.path() / "missing").string();
  expect_usage(run({bench_program, "--password-file", missing}),
               "count-bench: cannot read the password file " + missing);
  expect_usage(run({bench_program, "--cacert", "/nonexistent/ca.pem", "-p", "1"}),
               "count-bench: cannot load the CA certificates /nonexistent/ca.pem: No such file or "
               "directory");
}

}  // namespace
}  // namespace count::test
