// One event loop per thread, and the sessions each one serves. A Loop's members are used
// only on its own thread, except where a comment says otherwise.
#pragma once

#include <array>
#include <asio/basic_waitable_timer.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
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
#include <vector>

#include "commands/resp_commands.hpp"
#include "metrics/loop_metrics.hpp"

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

class Loop {
 public:
  explicit Loop(const SessionPolicy& policy);
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  asio::io_context& context() { return context_; }

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

  // `session` wants a wake() at the next durability advance; the session asks once per wait.
  void await_durable(Session& session);

  // Sessions that wait for durability and nothing else wait on this timer; it never
  // expires, and is cancelled at every durability advance and at shutdown.
  asio::basic_waitable_timer<std::chrono::steady_clock,
                             asio::wait_traits<std::chrono::steady_clock>,
                             asio::io_context::executor_type>&
  durable_signal() {
    return durable_signal_;
  }

  // Asks `store` to commit once the sessions that are ready in this turn of the loop have
  // been served, so that one disk sync covers all of their mutations.
  void commit_after_this_turn(Store& store);

  // Any thread: durable_seq advanced; wakes the sessions that wait for it.
  void notify_durable();

  // Any thread: asks every session to finish (answer what it has received, then close)
  // and lets run() return once they have.
  void shut_down();
  bool stopping() const { return stopping_; }

  // Serves until shut down and every session has ended, or until the context is stopped.
  void run();

 private:
  void wake_durable_waiters();
  void check_timeouts_every_second();

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
  // Last, so that they are destroyed first: the sessions still waiting detach from the
  // members above as they are destroyed.
  asio::io_context context_;
  asio::basic_waitable_timer<std::chrono::steady_clock,
                             asio::wait_traits<std::chrono::steady_clock>,
                             asio::io_context::executor_type>
      durable_signal_;
  asio::basic_waitable_timer<std::chrono::steady_clock,
                             asio::wait_traits<std::chrono::steady_clock>,
                             asio::io_context::executor_type>
      timeout_check_;
};

// The loops and their threads. Sessions are spread over the loops in turn: a remote client's
// over every loop, a client on this machine's over the first `local_loops` only (see
// docs/performance.md: such a client needs cores of its own, and loops that wake on every
// core take them from it).
class LoopPool {
 public:
  LoopPool(unsigned loops, unsigned local_loops, const SessionPolicy& policy);
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
