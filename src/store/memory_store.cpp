#include "store/memory_store.hpp"

namespace count {

Applied MemoryStore::add(std::int64_t delta) {
  const std::optional<std::int64_t> value = counter_.add(delta);
  if (!value) return {};
  return {true, *value, 0};
}

Transacted MemoryStore::transact(std::span<const Step> steps, const Watched* watched) {
  Transacted result;
  result.replies.reserve(steps.size());  // nothing is allocated while the counter is locked
  result.ran = counter_.transact(steps, watched ? &watched->version : nullptr, [&](std::size_t i, const StepResult& step) {
    result.replies.push_back(step_reply(steps[i], step, 0));
  });
  return result;
}

void MemoryStore::write_metrics(MetricsText& out) const {
  out.gauge("count_server_value", "The counter's value.", static_cast<double>(counter_.load()));
}

}  // namespace count
