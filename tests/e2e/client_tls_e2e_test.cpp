// count::Client and count-client over TLS, against the real `openssl s_server` (its -rev mode
// sends each line back reversed), and count-client's password, against a fake server inside
// the test. Every process started here is stopped by PID; every wait is bounded.
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "client/client.hpp"
#include "support/certs.hpp"
#include "support/other_server.hpp"
#include "support/process.hpp"

namespace count::test {
namespace {

using namespace std::chrono_literals;

// How long a client under test may take, start-up included: a sanitized build on a busy
// two-core machine can take seconds just to start.
constexpr auto kClientBound = 30s;

// `openssl s_server` on a free 127.0.0.1 port, showing `cert` and `key`, with `extra` options.
class ReversingTlsServer {
 public:
  ReversingTlsServer(const std::string& cert, const std::string& key,
                     const std::vector<std::string>& extra = {})
      : server_(arguments(cert, key, extra), port_) {}

  std::uint16_t port() const { return server_.port(); }
  std::string output() const { return server_.output(); }

 private:
  std::vector<std::string> arguments(const std::string& cert, const std::string& key,
                                     const std::vector<std::string>& extra) {
    std::vector<std::string> argv{"/usr/bin/openssl",
                                  "s_server",
                                  "-accept",
                                  "127.0.0.1:" + std::to_string(port_),
                                  "-cert",
                                  cert,
                                  "-key",
                                  key,
                                  "-rev"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }

  std::uint16_t port_ = free_port();
  OtherServer server_;
};

ClientTls trusting(const std::string& ca, const std::string& server_name = {}) {
  ClientTls tls;
  tls.ca_file = ca;
  tls.server_name = server_name;
  return tls;
}

Client connect_tls(std::uint16_t port, const ClientTls& tls, const std::string& host = "127.0.0.1",
                   std::chrono::milliseconds timeout = 10s) {
  Client client = Client::connect(host, port, timeout, &tls);
  client.set_receive_timeout(10s);
  return client;
}

// What connecting (and one round trip, since TLS 1.3 tells a refused client certificate only
// after the handshake) throws; empty when it works.
std::string failure_of(std::uint16_t port, const ClientTls& tls,
                       const std::string& host = "127.0.0.1") {
  try {
    Client client = connect_tls(port, tls, host);
    if (client.call("ping") != "gnip") return "wrong reply";
    return "";
  } catch (const ClientError& e) {
    return e.what();
  }
}

std::string tls_failure(std::uint16_t port, const std::string& reason) {
  return "TLS with 127.0.0.1:" + std::to_string(port) + " failed: " + reason;
}

TEST(ClientTlsE2E, TheRightCaGivesARoundTripByAddress) {
  const TestCertificates& certs = test_certificates();
  ReversingTlsServer server(certs.server_cert, certs.server_key);
  Client client = connect_tls(server.port(), trusting(certs.ca));
  EXPECT_TRUE(client.tls());
  EXPECT_EQ(client.call("hello"), "olleh");
  EXPECT_EQ(client.call("incr"), "rcni");
}

TEST(ClientTlsE2E, TheRightCaGivesARoundTripByName) {
  const TestCertificates& certs = test_certificates();
  ReversingTlsServer server(certs.server_cert, certs.server_key);
  EXPECT_EQ(failure_of(server.port(), trusting(certs.ca), "localhost"), "");
  // The name to check can differ from the host connected to.
  EXPECT_EQ(failure_of(server.port(), trusting(certs.ca, "localhost")), "");
}

TEST(ClientTlsE2E, AServerOfAnotherCaIsRefused) {
  const TestCertificates& certs = test_certificates();
  ReversingTlsServer server(certs.other_server_cert, certs.other_server_key);
  EXPECT_EQ(failure_of(server.port(), trusting(certs.ca)),
            tls_failure(server.port(),
                        "certificate verify failed (unable to get local issuer certificate)"));
  EXPECT_EQ(failure_of(server.port(), trusting(certs.other_ca)), "");
}

TEST(ClientTlsE2E, AnExpiredCertificateIsRefused) {
  const TestCertificates& certs = test_certificates();
  ReversingTlsServer server(certs.expired_cert, certs.expired_key);
  EXPECT_EQ(failure_of(server.port(), trusting(certs.ca)),
            tls_failure(server.port(), "certificate verify failed (certificate has expired)"));
}

TEST(ClientTlsE2E, ACertificateForAnotherHostIsRefused) {
  const TestCertificates& certs = test_certificates();
  ReversingTlsServer server(certs.wrong_host_cert, certs.wrong_host_key);
  EXPECT_EQ(failure_of(server.port(), trusting(certs.ca)),
            tls_failure(server.port(), "certificate verify failed (IP address mismatch)"));
  EXPECT_EQ(failure_of(server.port(), trusting(certs.ca, "localhost")),
            tls_failure(server.port(), "certificate verify failed (hostname mismatch)"));
  EXPECT_EQ(failure_of(server.port(), trusting(certs.ca, "example.com")), "");
}

TEST(ClientTlsE2E, AServerThatDemandsAClientCertificateGetsOne) {
  const TestCertificates& certs = test_certificates();
  ReversingTlsServer server(certs.server_cert, certs.server_key,
                            {"-Verify", "1", "-verify_return_error", "-CAfile", certs.ca});
  ClientTls tls = trusting(certs.ca);
  tls.cert_file = certs.client_cert;
  tls.key_file = certs.client_key;
  EXPECT_EQ(failure_of(server.port(), tls), "");

  const std::string without = failure_of(server.port(), trusting(certs.ca));
  EXPECT_NE(without.find("certificate required"), std::string::npos) << without;

  tls.cert_file = certs.other_client_cert;
  tls.key_file = certs.other_client_key;
  const std::string unknown = failure_of(server.port(), tls);
  EXPECT_NE(unknown.find("unknown ca"), std::string::npos) << unknown;
}

TEST(ClientTlsE2E, FilesThatCannotBeUsedAreNamedBeforeConnecting) {
  const TestCertificates& certs = test_certificates();
  const std::uint16_t nobody = free_port();
  const auto message = [&](const ClientTls& tls) {
    try {
      Client::connect("127.0.0.1", nobody, 2s, &tls);
      return std::string("connected");
    } catch (const ClientError& e) {
      return std::string(e.what());
    }
  };
  EXPECT_EQ(message(trusting("/nonexistent/ca.pem")),
            "cannot load the CA certificates /nonexistent/ca.pem: No such file or directory");
  EXPECT_EQ(message(trusting(certs.not_pem)),
            "cannot load the CA certificates " + certs.not_pem + ": no certificate or crl found");

  ClientTls tls = trusting(certs.ca);
  tls.cert_file = certs.client_cert;
  EXPECT_EQ(message(tls), "a client certificate needs both its certificate file and its key file");
  tls.key_file = certs.mismatched_key;
  EXPECT_EQ(message(tls), "the client key " + certs.mismatched_key +
                              " does not belong to the certificate " + certs.client_cert);
  tls.key_file = certs.not_pem;
  EXPECT_NE(message(tls).find("cannot load the client key " + certs.not_pem + ": "),
            std::string::npos)
      << message(tls);
}

TEST(ClientTlsE2E, AHandshakeThatNeverEndsTimesOutWithTheConnectTimeout) {
  const TestCertificates& certs = test_certificates();
  LoopbackListener silent;  // accepts (in the kernel) and never answers
  const ClientTls tls = trusting(certs.ca);
  const auto start = std::chrono::steady_clock::now();
  try {
    Client::connect("127.0.0.1", silent.port(), 300ms, &tls);
    ADD_FAILURE() << "connected to a server that never answers";
  } catch (const ClientError& e) {
    EXPECT_EQ(std::string(e.what()), tls_failure(silent.port(), "timed out"));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(ClientTlsE2E, APlainServerFailsTheHandshake) {
  const TestCertificates& certs = test_certificates();
  ServerProcess plain;
  const ClientTls tls = trusting(certs.ca);
  try {
    Client::connect("127.0.0.1", plain.port(), 2s, &tls);
    ADD_FAILURE() << "a TLS handshake with a plain server worked";
  } catch (const ClientError& e) {
    EXPECT_NE(std::string(e.what()).find(tls_failure(plain.port(), "")), std::string::npos)
        << e.what();
  }
}

TEST(ClientTlsE2E, HalfCloseSendsCloseNotifyAndTheRepliesStillArrive) {
  const TestCertificates& certs = test_certificates();
  ReversingTlsServer server(certs.server_cert, certs.server_key);
  Client client = connect_tls(server.port(), trusting(certs.ca));
  client.send("abc\ndef\n");
  client.shutdown_send();
  EXPECT_EQ(client.read_line(), "cba");
  EXPECT_EQ(client.read_line(), "fed");
  EXPECT_EQ(client.read_line(), std::nullopt);
}

TEST(ClientTlsE2E, AReplyThatDoesNotComeTimesOut) {
  const TestCertificates& certs = test_certificates();
  ReversingTlsServer server(certs.server_cert, certs.server_key);
  Client client = connect_tls(server.port(), trusting(certs.ca));
  client.set_receive_timeout(200ms);
  client.send("no line end");
  const auto start = std::chrono::steady_clock::now();
  try {
    client.read_line();
    ADD_FAILURE() << "a reply came to half a line";
  } catch (const ClientError& e) {
    EXPECT_EQ(std::string(e.what()), "connection to 127.0.0.1:" + std::to_string(server.port()) +
                                         " timed out waiting for a reply");
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

// A TLS server inside the test for one connection: reads one line, sends `reply` (a line cut
// short), and ends with close_notify or, when `clean` is false, by closing the socket alone.
class CuttingTlsServer {
 public:
  CuttingTlsServer(std::string reply, bool clean) : reply_(std::move(reply)), clean_(clean) {
    thread_ = std::thread([this] { serve(); });
  }
  ~CuttingTlsServer() { thread_.join(); }
  CuttingTlsServer(const CuttingTlsServer&) = delete;
  CuttingTlsServer& operator=(const CuttingTlsServer&) = delete;
  std::uint16_t port() const { return listener_.port(); }

 private:
  void serve() {
    pollfd waiting{listener_.fd(), POLLIN, 0};
    if (::poll(&waiting, 1, 10000) <= 0) return;
    const int connection = ::accept(listener_.fd(), nullptr, nullptr);
    if (connection < 0) return;
    timeval bound{10, 0};  // no read below waits longer
    ::setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof bound);
    SSL_CTX* context = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate_chain_file(context, test_certificates().server_cert.c_str());
    SSL_CTX_use_PrivateKey_file(context, test_certificates().server_key.c_str(), SSL_FILETYPE_PEM);
    SSL* ssl = SSL_new(context);
    SSL_set_fd(ssl, connection);
    char line[256];
    std::size_t got = 0;
    if (SSL_accept(ssl) == 1 && SSL_read_ex(ssl, line, sizeof line, &got) == 1) {
      std::size_t written = 0;
      SSL_write_ex(ssl, reply_.data(), reply_.size(), &written);
      if (clean_) SSL_shutdown(ssl);
    }
    SSL_free(ssl);
    SSL_CTX_free(context);
    ::close(connection);
  }

  std::string reply_;
  bool clean_;
  LoopbackListener listener_{4};
  std::thread thread_;
};

TEST(ClientTlsE2E, AReplyCutWithoutCloseNotifyIsNotTakenForAReply) {
  CuttingTlsServer server("val 1\nval 12", /*clean=*/false);
  Client client = connect_tls(server.port(), trusting(test_certificates().ca));
  client.send_line("get");
  EXPECT_EQ(client.read_line(), "val 1");
  try {
    const std::optional<std::string> cut = client.read_line();
    ADD_FAILURE() << "took '" << cut.value_or("(end)") << "' for a reply";
  } catch (const ClientError& e) {
    EXPECT_EQ(std::string(e.what()), "connection to 127.0.0.1:" + std::to_string(server.port()) +
                                         " ended inside a reply, without TLS close_notify");
  }
}

TEST(ClientTlsE2E, ALastLineEndedByCloseNotifyIsReturnedAsOverTcp) {
  CuttingTlsServer server("val 1\nval 12", /*clean=*/true);
  Client client = connect_tls(server.port(), trusting(test_certificates().ca));
  client.send_line("get");
  EXPECT_EQ(client.read_line(), "val 1");
  EXPECT_EQ(client.read_line(), "val 12");
  EXPECT_EQ(client.read_line(), std::nullopt);
}

TEST(ClientTlsE2E, OneThreadSendsWhileAnotherReads) {
  const TestCertificates& certs = test_certificates();
  ReversingTlsServer server(certs.server_cert, certs.server_key);
  Client client = connect_tls(server.port(), trusting(certs.ca));
  constexpr int kLines = 2000;
  std::thread sender([&client] {
    for (int i = 0; i < kLines; ++i) client.send_line("ab" + std::to_string(i));
  });
  int matched = 0;
  for (int i = 0; i < kLines; ++i) {
    std::string want = "ab" + std::to_string(i);
    want = std::string(want.rbegin(), want.rend());
    if (client.read_line() == want) ++matched;
  }
  sender.join();
  EXPECT_EQ(matched, kLines);
}

RunResult count_client(std::uint16_t port, std::vector<std::string> args,
                       const std::string& input = {}) {
  std::vector<std::string> argv{binary("count-client"), "-p", std::to_string(port)};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, input, kClientBound);
}

TEST(ClientTlsE2E, CountClientSpeaksTlsWithCacert) {
  const TestCertificates& certs = test_certificates();
  ReversingTlsServer server(certs.server_cert, certs.server_key);
  const RunResult one = count_client(server.port(), {"--cacert", certs.ca, "ko"});
  EXPECT_EQ(one.out, "ok\n") << one.err;
  EXPECT_TRUE(exited_with(one, 0));
  const RunResult piped = count_client(server.port(), {"--cacert", certs.ca}, "ko\n7 lav\n");
  EXPECT_EQ(piped.out, "ok\nval 7\n") << piped.err;
  EXPECT_TRUE(exited_with(piped, 0));
  const RunResult by_name =
      count_client(server.port(), {"-h", "localhost", "--cacert", certs.ca, "ko"});
  EXPECT_EQ(by_name.out, "ok\n") << by_name.err;
}

TEST(ClientTlsE2E, CountClientRefusesAServerItCannotVerify) {
  const TestCertificates& certs = test_certificates();
  ReversingTlsServer server(certs.server_cert, certs.server_key);
  // --tls alone trusts the system's CAs, which never signed the test CA's certificates.
  const RunResult system_cas = count_client(server.port(), {"--tls", "ko"});
  EXPECT_TRUE(exited_with(system_cas, 2));
  EXPECT_EQ(system_cas.err, "count-client: " +
                                tls_failure(server.port(),
                                            "certificate verify failed (unable to get local "
                                            "issuer certificate)") +
                                "\n");
  EXPECT_EQ(system_cas.out, "");
  const RunResult other = count_client(server.port(), {"--cacert", certs.other_ca, "ko"});
  EXPECT_TRUE(exited_with(other, 2));
  EXPECT_NE(other.err.find("certificate verify failed"), std::string::npos) << other.err;
}

TEST(ClientTlsE2E, CountClientShowsItsCertificateWhenAsked) {
  const TestCertificates& certs = test_certificates();
  ReversingTlsServer server(certs.server_cert, certs.server_key,
                            {"-Verify", "1", "-verify_return_error", "-CAfile", certs.ca});
  const RunResult shown = count_client(
      server.port(),
      {"--cacert", certs.ca, "--cert", certs.client_cert, "--key", certs.client_key, "ko"});
  EXPECT_EQ(shown.out, "ok\n") << shown.err;
  EXPECT_TRUE(exited_with(shown, 0));
  const RunResult missing = count_client(server.port(), {"--cacert", certs.ca, "ko"});
  EXPECT_TRUE(exited_with(missing, 2));
  EXPECT_NE(missing.err.find("certificate required"), std::string::npos) << missing.err;
  const RunResult half = count_client(server.port(), {"--cert", certs.client_cert, "ko"});
  EXPECT_TRUE(exited_with(half, 2));
  EXPECT_NE(half.err.find("--cert requires --key"), std::string::npos) << half.err;
}

// A fake count-server for one connection: records every line it gets and answers the first
// with `first_reply`, each later one with "val 5".
class RecordingServer {
 public:
  explicit RecordingServer(std::string first_reply) : first_reply_(std::move(first_reply)) {
    thread_ = std::thread([this] { serve(); });
  }
  ~RecordingServer() {
    if (thread_.joinable()) thread_.join();
  }
  RecordingServer(const RecordingServer&) = delete;
  RecordingServer& operator=(const RecordingServer&) = delete;

  std::uint16_t port() const { return listener_.port(); }

  // Every line received, once the client has closed (or the time bound passed).
  std::vector<std::string> lines() {
    if (thread_.joinable()) thread_.join();
    return lines_;
  }

 private:
  void serve() {
    const auto deadline = std::chrono::steady_clock::now() + kClientBound;
    pollfd waiting{listener_.fd(), POLLIN, 0};
    if (::poll(&waiting, 1, static_cast<int>(std::chrono::milliseconds(kClientBound).count())) <=
        0) {
      return;
    }
    const int connection = ::accept(listener_.fd(), nullptr, nullptr);
    if (connection < 0) return;
    std::string partial;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd readable{connection, POLLIN, 0};
      if (::poll(&readable, 1, 100) <= 0) continue;
      char chunk[1024];
      const ssize_t got = ::recv(connection, chunk, sizeof chunk, 0);
      if (got <= 0) break;
      std::string replies;
      for (const char c : std::string_view(chunk, static_cast<std::size_t>(got))) {
        if (c != '\n') {
          partial += c;
          continue;
        }
        replies += lines_.empty() ? first_reply_ + "\n" : "val 5\n";
        lines_.push_back(std::move(partial));
        partial.clear();
      }
      (void)::send(connection, replies.data(), replies.size(), MSG_NOSIGNAL);
    }
    ::close(connection);
  }

  std::string first_reply_;
  LoopbackListener listener_{4};
  std::vector<std::string> lines_;  // touched by thread_ only, until it is joined
  std::thread thread_;
};

RunResult count_client_with_environment(std::uint16_t port, const std::string& environment,
                                        std::vector<std::string> args,
                                        const std::string& input = {}) {
  std::vector<std::string> argv{"/usr/bin/env", environment, binary("count-client"), "-p",
                                std::to_string(port)};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, input, kClientBound);
}

TEST(ClientPasswordE2E, CountPasswordGoesFirstAsAuth) {
  RecordingServer server("ok");
  const RunResult result =
      count_client_with_environment(server.port(), "COUNT_PASSWORD=s3cret!", {"get"});
  EXPECT_EQ(result.out, "val 5\n") << result.err;
  EXPECT_TRUE(exited_with(result, 0));
  EXPECT_EQ(server.lines(), (std::vector<std::string>{"auth s3cret!", "get"}));
}

TEST(ClientPasswordE2E, PipedLinesFollowTheAuth) {
  RecordingServer server("ok");
  const RunResult result =
      count_client_with_environment(server.port(), "COUNT_PASSWORD=pw", {}, "get\nget\n");
  EXPECT_EQ(result.out, "val 5\nval 5\n") << result.err;
  EXPECT_TRUE(exited_with(result, 0));
  EXPECT_EQ(server.lines(), (std::vector<std::string>{"auth pw", "get", "get"}));
}

TEST(ClientPasswordE2E, APasswordFileWinsOverTheEnvironment) {
  const TempDir dir;
  write_file(dir.path() / "password", "from-file\n");
  RecordingServer server("ok");
  const RunResult result =
      count_client_with_environment(server.port(), "COUNT_PASSWORD=from-environment",
                                    {"--password-file", (dir.path() / "password").string(), "get"});
  EXPECT_TRUE(exited_with(result, 0));
  EXPECT_EQ(server.lines(), (std::vector<std::string>{"auth from-file", "get"}));
}

TEST(ClientPasswordE2E, ARefusedPasswordExitsTwoAndSendsNothingElse) {
  RecordingServer server("err");
  const RunResult result =
      count_client_with_environment(server.port(), "COUNT_PASSWORD=wrong", {"incr"});
  EXPECT_TRUE(exited_with(result, 2));
  EXPECT_EQ(result.err, "count-client: the server refused the password\n");
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(server.lines(), (std::vector<std::string>{"auth wrong"}));
}

TEST(ClientPasswordE2E, ABadPasswordFileIsItsMessageAndExitTwo) {
  const TempDir dir;
  const std::string missing = (dir.path() / "missing").string();
  const RunResult absent = run({binary("count-client"), "--password-file", missing, "get"});
  EXPECT_TRUE(exited_with(absent, 2));
  EXPECT_EQ(absent.err, "count-client: cannot read the password file " + missing + "\n");

  const std::string spaced = (dir.path() / "spaced").string();
  write_file(spaced, "two words\n");
  const RunResult space = run({binary("count-client"), "--password-file", spaced, "get"});
  EXPECT_TRUE(exited_with(space, 2));
  EXPECT_EQ(space.err, "count-client: the password file " + spaced +
                           " holds no valid password: it holds a space or a tab\n");

  RecordingServer server("ok");  // never reached: the environment's password is bad
  const RunResult environment =
      count_client_with_environment(server.port(), "COUNT_PASSWORD=two words", {"get"});
  EXPECT_TRUE(exited_with(environment, 2));
  EXPECT_EQ(environment.err,
            "count-client: COUNT_PASSWORD holds no valid password: it holds a space or a tab\n");
  // Let the fake server's wait end: connect and close.
  { Client unblock = Client::connect("127.0.0.1", server.port()); }
  EXPECT_TRUE(server.lines().empty());
}

TEST(ClientPasswordE2E, HelpTellsWhereThePasswordComesFrom) {
  const RunResult help = run({binary("count-client"), "--help"});
  EXPECT_TRUE(exited_with(help, 0));
  EXPECT_NE(help.out.find("COUNT_PASSWORD"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("password refused"), std::string::npos) << help.out;
}

}  // namespace
}  // namespace count::test
