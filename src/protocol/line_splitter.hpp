// Cuts a byte stream into request lines (docs/protocol.md, "Transport" and "Limits").
// Pure: no I/O, no threads. Keeps at most kMaxLineBytes of an unfinished line between
// calls; a longer line is reported once and skipped up to its newline without being stored.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace count {

// The longest line, in bytes before its '\n', that is read as a request.
inline constexpr std::size_t kMaxLineBytes = 4096;

class LineSplitter {
 public:
  enum class Event { kLine, kTooLong };

  // Calls sink(Event, std::string_view line) for each line that `bytes` completes, in order.
  // The line excludes its '\n' and is valid only during the call. kTooLong comes once per
  // over-long line, as soon as the line passes the limit, with an empty view. The sink
  // returns false to stop: feed then returns false, and the rest of `bytes` is dropped, or
  // left in *rest when `rest` is given (to be fed again later).
  template <typename Sink>
  bool feed(std::string_view bytes, Sink&& sink, std::string_view* rest = nullptr);

  // End of stream: reports a last line that had no '\n'.
  template <typename Sink>
  void finish(Sink&& sink);

  // True while an unfinished line is held (or being skipped).
  bool mid_line() const { return !partial_.empty() || skipping_; }

 private:
  void clear_partial();

  std::string partial_;     // start of a line whose '\n' has not arrived yet
  bool skipping_ = false;   // inside an over-long line, already reported
};

template <typename Sink>
bool LineSplitter::feed(std::string_view bytes, Sink&& sink, std::string_view* rest) {
  const auto stop = [&] {
    if (rest != nullptr) *rest = bytes;
    return false;
  };
  while (!bytes.empty()) {
    const std::size_t newline = bytes.find('\n');
    const std::string_view head = bytes.substr(0, newline);
    const bool complete = newline != std::string_view::npos;
    bytes.remove_prefix(complete ? newline + 1 : bytes.size());

    if (skipping_) {
      skipping_ = !complete;
      continue;
    }
    if (partial_.size() + head.size() > kMaxLineBytes) {
      clear_partial();
      skipping_ = !complete;
      if (!sink(Event::kTooLong, std::string_view{})) return stop();
      continue;
    }
    if (!complete) {
      partial_.append(head);
      return true;
    }
    if (partial_.empty()) {
      if (!sink(Event::kLine, head)) return stop();
      continue;
    }
    partial_.append(head);
    const bool go_on = sink(Event::kLine, std::string_view{partial_});
    clear_partial();
    if (!go_on) return stop();
  }
  return true;
}

template <typename Sink>
void LineSplitter::finish(Sink&& sink) {
  if (!partial_.empty()) {
    sink(Event::kLine, std::string_view{partial_});
    clear_partial();
  }
  skipping_ = false;
}

}  // namespace count
