// One client connection: read, split, parse, execute, queue the reply, write
// (docs/protocol.md). Runs only on its loop's thread and never blocks: every socket call is
// non-blocking, and run() suspends only while it waits for the socket or for durability.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/basic_stream_socket.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include "net/outbox.hpp"
#include "protocol/line_splitter.hpp"
#include "store/store.hpp"

namespace count {

class Loop;

// The loop's own executor type rather than the type-erased default: smaller sockets and
// coroutine frames, which is most of what an idle connection costs.
using LoopExecutor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<asio::ip::tcp, LoopExecutor>;

// Past this many unsent reply bytes the session stops reading from its client, until the
// client reads.
inline constexpr std::size_t kMaxQueuedReplyBytes = std::size_t{64} * 1024;

class Session {
 public:
  // `loop` and `store` must outlive the session.
  Session(Loop& loop, Socket socket, Store& store);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Serves the connection until the client quits, closes, fails, or the loop shuts down.
  asio::awaitable<void, LoopExecutor> run();

  // Makes run() look again at its socket, its queue and the loop, if it waits on its socket.
  // It leaves the session on the loop's list of durability waiters, if it is there.
  void wake();

 private:
  enum class Wait { kReadable, kWritable, kDurable, kDone };
  enum class ReadOutcome { kDrained, kBudgetUsed, kStopped };

  Wait serve_what_is_ready();
  ReadOutcome read_and_serve();
  void serve(std::string_view bytes);
  void serve_end_of_stream();
  void hold_late_reply(Reply reply, std::string& replies, Seq& seq);
  void queue_replies(std::string& replies, Seq seq);
  void flush();
  bool can_read() const;
  void finish();

  Loop& loop_;    // owns the context the socket runs on
  Store& store_;  // owned by the server
  Socket socket_;
  LineSplitter splitter_;
  Outbox outbox_;
  bool peer_closed_ = false;   // the client half-closed: answer what came, then close
  bool quit_ = false;          // a quit was answered: send what is queued, then close
  bool failed_ = false;        // the connection broke: drop everything
  bool stop_reading_ = false;  // shutting down: what was received is served
  bool awaiting_durable_ = false;

  // The loop's list of its sessions (see Loop::attach).
  friend class Loop;
  Session* prev_ = nullptr;
  Session* next_ = nullptr;
};

}  // namespace count
