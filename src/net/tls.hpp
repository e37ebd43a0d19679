// TLS for count-server: the server's certificate, key and client CA, loaded and checked once
// at start (TlsContext), and one connection's TLS state over its socket (TlsConnection), used
// by Transport. OpenSSL, configured through Asio's SSL context. TLS 1.2 and 1.3 only.
#pragma once

#include <openssl/ssl.h>

#include <asio/ssl/context.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>

namespace count {

// A certificate, key or CA file that cannot serve: missing, unreadable, not PEM, expired,
// not yet valid, or a key that does not match its certificate. what() names the file.
class TlsConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct TlsFiles {
  std::string cert;  // the server's certificate chain (PEM), its own certificate first
  std::string key;   // its private key (PEM)
  std::string ca;    // when set, clients must present a certificate signed by this CA
};

// What the log and the metrics say of the certificate served.
struct CertificateInfo {
  std::string subject;      // "CN=count.example.com,O=..." (RFC 2253)
  std::string fingerprint;  // SHA-256 of the DER form, "AB:CD:..."
  std::chrono::system_clock::time_point not_after;
  std::string not_after_text;  // "Dec  6 21:43:04 2027 GMT"
};

// One set of files, loaded together: a reload makes a new context and swaps it in whole.
// Each connection's TLS state holds a reference to the context it started with, so one that
// is replaced lives on until its last connection ends.
class TlsContext {
 public:
  // Loads and checks every file; throws TlsConfigError.
  explicit TlsContext(const TlsFiles& files);

  SSL_CTX* native() { return context_.native_handle(); }
  bool requires_client_certificates() const { return client_certificates_; }
  const CertificateInfo& certificate() const { return certificate_; }

 private:
  asio::ssl::context context_;
  bool client_certificates_ = false;
  CertificateInfo certificate_;
};

// The reason of the last TLS failure on this thread, from OpenSSL's error queue (which it
// empties), e.g. "wrong version number" for clear text on a TLS port.
std::string take_tls_error(int ssl_error);

}  // namespace count
