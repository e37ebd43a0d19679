// Certificates and keys for the TLS tests, made by the real `openssl` command-line tool when a
// test process first asks (none are checked in), kept until it exits. EC P-256 throughout.
#pragma once

#include <cstdint>
#include <string>

namespace count::test {

// Absolute paths of PEM files.
struct TestCertificates {
  std::string ca;  // CA certificate that signed server, client, expired and wrong_host
  std::string server_cert, server_key;    // SAN IP:127.0.0.1 and DNS:localhost, valid from a day
                                          // ago to 30 days ahead
  std::string expired_cert, expired_key;  // same SANs, signed by `ca`, notAfter past
  std::string wrong_host_cert, wrong_host_key;      // signed by `ca`, SAN DNS:example.com only
  std::string other_ca;                             // an unrelated CA
  std::string other_server_cert, other_server_key;  // signed by other_ca, SAN IP:127.0.0.1
  std::string client_cert, client_key;  // client certificate (extendedKeyUsage clientAuth)
                                        // signed by `ca`
  std::string other_client_cert, other_client_key;  // client certificate signed by other_ca
  std::string mismatched_key;                       // a valid key that is not server_cert's
  std::string not_pem;                              // a file that exists but holds no PEM
  std::string renewed_cert, renewed_key;  // the server's next certificate, as at a renewal:
                                          // same SANs, signed by `ca`, a key of its own
  std::string soon_expiring_cert, soon_expiring_key;  // the same, valid 3 more days only
};

// Made once per test process (thread-safe), kept until the process exits. Throws
// std::runtime_error with openssl's output if openssl fails.
const TestCertificates& test_certificates();

// The SHA-256 fingerprint of a PEM certificate file, "AB:CD:..." (upper-case hex).
std::string certificate_fingerprint(const std::string& pem_file);

// The same of the certificate a TLS server on 127.0.0.1:`port` presents now (the handshake
// checks nothing else). Throws std::runtime_error when there is no handshake.
std::string served_fingerprint(std::uint16_t port);

}  // namespace count::test
