// The connections' coroutines, the per-thread workers and the counter probes. A worker and
// its connections are touched only by the worker's thread while it runs; the calling
// thread reads a worker's atomic reply count for progress, and the rest after join(). TLS
// and the password are set up before the clock starts; then a connection's loop is the same
// code over a TLS stream or over the bare socket, chosen once per connection.
#include "loadgen/load_generator.hpp"

#include <liburing.h>
#include <sys/socket.h>

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/error.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

#include "client/tls_context.hpp"
#include "loadgen/schedule.hpp"

namespace count {
namespace {

using Clock = std::chrono::steady_clock;
using asio::ip::tcp;
constexpr auto kAwait = asio::experimental::as_tuple(asio::use_awaitable);

// Room for many replies per read; a single reply never needs more than kMaxWireReplyBytes.
constexpr std::size_t kInputBytes = 16 * 1024;
static_assert(kInputBytes > 2 * kMaxWireReplyBytes);

tcp::resolver::results_type resolve(asio::io_context& io, const ServerAddress& server) {
  asio::error_code ec;
  tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(server.host, std::to_string(server.port), ec);
  if (ec) throw ConnectError("cannot resolve " + server.host + ": " + ec.message());
  return endpoints;
}

void connect_to(tcp::socket& socket, const tcp::resolver::results_type& endpoints,
                const ServerAddress& server) {
  asio::error_code ec;
  asio::connect(socket, endpoints, ec);
  if (ec) throw ConnectError("cannot connect to " + server.text() + ": " + ec.message());
  socket.set_option(tcp::no_delay(true), ec);
}

using TlsStream = asio::ssl::stream<tcp::socket&>;

// The client context every TLS connection of a run shares, or none for plain TCP. Throws
// ConnectError when a certificate file cannot be used.
std::unique_ptr<asio::ssl::context> make_tls_context(const ConnectionSetup& setup) {
  if (!setup.tls) return nullptr;
  try {
    SslContextPtr native = make_client_context(*setup.tls);
    auto context = std::make_unique<asio::ssl::context>(native.get());
    static_cast<void>(native.release());  // owned by `context` from here on
    return context;
  } catch (const ClientError& e) {
    throw ConnectError(e.what());
  }
}

// A connection's byte stream: the socket, and TLS over it when the run asks for TLS.
struct Link {
  Link(asio::io_context& io, asio::ssl::context* tls_context) : socket(io) {
    if (tls_context != nullptr) {
      tls.emplace(socket, *tls_context);
      // Asio lets OpenSSL free a connection's record buffers whenever it goes idle, and take
      // them again for the next request: keep them, so that no request allocates.
      SSL_clear_mode(tls->native_handle(), SSL_MODE_RELEASE_BUFFERS);
    }
  }

  tcp::socket socket;
  std::optional<TlsStream> tls;  // over `socket`
};

// Why an operation on `ssl` (nullptr: on the bare socket) failed, for people.
std::string describe(const asio::error_code& ec, SSL* ssl) {
  if (ec.category() == asio::error::get_ssl_category()) {
    return tls_failure_reason(static_cast<unsigned long>(ec.value()), ssl, ec.message());
  }
  if (ec == asio::error::eof) return "the server closed the connection";
  if (ec == asio::ssl::error::stream_truncated) {
    return "the server closed the connection without TLS close_notify";
  }
  return ec.message();
}
SSL* ssl_of(tcp::socket&) { return nullptr; }
SSL* ssl_of(TlsStream& stream) { return stream.native_handle(); }

std::string printable(std::string_view bytes) {
  std::string text;
  for (const char ch : bytes.substr(0, 80)) {
    if (ch == '\r')
      text += "\\r";
    else if (ch == '\n')
      text += "\\n";
    else if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) >= 0x7f)
      text += '?';
    else
      text += ch;
  }
  if (bytes.size() > 80) text += "...";
  return text;
}

