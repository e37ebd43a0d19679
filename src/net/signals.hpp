// The signals that steer a server's life, taken on one thread by reading a descriptor, never
// by a handler. Construct it first thing in main, before any thread starts: it blocks them in
// the calling thread, every thread started later inherits that mask, so the kernel can only
// keep each signal pending for the process until take() reads it. No thread can receive one
// and lose it, whatever thread the kernel would have picked and whatever a sanitizer does to
// handler delivery (ThreadSanitizer defers a handler until the receiving thread next calls
// into it: a thread parked in the kernel would hold the signal forever).
#pragma once

#include <csignal>

namespace count {

class ServerSignals {
 public:
  // What a signal asks of the server (README, "Signals").
  enum class Request {
    kNone,      // nothing pending
    kGraceful,  // SIGINT, SIGTERM: stop accepting, answer what was received, exit 0
    kFast,      // SIGQUIT: the same without the grace: close every connection now
    kReload,    // SIGHUP: read the TLS files and the password file again
  };

  // Blocks SIGINT, SIGTERM, SIGQUIT and SIGHUP in the calling thread and opens the signalfd
  // that reads them. Throws std::system_error when the kernel refuses.
  ServerSignals();
  // Closes the descriptor. The signals stay blocked: one that comes while the process exits
  // after a clean shutdown is dropped with it, rather than turning exit status 0 into a kill.
  ~ServerSignals();
  ServerSignals(const ServerSignals&) = delete;
  ServerSignals& operator=(const ServerSignals&) = delete;

  // Readable while a signal is pending (non-blocking).
  int fd() const { return fd_; }

  // Takes one pending signal without blocking: what it asks and its number, or kNone and 0.
  struct Taken {
    Request request = Request::kNone;
    int signal = 0;
  };
  Taken take();

  // "SIGTERM" and the like, for the log.
  static const char* name(int signal);

 private:
  int fd_ = -1;
};

}  // namespace count
