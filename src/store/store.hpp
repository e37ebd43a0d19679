// Where the counter lives: the one interface every store implements (docs/storage.md).
// Every method may be called from any loop thread at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "metrics/metrics.hpp"
#include "protocol/reply.hpp"

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

class Store {
 public:
  virtual ~Store() = default;

  virtual Applied add(std::int64_t delta) = 0;
  virtual Snapshot get() const = 0;

  // The caller has applied a batch of mutations (the requests of one turn of its event
  // loop): start making them durable. Mutations alone do not start a disk sync, so that one
  // sync covers the whole batch rather than its first mutation. Any thread; never blocks.
  virtual void commit() = 0;

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
