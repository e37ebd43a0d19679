// The replies of one connection that could not leave at once: they wait for the socket to
// take them, or for the store to make the seq they depend on durable. Bytes leave in the
// order they were queued, never ahead of an earlier reply. A reply the store decides later
// (Reply::Kind::kLater) is held with everything queued after it, and becomes bytes once its
// seq is durable. Holds no memory when empty. Pure: no I/O; used on one loop thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/reply.hpp"

namespace count {

class Outbox {
 public:
  bool empty() const { return sent_ == buffer_.size() && held_.empty(); }

  // Bytes queued and not yet sent, released or not; a held late reply counts as the longest.
  std::size_t size() const { return buffer_.size() - sent_ + held_bytes_; }

  // True while some queued bytes still wait for durability.
  bool awaiting_durability() const { return !marks_.empty() || !held_.empty(); }

  // Queues bytes that may leave once `seq` is durable (and after everything before them).
  void push(std::string_view bytes, Seq seq) {
    if (bytes.empty()) return;
    if (!held_.empty()) {
      held_bytes_ += bytes.size();
      held_.push_back({Reply{}, std::string(bytes), seq});
      return;
    }
    buffer_.append(bytes);
    if (seq == 0 && marks_.empty()) {
      released_end_ = buffer_.size();
    } else if (!marks_.empty() && marks_.back().seq >= seq) {
      marks_.back().end = buffer_.size();
    } else {
      marks_.push_back({buffer_.size(), seq});
    }
  }

  // Queues a reply of kind kLater: it, and everything queued after it, waits until the
  // store has decided it.
  void push_later(Reply reply) {
    held_bytes_ += kMaxReplyBytes;
    const Seq seq = reply.seq;
    held_.push_back({std::move(reply), std::string(), seq});
  }

  // Lets out every byte whose seq is at most `durable`, and every late reply the store has
  // decided, in order; render(reply, buffer) appends the bytes of each such late reply (by
  // default, the line protocol's).
  void release(Seq durable) {
    release(durable, [](const Reply& reply, std::string& out) { append_reply(reply, out); });
  }
  template <typename Render>
  void release(Seq durable, Render&& render) {
    std::size_t done = 0;
    while (done < marks_.size() && marks_[done].seq <= durable) {
      released_end_ = marks_[done].end;
      ++done;
    }
    marks_.erase(marks_.begin(), marks_.begin() + static_cast<std::ptrdiff_t>(done));
    // Held entries follow every mark: they go only once the marks are gone, in order.
    while (marks_.empty() && held_front_ < held_.size()) {
      Held& next = held_[held_front_];
      const bool later = next.reply.kind == Reply::Kind::kLater;
      if (later ? !next.reply.later->decided.load(std::memory_order_acquire) : next.seq > durable) {
        break;
      }
      if (later) {
        held_bytes_ -= kMaxReplyBytes;
        render(next.reply, buffer_);
      } else {
        held_bytes_ -= next.bytes.size();
        buffer_.append(next.bytes);
      }
      released_end_ = buffer_.size();
      next = Held{};
      if (++held_front_ == held_.size()) {
        held_ = {};  // gives the memory back
        held_front_ = 0;
      }
    }
  }

  // The bytes that may be written now.
  std::string_view sendable() const {
    return std::string_view{buffer_}.substr(sent_, released_end_ - sent_);
  }

  // Records that the first n bytes of sendable() were written.
  void consume(std::size_t n) {
    sent_ += n;
    if (sent_ == buffer_.size() && held_.empty()) {
      *this = Outbox{};  // gives the memory back: an idle connection holds no buffer
    } else if (sent_ >= kCompactBytes && sent_ * 2 >= buffer_.size()) {
      buffer_.erase(0, sent_);
      released_end_ -= sent_;
      for (Mark& mark : marks_) mark.end -= sent_;
      sent_ = 0;
    }
  }

 private:
  static constexpr std::size_t kCompactBytes = std::size_t{16} * 1024;

  struct Mark {
    std::size_t end;  // bytes up to here need `seq`
    Seq seq;
  };

  std::string buffer_;
  std::size_t sent_ = 0;          // bytes of buffer_ already written
  std::size_t released_end_ = 0;  // bytes of buffer_ that may be written
  std::vector<Mark> marks_;       // unreleased tail, seqs increasing

  // From the first late reply on, what comes after buffer_ and its marks.
  struct Held {
    Reply reply;        // kind kLater, or empty for plain bytes
    std::string bytes;  // plain bytes: what they are
    Seq seq;            // what they wait for
  };
  std::vector<Held> held_;  // a queue: entries before held_front_ are gone
  std::size_t held_front_ = 0;
  std::size_t held_bytes_ = 0;
};

}  // namespace count