// Sends `request` and reads the one reply to it into `received` (trimmed to that reply).
// Returns what went wrong, for people, naming the request as `what` ("" for a probe); empty
// when a reply came.
template <typename Stream>
asio::awaitable<std::string> ask(Stream& stream, const ServerAddress& server, const Codec& codec,
                                 std::string_view request, std::string& received, WireReply& reply,
                                 std::string_view what = "") {
  const std::string named = what.empty() ? std::string() : " " + std::string(what);
  auto [write_error, written] =
      co_await asio::async_write(stream, asio::buffer(request.data(), request.size()), kAwait);
  if (write_error) {
    co_return "cannot send" + named + " to " + server.text() + ": " +
        describe(write_error, ssl_of(stream));
  }
  std::vector<char> chunk(kInputBytes);
  for (;;) {
    reply = codec.parse(received);
    if (reply.kind != WireReply::Kind::kNeedMore) {
      received.resize(std::min(received.size(), reply.consumed));
      co_return "";
    }
    auto [read_error, got] = co_await stream.async_read_some(asio::buffer(chunk), kAwait);
    if (read_error) {
      co_return "no reply" + (what.empty() ? "" : " to" + named) + " from " + server.text() + ": " +
          describe(read_error, ssl_of(stream));
    }
    received.append(chunk.data(), got);
  }
}

// Sends the password and checks that the server accepts it. Returns why not; empty when it
// does.
template <typename Stream>
asio::awaitable<std::string> log_in(Stream& stream, const ServerAddress& server, const Codec& codec,
                                    std::string_view auth_request) {
  std::string received;
  WireReply reply;
  if (std::string failure =
          co_await ask(stream, server, codec, auth_request, received, reply, "the password");
      !failure.empty()) {
    co_return failure;
  }
  if (reply.kind == WireReply::Kind::kOk) co_return "";
  while (!received.empty() && (received.back() == '\n' || received.back() == '\r')) {
    received.pop_back();
  }
  if (reply.kind == WireReply::Kind::kError) {
    co_return "the server " + server.text() + " refused the password: it answered '" +
        printable(received) + "'";
  }
  co_return "the server " + server.text() + " answered '" + printable(received) +
      "' to the password instead of accepting or refusing it";
}

// Makes a connected link ready for requests: the TLS handshake, for the name the server was
// given by, then the password (when `auth_request` is not empty). Returns why it failed;
// empty when the link is ready.
asio::awaitable<std::string> set_up(Link& link, const ServerAddress& server, const Codec& codec,
                                    std::string_view auth_request) {
  if (!link.tls) {
    if (auth_request.empty()) co_return "";
    co_return co_await log_in(link.socket, server, codec, auth_request);
  }
  try {
    expect_server_name(link.tls->native_handle(), server.host);
  } catch (const ClientError& e) {
    co_return e.what();
  }
  auto [ec] = co_await link.tls->async_handshake(asio::ssl::stream_base::client, kAwait);
  if (ec) {
    co_return "TLS with " + server.text() + " failed: " + describe(ec, link.tls->native_handle());
  }
  if (auth_request.empty()) co_return "";
  co_return co_await log_in(*link.tls, server, codec, auth_request);
}

// The request that logs in with the run's password; empty when there is none.
std::string auth_request_of(const Codec& codec, const ConnectionSetup& setup) {
  return setup.password.empty() ? std::string() : codec.auth_request(setup.password);
}

// A completion for co_spawn: what a coroutine throws leaves io_context::run().
void rethrow(const std::exception_ptr& thrown) {
  if (thrown) std::rethrow_exception(thrown);
}

// One connection: its link, its input buffer, and the ring of requests in flight.
struct Connection {
  Connection(asio::io_context& io, asio::ssl::context* tls_context, const ServerAddress& to,
             std::size_t pipeline, std::size_t max_request, std::size_t first_op)
      : link(io, tls_context),
        server(to),
        input(kInputBytes),
        sent_at(pipeline),
        sent_op(pipeline),
        mix_pos(first_op) {
    output.reserve(pipeline * max_request);
  }

  Link link;
  const ServerAddress& server;  // owned by the generator's options
  std::vector<char> input;
  std::size_t input_begin = 0;             // first byte not yet parsed
  std::size_t input_end = 0;               // one past the last byte read
  std::string output;                      // requests of the next write
  std::vector<Clock::time_point> sent_at;  // ring, one slot per request in flight
  std::vector<Op> sent_op;                 // ring, beside sent_at
  std::size_t ring_head = 0;               // oldest request in flight
  std::size_t in_flight = 0;
  std::size_t mix_pos;  // position in the command mix's cycle

