// Server programs that are not ours (redis-server, memcached, openssl s_server), started for
// end-to-end tests on 127.0.0.1 and stopped by PID. Every wait here is bounded.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "support/process.hpp"

namespace count::test {

// A free 127.0.0.1 port right now (for servers that cannot be told to pick one).
std::uint16_t free_port();

// Whether 127.0.0.1:port accepts a TCP connection now (it is closed again at once).
bool connectable(std::uint16_t port);

// Some other server program, output to files in its own folder, stopped by PID.
class OtherServer {
 public:
  // Starts argv (argv[0] a path); `port` 0 means: read it from a "listening on
  // 127.0.0.1:PORT" line on stderr. Waits at most 10 s for the port to accept connections;
  // throws std::runtime_error, with what the program wrote, when it does not.
  OtherServer(std::vector<std::string> argv, std::uint16_t port);
  ~OtherServer() { stop(); }
  OtherServer(const OtherServer&) = delete;
  OtherServer& operator=(const OtherServer&) = delete;

  std::uint16_t port() const { return port_; }
  // Everything it wrote so far: its standard output, then its standard error.
  std::string output() const;

  // SIGTERM, then SIGKILL after 5 s.
  void stop();

 private:
  TempDir dir_;
  pid_t pid_ = -1;
  std::uint16_t port_;
};

}  // namespace count::test
