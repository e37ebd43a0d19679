// What a session reads from and writes to: its TCP socket, plain or with TLS over it. The
// session sees bytes either way; every call is non-blocking and says what to wait for when it
// cannot go on (a TLS read may need the socket to be writable, and a write readable).
#pragma once

#include <openssl/ssl.h>

#include <asio/basic_stream_socket.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace count {

// The loop's own executor type rather than the type-erased default: smaller sockets and
// coroutine frames, which is most of what an idle connection costs.
using LoopExecutor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<asio::ip::tcp, LoopExecutor>;

class Transport {
 public:
  enum class Status { kDone, kWantRead, kWantWrite, kEnd, kFailed };
  struct Result {
    Status status;
    std::size_t bytes = 0;  // with kDone
  };

  // Plain when `tls` is null; otherwise a TLS server end, which must shake hands first.
  // Throws std::bad_alloc when OpenSSL cannot make the connection's state.
  Transport(Socket socket, SSL_CTX* tls);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  bool tls() const { return ssl_ != nullptr; }
  Socket& socket() { return socket_; }
  const Socket& socket() const { return socket_; }
  // The socket's descriptor (Asio's native_handle() is not const).
  int fd() const { return const_cast<Socket&>(socket_).native_handle(); }

  // TLS: one step of the handshake (kDone once it is over; kFailed: see failure()). Plain:
  // kDone.
  Status handshake();

  // kEnd: the client closed its side.
  Result read_some(std::span<char> into);
  Result write_some(std::string_view bytes);

  // True when bytes already taken from the socket wait to be read: a read will not wait.
  bool buffered() const { return ssl_ != nullptr && SSL_has_pending(ssl_) == 1; }

  // Why the handshake or the last call failed, for the log.
  const std::string& failure() const { return failure_; }

  // No more writes: TLS says close_notify first (best effort); then the socket's FIN.
  void shutdown_send();

 private:
  Result tls_result(int ret, std::size_t bytes);

  Socket socket_;
  SSL* ssl_ = nullptr;
  std::string failure_;
};

}  // namespace count