  // On io_uring: what the ring holds for this connection, and how it ends.
  std::size_t output_sent = 0;  // bytes of `output` the kernel has taken
  bool sending = false;         // a send of `output` is in the ring: it must not change
  bool receiving = false;       // a receive into `input` is in the ring
  bool stopping = false;        // broken or timed out: shut down, ends once the ring lets go
  bool ended = false;
};

// A worker's io_uring: completions are run by the worker's thread when it waits (the
// kernel's deferred task-run mode, where it has it), so a reply that arrives wakes it only
// when the wait can end.
class BenchRing {
 public:
  explicit BenchRing(unsigned entries) {
    io_uring_params params{};
    params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    int ret = io_uring_queue_init_params(entries, &ring_, &params);
    if (ret == -EINVAL) {  // before 6.1: without those modes
      params = io_uring_params{};
      ret = io_uring_queue_init_params(entries, &ring_, &params);
    }
    if (ret < 0) throw std::system_error(-ret, std::generic_category(), "io_uring_setup");
    if ((params.features & IORING_FEAT_EXT_ARG) == 0 ||
        (params.features & IORING_FEAT_NODROP) == 0) {
      io_uring_queue_exit(&ring_);
      throw std::system_error(ENOSYS, std::generic_category(),
                              "this kernel's io_uring cannot wait with a timeout");
    }
  }
  ~BenchRing() { io_uring_queue_exit(&ring_); }
  BenchRing(const BenchRing&) = delete;
  BenchRing& operator=(const BenchRing&) = delete;

  // A free entry: when the queue is full, what it holds goes to the kernel first.
  io_uring_sqe* entry() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {
      io_uring_submit(&ring_);
      sqe = io_uring_get_sqe(&ring_);
    }
    return sqe;
  }

  // Submits what was prepared and waits for one completion, at most `timeout`.
  void submit_and_wait(std::chrono::milliseconds timeout) {
    __kernel_timespec ts{};
    ts.tv_sec = timeout.count() / 1000;
    ts.tv_nsec = (timeout.count() % 1000) * 1'000'000;
    io_uring_cqe* cqe = nullptr;
    io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
  }

  // Calls `handle(user_data, result)` for each completion there is.
  template <typename Handle>
  void drain(const Handle& handle) {
    unsigned head = 0;
    unsigned seen = 0;
    io_uring_cqe* cqe = nullptr;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      handle(cqe->user_data, cqe->res);
      ++seen;
    }
    io_uring_cq_advance(&ring_, seen);
  }

 private:
  io_uring ring_{};
};

// Ring entries per worker: a send and a receive per connection fit in one turn's submission.
unsigned ring_entries(std::size_t connections) {
  unsigned entries = 64;
  while (entries < 2 * connections && entries < 4096) entries *= 2;
  return entries;
}

class Worker {
 public:
  Worker(const LoadOptions& options, const Codec& codec, const CommandMix& mix,
         const Schedule& schedule, std::uint64_t budget, bool on_ring)
      : options_(options),
        codec_(codec),
        mix_(mix),
        schedule_(schedule),
        budget_(budget),
        on_ring_(on_ring),
        watchdog_(io_) {}

  // Opens connections first_index .. first_index + count - 1 on this worker's context, each
  // to the next server in turn (`endpoints` holds each server's, in the options' order), with
  // TLS when `tls_context` is given; the first request of each starts at a different point
  // of the mix. Then sets them all up at once: TLS handshakes, password. Throws ConnectError.
  void open(unsigned count, const std::vector<tcp::resolver::results_type>& endpoints,
            std::size_t first_index, asio::ssl::context* tls_context) {
    for (unsigned i = 0; i < count; ++i) {
      const std::size_t index = first_index + i;
      const std::size_t server = index % endpoints.size();
      auto connection = std::make_unique<Connection>(io_, tls_context, options_.servers[server],
                                                     options_.pipeline, codec_.max_request_bytes(),
                                                     index * 7919 % mix_.cycle_length());
      connect_to(connection->link.socket, endpoints[server], options_.servers[server]);
      connections_.push_back(std::move(connection));
    }
    const std::string auth_request = auth_request_of(codec_, options_.setup);
    if (tls_context != nullptr || !auth_request.empty()) set_up_all(auth_request);
  }

