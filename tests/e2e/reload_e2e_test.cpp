// Reloading on SIGHUP (README, "Reloading"): the TLS certificate, key and CA and the password
// file are read again; new connections get the new ones, open connections keep working; a
// file that does not load changes nothing and is named in one error line; a reload under load
// loses nothing. Labelled concurrency, so ThreadSanitizer runs it too.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "support/certs.hpp"
#include "support/process.hpp"
#include "support/prometheus.hpp"

namespace count::test {
namespace {

using namespace std::chrono_literals;

// The files a server is started with, in a folder of the test's, so that the test can change
// them as an operator renewing a certificate or a password does.
class ServedFiles {
 public:
  ServedFiles() {
    const TestCertificates& certs = test_certificates();
    install(certs.server_cert, certs.server_key);
    write_password("first-Pa55");
  }

  std::string cert() const { return (dir_.path() / "cert.pem").string(); }
  std::string key() const { return (dir_.path() / "key.pem").string(); }
  std::string password() const { return (dir_.path() / "password").string(); }

  // Puts a certificate and its key in place (copies: the originals are shared by every test).
  void install(const std::string& cert_file, const std::string& key_file) const {
    std::filesystem::copy_file(cert_file, cert(),
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::copy_file(key_file, key(), std::filesystem::copy_options::overwrite_existing);
  }
  void write_password(const std::string& password) const {
    write_file(password_path(), password + "\n");
  }

  // A TLS server on these files, in memory, with its metrics page; `password`: it also
  // needs the password file's.
  std::vector<std::string> server_args(bool password) const {
    std::vector<std::string> args{"--in-memory", "--tls-port", "0",
                                  "--tls-cert",  cert(),       "--tls-key",
                                  key(),         "--tls-ca",   test_certificates().ca,
                                  "--metrics",   "127.0.0.1:0"};
    if (password) {
      args.push_back("--password-file");
      args.push_back(this->password());
    }
    return args;
  }

 private:
  std::filesystem::path password_path() const { return dir_.path() / "password"; }
  TempDir dir_;
};

// A TLS client that trusts the test CA and shows the test client certificate.
Client tls_client(const ServerProcess& server) {
  ClientTls tls;
  tls.ca_file = test_certificates().ca;
  tls.cert_file = test_certificates().client_cert;
  tls.key_file = test_certificates().client_key;
  Client client = Client::connect("127.0.0.1", server.tls_port(), 10s, &tls);
  client.set_receive_timeout(10s);
  return client;
}

// Sends SIGHUP and waits for the `n`th line that says how a reload ended (either way).
bool reload(const ServerProcess& server, std::size_t n) {
  server.signal(SIGHUP);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  for (;;) {
    const std::string log = server.log();
    if (occurrences(log, "SIGHUP: reloaded: ") + occurrences(log, "SIGHUP: reload failed") >= n) {
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
}

double metric(const ServerProcess& server, const std::string& series) {
  return sample(scrape(server.metrics_port()), series).value_or(-1);
}

TEST(ReloadE2E, ARotatedCertificateServesNewClientsWhileOpenOnesKeepWorking) {
  const TestCertificates& certs = test_certificates();
  const ServedFiles files;
  ServerProcess server(files.server_args(false));
  const std::string old_fingerprint = certificate_fingerprint(certs.server_cert);
  const std::string new_fingerprint = certificate_fingerprint(certs.renewed_cert);
  ASSERT_NE(old_fingerprint, new_fingerprint);
  EXPECT_EQ(served_fingerprint(server.tls_port()), old_fingerprint);
  EXPECT_NE(server.log().find("SHA-256 " + old_fingerprint), std::string::npos) << server.log();

  Client before = tls_client(server);
  ASSERT_EQ(before.call("incr"), "ok");
  files.install(certs.renewed_cert, certs.renewed_key);
  ASSERT_TRUE(reload(server, 1)) << server.log();
  const std::string log = server.log();
  EXPECT_NE(log.find("SIGHUP: reloaded: TLS certificate CN=count test renewed (SHA-256 " +
                     new_fingerprint + "), valid until "),
            std::string::npos)
      << log;

  // New connections see the new certificate; the one opened before goes on undisturbed.
  EXPECT_EQ(served_fingerprint(server.tls_port()), new_fingerprint);
  Client after = tls_client(server);
  EXPECT_EQ(after.call("incr"), "ok");
  EXPECT_EQ(before.call("incr"), "ok");
  EXPECT_EQ(before.call("get"), "val 3");
  EXPECT_EQ(after.call("get"), "val 3");

  EXPECT_EQ(metric(server, "count_server_reloads_total"), 1);
  EXPECT_EQ(metric(server, "count_server_reload_failures_total"), 0);
  // The gauge is the renewed certificate's expiry: about 60 days ahead (the first: 30).
  const double expiry = metric(server, "count_server_tls_certificate_expiry_timestamp_seconds");
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_NEAR(expiry - now, 60 * 86400.0, 3600.0);
  EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
}

// Each bad set of files: the reload fails, says which file in one error line, and the old
// certificate goes on serving, to new clients as to open ones.
TEST(ReloadE2E, AFileThatDoesNotLoadChangesNothingAndIsNamedInOneErrorLine) {
  const TestCertificates& certs = test_certificates();
  const ServedFiles files;
  ServerProcess server(files.server_args(true));
  const std::string fingerprint = certificate_fingerprint(certs.server_cert);
  Client open = tls_client(server);
  ASSERT_EQ(open.call("auth first-Pa55"), "ok");

  struct Case {
    const char* what;
    std::string cert, key;  // put in place before the reload ("": the file is removed)
    std::string password;   // written to the password file
    std::string names;      // what the error line must hold
  };
  const std::vector<Case> cases{
      {"a key that is not the certificate's", certs.renewed_cert, certs.server_key, "first-Pa55",
       "--tls-key " + files.key() + " is not the key of the certificate in " + files.cert()},
      {"a certificate file without PEM", certs.not_pem, certs.server_key, "first-Pa55",
       "--tls-cert " + files.cert() + ": no usable certificate"},
      {"an expired certificate", certs.expired_cert, certs.expired_key, "first-Pa55",
       "--tls-cert " + files.cert() + ": the certificate expired on "},
      {"a missing key", certs.server_cert, "", "first-Pa55", "--tls-key " + files.key() + ": "},
      {"a good certificate but a bad password file", certs.renewed_cert, certs.renewed_key,
       "has space", "--password-file: "},
  };
  std::size_t reloads = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    std::filesystem::copy_file(c.cert, files.cert(),
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::remove(files.key());
    if (!c.key.empty()) std::filesystem::copy_file(c.key, files.key());
    files.write_password(c.password);
    const std::size_t errors_before = occurrences(server.log(), "error: ");
    ASSERT_TRUE(reload(server, ++reloads)) << server.log();
    const std::string log = server.log();
    EXPECT_EQ(occurrences(log, "error: "), errors_before + 1) << log;
    EXPECT_NE(log.find("SIGHUP: reload failed, nothing changed: " + c.names), std::string::npos)
        << log;
    EXPECT_EQ(served_fingerprint(server.tls_port()), fingerprint);
    Client fresh = tls_client(server);
    EXPECT_EQ(fresh.call("auth first-Pa55"), "ok");
    EXPECT_EQ(fresh.call("incr"), "ok");
    EXPECT_EQ(open.call("incr"), "ok");
  }
  EXPECT_EQ(occurrences(server.log(), "SIGHUP: reloaded: "), 0U) << server.log();
  EXPECT_EQ(metric(server, "count_server_reload_failures_total"),
            static_cast<double>(cases.size()));
  EXPECT_EQ(metric(server, "count_server_reloads_total"), 0);

  // Put right, the next reload takes it all.
  files.install(certs.renewed_cert, certs.renewed_key);
  files.write_password("first-Pa55");
  ASSERT_TRUE(reload(server, ++reloads)) << server.log();
  EXPECT_EQ(served_fingerprint(server.tls_port()), certificate_fingerprint(certs.renewed_cert));
  EXPECT_NE(server.log().find("password unchanged"), std::string::npos) << server.log();
  EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
}

TEST(ReloadE2E, ANewPasswordIsCheckedByNewAuthWhileAuthenticatedConnectionsStaySo) {
  const ServedFiles files;
  ServerProcess server({"--in-memory", "--password-file", files.password()});
  Client authenticated = server.connect();
  ASSERT_EQ(authenticated.call("auth first-Pa55"), "ok");
  Client waiting = server.connect();  // connected before the change, not yet authenticated

  files.write_password("second-Pa55");
  ASSERT_TRUE(reload(server, 1)) << server.log();
  const std::string log = server.log();
  EXPECT_NE(log.find("SIGHUP: reloaded: password changed"), std::string::npos) << log;
  EXPECT_EQ(log.find("second-Pa55"), std::string::npos) << "the log shows the password: " << log;
  EXPECT_EQ(log.find("first-Pa55"), std::string::npos) << "the log shows the password: " << log;

  EXPECT_EQ(authenticated.call("incr"), "ok");
  EXPECT_EQ(waiting.call("auth first-Pa55"), "err");
  EXPECT_EQ(waiting.call("auth second-Pa55"), "ok");  // after the wrong password's pause
  EXPECT_EQ(waiting.call("incr"), "ok");
  Client fresh = server.connect();
  EXPECT_EQ(fresh.call("auth first-Pa55"), "err");
  Client other = server.connect();
  EXPECT_EQ(other.call("auth second-Pa55"), "ok");
  EXPECT_EQ(other.call("get"), "val 2");
  EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
}

// count-bench over TLS, with a password, while the certificate is rotated back and forth:
// every request answered, no connection dropped, the counter exact; new connections made
// meanwhile get the certificate of the moment.
TEST(ReloadE2E, ReloadsUnderLoadLoseNoRequestAndDropNoConnection) {
  const TestCertificates& certs = test_certificates();
  const ServedFiles files;
  ServerProcess server(files.server_args(true));
  TempDir bench_dir;
  write_file(bench_dir.path() / "password", "first-Pa55\n");
  auto bench = std::async(std::launch::async, [&] {
    return run({binary("count-bench"),
                "-h",
                "127.0.0.1",
                "-p",
                std::to_string(server.tls_port()),
                "--cacert",
                certs.ca,
                "--cert",
                certs.client_cert,
                "--cert-key",
                certs.client_key,
                "--password-file",
                (bench_dir.path() / "password").string(),
                "-c",
                "8",
                "-P",
                "4",
                "-d",
                "3",
                "--warmup",
                "0.5",
                "--json"},
               {}, 60s);
  });
  // Rotate while the load runs: the renewed certificate, then the first again, and so on.
  std::size_t reloads = 0;
  const auto until = std::chrono::steady_clock::now() + 3s;
  while (std::chrono::steady_clock::now() < until && reloads < 20) {
    const bool renewed = reloads % 2 == 0;
    files.install(renewed ? certs.renewed_cert : certs.server_cert,
                  renewed ? certs.renewed_key : certs.server_key);
    ASSERT_TRUE(reload(server, ++reloads)) << server.log();
    // A new connection, in the middle of the load, gets the certificate just installed.
    EXPECT_EQ(served_fingerprint(server.tls_port()),
              certificate_fingerprint(renewed ? certs.renewed_cert : certs.server_cert));
    std::this_thread::sleep_for(100ms);
  }
  const RunResult result = bench.get();
  EXPECT_TRUE(exited_with(result, 0));
  for (const char* clean : {"\"error_replies\":0,", "\"unexpected\":0,", "\"lost_in_flight\":0,",
                            "\"broken_connections\":0,", "\"timed_out\":false,", "\"ok\":true"}) {
    EXPECT_NE(result.out.find(clean), std::string::npos) << clean << " in " << result.out;
  }
  EXPECT_EQ(occurrences(server.log(), "SIGHUP: reloaded: "), reloads) << server.log();
  EXPECT_GE(reloads, 2U);
  EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
}

TEST(ReloadE2E, ACertificateThatExpiresWithinAWeekIsWarnedAbout) {
  const TestCertificates& certs = test_certificates();
  const ServedFiles files;
  files.install(certs.soon_expiring_cert, certs.soon_expiring_key);
  ServerProcess server(files.server_args(false));
  EXPECT_TRUE(
      server.log_shows("warning: the TLS certificate CN=count test soon_expiring expires in "))
      << server.log();
  // Renewed, the warning is not said again.
  files.install(certs.renewed_cert, certs.renewed_key);
  ASSERT_TRUE(reload(server, 1)) << server.log();
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(occurrences(server.log(), "warning: "), 1U) << server.log();
  EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
}

}  // namespace
}  // namespace count::test
