#include "net/transport.hpp"

#include <fmt/core.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include <cerrno>
#include <new>

#include "net/tls.hpp"

namespace count {

Transport::Transport(Socket socket, SSL_CTX* tls) : socket_(std::move(socket)) {
  if (tls == nullptr) return;
  ssl_ = SSL_new(tls);
  if (ssl_ == nullptr || SSL_set_fd(ssl_, socket_.native_handle()) != 1) {
    SSL_free(ssl_);
    ERR_clear_error();
    throw std::bad_alloc();
  }
  SSL_set_accept_state(ssl_);
}

Transport::~Transport() { SSL_free(ssl_); }

Transport::Status Transport::handshake() {
  if (ssl_ == nullptr) return Status::kDone;
  ERR_clear_error();
  const int ret = SSL_do_handshake(ssl_);
  if (ret == 1) return Status::kDone;
  const Result result = tls_result(ret, 0);
  if (result.status == Status::kFailed || result.status == Status::kEnd) {
    const long verify = SSL_get_verify_result(ssl_);
    if (verify != X509_V_OK) {
      failure_ += fmt::format(" ({})", X509_verify_cert_error_string(verify));
    }
    return Status::kFailed;
  }
  return result.status;
}

Transport::Result Transport::read_some(std::span<char> into) {
  if (ssl_ == nullptr) {
    asio::error_code ec;
    const std::size_t n = socket_.read_some(asio::buffer(into.data(), into.size()), ec);
    if (!ec) return {Status::kDone, n};
    if (ec == asio::error::would_block) return {Status::kWantRead};
    if (ec == asio::error::eof) return {Status::kEnd};
    failure_ = ec.message();
    return {Status::kFailed};
  }
  // OpenSSL's error queue is empty here: every failure below takes what it queued.
  std::size_t n = 0;
  const int ret = SSL_read_ex(ssl_, into.data(), into.size(), &n);
  return tls_result(ret, n);
}

Transport::Result Transport::write_some(std::string_view bytes) {
  if (ssl_ == nullptr) {
    asio::error_code ec;
    const std::size_t n = socket_.write_some(asio::buffer(bytes), ec);
    if (!ec) return {Status::kDone, n};
    if (ec == asio::error::would_block) return {Status::kWantWrite};
    failure_ = ec.message();
    return {Status::kFailed};
  }
  std::size_t n = 0;
  const int ret = SSL_write_ex(ssl_, bytes.data(), bytes.size(), &n);
  return tls_result(ret, n);
}

Transport::Result Transport::tls_result(int ret, std::size_t bytes) {
  if (ret == 1) return {Status::kDone, bytes};
  const int error = SSL_get_error(ssl_, ret);
  switch (error) {
    case SSL_ERROR_WANT_READ:
      return {Status::kWantRead};
    case SSL_ERROR_WANT_WRITE:
      return {Status::kWantWrite};
    case SSL_ERROR_ZERO_RETURN:
      return {Status::kEnd};
    default:
      failure_ = take_tls_error(error);
      return {Status::kFailed};
  }
}

void Transport::shutdown_send() {
  if (ssl_ != nullptr && SSL_is_init_finished(ssl_) == 1) {
    ERR_clear_error();
    SSL_shutdown(ssl_);  // queues and tries to send close_notify; no wait for the client's
    ERR_clear_error();
  }
  asio::error_code ignored;
  socket_.shutdown(asio::socket_base::shutdown_send, ignored);
}

}  // namespace count