  // Runs every connection to its end; on the worker's own thread.
  void run() {
    last_reply_ = schedule_.start;
    active_ = connections_.size();
    if (on_ring_) {
      run_on_ring();
      done_.store(true, std::memory_order_release);
      return;
    }
    for (auto& connection : connections_) {
      asio::co_spawn(io_, drive(*connection), asio::detached);
    }
    asio::co_spawn(io_, watch(), asio::detached);
    io_.run();
    done_.store(true, std::memory_order_release);
  }

  std::uint64_t replies() const { return replies_.load(std::memory_order_relaxed); }
  bool done() const { return done_.load(std::memory_order_acquire); }
  LoadResult& result() { return result_; }
  Clock::time_point last_reply() const { return last_reply_; }

 private:
  // Runs every connection's set-up on this worker's context, all within the reply timeout.
  // Throws ConnectError with the first failure.
  void set_up_all(const std::string& auth_request) {
    std::string failure;
    std::size_t pending = connections_.size();
    bool timed_out = false;
    asio::steady_timer deadline(io_);
    for (auto& connection : connections_) {
      asio::co_spawn(
          io_,
          [&, &c = *connection]() -> asio::awaitable<void> {
            const std::string why = co_await set_up(c.link, c.server, codec_, auth_request);
            if (failure.empty()) failure = why;
            if (--pending == 0) deadline.cancel();
          },
          rethrow);
    }
    deadline.expires_after(options_.reply_timeout);
    deadline.async_wait([&](const asio::error_code& ec) {
      if (ec) return;  // every set-up ended first
      timed_out = true;
      for (auto& connection : connections_) {
        asio::error_code ignored;
        connection->link.socket.close(ignored);
      }
    });
    io_.run();
    io_.restart();
    if (timed_out) {
      throw ConnectError("setting up the connections (TLS handshake, password) took more than " +
                         std::to_string(options_.reply_timeout.count()) + " ms");
    }
    if (!failure.empty()) throw ConnectError(failure);
  }

  asio::awaitable<void> drive(Connection& c) {
    if (c.link.tls) {
      co_await exchange(c, *c.link.tls);
    } else {
      co_await exchange(c, c.link.socket);
    }
    asio::error_code ignored;
    c.link.socket.close(ignored);
    if (--active_ == 0) watchdog_.cancel();
  }

  // Keeps the connection's pipeline full and takes its replies until the run or the stream
  // ends. `stream` is the link's TLS stream or its bare socket.
  template <typename Stream>
  asio::awaitable<void> exchange(Connection& c, Stream& stream) {
    for (;;) {
      fill(c, Clock::now());
      if (!c.output.empty()) {
        auto [ec, written] = co_await asio::async_write(stream, asio::buffer(c.output), kAwait);
        if (ec) {
          broken(c, "write failed: " + describe(ec, ssl_of(stream)));
          break;
        }
        c.output.clear();
      }
      if (c.in_flight == 0) break;
      auto [ec, got] = co_await stream.async_read_some(
          asio::buffer(c.input.data() + c.input_end, c.input.size() - c.input_end), kAwait);
      if (ec) {
        broken(c, ec == asio::error::eof ? std::string("the server closed the connection")
                                         : "read failed: " + describe(ec, ssl_of(stream)));
        break;
      }
      c.input_end += got;
      if (!consume(c, Clock::now())) break;
    }
  }

