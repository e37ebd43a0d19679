// TLS on a port of its own (docs/protocol.md, "Transport"), with certificates the test makes
// with openssl: the right client is served as on the plain port; a wrong CA, an expired
// certificate, a wrong host name, clear text, a cut or stalled handshake are each refused
// and cost the server nothing else. Labelled concurrency, so ThreadSanitizer runs it too.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "support/certs.hpp"
#include "support/process.hpp"
#include "support/wire.hpp"

namespace count::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// The arguments of a server with a TLS port and a certificate from `cert` and `key`.
std::vector<std::string> tls_args(const std::string& cert, const std::string& key,
                                  std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"--in-memory", "--tls-port", "0", "--tls-cert",
                                cert,          "--tls-key",  key};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

std::vector<std::string> good_server(std::vector<std::string> extra = {}) {
  const TestCertificates& certs = test_certificates();
  return tls_args(certs.server_cert, certs.server_key, std::move(extra));
}

ClientTls trusting(const std::string& ca) {
  ClientTls tls;
  tls.ca_file = ca;
  return tls;
}

Client tls_client(const ServerProcess& server, const ClientTls& tls) {
  Client client = Client::connect("127.0.0.1", server.tls_port(), std::chrono::seconds(10), &tls);
  client.set_receive_timeout(std::chrono::seconds(10));
  return client;
}

// The message of the ClientError that connecting throws, or "" when it connects.
std::string refusal(const ServerProcess& server, const ClientTls& tls) {
  try {
    Client client = tls_client(server, tls);
    // TLS 1.3: the server's verdict on a client certificate comes after the client's
    // handshake is over, with the first read.
    client.call("get");
  } catch (const ClientError& e) {
    return e.what();
  }
  return "";
}

// A plain TCP connection to `port`, for bytes that are not TLS.
Client raw(std::uint16_t port) {
  Client client = Client::connect("127.0.0.1", port);
  client.set_receive_timeout(std::chrono::seconds(10));
  return client;
}

TEST(TlsE2E, AClientThatTrustsTheCaIsServedAndSharesTheCounterWithThePlainPort) {
  ServerProcess server(good_server());
  ASSERT_NE(server.tls_port(), 0);
  ASSERT_NE(server.port(), 0);
  Client secure = tls_client(server, trusting(test_certificates().ca));
  EXPECT_EQ(secure.call("incr"), "ok");
  EXPECT_EQ(secure.call("add 41"), "ok");
  Client plain = server.connect();
  EXPECT_EQ(plain.call("get"), "val 42");
  EXPECT_EQ(plain.call("decr"), "ok");
  EXPECT_EQ(secure.call("get"), "val 41");
  EXPECT_EQ(secure.call("bogus"), "err");
  EXPECT_EQ(secure.call("quit"), "quit");
  EXPECT_TRUE(closed_by_peer(secure));
  // By name too: the certificate holds DNS:localhost.
  ClientTls by_name = trusting(test_certificates().ca);
  by_name.server_name = "localhost";
  EXPECT_EQ(tls_client(server, by_name).call("get"), "val 41");
  EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
}

TEST(TlsE2E, PipelinedBatchesLargerThanARecordAreAnsweredInOrder) {
  ServerProcess server(good_server());
  Client secure = tls_client(server, trusting(test_certificates().ca));
  // TLS is one stream per connection: send a batch, then read its replies (no second thread).
  constexpr std::size_t kBatch = 20'000;  // 100 KB of requests: many records, many reads
  std::size_t total = 0;
  for (int round = 0; round < 5; ++round) {
    secure.send(repeat_line("incr", kBatch - 1) + "get\n");
    for (std::size_t i = 0; i + 1 < kBatch; ++i) ASSERT_EQ(secure.read_line(), "ok") << i;
    total += kBatch - 1;
    ASSERT_EQ(secure.read_line(), "val " + std::to_string(total));
  }
  // Half-close over TLS: the replies still come, then the end.
  secure.send("incr\nget");
  secure.shutdown_send();
  EXPECT_EQ(secure.read_line(), "ok");
  EXPECT_EQ(secure.read_line(), "val " + std::to_string(total + 1));
  EXPECT_TRUE(closed_by_peer(secure));
}

TEST(TlsE2E, NoPlainServesTlsOnly) {
  ServerProcess server(good_server({"--no-plain"}));
  EXPECT_EQ(server.port(), 0);
  EXPECT_NE(server.log().find("listening with TLS on 127.0.0.1:"), std::string::npos)
      << server.log();
  EXPECT_EQ(tls_client(server, trusting(test_certificates().ca)).call("incr"), "ok");
}

