#include "protocol/line_splitter.hpp"

namespace count {

void LineSplitter::clear_partial() {
  // A short unfinished line lives in the string's inline storage; a long one's heap block
  // is given back so that an idle connection holds no buffer.
  if (partial_.capacity() > std::string().capacity()) {
    std::string().swap(partial_);
  } else {
    partial_.clear();
  }
}

}  // namespace count
