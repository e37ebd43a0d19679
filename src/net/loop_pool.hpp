// One event loop per thread, and the sessions each one serves. A Loop's members are used
// only on its own thread, except where a comment says otherwise.
//
// A loop waits in one of two ways (docs/performance.md, "The io_uring loop"). With epoll,
// Asio's io_context runs it: sessions are coroutines that wait for their sockets' readiness.
// With io_uring, the loop's ring does the waiting and the I/O, and the io_context only runs
// the handlers posted to the loop (new sessions, commits, durability notices, shutdown).
#pragma once

#include <array>
#include <asio/basic_waitable_timer.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "commands/resp_commands.hpp"
#include "metrics/loop_metrics.hpp"
#include "net/ring.hpp"

namespace count {

class RejectionLog;
class Session;
class Store;

// What every session of a server obeys (docs/protocol.md, "Authentication", "Limits").
struct SessionPolicy {
  const ServerPassword* password = nullptr;  // nullptr: no `auth` needed
  RejectionLog* rejections = nullptr;        // must be set; outlives the loops
  std::chrono::seconds idle_timeout{0};      // no request for this long: closed (0: never)
  std::chrono::seconds stall_timeout{30};    // part of a line, or replies unread, this long
  std::chrono::seconds handshake_timeout{10};
  const RespSettings* resp = nullptr;                    // must be set; outlives the loops
  std::atomic<std::uint64_t>* next_client_id = nullptr;  // must be set; any loop thread
};

// How many bytes a session reads from its socket at a time. Bounds what one read can make
// a slow reader's queue grow by (at most ~6 reply bytes per request byte).
inline constexpr std::size_t kReadChunkBytes = std::size_t{16} * 1024;

// How the loops wait for their sockets.
enum class IoBackend { kEpoll, kIoUring };
const char* io_backend_name(IoBackend io);

class Loop final : public RingTarget {
 public:
  // With kIoUring, throws RingError when the ring cannot be made.
  Loop(const SessionPolicy& policy, IoBackend io);
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  // Epoll loops: where sockets and timers live. Both: what post() runs handlers on.
  asio::io_context& context() { return context_; }

  // Any thread: runs `handler` on the loop's thread.
  template <typename Handler>
  void post(Handler&& handler) {
    asio::post(context_, std::forward<Handler>(handler));
    // The loop's own thread needs no wake-up: it runs what is posted before it next waits.
    if (ring_ && std::this_thread::get_id() != thread_.load(std::memory_order_relaxed)) signal();
  }

  // io_uring loops. The ring, and when the loop steps a session: soon (this turn), at the
  // next turn (after the others), at a time, or once the ring's buffers come back.
  bool on_ring() const { return ring_ != nullptr; }
  Ring& ring() { return *ring_; }
  void adopt(std::unique_ptr<Session> session);
  void step_soon(Session& session);
  void step_next_turn(Session& session);
  void step_at(std::chrono::steady_clock::time_point when, Session& session);
  void step_when_buffers_return(Session& session);
  // More than half the ring's receive buffers are out: a receive that ran short waits.
  bool short_of_buffers() const { return ring_->buffers_out() > Ring::kBuffers / 2; }
  // Runs `handler` on the loop's thread at `when` (not before the next turn).
  void call_at(std::chrono::steady_clock::time_point when, std::function<void()> handler);
  // The ring's completions for the loop itself: its wake-ups.
  void on_completion(unsigned op, int result, std::uint32_t flags) override;

  // Any thread: stops the loop at once, sessions open or not (after the grace time).
  void stop();

  // Scratch space shared by the loop's sessions: valid until the session next suspends.
  // This is what lets an idle connection hold no buffer of its own.
  std::span<char> input_buffer() { return input_; }
  std::string& reply_buffer() { return replies_; }

  const SessionPolicy& policy() const { return policy_; }

  // Written on the loop's thread only; read by a scrape from any thread.
  LoopMetrics& metrics() { return metrics_; }
  const LoopMetrics& metrics() const { return metrics_; }

  // Whole seconds since the loop started, as its once-a-second check of timeouts counts them.
  std::uint32_t tick() const { return tick_; }

  void attach(Session& session);
  void detach(Session& session);

  // `session` wants a wake() at the next durability advance; the session asks once per wait,
  // then reads durable_seq() again (an advance published before this call may have found no
  // waiter here, and sent no notice: see notify_durable()).
  void await_durable(Session& session);