TEST(TlsE2E, ServersTheClientCannotTrustAreRefusedByIt) {
  const TestCertificates& certs = test_certificates();
  {
    ServerProcess server(good_server());
    const std::string why = refusal(server, trusting(certs.other_ca));
    EXPECT_NE(why.find("certificate verify failed"), std::string::npos) << why;
    EXPECT_EQ(tls_client(server, trusting(certs.ca)).call("get"), "val 0");  // unaffected
  }
  {
    ServerProcess server(tls_args(certs.wrong_host_cert, certs.wrong_host_key));
    const std::string why = refusal(server, trusting(certs.ca));
    EXPECT_NE(why.find("certificate verify failed"), std::string::npos) << why;
    EXPECT_EQ(server.connect().call("get"), "val 0");
  }
}

TEST(TlsE2E, WithTlsCaOnlyClientsWithACertificateFromThatCaAreServed) {
  const TestCertificates& certs = test_certificates();
  ServerProcess server(good_server({"--tls-ca", certs.ca}));
  EXPECT_NE(server.log().find("(client certificates)"), std::string::npos) << server.log();

  EXPECT_NE(refusal(server, trusting(certs.ca)), "");  // no certificate
  ClientTls foreign = trusting(certs.ca);
  foreign.cert_file = certs.other_client_cert;
  foreign.key_file = certs.other_client_key;
  EXPECT_NE(refusal(server, foreign), "");  // signed by another CA

  ClientTls member = trusting(certs.ca);
  member.cert_file = certs.client_cert;
  member.key_file = certs.client_key;
  Client client = tls_client(server, member);
  EXPECT_EQ(client.call("incr"), "ok");
  EXPECT_EQ(client.call("get"), "val 1");
  EXPECT_TRUE(server.log_shows("TLS handshake failed"));
  EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
  EXPECT_NE(server.log().find("2 TLS handshake failed"), std::string::npos) << server.log();
}

TEST(TlsE2E, ClearTextOnTheTlsPortIsRefusedAndTheServerGoesOn) {
  ServerProcess server(good_server());
  Client confused = raw(server.tls_port());
  confused.send("incr\nget\n");
  EXPECT_TRUE(closed_by_peer(confused));  // no reply: not even `err` leaves in clear text
  EXPECT_TRUE(server.log_shows("TLS handshake failed"));
  Client secure = tls_client(server, trusting(test_certificates().ca));
  EXPECT_EQ(secure.call("get"), "val 0");  // the clear-text incr did nothing
}

