// without_io_uring [--errno EPERM|ENOSYS] PROGRAM ARGS...: runs PROGRAM where io_uring_setup
// fails as a container's seccomp profile makes it fail (Docker's default: EPERM; some others:
// ENOSYS), so that the tests see what count-server does there.
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>

namespace {

#if defined(__x86_64__)
constexpr unsigned kArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr unsigned kArch = AUDIT_ARCH_AARCH64;
#else
#error "without_io_uring: unknown architecture"
#endif

}  // namespace

int main(int argc, char** argv) {
  int first = 1;
  unsigned error = EPERM;
  if (argc > 2 && std::strcmp(argv[1], "--errno") == 0) {
    error = std::strcmp(argv[2], "ENOSYS") == 0 ? ENOSYS : EPERM;
    first = 3;
  }
  if (first >= argc) {
    std::fprintf(stderr, "usage: without_io_uring [--errno EPERM|ENOSYS] PROGRAM ARGS...\n");
    return 2;
  }
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kArch, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (error & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog program{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0) {
    std::perror("without_io_uring: seccomp");
    return 1;
  }
  ::execv(argv[first], argv + first);
  std::perror("without_io_uring: exec");
  return 1;
}
