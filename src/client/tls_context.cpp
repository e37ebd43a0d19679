#include "client/tls_context.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <array>
#include <cstring>

namespace count {
namespace {

// The reason of OpenSSL's oldest queued error, the one that started the failure; the queue is
// emptied, so that no later call reports it again.
std::string queued_reason(std::string_view fallback) {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  return tls_failure_reason(code, nullptr, fallback);
}

[[noreturn]] void fail_loading(const std::string& what, const std::string& path) {
  throw ClientError("cannot load " + what + " " + path + ": " + queued_reason("unknown error"));
}

}  // namespace

SslContextPtr make_client_context(const ClientTls& tls) {
  ERR_clear_error();
  SslContextPtr context(SSL_CTX_new(TLS_client_method()));
  if (!context) throw ClientError("cannot set up TLS: " + queued_reason("out of memory"));
  SSL_CTX_set_min_proto_version(context.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(context.get(), SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_verify(context.get(), SSL_VERIFY_PEER, nullptr);

  if (tls.ca_file.empty()) {
    if (SSL_CTX_set_default_verify_paths(context.get()) != 1) {
      throw ClientError("cannot load the system's CA certificates: " +
                        queued_reason("unknown error"));
    }
  } else if (SSL_CTX_load_verify_file(context.get(), tls.ca_file.c_str()) != 1) {
    fail_loading("the CA certificates", tls.ca_file);
  }

  if (tls.cert_file.empty() != tls.key_file.empty()) {
    throw ClientError("a client certificate needs both its certificate file and its key file");
  }
  if (!tls.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(context.get(), tls.cert_file.c_str()) != 1) {
      fail_loading("the client certificate", tls.cert_file);
    }
    if (SSL_CTX_use_PrivateKey_file(context.get(), tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
        ERR_clear_error();
        throw ClientError("the client key " + tls.key_file +
                          " does not belong to the certificate " + tls.cert_file);
      }
      fail_loading("the client key", tls.key_file);
    }
  }
  return context;
}

void expect_server_name(SSL* ssl, const std::string& name) {
  std::array<unsigned char, 16> address{};
  const bool is_address = ::inet_pton(AF_INET, name.c_str(), address.data()) == 1 ||
                          ::inet_pton(AF_INET6, name.c_str(), address.data()) == 1;
  bool set = false;
  if (is_address) {
    set = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str()) == 1;
  } else {
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    set = SSL_set1_host(ssl, name.c_str()) == 1 && SSL_set_tlsext_host_name(ssl, name.c_str()) == 1;
  }
  if (!set) {
    throw ClientError("cannot check TLS certificates for the name '" + name +
                      "': " + queued_reason("unknown error"));
  }
}

std::string tls_failure_reason(unsigned long code, const SSL* ssl, std::string_view fallback) {
  if (code == 0) return std::string(fallback);
  // A failed system call (a file that cannot be opened) carries errno.
  if (ERR_SYSTEM_ERROR(code)) return std::strerror(static_cast<int>(ERR_GET_REASON(code)));
  const char* text = ERR_reason_error_string(code);
  std::string reason = text != nullptr ? text : "OpenSSL error " + std::to_string(code);
  if (ssl != nullptr && ERR_GET_LIB(code) == ERR_LIB_SSL &&
      ERR_GET_REASON(code) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
    const long result = SSL_get_verify_result(ssl);
    if (result != X509_V_OK) {
      reason.append(" (").append(X509_verify_cert_error_string(result)).append(")");
    }
  }
  return reason;
}

}  // namespace count