// The start of a real ClientHello's record: a handshake record of 512 bytes, of which only
// these few arrive.
const std::string kPartialHello("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);

TEST(TlsE2E, AHandshakeCutInTheMiddleCostsOnlyItsConnection) {
  ServerProcess server(good_server());
  for (int i = 0; i < 20; ++i) {
    Client cut = raw(server.tls_port());
    cut.send(kPartialHello);
  }  // each closed here, halfway through
  Client secure = tls_client(server, trusting(test_certificates().ca));
  EXPECT_EQ(secure.call("incr"), "ok");
  EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
}

TEST(TlsE2E, AStalledHandshakeIsClosedAfterTheTimeoutAndBlocksNobody) {
  ServerProcess server(good_server({"--handshake-timeout", "1"}));
  const auto start = steady_clock::now();   // before the connections whose clocks start with them
  Client silent = raw(server.tls_port());   // connects and sends nothing
  Client halfway = raw(server.tls_port());  // stops in the middle of its hello
  halfway.send(kPartialHello);
  // Meanwhile, on the same loops, others are served at once.
  Client secure = tls_client(server, trusting(test_certificates().ca));
  EXPECT_EQ(secure.call("incr"), "ok");
  EXPECT_EQ(server.connect().call("get"), "val 1");
  EXPECT_TRUE(closed_by_peer(silent));
  EXPECT_TRUE(closed_by_peer(halfway));
  EXPECT_GE(steady_clock::now() - start, milliseconds(900));
  EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
  EXPECT_NE(server.log().find("2 closed: the TLS handshake did not finish in time"),
            std::string::npos)
      << server.log();
}

// Each file problem stops the start with one line naming the file, and exit status 2.
TEST(TlsE2E, UnusableCertificatesAndKeysStopTheStartWithOneClearLine) {
  const TestCertificates& certs = test_certificates();
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<Case> cases{
      {tls_args("/nonexistent/cert.pem", certs.server_key),
       "--tls-cert /nonexistent/cert.pem: No such file or directory"},
      {tls_args(certs.server_cert, "/nonexistent/key.pem"),
       "--tls-key /nonexistent/key.pem: No such file or directory"},
      {tls_args(certs.not_pem, certs.server_key),
       "--tls-cert " + certs.not_pem + ": no usable certificate in it"},
      {tls_args(certs.server_cert, certs.not_pem),
       "--tls-key " + certs.not_pem + ": no usable private key in it"},
      {tls_args(certs.server_cert, certs.mismatched_key),
       "--tls-key " + certs.mismatched_key + " is not the key of the certificate in " +
           certs.server_cert},
      {tls_args(certs.expired_cert, certs.expired_key),
       "--tls-cert " + certs.expired_cert + ": the certificate expired on "},
      {good_server({"--tls-ca", certs.not_pem}),
       "--tls-ca " + certs.not_pem + ": no usable CA certificate in it"},
      {good_server({"--tls-ca", "/nonexistent/ca.pem"}),
       "--tls-ca /nonexistent/ca.pem: No such file or directory"},
      {{"--in-memory", "--tls-port", "0"}, "--tls-port requires --tls-cert and --tls-key"},
      {{"--in-memory", "--tls-port", "0", "--tls-cert", certs.server_cert},
       "--tls-port requires --tls-cert and --tls-key"},
      {{"--in-memory", "--no-plain"}, "--no-plain requires --tls-port"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv{binary("count-server"), "--bind", "127.0.0.1", "--port", "0"};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    const RunResult result = run(argv);
    EXPECT_TRUE(exited_with(result, 2)) << c.says << "\n";
    EXPECT_NE(result.err.find(c.says), std::string::npos) << result.err;
    EXPECT_EQ(result.err.find('\n'), result.err.size() - 1) << "one line: " << result.err;
  }
}

TEST(TlsE2E, PasswordAndTlsTogether) {
  TempDir dir;
  write_file(dir.path() / "password", "s3cret\n");
  ServerProcess server(good_server({"--password-file", (dir.path() / "password").string()}));
  Client secure = tls_client(server, trusting(test_certificates().ca));
  EXPECT_EQ(secure.call("incr"), "err");
  EXPECT_EQ(secure.call("auth s3cret"), "ok");
  EXPECT_EQ(secure.call("incr"), "ok");
  EXPECT_EQ(secure.call("get"), "val 1");
}

}  // namespace
}  // namespace count::test

namespace count::test {
namespace {

// The project's own clients against the server's TLS port and password.
TEST(TlsE2E, CountClientAndCountBenchSpeakTlsAndAuthenticate) {
  TempDir dir;
  write_file(dir.path() / "password", "s3cret\n");
  write_file(dir.path() / "wrong", "guess\n");
  const std::string password = (dir.path() / "password").string();
  const TestCertificates& certs = test_certificates();
  ServerProcess server(good_server({"--password-file", password, "--no-plain"}));
  const std::string port = std::to_string(server.tls_port());

  const RunResult one = run({binary("count-client"), "-p", port, "--cacert", certs.ca,
                             "--password-file", password, "add", "5"});
  EXPECT_TRUE(exited_with(one, 0));
  EXPECT_EQ(one.out, "ok\n");
  const RunResult piped =
      run({binary("count-client"), "-p", port, "--cacert", certs.ca, "--password-file", password},
          "incr\nget\n");
  EXPECT_TRUE(exited_with(piped, 0));
  EXPECT_EQ(piped.out, "ok\nval 6\n");
  const RunResult refused = run({binary("count-client"), "-p", port, "--cacert", certs.ca,
                                 "--password-file", (dir.path() / "wrong").string(), "get"});
  EXPECT_TRUE(exited_with(refused, 2));
  EXPECT_NE(refused.err.find("refused the password"), std::string::npos) << refused.err;
  const RunResult untrusting = run({binary("count-client"), "-p", port, "--cacert", certs.other_ca,
                                    "--password-file", password, "get"});
  EXPECT_TRUE(exited_with(untrusting, 2));
  EXPECT_NE(untrusting.err.find("certificate verify failed"), std::string::npos) << untrusting.err;

  const RunResult bench =
      run({binary("count-bench"), "-p", port, "--tls", "--cacert", certs.ca, "--password-file",
           password, "-c", "8", "-P", "4", "-n", "4000", "--json"});
  EXPECT_TRUE(exited_with(bench, 0));
  EXPECT_NE(bench.out.find("\"tls\":true"), std::string::npos) << bench.out;
  EXPECT_NE(bench.out.find("\"passed\":true"), std::string::npos) << bench.out;
  EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
}

}  // namespace
}  // namespace count::test
