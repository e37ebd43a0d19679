// What a session reads from and writes to: its TCP socket, plain or with TLS over it. The
// session sees bytes either way; every call is non-blocking and says what to wait for when it
// cannot go on (a TLS read may need the socket to be writable, and a write readable).
//
// On an epoll loop the socket is Asio's, and the session waits for readiness. On an io_uring
// loop (net/ring.hpp) a plain socket is read by one multishot receive into the ring's buffers
// and written by sends the loop submits together; a TLS socket is waited for with the ring's
// poll and read and written by OpenSSL itself.
#pragma once

#include <openssl/ssl.h>

#include <asio/basic_stream_socket.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "net/ring.hpp"

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
  // On an io_uring loop: owns the non-blocking descriptor `fd`; the ring's completions for it
  // go to `owner`, which hands them to on_completion().
  Transport(int fd, SSL_CTX* tls, Ring& ring, RingTarget& owner);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  bool tls() const { return ssl_ != nullptr; }
  // Epoll loops only.
  Socket& socket() { return *socket_; }
  int fd() const { return fd_; }

  // TLS: one step of the handshake (kDone once it is over; kFailed: see failure()). Plain:
  // kDone.
  Status handshake();

  // kEnd: the client closed its side.
  Result read_some(std::span<char> into);
  Result write_some(std::string_view bytes);

  // True when bytes already taken from the socket (or its end) wait to be read: a read will
  // not wait.
  bool buffered() const {
    return ssl_ != nullptr ? SSL_has_pending(ssl_) == 1 : received_bytes_ > 0 || read_error_ != 0;
  }

  // io_uring loops only. The operations a transport submits, as their completions name them.
  enum Op : unsigned { kReceive = 1, kSend = 2, kPoll = 3 };
  // Arms what makes the next completion come when the socket has bytes to read (a multishot
  // receive, or a poll over TLS), or room to write (over TLS: a poll; plain: the send in
  // flight completes).
  void want_read();
  void want_write();
  // Takes a completion of one of this transport's operations.
  void on_completion(unsigned op, int result, std::uint32_t flags);
  // The receive ended for want of buffers: want_read() helps only once some come back.
  bool starved() const { return starved_; }
  // A plain send is in flight: write_some() takes nothing until it completes.
  bool sending() const { return send_in_flight_; }
  // Operations submitted and not yet completed; the transport must outlive them.
  unsigned in_flight() const { return in_flight_; }
  // Cancels every operation in flight; their completions still come.
  void cancel();
  // Moves received bytes not yet read out of the ring's buffers, and gives those back.
  void keep_received();
  // Gives the ring's buffers back and takes nothing more; for the session's end.
  void release_buffers();
  // Reads what the client has sent and drops it, at most `limit` bytes (before a close).
  void discard_input(std::size_t limit);
  void close();

  // Why the handshake or the last call failed, for the log.
  const std::string& failure() const { return failure_; }

  // No more writes: TLS says close_notify first (best effort); then the socket's FIN.
  void shutdown_send();

 private:
  Result tls_result(int ret, std::size_t bytes);
  Result read_received(std::span<char> into);
  Result send_on_ring(std::string_view bytes);
  void submit_send();
  void arm_poll(short events);

  std::optional<Socket> socket_;  // epoll loops
  int fd_ = -1;
  SSL* ssl_ = nullptr;
  std::string failure_;

  // io_uring loops.
  struct Received {
    std::uint16_t buffer;
    std::uint32_t offset;
    std::uint32_t length;
  };
  Ring* ring_ = nullptr;
  RingTarget* owner_ = nullptr;
  std::vector<Received> received_;  // a queue: entries before received_front_ are served
  std::size_t received_front_ = 0;
  std::string kept_;                // received bytes moved out of the ring's buffers...
  std::size_t kept_front_ = 0;      // ... of which those before this were read
  std::size_t received_bytes_ = 0;  // not yet read, kept or in the ring's buffers
  std::string sending_;     // the bytes of the send in flight, from sent_ on
  std::size_t sent_ = 0;
  unsigned in_flight_ = 0;
  int read_error_ = 0;      // the receive ended: 0 still on, -1 end of stream, else errno
  bool receive_armed_ = false;
  bool send_in_flight_ = false;
  short poll_armed_ = 0;    // the events of the poll in flight, if any
  bool send_failed_ = false;
  bool starved_ = false;
};

}  // namespace count