  // Epoll loops: sessions that wait for durability and nothing else wait on this timer; it
  // never expires, and is cancelled at every durability advance and at shutdown.
  asio::basic_waitable_timer<std::chrono::steady_clock,
                             asio::wait_traits<std::chrono::steady_clock>,
                             asio::io_context::executor_type>&
  durable_signal() {
    return *durable_signal_;
  }

  // Asks `store` to commit once the sessions that are ready in this turn of the loop have
  // been served, so that one disk sync covers all of their mutations.
  void commit_after_this_turn(Store& store);

  // Any thread, after durable_seq advanced: wakes the sessions that wait for it. Costs
  // nothing when none of this loop's sessions waits (no post, no wake-up of its thread).
  void notify_durable();

  // Any thread: asks every session to finish (answer what it has received, then close)
  // and lets run() return once they have.
  void shut_down();
  bool stopping() const { return stopping_; }

  // Serves until shut down and every session has ended, or until stop().
  void run();

 private:
  using Timer = asio::basic_waitable_timer<std::chrono::steady_clock,
                                           asio::wait_traits<std::chrono::steady_clock>,
                                           asio::io_context::executor_type>;
  struct Alarm {
    std::chrono::steady_clock::time_point when;
    Session* session;               // stepped then; or null:
    std::function<void()> handler;  // run then
  };

  void wake_durable_waiters();
  void check_timeouts_every_second();
  void check_timeouts();
  void run_ring();
  void step_ready();
  void ring_alarms(std::chrono::steady_clock::time_point now);
  void read_wake_ups();
  void signal();

  LoopMetrics metrics_;
  SessionPolicy policy_;
  std::uint32_t tick_ = 0;

  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::array<char, kReadChunkBytes> input_{};
  std::string replies_;
  Session* sessions_ = nullptr;  // a list through Session::next_; each owned by its coroutine
  std::vector<Session*> durable_waiters_;
  bool stopping_ = false;
  bool commit_posted_ = false;
  std::atomic<bool> durable_notice_posted_{false};  // any thread: one notice in flight at most
  std::atomic<bool> durable_waiting_{false};        // durable_waiters_ is not empty, for notices

  // io_uring loops: sessions to step this turn and next, alarms, sessions waiting for buffers,
  // and the eventfd other threads write to after they post.
  std::vector<Session*> ready_;
  std::vector<Session*> next_turn_;
  std::vector<Alarm> alarms_;
  std::vector<Session*> starved_;
  int wake_fd_ = -1;
  std::uint64_t wake_count_ = 0;             // what the ring's read of wake_fd_ fills
  std::atomic<bool> wake_pending_{false};    // any thread: a write to wake_fd_ is due
  std::atomic<bool> stop_requested_{false};  // any thread: stop()
  std::atomic<std::thread::id> thread_{};    // the loop's, once it runs

  // Last, so that they are destroyed first: the sessions still waiting detach from the
  // members above as they are destroyed (on an io_uring loop, after the ring has stopped
  // every operation).
  asio::io_context context_;
  std::optional<Timer> durable_signal_;  // epoll loops
  std::optional<Timer> timeout_check_;   // epoll loops
  std::unique_ptr<Ring> ring_;           // io_uring loops
};

// The loops and their threads. Sessions are spread over the loops in turn: a remote client's
// over every loop, a client on this machine's over the first `local_loops` only (see
// docs/performance.md: such a client needs cores of its own, and loops that wake on every
// core take them from it).
class LoopPool {
 public:
  LoopPool(unsigned loops, unsigned local_loops, const SessionPolicy& policy, IoBackend io);
  ~LoopPool();

  std::size_t size() const { return loops_.size(); }
  Loop& at(std::size_t index) { return *loops_[index]; }
  const Loop& at(std::size_t index) const { return *loops_[index]; }
  // The loop for the next session; only the accepting thread calls it.
  Loop& next(bool local_client);

  // Starts one thread per loop; each calls on_exit when its loop returns.
  void start(const std::function<void()>& on_exit);
  // Waits for every loop thread to return.
  void join();

 private:
  std::vector<std::unique_ptr<Loop>> loops_;
  std::vector<std::thread> threads_;
  std::size_t local_loops_;
  std::size_t next_remote_ = 0;
  std::size_t next_local_ = 0;
};

}  // namespace count
