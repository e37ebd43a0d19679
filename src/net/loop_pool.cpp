#include "net/loop_pool.hpp"

#include <algorithm>
#include <asio/post.hpp>

#include "net/session.hpp"
#include "store/store.hpp"

namespace count {

// A loop runs on one thread only, and every socket and timer operation of a loop happens on
// that thread (connections are handed over as plain descriptors and registered there). So
// the reactor's per-descriptor locks can go; posting from other threads stays safe.
Loop::Loop(const SessionPolicy& policy)
    : policy_(policy),
      context_(ASIO_CONCURRENCY_HINT_UNSAFE_IO),
      durable_signal_(context_.get_executor(), std::chrono::steady_clock::time_point::max()),
      timeout_check_(context_.get_executor()) {
  work_.emplace(context_.get_executor());
  check_timeouts_every_second();
}

// One timer per loop, not one per connection: an idle connection carries no timer, and a
// check is a walk over the loop's sessions once a second.
void Loop::check_timeouts_every_second() {
  timeout_check_.expires_after(std::chrono::seconds(1));
  timeout_check_.async_wait([this](const asio::error_code& ec) {
    if (ec || stopping_) return;
    ++tick_;
    for (Session* session = sessions_; session != nullptr;) {
      Session* next = session->next_;  // a closed session leaves the list only later
      session->check_timeouts(tick_);
      session = next;
    }
    check_timeouts_every_second();
  });
}

Loop::~Loop() { work_.reset(); }

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
}

void Loop::await_durable(Session& session) { durable_waiters_.push_back(&session); }

// A handler posted now runs after the completions this turn of the loop has already queued:
// the sessions whose sockets were ready together are all served before the commit.
void Loop::commit_after_this_turn(Store& store) {
  if (commit_posted_) return;
  commit_posted_ = true;
  asio::post(context_, [this, &store] {
    commit_posted_ = false;
    store.commit();
  });
}

void Loop::notify_durable() {
  if (durable_notice_posted_.exchange(true, std::memory_order_acq_rel)) return;
  asio::post(context_, [this] {
    durable_notice_posted_.store(false, std::memory_order_release);
    wake_durable_waiters();
  });
}

void Loop::wake_durable_waiters() {
  durable_signal_.cancel();
  std::vector<Session*> waiters;
  waiters.swap(durable_waiters_);
  for (Session* session : waiters) {
    // Off the list, so the flag goes: only a session still on it may be on it when it ends
    // (detach() looks at the flag), and a dangling entry would be woken after its end.
    session->awaiting_durable_ = false;
    session->wake();
  }
}

void Loop::shut_down() {
  asio::post(context_, [this] {
    stopping_ = true;
    work_.reset();
    durable_signal_.cancel();
    timeout_check_.cancel();
    for (Session* session = sessions_; session != nullptr; session = session->next_) {
      session->wake();
    }
  });
}

void Loop::run() { context_.run(); }

LoopPool::LoopPool(unsigned loops, unsigned local_loops, const SessionPolicy& policy)
    : local_loops_(std::clamp(local_loops, 1U, std::max(loops, 1U))) {
  loops_.reserve(std::max(loops, 1U));
  for (unsigned i = 0; i < std::max(loops, 1U); ++i) {
    loops_.push_back(std::make_unique<Loop>(policy));
  }
}

LoopPool::~LoopPool() {
  for (auto& loop : loops_) loop->context().stop();
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
