#include "store/memory_store.hpp"

namespace count {

Applied MemoryStore::add(std::int64_t delta) {
  const std::optional<std::int64_t> value = counter_.add(delta);
  if (!value) return {};
  return {true, *value, 0};
}

void MemoryStore::write_metrics(MetricsText& out) const {
  out.gauge("count_server_value", "The counter's value.", static_cast<double>(counter_.load()));
}

}  // namespace count
