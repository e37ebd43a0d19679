// Starts the project's real binaries for end-to-end tests and stops them by PID. Every wait
// here is bounded; a process still running when its owner goes away is killed.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "client/client.hpp"

namespace count::test {

// Path of a binary in the build folder, e.g. binary("count-server").
std::string binary(const std::string& name);

// A whole file's bytes ("" when it cannot be read), and a file replaced by `bytes`.
std::string read_file(const std::filesystem::path& path);
void write_file(const std::filesystem::path& path, const std::string& bytes);

// A fresh folder under the system's temporary folder, removed with the object.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A listening TCP socket on a free 127.0.0.1 port, for fake servers inside a test.
class LoopbackListener {
 public:
  explicit LoopbackListener(int backlog = 64);
  ~LoopbackListener();
  LoopbackListener(const LoopbackListener&) = delete;
  LoopbackListener& operator=(const LoopbackListener&) = delete;
  int fd() const { return fd_; }
  std::uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

// From now on, a ServerProcess started with --in-memory keeps its value in the etcd cluster
// at `endpoints` instead, on a key of its own (the end-to-end tests' etcd runs).
void use_etcd_instead_of_memory(const std::string& endpoints);

// A count-server on a free 127.0.0.1 port (it is started with --port 0 and says which).
// Unless `args` name --data or --in-memory, it gets --data data_path(): a count.data in the
// process's own temporary folder, so that no test writes into its working folder.
class ServerProcess {
 public:
  // Starts build/count-server with `args` after --bind 127.0.0.1 --port 0, and waits (10 s
  // at most) for its "listening" line. Throws std::runtime_error if it does not come.
  explicit ServerProcess(const std::vector<std::string>& args = {"--in-memory"});
  // The same, started through `launcher` (a program that runs the command line after it).
  ServerProcess(const std::vector<std::string>& args, const std::vector<std::string>& launcher);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Starts the same command again, on the same data file, after stop(); waits for it as
  // the constructor does (the port is new). log() then shows the new run only.
  void restart();

  // The data file it was given, by the caller or by this object; empty with --in-memory.
  const std::filesystem::path& data_path() const { return data_path_; }

  std::uint16_t port() const { return port_; }                  // 0 with --no-plain
  std::uint16_t tls_port() const { return tls_port_; }          // 0 without --tls-port
  std::uint16_t metrics_port() const { return metrics_port_; }  // 0 without --metrics
  pid_t pid() const { return pid_; }

  // A client connected to it, replies waited for 10 s at most.
  Client connect() const;

  // Sends `signal` and waits (up to `timeout`) for the exit; returns the exit status, or
  // 128 + signal number when a signal ended it. Kills it with SIGKILL past the timeout.
  int stop(int signal = SIGTERM, std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // Sends `signal` and returns at once.
  void signal(int signal) const;
  // Waits (up to `timeout`, then SIGKILL) for an exit that a signal() asked for; returns
  // what stop() returns.
  int wait(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // Resident memory now, in KiB, from /proc/PID/status.
  long rss_kib() const;

  // Everything it wrote to stderr so far.
  std::string log() const;

  // Waits (up to `timeout`) until its log holds `what`; says whether it came.
  bool log_shows(std::string_view what,
                 std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;

 private:
  void start();

  TempDir dir_;
  std::vector<std::string> argv_;
  std::filesystem::path data_path_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  std::uint16_t tls_port_ = 0;
  std::uint16_t metrics_port_ = 0;
};

struct RunResult {
  int status = -1;  // exit status, or 128 + signal
  std::string out;
  std::string err;
};

// How many times `what` occurs in `text` (a log, for instance); overlaps count.
std::size_t occurrences(std::string_view text, std::string_view what);

// Passes when `result` ended with `status`; a failure shows the status, stderr and stdout.
::testing::AssertionResult exited_with(const RunResult& result, int status);

// Runs a program to its end with `input` on stdin, killing it after `timeout`.
RunResult run(const std::vector<std::string>& argv, const std::string& input = {},
              std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Starts argv (argv[0] a path) with stdin, stdout and stderr taken from the given files
// (created or emptied); throws std::runtime_error when it cannot.
pid_t spawn(const std::vector<std::string>& argv, const std::filesystem::path& in,
            const std::filesystem::path& out, const std::filesystem::path& err);

// Waits for `pid` to exit (up to `timeout`, then SIGKILL); returns its status as run() does.
int wait_for_exit(pid_t pid, std::chrono::milliseconds timeout);

}  // namespace count::test
