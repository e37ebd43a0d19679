#include "net/session.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <cassert>
#include <optional>

#include "net/loop_pool.hpp"
#include "net/peer.hpp"

namespace count {
namespace {

constexpr auto kAsTuple = asio::experimental::as_tuple(asio::use_awaitable_t<LoopExecutor>{});

// Full-size reads one session may do before the others on its loop get a turn.
constexpr int kReadsPerTurn = 16;

// At shutdown, how many such turns a session may read for what its client already sent.
constexpr int kShutdownTurns = 64;

// How long a connection reads nothing more after a wrong password (docs/protocol.md,
// "Authentication"): at most one guess a second per connection.
constexpr std::chrono::seconds kWrongPasswordPause{1};

}  // namespace

// What a wrong password leaves behind: the requests that came after it, served once the
// pause is over. Made at the first wrong password; a connection that never sends one never
// pays for it.
struct Session::Penalty {
  // On an epoll loop the pause is a timer; on an io_uring loop, an alarm of the loop's.
  std::optional<asio::basic_waitable_timer<
      std::chrono::steady_clock, asio::wait_traits<std::chrono::steady_clock>, LoopExecutor>>
      timer;
  std::chrono::steady_clock::time_point until;
  std::string held_input;
};

// A connection that speaks RESP (docs/protocol.md, "The Redis protocol").
struct Session::Resp {
  Resp(const RespSettings& settings, std::uint64_t id)
      : parser(&settings.shortcuts), connection(settings, id) {}
  RespParser parser;
  RespConnection connection;
};

Session::Session(Loop& loop, Socket socket, Store& store, SSL_CTX* tls, ConnectionSlot slot)
    : loop_(loop), store_(store), slot_(std::move(slot)), transport_(std::move(socket), tls) {
  connection_.password = loop_.policy().password;
  input_tick_ = loop_.tick();
  loop_.attach(*this);
}

Session::Session(Loop& loop, int fd, Store& store, SSL_CTX* tls, ConnectionSlot slot)
    : loop_(loop),
      store_(store),
      slot_(std::move(slot)),
      transport_(fd, tls, loop.ring(), *this),
      phase_(tls != nullptr ? Phase::kHandshake : Phase::kServing) {
  connection_.password = loop_.policy().password;
  input_tick_ = loop_.tick();
  handshaking_ = tls != nullptr;
  loop_.attach(*this);
}

Session::~Session() { loop_.detach(*this); }

void Session::wake() {
  if (loop_.on_ring()) {
    loop_.step_soon(*this);
    return;
  }
  asio::error_code ignored;
  transport_.socket().cancel(ignored);
  if (penalty_) penalty_->timer->cancel();
}

// io_uring loops: one step of the session, as the loop calls it when what it waited for came.
void Session::step() {
  if (waiting_ == Wait::kPaused) paused_ = false;  // the pause's alarm, or wake()
  if (phase_ == Phase::kHandshake) step_handshake();
  if (phase_ == Phase::kServing) {
    const Wait wait = serve_what_is_ready();
    if (wait != Wait::kDone) {
      wait_on_ring(wait);
      return;
    }
    count_close();
    graceful_close_ = (quit_ || stop_reading_) && !failed_;
    phase_ = Phase::kClosing;
  }
  if (phase_ == Phase::kClosing) step_close();
}

void Session::step_handshake() {
  const Transport::Status status = transport_.handshake();
  if (status == Transport::Status::kDone) {
    handshaking_ = false;
    loop_.metrics().handshakes.add();
    input_tick_ = loop_.tick();
    phase_ = Phase::kServing;
    return;
  }
  if (status == Transport::Status::kFailed || failed_ || loop_.stopping()) {
    if (status == Transport::Status::kFailed) {
      close_cause_ = CloseCause::kHandshakeFailed;
      loop_.policy().rejections->note(
          Rejection::kTlsHandshake, [&] { return peer(); }, [&] { return transport_.failure(); });
    }
    count_close();
    phase_ = Phase::kClosing;
    return;
  }
  wait_on_ring(status == Transport::Status::kWantRead ? Wait::kReadable : Wait::kWritable);
}

// The end of a connection on an io_uring loop: the last replies leave, then the FIN (as
// finish() does), then every operation of the ring is cancelled and has completed.
void Session::step_close() {
  waiting_ = Wait::kDone;
  if (transport_.sending() && !failed_) return;  // the last replies first: it steps again
  if (!shut_) {
    shut_ = true;
    if (graceful_close_ && !failed_) {
      transport_.shutdown_send();
      transport_.discard_input(std::size_t{64} * 1024);
    }
    transport_.release_buffers();
    transport_.cancel();
  }
  if (transport_.in_flight() > 0) return;  // each completion steps again
  transport_.close();
  phase_ = Phase::kEnded;
}

void Session::wait_on_ring(Wait wait) {
  waiting_ = wait;
  // The ring's buffers serve every session of the loop: bytes this session has not served
  // yet move to memory of its own, so that a session that cannot read holds none of them.
  transport_.keep_received();
  switch (wait) {
    case Wait::kReadable:
      if (transport_.buffered()) {
        // Bytes received while the session could not read (its client was slow to read):
        // served at the next turn, since no completion will come for them.
        loop_.step_next_turn(*this);
      } else if (transport_.starved() && loop_.short_of_buffers()) {
        loop_.step_when_buffers_return(*this);
      } else {
        transport_.want_read();
      }
      break;
    case Wait::kWritable:
      transport_.want_write();
      break;
    case Wait::kPaused:
      loop_.step_at(penalty_->until, *this);
      break;
    case Wait::kYield:
      loop_.step_next_turn(*this);
      break;
    default:
      break;  // durability: the loop's notice wakes it
  }
}

void Session::on_completion(unsigned op, int result, std::uint32_t flags) {
  transport_.on_completion(op, result, flags);
  if (phase_ == Phase::kClosing) {
    if (!transport_.sending()) loop_.step_soon(*this);
    return;
  }
  switch (op) {
    case Transport::kReceive:
      if (waiting_ != Wait::kReadable) return;
      if (transport_.starved() && loop_.short_of_buffers()) {
        loop_.step_when_buffers_return(*this);
      } else {
        loop_.step_soon(*this);
      }
      return;
    case Transport::kSend:
      if (waiting_ == Wait::kWritable || result < 0) loop_.step_soon(*this);
      return;
    default:
      if (waiting_ == Wait::kReadable || waiting_ == Wait::kWritable) loop_.step_soon(*this);
      return;
  }
}

bool Session::can_read() const {
  return !peer_closed_ && !quit_ && !failed_ && !stop_reading_ && !paused_ &&
         outbox_.size() < kMaxQueuedReplyBytes;
}

asio::awaitable<void, LoopExecutor> Session::run() {
  asio::error_code ec;
  transport_.socket().non_blocking(true, ec);
  transport_.socket().set_option(asio::ip::tcp::no_delay(true), ec);
  if (ec) co_return;
  if (transport_.tls() && !co_await shake_hands()) {
    count_close();
    transport_.socket().close(ec);
    co_return;
  }

  // One place to suspend, so that the coroutine's frame, which every idle connection
  // carries, stays small.
  for (Wait wait = serve_what_is_ready(); wait != Wait::kDone; wait = serve_what_is_ready()) {
    if (wait == Wait::kDurable) {
      co_await loop_.durable_signal().async_wait(kAsTuple);
    } else if (wait == Wait::kPaused) {
      co_await penalty_->timer->async_wait(kAsTuple);
      paused_ = false;
    } else if (wait == Wait::kYield) {
      co_await asio::post(transport_.socket().get_executor(), kAsTuple);
    } else {
      co_await transport_.socket().async_wait(
          wait == Wait::kReadable ? Socket::wait_read : Socket::wait_write, kAsTuple);
    }
  }
  finish();
}

// A failed or stalled handshake costs its connection only: it is logged (rate-limited) and
// closed, and the loop serves the others meanwhile. The loop's check closes a handshake that
// outlasts its timeout.
asio::awaitable<bool, LoopExecutor> Session::shake_hands() {
  handshaking_ = true;
  for (;;) {
    const Transport::Status status = transport_.handshake();
    if (status == Transport::Status::kDone) break;
    if (status == Transport::Status::kFailed || failed_ || loop_.stopping()) {
      if (status == Transport::Status::kFailed) {
        close_cause_ = CloseCause::kHandshakeFailed;
        loop_.policy().rejections->note(
            Rejection::kTlsHandshake, [&] { return peer(); }, [&] { return transport_.failure(); });
      }
      co_return false;
    }
    co_await transport_.socket().async_wait(
        status == Transport::Status::kWantRead ? Socket::wait_read : Socket::wait_write, kAsTuple);
  }
  handshaking_ = false;
  loop_.metrics().handshakes.add();
  input_tick_ = loop_.tick();
  co_return true;
}

// Does everything that can be done without waiting, then says what to wait for.
Session::Wait Session::serve_what_is_ready() {
  ReadOutcome outcome = ReadOutcome::kStopped;
  if (penalty_ && !paused_ && !penalty_->held_input.empty()) serve_held_input();
  if (loop_.stopping() && !stop_reading_) {
    // Shutting down: serve the requests that have already arrived, then read no more.
    for (int turn = 0; turn < kShutdownTurns && can_read(); ++turn) {
      if (read_and_serve() != ReadOutcome::kBudgetUsed) break;
    }
    stop_reading_ = true;
  } else if (can_read()) {
    outcome = read_and_serve();
  }
  const Seq durable = store_.durable_seq();
  outbox_.release(durable, [this](const Reply& late, std::string& out) { render_late(late, out); });
  flush();
  if (failed_) return Wait::kDone;
  if (outbox_.empty() && (quit_ || peer_closed_ || stop_reading_)) return Wait::kDone;

  // The client is slow to read: wait until its socket takes more.
  if (!outbox_.sendable().empty()) return Wait::kWritable;
  if (outbox_.awaiting_durability() && !awaiting_durable_) {
    // No advance is missed: the store publishes durable_seq before it notifies, and the
    // notice runs on this thread, after this registration. A notice that found no waiter
    // was not sent; its advance shows in this second read, and the loop's own notice (no
    // wake-up of another thread) then covers it.
    awaiting_durable_ = true;
    loop_.await_durable(*this);
    if (store_.durable_seq() != durable) loop_.notify_durable();
  }
  if (paused_) return Wait::kPaused;
  // After a used-up read budget the socket still has data: waiting for it lets the other
  // sessions of the loop have their turn first. Bytes TLS has already taken from the socket
  // are not the socket's: for them, the session steps aside and comes back. A wait for
  // readability also ends early on wake(): durability advanced, or the loop is shutting down.
  if (outcome == ReadOutcome::kBudgetUsed && transport_.buffered()) return Wait::kYield;
  if (outcome == ReadOutcome::kBudgetUsed || can_read()) return Wait::kReadable;
  return Wait::kDurable;
}

Session::ReadOutcome Session::read_and_serve() {
  const std::span<char> input = loop_.input_buffer();
  for (int reads = 0; reads < kReadsPerTurn; ++reads) {
    const Transport::Result read = transport_.read_some(input);
    if (read.status == Transport::Status::kWantRead) return ReadOutcome::kDrained;
    if (read.status == Transport::Status::kWantWrite) {
      // TLS needs to send before it can read on (rare: a key update); the wait for
      // writability that an unsent reply causes, or the next read, takes care of it.
      return ReadOutcome::kDrained;
    }
    if (read.status == Transport::Status::kEnd) {
      serve_end_of_stream();
      peer_closed_ = true;
      return ReadOutcome::kStopped;
    }
    if (read.status == Transport::Status::kFailed) {
      failed_ = true;
      return ReadOutcome::kStopped;
    }
    input_tick_ = loop_.tick();
    loop_.metrics().received_bytes.add(read.bytes);
    serve(std::string_view{input.data(), read.bytes});
    if (!can_read()) return ReadOutcome::kStopped;
    // A short read almost always means the socket is empty; if not, the wait for
    // readability that follows completes at once. TLS may hold more than it handed out.
    if (read.bytes < input.size() && !transport_.buffered()) return ReadOutcome::kDrained;
  }
  return ReadOutcome::kBudgetUsed;
}

void Session::render_late(const Reply& reply, std::string& out) {
  if (resp_) {
    loop_.metrics().count_resp(reply, reply.command);
    append_late_resp_reply(reply, connection_, resp_->connection, out);
  } else {
    loop_.metrics().count(reply, reply.command);
    append_reply(reply, out);
  }
}

// The first byte chooses the protocol for the rest of the connection.
void Session::serve(std::string_view bytes) {
  if (!protocol_chosen_ && !bytes.empty()) {
    protocol_chosen_ = true;
    if (bytes.front() == '*') {
      const SessionPolicy& policy = loop_.policy();
      resp_ = std::make_unique<Resp>(*policy.resp, policy.next_client_id->fetch_add(1));
    }
  }
  if (resp_) {
    serve_resp(bytes);
  } else {
    serve_line(bytes);
  }
}

void Session::serve_resp(std::string_view bytes) {
  std::string& replies = loop_.reply_buffer();
  assert(replies.empty());
  Seq seq = 0;
  LoopMetrics& metrics = loop_.metrics();
  const std::uint64_t wrong_before = connection_.wrong_passwords;
  const std::uint64_t refused_before = connection_.refused_before_auth;
  std::string_view rest;
  resp_->parser.feed(
      bytes,
      [&](RespParser::Event event, std::span<const std::string_view> words) {
        if (event == RespParser::Event::kError) {
          // Nothing of the malformed request is applied; the connection closes, as in Redis.
          append_error(replies, "ERR " + resp_->parser.error());
          metrics.count_resp(Reply::err(ErrCause::kBadRequest), 0);
          quit_ = true;
          return false;
        }
        RespOutcome outcome = execute_resp(words, store_, connection_, resp_->connection, replies,
                                           resp_->parser.shortcut());
        if (outcome.kind == RespOutcome::Kind::kLater) {
          outcome.reply.command = outcome.command;
          hold_late_reply(std::move(outcome.reply), replies, seq);
          return true;
        }
        metrics.count_resp(outcome.reply, outcome.command);
        seq = std::max(seq, outcome.seq);
        quit_ = outcome.kind == RespOutcome::Kind::kQuit;
        // A wrong password stops the batch: what follows waits out the pause.
        return !quit_ && connection_.wrong_passwords == wrong_before;
      },
      &rest);
  queue_replies(replies, seq);
  after_serving(wrong_before, refused_before, rest);
}

void Session::serve_line(std::string_view bytes) {
  std::string& replies = loop_.reply_buffer();
  assert(replies.empty());
  Seq seq = 0;
  LoopMetrics& metrics = loop_.metrics();
  const std::uint64_t wrong_before = connection_.wrong_passwords;
  const std::uint64_t refused_before = connection_.refused_before_auth;
  std::string_view rest;
  splitter_.feed(
      bytes,
      [&](LineSplitter::Event event, std::string_view line) {
        Reply reply = event == LineSplitter::Event::kLine ? execute_line(line, store_, connection_)
                                                          : Reply::err(ErrCause::kLineTooLong);
        if (reply.kind == Reply::Kind::kLater) {
          reply.command = connection_.last_command;
          hold_late_reply(std::move(reply), replies, seq);
          return true;
        }
        metrics.count(reply, event == LineSplitter::Event::kLine ? connection_.last_command : 0);
        append_reply(reply, replies);
        seq = std::max(seq, reply.seq);
        quit_ = reply.kind == Reply::Kind::kQuit;
        // A wrong password stops the batch: what follows waits out the pause.
        return !quit_ && connection_.wrong_passwords == wrong_before;
      },
      &rest);
  queue_replies(replies, seq);
  after_serving(wrong_before, refused_before, rest);
}

// Logs requests refused for want of `auth`, and pauses after a wrong password.
void Session::after_serving(std::uint64_t wrong_before, std::uint64_t refused_before,
                            std::string_view rest) {
  if (connection_.refused_before_auth != refused_before) {
    loop_.policy().rejections->note(
        Rejection::kNotAuthenticated, [&] { return peer(); },
        [&] {
          return fmt::format("{} request(s)", connection_.refused_before_auth - refused_before);
        });
  }
  if (connection_.wrong_passwords != wrong_before) pause_after_wrong_password(rest);
}

void Session::pause_after_wrong_password(std::string_view rest) {
  loop_.policy().rejections->note(
      Rejection::kWrongPassword, [&] { return peer(); },
      [&] { return fmt::format("{} on this connection", connection_.wrong_passwords); });
  if (!penalty_) {
    penalty_ = std::make_unique<Penalty>();
    if (!loop_.on_ring()) penalty_->timer.emplace(transport_.socket().get_executor());
  }
  penalty_->held_input.assign(rest);
  if (penalty_->timer) {
    penalty_->timer->expires_after(kWrongPasswordPause);
  } else {
    penalty_->until = std::chrono::steady_clock::now() + kWrongPasswordPause;
  }
  paused_ = true;
}

// What came after a wrong password, once its pause is over; it may pause again.
void Session::serve_held_input() {
  const std::string held = std::move(penalty_->held_input);
  penalty_->held_input.clear();
  serve(held);
}

// A request of the Redis protocol cut short by the end of the stream is dropped: it did not
// arrive whole.
void Session::serve_end_of_stream() {
  if (resp_) return;
  std::string& replies = loop_.reply_buffer();
  Seq seq = 0;
  splitter_.finish([&](LineSplitter::Event /*event*/, std::string_view line) {
    Reply reply = execute_line(line, store_, connection_);
    if (reply.kind == Reply::Kind::kLater) {
      reply.command = connection_.last_command;
      return hold_late_reply(std::move(reply), replies, seq);
    }
    loop_.metrics().count(reply, connection_.last_command);
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
  if (!failed_ && outbox_.empty() && seq <= store_.durable_seq() && !rest.empty()) {
    const Transport::Result written = transport_.write_some(rest);
    if (written.status == Transport::Status::kFailed) {
      failed_ = true;
    } else {
      loop_.metrics().sent_bytes.add(written.bytes);
      rest.remove_prefix(written.bytes);
    }
  }
  if (!failed_) outbox_.push(rest, seq);
  replies.clear();
}

void Session::flush() {
  while (!failed_) {
    const std::string_view bytes = outbox_.sendable();
    if (bytes.empty()) return;
    const Transport::Result written = transport_.write_some(bytes);
    if (written.status == Transport::Status::kFailed) {
      failed_ = true;
      return;
    }
    if (written.status != Transport::Status::kDone) {
      // The client's socket is full: from now on it is the client that is slow.
      if (!write_blocked_) output_tick_ = loop_.tick();
      write_blocked_ = true;
      return;
    }
    write_blocked_ = false;
    loop_.metrics().sent_bytes.add(written.bytes);
    outbox_.consume(written.bytes);
  }
}

void Session::check_timeouts(std::uint32_t tick) {
  const SessionPolicy& policy = loop_.policy();
  const auto outstayed = [tick](std::uint32_t since, std::chrono::seconds limit) {
    // Ticks are whole seconds: "more than `limit` ticks" is between limit and limit + 1 s.
    return limit.count() > 0 && tick - since > static_cast<std::uint32_t>(limit.count());
  };
  if (failed_) return;
  if (handshaking_) {
    if (outstayed(input_tick_, policy.handshake_timeout)) close_for(Rejection::kHandshakeTimeout);
    return;
  }
  if (write_blocked_ && !outbox_.sendable().empty()) {
    if (outstayed(output_tick_, policy.stall_timeout)) close_for(Rejection::kUnreadReplies);
    return;
  }
  if (splitter_.mid_line() || (resp_ && resp_->parser.mid_request())) {
    if (outstayed(input_tick_, policy.stall_timeout)) close_for(Rejection::kStalledLine);
    return;
  }
  if (outbox_.empty() && !paused_ && outstayed(input_tick_, policy.idle_timeout)) {
    close_for(Rejection::kIdle);
  }
}

void Session::close_for(Rejection cause) {
  switch (cause) {
    case Rejection::kHandshakeTimeout:
      close_cause_ = CloseCause::kHandshakeTimeout;
      break;
    case Rejection::kIdle:
      close_cause_ = CloseCause::kIdle;
      break;
    case Rejection::kStalledLine:
      close_cause_ = CloseCause::kStalledLine;
      break;
    default:
      close_cause_ = CloseCause::kUnreadReplies;
      break;
  }
  loop_.policy().rejections->note(
      cause, [&] { return peer(); }, [] { return std::string(); });
  failed_ = true;
  wake();
}

std::string Session::peer() const { return peer_text(transport_.fd()); }

// The first cause set wins: a timeout or a failed handshake, then what the session saw.
void Session::count_close() {
  if (close_cause_ == CloseCause::kCount) {
    if (failed_) {
      close_cause_ = CloseCause::kBroken;
    } else if (quit_) {
      close_cause_ = CloseCause::kQuit;
    } else if (peer_closed_) {
      close_cause_ = CloseCause::kClient;
    } else {
      close_cause_ = CloseCause::kShutdown;
    }
  }
  loop_.metrics().closed[static_cast<std::size_t>(close_cause_)].add();
}

void Session::finish() {
  count_close();
  if ((quit_ || stop_reading_) && !failed_) {
    // Say goodbye with a FIN after the last reply, and drop what the client sent after quit
    // or after the server stopped reading: closing a socket with unread input resets the
    // connection, and a reset can destroy replies the client has not read yet.
    transport_.shutdown_send();
    transport_.discard_input(std::size_t{64} * 1024);
  }
  transport_.close();
}

}  // namespace count
