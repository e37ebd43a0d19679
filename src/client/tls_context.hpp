// The client side of TLS, set up once for count::Client (blocking OpenSSL) and count-bench
// (Asio's streams), so that both trust and check a server the same way. Never accepts a
// server whose certificate does not verify for the name asked for.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <string_view>

#include "client/client.hpp"

namespace count {

struct SslContextFree {
  void operator()(SSL_CTX* context) const { SSL_CTX_free(context); }
};
using SslContextPtr = std::unique_ptr<SSL_CTX, SslContextFree>;

// A client context: TLS 1.2 at least, renegotiation refused, the server's certificate
// verified against tls.ca_file (or the system's CAs), tls's client certificate and key loaded
// and checked against each other. Throws ClientError naming the file and OpenSSL's reason.
SslContextPtr make_client_context(const ClientTls& tls);

// Makes `ssl` demand a certificate for `name`: an IP address (IPv4 or IPv6) must be among its
// IP addresses, a host name among its DNS names, and a host name also goes out as SNI.
// Throws ClientError.
void expect_server_name(SSL* ssl, const std::string& name);

// Why a TLS operation on `ssl` failed, for people: the reason of OpenSSL's error `code`
// (ERR_get_error()'s value) and, when the server's certificate did not verify, why
// ("certificate verify failed (certificate has expired)"). `fallback` when code is 0.
std::string tls_failure_reason(unsigned long code, const SSL* ssl, std::string_view fallback);

}  // namespace count