  // The same exchange as exchange(), on an io_uring of the worker's own: each connection
  // has at most one send and one receive in the ring, and a turn's are submitted together
  // with the wait that ends it (one system call per turn, however many connections).
  void run_on_ring() {
    BenchRing ring(ring_entries(connections_.size()));
    const Clock::time_point now = Clock::now();
    for (std::size_t i = 0; i < connections_.size(); ++i) advance(ring, i, now);
    bool timed_out = false;
    while (active_ > 0) {
      ring.submit_and_wait(std::chrono::milliseconds(100));
      const Clock::time_point at = Clock::now();
      ring.drain([&](std::uint64_t data, int result) { on_completion(ring, data, result, at); });
      if (!timed_out && Clock::now() - last_reply_ > options_.reply_timeout) {
        // As the epoll loop's watchdog does: every connection goes; what is in flight is lost.
        timed_out = true;
        result_.timed_out = true;
        note("no reply for " + std::to_string(options_.reply_timeout.count()) + " ms");
        for (std::size_t i = 0; i < connections_.size(); ++i) {
          Connection& c = *connections_[i];
          if (!c.ended && !c.stopping) stop(c, "given up: no reply in time");
          advance(ring, i, at);
        }
      }
    }
  }

  static constexpr std::uint64_t kSend = 0;
  static constexpr std::uint64_t kReceive = 1;

  void on_completion(BenchRing& ring, std::uint64_t data, int result, Clock::time_point at) {
    const std::size_t index = data >> 1U;
    Connection& c = *connections_[index];
    // Once the connection is shut down, a completion only gives its buffer back.
    if ((data & 1U) == kSend) {
      c.sending = false;
      if (!c.stopping) sent(ring, index, result);
    } else {
      c.receiving = false;
      if (!c.stopping) received(c, result, at);
    }
    advance(ring, index, at);
  }

  void sent(BenchRing& ring, std::size_t index, int result) {
    Connection& c = *connections_[index];
    if (result < 0) {
      stop(c, "write failed: " + std::system_category().message(-result));
    } else if ((c.output_sent += static_cast<std::size_t>(result)) < c.output.size()) {
      send_rest(ring, index);  // the kernel took part of it
    } else {
      c.output.clear();
    }
  }

  void received(Connection& c, int result, Clock::time_point at) {
    if (result <= 0) {
      stop(c, result == 0 ? std::string("the server closed the connection")
                          : "read failed: " + std::system_category().message(-result));
      return;
    }
    c.input_end += static_cast<std::size_t>(result);
    if (!consume(c, at)) stop(c, "");  // consume() has said why
  }

  // Puts in the ring what connection `index` can do next: its next requests when none is
  // being sent, a receive while replies are due; or ends it.
  void advance(BenchRing& ring, std::size_t index, Clock::time_point now) {
    Connection& c = *connections_[index];
    if (c.ended) return;
    if (!c.stopping && !c.sending) {
      fill(c, now);
      if (!c.output.empty()) {
        c.output_sent = 0;
        send_rest(ring, index);
      }
    }
    if (!c.stopping && !c.receiving && c.in_flight > 0) {
      c.receiving = true;
      io_uring_sqe* sqe = ring.entry();
      io_uring_prep_recv(sqe, c.link.socket.native_handle(), c.input.data() + c.input_end,
                         c.input.size() - c.input_end, 0);
      io_uring_sqe_set_data64(sqe, index << 1U | kReceive);
    }
    if (!c.sending && !c.receiving && (c.stopping || c.in_flight == 0)) {
      c.ended = true;
      asio::error_code ignored;
      c.link.socket.close(ignored);
      --active_;
    }
  }

  void send_rest(BenchRing& ring, std::size_t index) {
    Connection& c = *connections_[index];
    c.sending = true;
    io_uring_sqe* sqe = ring.entry();
    io_uring_prep_send(sqe, c.link.socket.native_handle(), c.output.data() + c.output_sent,
                       c.output.size() - c.output_sent, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, index << 1U | kSend);
  }

  // The connection can no longer be used: what it has in flight is lost (`why`, unless
  // consume() has said it), and the ring's operations on it end at the shutdown.
  void stop(Connection& c, const std::string& why) {
    if (!why.empty()) broken(c, why);
    c.stopping = true;
    ::shutdown(c.link.socket.native_handle(), SHUT_RDWR);
  }

  bool may_send(Clock::time_point now) {
    if (schedule_.by_count) return budget_ > 0;
    return now < schedule_.stop_at;
  }

