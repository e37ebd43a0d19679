// The TLS tests' certificates: each file is there and says what its name promises, as the
// openssl program itself checks it.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "support/certs.hpp"
#include "support/process.hpp"

namespace count::test {
namespace {

RunResult openssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"/usr/bin/openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv);
}

// `openssl verify` of `cert` against `ca`, with its extra checks; the output on failure.
RunResult verify(const std::string& ca, const std::string& cert,
                 const std::vector<std::string>& checks = {}) {
  std::vector<std::string> args{"verify", "-CAfile", ca};
  args.insert(args.end(), checks.begin(), checks.end());
  args.push_back(cert);
  return openssl(args);
}

std::string public_key(const std::string& key) {
  return openssl({"pkey", "-in", key, "-pubout"}).out;
}

TEST(TestCertificates, EveryFileExistsAtAnAbsolutePath) {
  const TestCertificates& c = test_certificates();
  for (const std::string& path :
       {c.ca, c.server_cert, c.server_key, c.expired_cert, c.expired_key, c.wrong_host_cert,
        c.wrong_host_key, c.other_ca, c.other_server_cert, c.other_server_key, c.client_cert,
        c.client_key, c.other_client_cert, c.other_client_key, c.mismatched_key, c.not_pem}) {
    EXPECT_TRUE(std::filesystem::path(path).is_absolute()) << path;
    EXPECT_TRUE(std::filesystem::is_regular_file(path)) << path;
    EXPECT_FALSE(read_file(path).empty()) << path;
  }
  EXPECT_EQ(read_file(c.not_pem).find("-----BEGIN"), std::string::npos);
}

TEST(TestCertificates, AreMadeOnceEvenWhenAskedFromSeveralThreads) {
  std::vector<const TestCertificates*> seen(4);
  std::vector<std::thread> threads;
  threads.reserve(seen.size());
  for (auto& slot : seen) threads.emplace_back([&slot] { slot = &test_certificates(); });
  for (auto& thread : threads) thread.join();
  for (const TestCertificates* each : seen) EXPECT_EQ(each, &test_certificates());
}

TEST(TestCertificates, ServerCertificateVerifiesForItsAddressAndName) {
  const TestCertificates& c = test_certificates();
  const RunResult by_address =
      verify(c.ca, c.server_cert, {"-purpose", "sslserver", "-verify_ip", "127.0.0.1"});
  EXPECT_TRUE(exited_with(by_address, 0));
  const RunResult by_name =
      verify(c.ca, c.server_cert, {"-purpose", "sslserver", "-verify_hostname", "localhost"});
  EXPECT_TRUE(exited_with(by_name, 0));
  EXPECT_NE(verify(c.other_ca, c.server_cert).status, 0);
  EXPECT_NE(public_key(c.server_key), public_key(c.mismatched_key));
  EXPECT_TRUE(exited_with(openssl({"x509", "-in", c.server_cert, "-noout", "-checkend", "86400"}), 0));
}

TEST(TestCertificates, ExpiredCertificateHasExpired) {
  const TestCertificates& c = test_certificates();
  EXPECT_TRUE(exited_with(openssl({"x509", "-in", c.expired_cert, "-noout", "-checkend", "0"}), 1));
  const RunResult result = verify(c.ca, c.expired_cert);
  EXPECT_NE(result.status, 0);
  EXPECT_NE((result.out + result.err).find("certificate has expired"), std::string::npos)
      << result.out << result.err;
}

TEST(TestCertificates, WrongHostCertificateNamesOnlyExampleCom) {
  const TestCertificates& c = test_certificates();
  EXPECT_TRUE(exited_with(verify(c.ca, c.wrong_host_cert, {"-verify_hostname", "example.com"}), 0));
  EXPECT_NE(verify(c.ca, c.wrong_host_cert, {"-verify_ip", "127.0.0.1"}).status, 0);
  EXPECT_NE(verify(c.ca, c.wrong_host_cert, {"-verify_hostname", "localhost"}).status, 0);
}

TEST(TestCertificates, OtherCaSignedOnlyItsOwn) {
  const TestCertificates& c = test_certificates();
  EXPECT_TRUE(exited_with(verify(c.other_ca, c.other_server_cert, {"-verify_ip", "127.0.0.1"}), 0));
  EXPECT_NE(verify(c.ca, c.other_server_cert).status, 0);
  EXPECT_TRUE(exited_with(verify(c.other_ca, c.other_client_cert, {"-purpose", "sslclient"}), 0));
  EXPECT_NE(verify(c.ca, c.other_client_cert).status, 0);
}

TEST(TestCertificates, ClientCertificateIsForClients) {
  const TestCertificates& c = test_certificates();
  const RunResult client = verify(c.ca, c.client_cert, {"-purpose", "sslclient"});
  EXPECT_TRUE(exited_with(client, 0));
  EXPECT_NE(verify(c.ca, c.client_cert, {"-purpose", "sslserver"}).status, 0);
  EXPECT_EQ(public_key(c.client_key),
            openssl({"x509", "-in", c.client_cert, "-noout", "-pubkey"}).out);
}

}  // namespace
}  // namespace count::test
