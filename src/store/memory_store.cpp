#include "store/memory_store.hpp"

namespace count {

Applied MemoryStore::add(std::int64_t delta) {
  const std::optional<std::int64_t> value = counter_.add(delta);
  if (!value) return {};
  return {true, *value, 0};
}

}  // namespace count
