#include "net/loop_pool.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include "net/session.hpp"
#include "store/store.hpp"

namespace count {

const char* io_backend_name(IoBackend io) {
  return io == IoBackend::kIoUring ? "io_uring" : "epoll";
}

// A loop runs on one thread only, and every socket and timer operation of a loop happens on
// that thread (connections are handed over as plain descriptors and registered there). So
// the reactor's per-descriptor locks can go; posting from other threads stays safe. An
// io_uring loop makes no socket or timer of Asio's, so its io_context has no reactor at all.
Loop::Loop(const SessionPolicy& policy, IoBackend io)
    : policy_(policy), context_(ASIO_CONCURRENCY_HINT_UNSAFE_IO) {
  work_.emplace(context_.get_executor());
  if (io == IoBackend::kIoUring) {
    ring_ = std::make_unique<Ring>();
    // Blocking: the ring's read of it waits in the kernel, not in a retry loop.
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC);
    if (wake_fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
    return;
  }
  durable_signal_.emplace(context_.get_executor(), std::chrono::steady_clock::time_point::max());
  timeout_check_.emplace(context_.get_executor());
  check_timeouts_every_second();
}

// One timer per loop, not one per connection: an idle connection carries no timer, and a
// check is a walk over the loop's sessions once a second.
void Loop::check_timeouts_every_second() {
  timeout_check_->expires_after(std::chrono::seconds(1));
  timeout_check_->async_wait([this](const asio::error_code& ec) {
    if (ec || stopping_) return;
    check_timeouts();
    check_timeouts_every_second();
  });
}

void Loop::check_timeouts() {
  ++tick_;
  for (Session* session = sessions_; session != nullptr;) {
    Session* next = session->next_;  // a closed session leaves the list only later
    session->check_timeouts(tick_);
    session = next;
  }
}

Loop::~Loop() {
  work_.reset();
  if (!ring_) return;
  // Stopped before its sessions ended (after the grace time): the ring's end stops every
  // operation that refers to them, then they go.
  ring_.reset();
  while (sessions_ != nullptr) delete sessions_;
  ::close(wake_fd_);
}

// An intrusive list: an idle connection costs no allocation beyond its session.
void Loop::attach(Session& session) {
  session.next_ = sessions_;
  if (sessions_ != nullptr) sessions_->prev_ = &session;
  sessions_ = &session;
}

void Loop::detach(Session& session) {
  if (session.prev_ != nullptr) session.prev_->next_ = session.next_;
  if (session.next_ != nullptr) session.next_->prev_ = session.prev_;
  if (sessions_ == &session) sessions_ = session.next_;
  session.prev_ = session.next_ = nullptr;
  if (session.awaiting_durable_) std::erase(durable_waiters_, &session);
  if (ring_) {
    if (session.queued_) {
      std::erase(ready_, &session);
      std::erase(next_turn_, &session);
    }
    std::erase_if(alarms_, [&](const Alarm& alarm) { return alarm.session == &session; });
    std::erase(starved_, &session);
  }
}

void Loop::await_durable(Session& session) {
  durable_waiters_.push_back(&session);
  durable_waiting_.store(true, std::memory_order_relaxed);
  // Pairs with the fence in notify_durable(): either that notice sees this flag, or the
  // session's next read of durable_seq() sees the advance it was about.
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

// A handler posted now runs after the completions this turn of the loop has already queued:
// the sessions whose sockets were ready together are all served before the commit.
void Loop::commit_after_this_turn(Store& store) {
  if (commit_posted_) return;
  commit_posted_ = true;
  asio::post(context_, [this, &store] {
    commit_posted_ = false;
    // An io_uring loop writes and syncs the data file itself, between turns: no hand-off to
    // the committer thread and back on the request path.
    if (ring_) {
      store.commit_here();
    } else {
      store.commit();
    }
  });
}

void Loop::notify_durable() {
  // A loop none of whose sessions waits is left asleep: with every loop syncing its own
  // batches, a notice to each loop per sync would wake the other cores for nothing.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (!durable_waiting_.load(std::memory_order_relaxed)) return;
  if (durable_notice_posted_.exchange(true, std::memory_order_acq_rel)) return;
  post([this] {
    durable_notice_posted_.store(false, std::memory_order_release);
    wake_durable_waiters();
  });
}

void Loop::wake_durable_waiters() {
  if (durable_signal_) durable_signal_->cancel();
  std::vector<Session*> waiters;
  waiters.swap(durable_waiters_);
  durable_waiting_.store(false, std::memory_order_relaxed);
  for (Session* session : waiters) {
    // Off the list, so the flag goes: only a session still on it may be on it when it ends
    // (detach() looks at the flag), and a dangling entry would be woken after its end.
    session->awaiting_durable_ = false;
    session->wake();
  }
}

void Loop::shut_down() {
  post([this] {
    stopping_ = true;
    if (!ring_) {
      work_.reset();
      durable_signal_->cancel();
      timeout_check_->cancel();
    }
    for (Session* session = sessions_; session != nullptr; session = session->next_) {
      session->wake();
    }
  });
}

void Loop::stop() {
  stop_requested_.store(true, std::memory_order_release);
  context_.stop();
  if (ring_) signal();
}

void Loop::run() {
  if (ring_) {
    run_ring();
  } else {
    context_.run();
  }
}

// The other threads' posts wake the ring by writing to the eventfd, at most once per turn.
void Loop::signal() {
  if (wake_pending_.exchange(true, std::memory_order_acq_rel)) return;
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

void Loop::read_wake_ups() {
  io_uring_prep_read(ring_->prepare(this, 1), wake_fd_, &wake_count_, sizeof wake_count_, 0);
}

void Loop::on_completion(unsigned /*op*/, int result, std::uint32_t /*flags*/) {
  if (result != -ECANCELED) read_wake_ups();
}

void Loop::adopt(std::unique_ptr<Session> session) { step_soon(*session.release()); }

void Loop::step_soon(Session& session) {
  if (session.queued_) return;
  session.queued_ = true;
  ready_.push_back(&session);
}

void Loop::step_next_turn(Session& session) {
  if (session.queued_) return;
  session.queued_ = true;
  next_turn_.push_back(&session);
}

void Loop::step_at(std::chrono::steady_clock::time_point when, Session& session) {
  alarms_.push_back({when, &session, {}});
}

void Loop::step_when_buffers_return(Session& session) {
  if (std::find(starved_.begin(), starved_.end(), &session) == starved_.end()) {
    starved_.push_back(&session);
  }
}

void Loop::call_at(std::chrono::steady_clock::time_point when, std::function<void()> handler) {
  alarms_.push_back({when, nullptr, std::move(handler)});
}

void Loop::ring_alarms(std::chrono::steady_clock::time_point now) {
  // Few: a paused session each, and the accept loop's back-off.
  std::vector<Alarm> due;
  std::erase_if(alarms_, [&](Alarm& alarm) {
    if (alarm.when > now) return false;
    due.push_back(std::move(alarm));
    return true;
  });
  for (Alarm& alarm : due) {
    if (alarm.session != nullptr) {
      step_soon(*alarm.session);
    } else {
      alarm.handler();
    }
  }
}

// Steps every session that is ready; a session that has ended goes.
void Loop::step_ready() {
  std::vector<Session*> batch;
  batch.swap(ready_);
  for (Session* session : batch) {
    session->queued_ = false;
    session->step();
    if (session->ended()) delete session;
  }
  batch.clear();
  if (ready_.empty()) ready_.swap(batch);  // keeps the capacity
}

// One turn: take the completions (which say which sessions can go on), the alarms, the
// handlers posted to the loop, then step the sessions; then submit what they asked for and
// wait, in one system call.
void Loop::run_ring() {
  using Clock = std::chrono::steady_clock;
  thread_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  ring_->enable();
  read_wake_ups();
  auto next_tick = Clock::now() + std::chrono::seconds(1);
  for (;;) {
    ring_->dispatch();
    const auto now = Clock::now();
    if (now >= next_tick) {
      next_tick = std::max(next_tick + std::chrono::seconds(1), now);
      if (!stopping_) check_timeouts();
    }
    if (!alarms_.empty()) ring_alarms(now);
    if (!starved_.empty() && !short_of_buffers()) {
      for (Session* session : starved_) step_soon(*session);
      starved_.clear();
    }
    // Handlers first (new sessions among them), then the sessions; a handler the sessions
    // post (a commit after this turn) runs after all of them. Bounded: a session that keeps
    // another busy waits for the next turn.
    for (int round = 0; round < 4; ++round) {
      wake_pending_.store(false, std::memory_order_release);
      context_.poll();
      if (stop_requested_.load(std::memory_order_acquire)) return;
      if (ready_.empty()) break;
      step_ready();
    }
    if (stopping_ && sessions_ == nullptr) return;

    std::optional<std::chrono::nanoseconds> timeout = next_tick - Clock::now();
    for (const Alarm& alarm : alarms_) {
      timeout = std::min<std::chrono::nanoseconds>(*timeout, alarm.when - Clock::now());
    }
    if (!ready_.empty() || !next_turn_.empty()) timeout = std::chrono::nanoseconds(0);
    ring_->submit_and_wait(timeout);
    for (Session* session : next_turn_) ready_.push_back(session);
    next_turn_.clear();
  }
}

LoopPool::LoopPool(unsigned loops, unsigned local_loops, const SessionPolicy& policy, IoBackend io)
    : local_loops_(std::clamp(local_loops, 1U, std::max(loops, 1U))) {
  loops_.reserve(std::max(loops, 1U));
  for (unsigned i = 0; i < std::max(loops, 1U); ++i) {
    loops_.push_back(std::make_unique<Loop>(policy, io));
  }
}

LoopPool::~LoopPool() {
  for (auto& loop : loops_) loop->stop();
  join();
}

Loop& LoopPool::next(bool local_client) {
  std::size_t& next = local_client ? next_local_ : next_remote_;
  const std::size_t count = local_client ? local_loops_ : loops_.size();
  Loop& loop = *loops_[next % count];
  next = (next + 1) % count;
  return loop;
}

void LoopPool::start(const std::function<void()>& on_exit) {
  for (auto& loop : loops_) {
    threads_.emplace_back([&loop = *loop, on_exit] {
      loop.run();
      on_exit();
    });
  }
}

void LoopPool::join() {
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  threads_.clear();
}

}  // namespace count