  // Queues requests until the pipeline is full or the run says stop.
  void fill(Connection& c, Clock::time_point now) {
    const std::size_t depth = c.sent_at.size();
    while (c.in_flight < depth && may_send(now)) {
      const Op op = mix_.at(c.mix_pos++);
      c.output.append(codec_.request(op));
      const std::size_t slot = (c.ring_head + c.in_flight) % depth;
      c.sent_at[slot] = now;
      c.sent_op[slot] = op;
      ++c.in_flight;
      ++result_.sent;
      if (schedule_.by_count) --budget_;
    }
  }

  // Takes every whole reply out of the input buffer. False when the stream broke.
  bool consume(Connection& c, Clock::time_point at) {
    const std::size_t depth = c.sent_at.size();
    const bool measured =
        schedule_.by_count || (at >= schedule_.measure_from && at <= schedule_.stop_at);
    std::uint64_t taken = 0;
    bool intact = true;
    for (;;) {
      const std::string_view bytes(c.input.data() + c.input_begin, c.input_end - c.input_begin);
      const WireReply reply = codec_.parse(bytes);
      if (reply.kind == WireReply::Kind::kNeedMore) break;
      if (reply.kind == WireReply::Kind::kBroken) {
        ++result_.unexpected;
        broken(c, "a reply that cannot be parsed: '" + printable(bytes) + "'");
        intact = false;
        break;
      }
      if (c.in_flight == 0) {
        ++result_.unexpected;
        broken(c, "a reply to no request: '" + printable(bytes.substr(0, reply.consumed)) + "'");
        intact = false;
        break;
      }
      const Clock::time_point sent = c.sent_at[c.ring_head];
      const Op op = c.sent_op[c.ring_head];
      c.ring_head = (c.ring_head + 1) % depth;
      --c.in_flight;
      c.input_begin += reply.consumed;
      ++taken;
      account(op, reply, bytes.substr(0, reply.consumed));
      if (measured) {
        result_.latency_ns.record(static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(at - sent).count()));
        ++result_.measured;
      }
    }
    if (taken > 0) {
      last_reply_ = at;
      replies_.fetch_add(taken, std::memory_order_relaxed);
    }
    // Keep the start of an unfinished reply at the front, so the buffer never runs out.
    if (c.input_begin == c.input_end) {
      c.input_begin = c.input_end = 0;
    } else if (c.input_end == c.input.size()) {
      std::memmove(c.input.data(), c.input.data() + c.input_begin, c.input_end - c.input_begin);
      c.input_end -= c.input_begin;
      c.input_begin = 0;
    }
    return intact;
  }

  void account(Op op, const WireReply& reply, std::string_view bytes) {
    switch (codec_.judge(op, reply)) {
      case Verdict::kGood:
        ++result_.good;
        if (op == Op::kIncr) ++result_.acked.incr;
        if (op == Op::kDecr) ++result_.acked.decr;
        if (op == Op::kAdd) ++result_.acked.add;
        return;
      case Verdict::kErrorReply:
        ++result_.error_replies;
        note("an error reply to " + std::string(op_name(op)) + ": '" + printable(bytes) + "'");
        return;
      case Verdict::kUnexpected:
        ++result_.unexpected;
        note("an unexpected reply to " + std::string(op_name(op)) + ": '" + printable(bytes) + "'");
        return;
    }
  }

  // The connection can no longer be trusted: what is in flight is lost.
  void broken(Connection& c, const std::string& why) {
    ++result_.broken_connections;
    const std::size_t lost = c.in_flight;
    result_.lost_in_flight += lost;
    const std::size_t depth = c.sent_at.size();
    for (std::size_t i = 0; i < c.in_flight; ++i) {
      if (mutates(c.sent_op[(c.ring_head + i) % depth])) ++result_.lost_mutations;
    }
    c.in_flight = 0;
    note(why + " (" + std::to_string(lost) + " request(s) in flight lost)");
  }

  // Keeps the first problem only: later ones are usually its echoes. Allocates, but only
  // on the failure path.
  void note(const std::string& problem) {
    if (result_.first_problem.empty()) result_.first_problem = problem;
  }

  // Gives up on every connection of this worker when no reply has come for the timeout.
  asio::awaitable<void> watch() {
    while (active_ > 0) {
      watchdog_.expires_after(std::chrono::milliseconds(100));
      co_await watchdog_.async_wait(kAwait);
      if (active_ == 0) break;
      if (Clock::now() - last_reply_ > options_.reply_timeout) {
        result_.timed_out = true;
        note("no reply for " + std::to_string(options_.reply_timeout.count()) + " ms");
        for (auto& connection : connections_) {
          asio::error_code ignored;
          connection->link.socket.close(ignored);
        }
        break;
      }
    }
  }

  const LoadOptions& options_;
  const Codec& codec_;
  const CommandMix& mix_;
  const Schedule& schedule_;
  std::uint64_t budget_;  // requests this worker may still send (by count)
  bool on_ring_;          // run on io_uring (plain TCP) rather than the Asio loop
  asio::io_context io_{1};
  asio::steady_timer watchdog_;
  std::vector<std::unique_ptr<Connection>> connections_;
  std::size_t active_ = 0;        // connections still running
  Clock::time_point last_reply_;  // for the watchdog and the window (by count)
  LoadResult result_;
  std::atomic<std::uint64_t> replies_{0};  // written by the worker, read for progress
  std::atomic<bool> done_{false};
};

