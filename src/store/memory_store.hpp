// The store without persistence: every state is "durable" at once, so no reply ever waits.
// Lock-free on every call.
#pragma once

#include "core/counter.hpp"
#include "store/store.hpp"

namespace count {

class MemoryStore final : public Store {
 public:
  explicit MemoryStore(std::int64_t initial = 0) : counter_(initial) {}

  Applied add(std::int64_t delta) override;
  Snapshot get() const override { return {counter_.load(), 0}; }
  Watched watch() override { return {counter_.version(), 0}; }
  Transacted transact(std::span<const Step> steps, const Watched* watched) override;
  void commit() override {}
  Seq durable_seq() const override { return 0; }
  void on_durable(std::function<void()> /*listener*/) override {}
  bool close() override { return true; }
  void write_metrics(MetricsText& out) const override;

 private:
  Counter counter_;
};

}  // namespace count
