#include "net/session.hpp"

#include <algorithm>
#include <cassert>

#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

#include "commands/commands.hpp"
#include "net/loop_pool.hpp"

namespace count {
namespace {

constexpr auto kAsTuple = asio::experimental::as_tuple(asio::use_awaitable_t<LoopExecutor>{});

// Full-size reads one session may do before the others on its loop get a turn.
constexpr int kReadsPerTurn = 16;

// At shutdown, how many such turns a session may read for what its client already sent.
constexpr int kShutdownTurns = 64;

}  // namespace

Session::Session(Loop& loop, Socket socket, Store& store)
    : loop_(loop), store_(store), socket_(std::move(socket)) {
  loop_.attach(*this);
}

Session::~Session() { loop_.detach(*this); }

void Session::wake() {
  asio::error_code ignored;
  socket_.cancel(ignored);
}

bool Session::can_read() const {
  return !peer_closed_ && !quit_ && !failed_ && !stop_reading_ &&
         outbox_.size() < kMaxQueuedReplyBytes;
}

asio::awaitable<void, LoopExecutor> Session::run() {
  asio::error_code ec;
  socket_.non_blocking(true, ec);
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  if (ec) co_return;

  // One place to suspend, so that the coroutine's frame, which every idle connection
  // carries, stays small.
  for (Wait wait = serve_what_is_ready(); wait != Wait::kDone; wait = serve_what_is_ready()) {
    if (wait == Wait::kDurable) {
      co_await loop_.durable_signal().async_wait(kAsTuple);
    } else {
      co_await socket_.async_wait(
          wait == Wait::kReadable ? Socket::wait_read : Socket::wait_write, kAsTuple);
    }
  }
  finish();
}

// Does everything that can be done without waiting, then says what to wait for.
Session::Wait Session::serve_what_is_ready() {
  ReadOutcome outcome = ReadOutcome::kStopped;
  if (loop_.stopping() && !stop_reading_) {
    // Shutting down: serve the requests that have already arrived, then read no more.
    for (int turn = 0; turn < kShutdownTurns && can_read(); ++turn) {
      if (read_and_serve() != ReadOutcome::kBudgetUsed) break;
    }
    stop_reading_ = true;
  } else if (can_read()) {
    outcome = read_and_serve();
  }
  outbox_.release(store_.durable_seq());
  flush();
  if (failed_) return Wait::kDone;
  if (outbox_.empty() && (quit_ || peer_closed_ || stop_reading_)) return Wait::kDone;

  // The client is slow to read: wait until its socket takes more.
  if (!outbox_.sendable().empty()) return Wait::kWritable;
  if (outbox_.awaiting_durability() && !awaiting_durable_) {
    // No advance is missed: the store publishes durable_seq before it notifies, and the
    // notice runs on this thread, after this registration.
    awaiting_durable_ = true;
    loop_.await_durable(*this);
  }
  // After a used-up read budget the socket still has data: waiting for it lets the other
  // sessions of the loop have their turn first. A wait for readability also ends early on
  // wake(): durability advanced, or the loop is shutting down.
  if (outcome == ReadOutcome::kBudgetUsed || can_read()) return Wait::kReadable;
  return Wait::kDurable;
}

Session::ReadOutcome Session::read_and_serve() {
  const std::span<char> input = loop_.input_buffer();
  for (int reads = 0; reads < kReadsPerTurn; ++reads) {
    asio::error_code ec;
    const std::size_t n = socket_.read_some(asio::buffer(input.data(), input.size()), ec);
    if (ec == asio::error::would_block) return ReadOutcome::kDrained;
    if (ec == asio::error::eof) {
      serve_end_of_stream();
      peer_closed_ = true;
      return ReadOutcome::kStopped;
    }
    if (ec) {
      failed_ = true;
      return ReadOutcome::kStopped;
    }
    serve(std::string_view{input.data(), n});
    if (!can_read()) return ReadOutcome::kStopped;
    // A short read almost always means the socket is empty; if not, the wait for
    // readability that follows completes at once.
    if (n < input.size()) return ReadOutcome::kDrained;
  }
  return ReadOutcome::kBudgetUsed;
}

void Session::serve(std::string_view bytes) {
  std::string& replies = loop_.reply_buffer();
  assert(replies.empty());
  Seq seq = 0;
  splitter_.feed(bytes, [&](LineSplitter::Event event, std::string_view line) {
    Reply reply = event == LineSplitter::Event::kLine ? execute_line(line, store_) : Reply::err();
    if (reply.kind == Reply::Kind::kLater) {
      hold_late_reply(std::move(reply), replies, seq);
      return true;
    }
    append_reply(reply, replies);
    seq = std::max(seq, reply.seq);
    quit_ = reply.kind == Reply::Kind::kQuit;
    return !quit_;
  });
  queue_replies(replies, seq);
}

void Session::serve_end_of_stream() {
  std::string& replies = loop_.reply_buffer();
  Seq seq = 0;
  splitter_.finish([&](LineSplitter::Event /*event*/, std::string_view line) {
    Reply reply = execute_line(line, store_);
    if (reply.kind == Reply::Kind::kLater) return hold_late_reply(std::move(reply), replies, seq);
    append_reply(reply, replies);
    seq = std::max(seq, reply.seq);
    quit_ = reply.kind == Reply::Kind::kQuit;
  });
  queue_replies(replies, seq);
}

// A reply the store decides later ends the batch being formatted in `replies` (which waits
// for `seq`): what came before is queued, and it is held after it.
void Session::hold_late_reply(Reply reply, std::string& replies, Seq& seq) {
  queue_replies(replies, seq);
  seq = 0;
  loop_.commit_after_this_turn(store_);
  outbox_.push_later(std::move(reply));
}

// Replies of one batch leave in one write. The common case, nothing queued before and
// nothing to wait for, writes straight from the loop's scratch buffer.
void Session::queue_replies(std::string& replies, Seq seq) {
  if (seq > store_.durable_seq()) loop_.commit_after_this_turn(store_);
  std::string_view rest{replies};
  if (!failed_ && outbox_.empty() && seq <= store_.durable_seq()) {
    asio::error_code ec;
    const std::size_t n = socket_.write_some(asio::buffer(rest), ec);
    if (ec && ec != asio::error::would_block) {
      failed_ = true;
    } else {
      rest.remove_prefix(n);
    }
  }
  if (!failed_) outbox_.push(rest, seq);
  replies.clear();
}

void Session::flush() {
  while (!failed_) {
    const std::string_view bytes = outbox_.sendable();
    if (bytes.empty()) return;
    asio::error_code ec;
    const std::size_t n = socket_.write_some(asio::buffer(bytes), ec);
    if (ec == asio::error::would_block) return;
    if (ec) {
      failed_ = true;
      return;
    }
    outbox_.consume(n);
  }
}

void Session::finish() {
  asio::error_code ignored;
  if ((quit_ || stop_reading_) && !failed_) {
    // Say goodbye with a FIN after the last reply, and drop what the client sent after quit
    // or after the server stopped reading: closing a socket with unread input resets the
    // connection, and a reset can destroy replies the client has not read yet.
    socket_.shutdown(asio::socket_base::shutdown_send, ignored);
    std::array<char, 4096> discard{};
    for (int i = 0; i < 16; ++i) {
      if (socket_.read_some(asio::buffer(discard), ignored) == 0 || ignored) break;
    }
  }
  socket_.close(ignored);
}

}  // namespace count
