// One client connection: read, split, parse, execute, queue the reply, write
// (docs/protocol.md). Runs only on its loop's thread and never blocks: every socket call is
// non-blocking, and run() suspends while it waits for the socket or for durability.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "net/outbox.hpp"
#include "protocol/line_splitter.hpp"
#include "store/store.hpp"

namespace count {

class Loop;

// Past this many unsent reply bytes the session stops reading from its client, until the
// client reads.
inline constexpr std::size_t kMaxQueuedReplyBytes = 64 * 1024;

class Session {
 public:
  // `loop` and `store` must outlive the session.
  Session(Loop& loop, asio::ip::tcp::socket socket, Store& store);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Serves the connection until the client quits, closes, fails, or the loop shuts down.
  asio::awaitable<void> run();

  // Makes run() look again at its socket, its queue and the loop, if it is waiting.
  void wake();

 private:
  enum class ReadOutcome { kDrained, kBudgetUsed, kStopped };

  ReadOutcome read_and_serve();
  void serve(std::string_view bytes);
  void serve_end_of_stream();
  void queue_replies(std::string& replies, Seq seq);
  void flush();
  bool can_read() const;
  void finish();

  Loop& loop_;    // owns the context the socket runs on
  Store& store_;  // owned by the server
  asio::ip::tcp::socket socket_;
  asio::steady_timer durable_timer_;  // waited on only for durability, when not reading
  LineSplitter splitter_;
  Outbox outbox_;
  bool peer_closed_ = false;  // the client half-closed: answer what came, then close
  bool quit_ = false;         // a quit was answered: send what is queued, then close
  bool failed_ = false;       // the connection broke: drop everything
  bool stop_reading_ = false; // shutting down: what was received is served
  bool awaiting_durable_ = false;
};

}  // namespace count
