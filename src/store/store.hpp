// Where the counter lives: the one interface every store implements (docs/storage.md).
// Every method may be called from any loop thread at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "core/counter.hpp"
#include "core/reply.hpp"
#include "metrics/metrics.hpp"

namespace count {

// The result of a mutation. seq numbers the state it produced (or, when refused, the state
// it was judged against); its reply may leave once durable_seq() has reached seq.
// A store that learns the outcome only later (over the network) sets `later` instead of
// `ok` and `value`: the reply is later->replies[later_index], decided by the time seq is
// durable.
struct Applied {
  bool ok = false;  // false: the result would leave the int64 range, nothing changed
  std::int64_t value = 0;
  Seq seq = 0;
  std::shared_ptr<const LateReplies> later{};
  std::size_t later_index = 0;
};

// A value as read, with the seq of the last mutation it reflects; or, as for Applied, a
// reply decided later.
struct Snapshot {
  std::int64_t value = 0;
  Seq seq = 0;
  std::shared_ptr<const LateReplies> later{};
  std::size_t later_index = 0;
};

// What WATCH remembers: the store's version (Counter::version(): mutations applied) at the
// time of the request; or, from a store that answers later, a reply decided later whose
// value is that version (kOk), or that says the version is already gone (kErr).
struct Watched {
  std::uint64_t version = 0;
  Seq seq = 0;
  std::shared_ptr<const LateReplies> later{};
  std::size_t later_index = 0;
};

// The outcome of a transaction. Decided now: `ran` false when the watched version had moved
// (nothing ran), else one reply per step in `replies`, each a reply of get (kVal) or of a
// mutation (kOk with the new value, or kErr); `seq` covers them all. Decided later:
// later->replies[later_index] is kOk when it ran and kErr when not, and the step replies
// follow it.
struct Transacted {
  bool ran = false;
  std::vector<Reply> replies;
  Seq seq = 0;
  std::shared_ptr<const LateReplies> later{};
  std::size_t later_index = 0;
};

// The reply of one step of a transaction, seq being the state it depends on.
inline Reply step_reply(const Step& step, const StepResult& result, Seq seq) {
  if (step.is_get) return Reply::val(result.value, seq);
  return result.ok ? Reply::ok(seq, result.value) : Reply::err(seq, ErrCause::kOverflow);
}

class Store {
 public:
  virtual ~Store() = default;

  virtual Applied add(std::int64_t delta) = 0;
  virtual Snapshot get() const = 0;

  // The version now, for WATCH.
  virtual Watched watch() = 0;

  // Runs `steps` one after another with no other mutation of any client between them, the
  // range rule applied to each; or none, when `watched` is given and the version has moved
  // since (any mutation applied by anyone). `watched` is read during the call only.
  virtual Transacted transact(std::span<const Step> steps, const Watched* watched) = 0;

  // The caller has applied a batch of mutations (the requests of one turn of its event
  // loop): start making them durable. Mutations alone do not start a disk sync, so that one
  // sync covers the whole batch rather than its first mutation. Any thread; never blocks.
  virtual void commit() = 0;

  // The same, done on the calling thread where the store can do it without waiting for
  // another (the file store under --fsync always: it writes and syncs the data file here,
  // with no thread hand-off, unless another thread is at the disk). It may block for that
  // write and sync. An io_uring loop calls it; by default it is commit().
  virtual void commit_here() { commit(); }

  // Replies that depend on a seq up to this one may leave.
  virtual Seq durable_seq() const = 0;

  // Called, from any thread, each time durable_seq() advances; must not block. Set once,
  // before the first mutation.
  virtual void on_durable(std::function<void()> listener) = 0;

  // Makes the current value durable and stops background work. Called once, after the
  // last mutation. Returns false when that failed (the reason is already reported).
  virtual bool close() = 0;

  // Writes the store's metrics (docs/metrics.md): at least the value, as count_server_value.
  // Any thread, during a scrape; never waits on the network or the disk.
  virtual void write_metrics(MetricsText& out) const = 0;
};

}  // namespace count
