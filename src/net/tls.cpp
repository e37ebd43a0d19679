#include "net/tls.hpp"

#include <fmt/core.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>

namespace count {
namespace {

// The reasons OpenSSL queued, oldest first, joined; empties the queue.
std::string take_openssl_reasons() {
  std::string reasons;
  for (unsigned long code = ERR_get_error(); code != 0; code = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(code);
    const std::string text = reason != nullptr ? reason : fmt::format("error {:#x}", code);
    if (reasons.find(text) != std::string::npos) continue;
    if (!reasons.empty()) reasons += "; ";
    reasons += text;
  }
  return reasons;
}

// A file that does not open gets the system's reason, before OpenSSL's vaguer one.
void require_readable(const char* option, const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    throw TlsConfigError(fmt::format("{} {}: {}", option, path, std::strerror(errno)));
  }
}

// What `print` writes into a memory BIO, as text.
template <typename Print>
std::string printed(Print print) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return "?";
  print(bio);
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);
  std::string text(data, static_cast<std::size_t>(length));
  BIO_free(bio);
  return text;
}

std::string asn1_time_text(const ASN1_TIME* time) {
  return printed([time](BIO* bio) { ASN1_TIME_print(bio, time); });
}

// "CN=...,O=..." as RFC 2253 writes a name.
std::string name_text(const X509_NAME* name) {
  return printed([name](BIO* bio) { X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253); });
}

std::string sha256_fingerprint(const X509* certificate) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (X509_digest(certificate, EVP_sha256(), digest, &length) != 1) return "?";
  std::string text;
  for (unsigned int i = 0; i < length; ++i) {
    text += fmt::format("{}{:02X}", i == 0 ? "" : ":", digest[i]);
  }
  return text;
}

std::chrono::system_clock::time_point time_point_of(const ASN1_TIME* time) {
  std::tm parts{};
  if (ASN1_TIME_to_tm(time, &parts) != 1) return {};
  return std::chrono::system_clock::from_time_t(::timegm(&parts));
}

CertificateInfo describe(const X509* certificate) {
  return {name_text(X509_get_subject_name(certificate)), sha256_fingerprint(certificate),
          time_point_of(X509_get0_notAfter(certificate)),
          asn1_time_text(X509_get0_notAfter(certificate))};
}

}  // namespace

TlsContext::TlsContext(const TlsFiles& files) : context_(asio::ssl::context::tls_server) {
  ERR_clear_error();
  SSL_CTX* ctx = context_.native_handle();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // No renegotiation (a client could make the server work for nothing); a peer that closes
  // without close_notify is an ordinary end of stream for a line protocol.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  // An idle connection gives its buffers back; a write may be partial and retried from a
  // buffer that moved (a session's queue of replies grows and compacts).
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // One recv for whatever the socket holds, rather than one for each record's header and
  // another for its body: half the reads when requests come one record at a time.
  SSL_CTX_set_read_ahead(ctx, 1);

  require_readable("--tls-cert", files.cert);
  require_readable("--tls-key", files.key);
  if (SSL_CTX_use_certificate_chain_file(ctx, files.cert.c_str()) != 1) {
    throw TlsConfigError(fmt::format("--tls-cert {}: no usable certificate in it ({})", files.cert,
                                     take_openssl_reasons()));
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, files.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    const std::string reasons = take_openssl_reasons();
    if (reasons.find("key values mismatch") == std::string::npos) {
      throw TlsConfigError(
          fmt::format("--tls-key {}: no usable private key in it ({})", files.key, reasons));
    }
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    throw TlsConfigError(
        fmt::format("--tls-key {} is not the key of the certificate in {}", files.key, files.cert));
  }
  const X509* certificate = SSL_CTX_get0_certificate(ctx);
  if (X509_cmp_current_time(X509_get0_notAfter(certificate)) <= 0) {
    throw TlsConfigError(fmt::format("--tls-cert {}: the certificate expired on {}", files.cert,
                                     asn1_time_text(X509_get0_notAfter(certificate))));
  }
  if (X509_cmp_current_time(X509_get0_notBefore(certificate)) >= 0) {
    throw TlsConfigError(fmt::format("--tls-cert {}: the certificate is not valid before {}",
                                     files.cert, asn1_time_text(X509_get0_notBefore(certificate))));
  }
  certificate_ = describe(certificate);

  if (!files.ca.empty()) {
    require_readable("--tls-ca", files.ca);
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(files.ca.c_str());
    if (names == nullptr || SSL_CTX_load_verify_locations(ctx, files.ca.c_str(), nullptr) != 1) {
      if (names != nullptr) sk_X509_NAME_pop_free(names, X509_NAME_free);
      throw TlsConfigError(fmt::format("--tls-ca {}: no usable CA certificate in it ({})", files.ca,
                                       take_openssl_reasons()));
    }
    SSL_CTX_set_client_CA_list(ctx, names);  // takes `names`
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    static constexpr unsigned char kSessionContext[] = "count-server";
    SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
    client_certificates_ = true;
  }
  ERR_clear_error();
}

std::string take_tls_error(int ssl_error) {
  std::string reasons = take_openssl_reasons();
  if (!reasons.empty()) return reasons;
  if (ssl_error == SSL_ERROR_SYSCALL) {
    return errno != 0 ? std::strerror(errno) : "the connection closed in the middle";
  }
  return fmt::format("TLS error {}", ssl_error);
}

}  // namespace count
