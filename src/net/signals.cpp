#include "net/signals.hpp"

#include <pthread.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace count {
namespace {

sigset_t server_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (const int signal : {SIGINT, SIGTERM, SIGQUIT, SIGHUP}) sigaddset(&set, signal);
  return set;
}

}  // namespace

ServerSignals::ServerSignals() {
  const sigset_t set = server_signals();
  sigset_t previous;
  if (const int rc = ::pthread_sigmask(SIG_BLOCK, &set, &previous); rc != 0) {
    throw std::system_error(rc, std::generic_category(), "cannot block signals");
  }
  // A signal set to be ignored is dropped when it is sent, blocked or not, and a shell
  // starts background commands with SIGINT and SIGQUIT ignored: take them back.
  for (const int signal : {SIGINT, SIGTERM, SIGQUIT, SIGHUP}) std::signal(signal, SIG_DFL);
  fd_ = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd_ < 0) {
    const int error = errno;
    ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    throw std::system_error(error, std::generic_category(), "cannot open a signalfd");
  }
}

ServerSignals::~ServerSignals() { ::close(fd_); }

ServerSignals::Taken ServerSignals::take() {
  signalfd_siginfo info{};
  for (;;) {
    const ssize_t n = ::read(fd_, &info, sizeof info);
    if (n == static_cast<ssize_t>(sizeof info)) break;
    if (n < 0 && errno == EINTR) continue;
    return {};  // EAGAIN: nothing pending
  }
  const int signal = static_cast<int>(info.ssi_signo);
  switch (signal) {
    case SIGINT:
    case SIGTERM:
      return {Request::kGraceful, signal};
    case SIGQUIT:
      return {Request::kFast, signal};
    default:
      return {Request::kReload, signal};
  }
}

const char* ServerSignals::name(int signal) {
  switch (signal) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    case SIGQUIT:
      return "SIGQUIT";
    case SIGHUP:
      return "SIGHUP";
    default:
      return "signal";
  }
}

}  // namespace count