// One request and its reply on a fresh connection, set up as `setup` says, all within
// `timeout`. Throws ConnectError when the connection or its set-up fails, ProbeError when
// the reply does not come.
WireReply transact(const ServerAddress& server, const Codec& codec, const ConnectionSetup& setup,
                   std::string_view request, std::chrono::milliseconds timeout,
                   std::string& received) {
  asio::io_context io;
  const std::unique_ptr<asio::ssl::context> tls_context = make_tls_context(setup);
  Link link(io, tls_context.get());
  connect_to(link.socket, resolve(io, server), server);
  const std::string auth_request = auth_request_of(codec, setup);
  std::string setup_failure;
  std::string probe_failure;
  bool set = false;  // the set-up is done: what fails from here on is the probe's
  bool finished = false;
  bool timed_out = false;
  WireReply reply;
  asio::steady_timer deadline(io);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        setup_failure = co_await set_up(link, server, codec, auth_request);
        if (setup_failure.empty()) {
          set = true;
          // Not a ?: between two co_awaits: GCC 12 miscompiles that.
          if (link.tls) {
            probe_failure = co_await ask(*link.tls, server, codec, request, received, reply);
          } else {
            probe_failure = co_await ask(link.socket, server, codec, request, received, reply);
          }
        }
        finished = true;
        deadline.cancel();
      },
      rethrow);
  deadline.expires_after(timeout);
  deadline.async_wait([&](const asio::error_code& ec) {
    if (ec || finished) return;
    timed_out = true;
    asio::error_code ignored;
    link.socket.close(ignored);
  });
  io.run();
  if (timed_out && !set) {
    throw ConnectError("setting up the connection to " + server.text() +
                       " (TLS handshake, password) took more than " +
                       std::to_string(timeout.count()) + " ms");
  }
  if (timed_out) throw ProbeError("no reply from " + server.text() + " in time");
  if (!setup_failure.empty()) throw ConnectError(setup_failure);
  if (!probe_failure.empty()) throw ProbeError(probe_failure);
  return reply;
}

}  // namespace

LoadGenerator::LoadGenerator(LoadOptions options, const Codec& codec, const CommandMix& mix)
    : options_(std::move(options)), codec_(codec), mix_(mix) {}

