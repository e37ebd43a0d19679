#include "net/ring.hpp"

#include <fmt/core.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>

#include <unistd.h>

namespace count {
namespace {

constexpr unsigned kEntries = 1024;

// The kernel's single-issuer and deferred task-run modes (6.1): completions are run by the
// loop's own thread when it waits, never by an interrupt on another core. The ring starts
// disabled, so that the loop's thread, which enables it, becomes its submitter.
constexpr unsigned kFastFlags =
    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED;

std::string kernel_release() {
  utsname name{};
  return ::uname(&name) == 0 ? name.release : "unknown";
}

// The kernel's version as major * 100 + minor: 6.1 is 601.
int kernel_version() {
  int major = 0;
  int minor = 0;
  return std::sscanf(kernel_release().c_str(), "%d.%d", &major, &minor) == 2 ? major * 100 + minor
                                                                             : 0;
}

std::string read_sysctl(const char* path) {
  std::ifstream file(path);
  std::string value;
  file >> value;
  return value;
}

// What a failed io_uring_setup means for an operator.
std::string setup_failure(int error) {
  const std::string disabled = read_sysctl("/proc/sys/kernel/io_uring_disabled");
  if (error == EPERM || error == EACCES) {
    if (!disabled.empty() && disabled != "0") {
      return fmt::format("io_uring is switched off (kernel.io_uring_disabled = {})", disabled);
    }
    return "io_uring_setup was refused (a seccomp profile, such as Docker's default)";
  }
  if (error == ENOSYS) {
    return "io_uring_setup does not exist here (a seccomp profile such as Docker's default, or a "
           "kernel built without io_uring)";
  }
  return fmt::format("io_uring_setup failed: {}", std::strerror(error));
}

}  // namespace

std::optional<std::string> io_uring_unavailable() {
  // Multishot receive (6.0) and provided buffer rings (5.19).
  if (kernel_version() < 600) {
    return fmt::format("the kernel ({}) is older than 6.0, which multishot receive needs",
                       kernel_release());
  }
  try {
    Ring ring;
  } catch (const RingError& e) {
    return e.what();
  }
  std::unique_ptr<io_uring_probe, void (*)(io_uring_probe*)> probe(io_uring_get_probe(),
                                                                   io_uring_free_probe);
  if (!probe) return "the kernel cannot say which io_uring operations it has";
  for (const int op : {IORING_OP_ACCEPT, IORING_OP_RECV, IORING_OP_SEND, IORING_OP_POLL_ADD,
                       IORING_OP_READ, IORING_OP_ASYNC_CANCEL}) {
    if (io_uring_opcode_supported(probe.get(), op) == 0) {
      return fmt::format("the kernel's io_uring lacks operation {}", op);
    }
  }
  return std::nullopt;
}

Ring::Ring() {
  io_uring_params params{};
  params.flags = kFastFlags;
  int ret = io_uring_queue_init_params(kEntries, &ring_, &params);
  if (ret == -EINVAL) {
    // A kernel before 6.1: the same ring without those modes.
    params = io_uring_params{};
    ret = io_uring_queue_init_params(kEntries, &ring_, &params);
  } else if (ret == 0) {
    single_issuer_ = true;
  }
  if (ret < 0) throw RingError(setup_failure(-ret));
  if ((params.features & IORING_FEAT_EXT_ARG) == 0 || (params.features & IORING_FEAT_NODROP) == 0) {
    io_uring_queue_exit(&ring_);
    throw RingError(fmt::format("the kernel's io_uring ({}) lacks waiting with a timeout",
                                kernel_release()));
  }

  // The buffer ring and its buffers, in memory of their own (the ring must be page-aligned).
  buffer_ring_bytes_ = kBuffers * sizeof(io_uring_buf) + kBuffers * kBufferBytes;
  // Populated at once: a fixed cost of the loop, which no client's traffic makes grow.
  void* memory = ::mmap(nullptr, buffer_ring_bytes_, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (memory == MAP_FAILED) {
    io_uring_queue_exit(&ring_);
    throw RingError(fmt::format("cannot map the receive buffers: {}", std::strerror(errno)));
  }
  buffer_ring_ = static_cast<io_uring_buf_ring*>(memory);
  buffers_ = static_cast<char*>(memory) + kBuffers * sizeof(io_uring_buf);
  io_uring_buf_reg registration{};
  registration.ring_addr = reinterpret_cast<std::uint64_t>(buffer_ring_);
  registration.ring_entries = kBuffers;
  registration.bgid = kBufferGroup;
  ret = io_uring_register_buf_ring(&ring_, &registration, 0);
  if (ret < 0) {
    ::munmap(memory, buffer_ring_bytes_);
    io_uring_queue_exit(&ring_);
    throw RingError(fmt::format("cannot register the receive buffers: {}", std::strerror(-ret)));
  }
  io_uring_buf_ring_init(buffer_ring_);
  const int mask = io_uring_buf_ring_mask(kBuffers);
  for (unsigned id = 0; id < kBuffers; ++id) {
    io_uring_buf_ring_add(buffer_ring_, buffers_ + static_cast<std::size_t>(id) * kBufferBytes,
                          kBufferBytes, static_cast<unsigned short>(id), mask,
                          static_cast<int>(id));
  }
  io_uring_buf_ring_advance(buffer_ring_, static_cast<int>(kBuffers));
}

Ring::~Ring() {
  // The kernel stops every request of the ring before it lets go of the buffers' pages.
  io_uring_queue_exit(&ring_);
  ::munmap(buffer_ring_, buffer_ring_bytes_);
}

void Ring::enable() {
  if (!single_issuer_) return;
  // Debian 12's liburing declares io_uring_enable_rings() but does not export it.
  if (::syscall(__NR_io_uring_register, ring_.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0) <
      0) {
    throw RingError(fmt::format("cannot enable the ring: {}", std::strerror(errno)));
  }
}

io_uring_sqe* Ring::prepare(RingTarget* target, unsigned op) {
  io_uring_sqe* sqe = prepare_untracked();
  io_uring_sqe_set_data64(sqe, reinterpret_cast<std::uint64_t>(target) | op);
  return sqe;
}

io_uring_sqe* Ring::prepare_untracked() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  while (sqe == nullptr) {
    io_uring_submit(&ring_);
    sqe = io_uring_get_sqe(&ring_);
  }
  io_uring_sqe_set_data64(sqe, 0);
  return sqe;
}

void Ring::submit_and_wait(std::optional<std::chrono::nanoseconds> timeout) {
  io_uring_cqe* cqe = nullptr;
  if (!timeout) {
    io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, nullptr, nullptr);
    return;
  }
  const auto nanoseconds = std::max(timeout->count(), std::chrono::nanoseconds::rep{0});
  __kernel_timespec wait{};
  wait.tv_sec = nanoseconds / 1'000'000'000;
  wait.tv_nsec = nanoseconds % 1'000'000'000;
  // -ETIME (the timeout) and -EINTR (a signal) just end the wait.
  io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &wait, nullptr);
}

unsigned Ring::dispatch() {
  unsigned seen = 0;
  unsigned head = 0;
  io_uring_cqe* cqe = nullptr;
  // A target may prepare submissions while it handles a completion, never reap them.
  io_uring_for_each_cqe(&ring_, head, cqe) {
    ++seen;
    const std::uint64_t data = io_uring_cqe_get_data64(cqe);
    if (data == 0) continue;
    constexpr std::uint64_t kOpMask = (1U << kOpBits) - 1;
    auto* target = reinterpret_cast<RingTarget*>(data & ~kOpMask);
    target->on_completion(static_cast<unsigned>(data & kOpMask), cqe->res, cqe->flags);
  }
  io_uring_cq_advance(&ring_, seen);
  return seen;
}

void Ring::give_back(unsigned id) {
  io_uring_buf_ring_add(buffer_ring_, buffers_ + static_cast<std::size_t>(id) * kBufferBytes,
                        kBufferBytes, static_cast<unsigned short>(id),
                        io_uring_buf_ring_mask(kBuffers), 0);
  io_uring_buf_ring_advance(buffer_ring_, 1);
  --buffers_out_;
}

}  // namespace count
