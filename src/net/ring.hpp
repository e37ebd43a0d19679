// One loop's io_uring (docs/performance.md, "The io_uring loop"): its submission and
// completion queues, and a ring of buffers the kernel fills as data arrives (multishot
// receive). A Ring is made on any thread and then used by its loop's thread alone: the kernel
// knows that thread as the ring's only submitter, and runs the ring's work when that thread
// asks for completions.
#pragma once

#include <liburing.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>

namespace count {

// Why the io_uring loop cannot run on this machine, or nothing when it can: the kernel is too
// old for what the loop uses, io_uring is switched off (kernel.io_uring_disabled), or a
// seccomp profile (such as Docker's default) refuses its system calls.
std::optional<std::string> io_uring_unavailable();

class RingError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What a completion is for: every submission's user data is a pointer to one of these, with
// the kind of operation in its low bits (user data 0: a completion nobody waits for).
class RingTarget {
 public:
  virtual void on_completion(unsigned op, int result, std::uint32_t flags) = 0;

 protected:
  ~RingTarget() = default;
};

class Ring {
 public:
  // Buffers the kernel receives into: kBuffers of kBufferBytes (4 MiB), shared by the loop's
  // sessions (a session returns each one once it has served the bytes in it). Each arrival
  // takes a whole buffer, however few its bytes: this many connections can have bytes waiting
  // at once before a receive runs short (it is then armed again once buffers come back).
  static constexpr unsigned kBuffers = 1024;
  static constexpr std::size_t kBufferBytes = std::size_t{4} * 1024;
  static constexpr unsigned kOpBits = 3;  // operation kinds per target: 0 to 7

  // Throws RingError, saying why.
  Ring();
  ~Ring();
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  // On the thread that will use the ring, before anything else.
  void enable();

  // A submission for `target`'s operation `op`, sent with the next wait. Never null: a full
  // queue is submitted first to make room.
  io_uring_sqe* prepare(RingTarget* target, unsigned op);
  // A submission whose completion is ignored (a cancellation, say).
  io_uring_sqe* prepare_untracked();

  // Submits what was prepared and waits until a completion arrives or `timeout` passes
  // (zero: does not wait; runs the kernel's deferred work either way).
  void submit_and_wait(std::optional<std::chrono::nanoseconds> timeout);

  // Hands every completion that has arrived to its target; returns how many.
  unsigned dispatch();

  // The buffer ring: the group a receive names, a filled buffer's bytes, and giving it back.
  static constexpr std::uint16_t kBufferGroup = 0;
  std::span<char> buffer(unsigned id, std::size_t length) {
    return {buffers_ + static_cast<std::size_t>(id) * kBufferBytes, length};
  }
  void give_back(unsigned id);
  // Buffers handed out and not yet given back.
  unsigned buffers_out() const { return buffers_out_; }
  void took_buffer() { ++buffers_out_; }

 private:
  io_uring ring_{};
  io_uring_buf_ring* buffer_ring_ = nullptr;
  char* buffers_ = nullptr;
  std::size_t buffer_ring_bytes_ = 0;
  unsigned buffers_out_ = 0;
  bool single_issuer_ = false;
};

}  // namespace count