LoadResult LoadGenerator::run(const std::function<void(const Progress&)>& on_progress,
                              std::chrono::milliseconds every) {
  const unsigned connections = std::max(1U, options_.connections);
  const unsigned threads = std::clamp(options_.threads, 1U, connections);
  options_.pipeline = std::max(1U, options_.pipeline);

  Schedule schedule;
  schedule.by_count = options_.requests > 0;
  LoadResult total;
  if (options_.io != LoadIo::kEpoll) {
    std::optional<std::string> unavailable = load_io_uring_unavailable();
    if (!unavailable && options_.setup.tls) unavailable = "TLS runs on epoll";
    if (unavailable && options_.io == LoadIo::kIoUring) {
      throw ConnectError("io_uring cannot be used: " + *unavailable);
    }
    total.on_io_uring = !unavailable;
    if (unavailable) total.io_note = *unavailable;
  }
  // Shared by every TLS connection; outlives the workers, which are destroyed first.
  std::unique_ptr<asio::ssl::context> tls_context;
  std::vector<std::unique_ptr<Worker>> workers;
  {
    if (options_.servers.empty()) throw ConnectError("no server to connect to");
    tls_context = make_tls_context(options_.setup);
    asio::io_context resolver_io;
    std::vector<tcp::resolver::results_type> endpoints;
    for (const ServerAddress& server : options_.servers) {
      endpoints.push_back(resolve(resolver_io, server));
    }
    std::size_t opened = 0;
    for (unsigned t = 0; t < threads; ++t) {
      const unsigned share = connections / threads + (t < connections % threads ? 1 : 0);
      // By count, each connection is worth an equal part of the requests.
      std::uint64_t budget = 0;
      for (unsigned i = 0; i < share; ++i) {
        const std::size_t index = opened + i;
        budget +=
            options_.requests / connections + (index < options_.requests % connections ? 1 : 0);
      }
      workers.push_back(
          std::make_unique<Worker>(options_, codec_, mix_, schedule, budget, total.on_io_uring));
      workers.back()->open(share, endpoints, opened, tls_context.get());
      opened += share;
    }
  }

  schedule.start_now(options_.warmup, options_.duration);
  run_workers(workers, schedule, on_progress, every,
              [](const auto& worker) { return worker.replies(); });

  Clock::time_point last_reply = schedule.start;
  for (auto& worker : workers) {
    LoadResult& part = worker->result();
    total.latency_ns.merge(part.latency_ns);
    total.measured += part.measured;
    total.sent += part.sent;
    total.good += part.good;
    total.error_replies += part.error_replies;
    total.unexpected += part.unexpected;
    total.acked += part.acked;
    total.lost_in_flight += part.lost_in_flight;
    total.lost_mutations += part.lost_mutations;
    total.broken_connections += part.broken_connections;
    total.timed_out = total.timed_out || part.timed_out;
    if (total.first_problem.empty()) total.first_problem = part.first_problem;
    last_reply = std::max(last_reply, worker->last_reply());
  }
  total.window = schedule.by_count ? Seconds(last_reply - schedule.start) : options_.duration;
  return total;
}

std::optional<std::string> load_io_uring_unavailable() {
  try {
    BenchRing ring(ring_entries(1));
  } catch (const std::system_error& e) {
    const int error = e.code().value();
    if (error == EPERM || error == EACCES || error == ENOSYS) {
      return std::string(
                 "io_uring_setup was refused (kernel.io_uring_disabled, or a seccomp "
                 "profile such as Docker's default): ") +
             e.code().message();
    }
    return e.what();
  }
  return std::nullopt;
}

void prepare_counter(const ServerAddress& server, const Codec& codec, const ConnectionSetup& setup,
                     std::chrono::milliseconds timeout) {
  if (codec.setup_request().empty()) return;
  std::string received;
  const WireReply reply = transact(server, codec, setup, codec.setup_request(), timeout, received);
  if (reply.kind != WireReply::Kind::kOk) {
    throw ProbeError("creating the key on " + server.text() + " failed: the server answered '" +
                     received + "'");
  }
}

std::int64_t read_counter(const ServerAddress& server, const Codec& codec,
                          const ConnectionSetup& setup, std::chrono::milliseconds timeout) {
  std::string received;
  const WireReply reply =
      transact(server, codec, setup, codec.request(Op::kGet), timeout, received);
  if (const auto value = codec.value_of(reply)) return *value;
  while (!received.empty() && (received.back() == '\n' || received.back() == '\r'))
    received.pop_back();
  throw ProbeError("reading the counter on " + server.text() + ": the server answered '" +
                   received + "' to " + std::string(op_name(Op::kGet)) + ", which is not a value");
}

}  // namespace count
