// One client connection: read, split, parse, execute, queue the reply, write
// (docs/protocol.md). Runs only on its loop's thread and never blocks: every socket call is
// non-blocking. On an epoll loop, run() is a coroutine that suspends only while it waits for
// the socket or for durability; on an io_uring loop, the loop calls step() whenever what the
// session waits for has come, and the session says what it waits for next.
#pragma once

#include <openssl/ssl.h>

#include <asio/awaitable.hpp>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "commands/commands.hpp"
#include "commands/resp_commands.hpp"
#include "metrics/loop_metrics.hpp"
#include "net/outbox.hpp"
#include "net/rejection_log.hpp"
#include "net/transport.hpp"
#include "protocol/line_splitter.hpp"
#include "protocol/resp.hpp"
#include "store/store.hpp"

namespace count {

class Loop;

// Past this many unsent reply bytes the session stops reading from its client, until the
// client reads.
inline constexpr std::size_t kMaxQueuedReplyBytes = std::size_t{64} * 1024;

// Counts a live session for the server's connection limit, for as long as it exists.
class ConnectionSlot {
 public:
  ConnectionSlot() = default;
  explicit ConnectionSlot(std::atomic<std::size_t>& count) : count_(&count) {}
  ConnectionSlot(ConnectionSlot&& other) noexcept : count_(std::exchange(other.count_, nullptr)) {}
  ConnectionSlot& operator=(ConnectionSlot&&) = delete;
  ~ConnectionSlot() {
    if (count_ != nullptr) count_->fetch_sub(1, std::memory_order_relaxed);
  }

 private:
  std::atomic<std::size_t>* count_ = nullptr;  // owned by the server
};

class Session final : public RingTarget {
 public:
  // `loop` and `store` must outlive the session; with `tls`, the client must shake hands
  // first (over TLS, the session is the same: Transport hides it). An epoll loop's session:
  Session(Loop& loop, Socket socket, Store& store, SSL_CTX* tls, ConnectionSlot slot);
  // An io_uring loop's: owns `fd`, a non-blocking TCP socket.
  Session(Loop& loop, int fd, Store& store, SSL_CTX* tls, ConnectionSlot slot);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Epoll loops: serves the connection until the client quits, closes, fails, or the loop
  // shuts down.
  asio::awaitable<void, LoopExecutor> run();

  // io_uring loops: does what can be done now and says what it waits for. Once ended() is
  // true, nothing of the ring refers to the session any more and the loop deletes it.
  void step();
  bool ended() const { return phase_ == Phase::kEnded; }
  void on_completion(unsigned op, int result, std::uint32_t flags) override;

  // Makes the session look again at its socket, its queue and the loop, if it waits on its
  // socket (an epoll loop's run(); an io_uring loop's next step). It leaves the session on
  // the loop's list of durability waiters, if it is there.
  void wake();

  // The loop's periodic check, `tick` seconds after the loop started: closes the connection
  // if it has outstayed a timeout (docs/protocol.md, "Limits"), and says so.
  void check_timeouts(std::uint32_t tick);

 private:
  enum class Wait { kReadable, kWritable, kDurable, kPaused, kYield, kDone };
  enum class ReadOutcome { kDrained, kBudgetUsed, kStopped };
  enum class Phase { kHandshake, kServing, kClosing, kEnded };  // io_uring loops
  struct Penalty;

  void step_handshake();
  void step_close();
  void wait_on_ring(Wait wait);

  asio::awaitable<bool, LoopExecutor> shake_hands();
  Wait serve_what_is_ready();
  void serve_held_input();
  void pause_after_wrong_password(std::string_view rest);
  void close_for(Rejection cause);
  void count_close();
  std::string peer() const;
  ReadOutcome read_and_serve();
  struct Resp;

  void serve(std::string_view bytes);
  void serve_line(std::string_view bytes);
  void serve_resp(std::string_view bytes);
  void after_serving(std::uint64_t wrong_before, std::uint64_t refused_before,
                     std::string_view rest);
  void render_late(const Reply& reply, std::string& out);
  void serve_end_of_stream();
  void hold_late_reply(Reply reply, std::string& replies, Seq& seq);
  void queue_replies(std::string& replies, Seq seq);
  void flush();
  bool can_read() const;
  void finish();

  Loop& loop_;    // owns the context the socket runs on
  Store& store_;  // owned by the server
  ConnectionSlot slot_;
  Transport transport_;
  LineSplitter splitter_;       // the line protocol's
  std::unique_ptr<Resp> resp_;  // the Redis protocol's: made when the first byte is '*'
  bool protocol_chosen_ = false;
  Outbox outbox_;
  ConnectionState connection_;
  std::unique_ptr<Penalty> penalty_;  // after a wrong password only
  std::uint32_t input_tick_ = 0;      // the loop's tick of the last bytes read (or the start)
  std::uint32_t output_tick_ = 0;     // ... when the client's socket last became full
  bool handshaking_ = false;
  bool peer_closed_ = false;   // the client half-closed: answer what came, then close
  bool quit_ = false;          // a quit was answered: send what is queued, then close
  bool failed_ = false;        // the connection broke: drop everything
  bool stop_reading_ = false;  // shutting down: what was received is served
  bool awaiting_durable_ = false;
  bool paused_ = false;         // waits out a wrong password's penalty
  bool write_blocked_ = false;  // replies wait for the client's socket to take them
  CloseCause close_cause_ = CloseCause::kCount;  // set by whatever ends the connection first

  // io_uring loops.
  Phase phase_ = Phase::kServing;
  Wait waiting_ = Wait::kReadable;  // what the last step waits for
  bool graceful_close_ = false;     // replies are sent and a FIN follows them
  bool shut_ = false;               // the close has begun: no more reads
  bool queued_ = false;             // on the loop's list of sessions to step

  // The loop's list of its sessions (see Loop::attach).
  friend class Loop;
  Session* prev_ = nullptr;
  Session* next_ = nullptr;
};

}  // namespace count
