#include "support/process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <csignal>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace count::test {
namespace {

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

pid_t spawn(const std::vector<std::string>& argv, const std::filesystem::path& in,
            const std::filesystem::path& out, const std::filesystem::path& err) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, in.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error(fmt::format("cannot start {}: {}", argv[0], rc));
  return pid;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream all;
  all << in.rdbuf();
  return all.str();
}

void write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

LoopbackListener::LoopbackListener(int backlog) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(fd_, backlog) != 0 ||
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    if (fd_ >= 0) ::close(fd_);
    throw std::runtime_error("cannot listen on 127.0.0.1");
  }
  port_ = ntohs(address.sin_port);
}

LoopbackListener::~LoopbackListener() { ::close(fd_); }

std::string binary(const std::string& name) { return std::string(COUNT_BUILD_DIR) + "/" + name; }

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "count-test-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

int wait_for_exit(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) return decode_status(status);
    if (done < 0) return -1;
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return decode_status(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

namespace {
std::string etcd_endpoints;  // set once, before the first test, by the etcd runs' environment
int etcd_keys = 0;
}  // namespace

void use_etcd_instead_of_memory(const std::string& endpoints) { etcd_endpoints = endpoints; }

ServerProcess::ServerProcess(const std::vector<std::string>& given)
    : ServerProcess(given, {}) {}

ServerProcess::ServerProcess(const std::vector<std::string>& given,
                             const std::vector<std::string>& launcher) {
  std::vector<std::string> args;
  for (const std::string& arg : given) {
    if (arg == "--in-memory" && !etcd_endpoints.empty()) {
      args.insert(args.end(), {"--etcd", etcd_endpoints, "--etcd-key",
                               fmt::format("/count-test/{}/{}", ::getpid(), ++etcd_keys)});
    } else {
      args.push_back(arg);
    }
  }
  argv_ = {binary("count-server"), "--bind", "127.0.0.1", "--port", "0"};
  argv_.insert(argv_.end(), args.begin(), args.end());
  const auto named = [&](const std::string& flag) {
    return std::find(args.begin(), args.end(), flag) != args.end();
  };
  // COUNT_TEST_IO=epoll|io_uring: the event loops every server of the run uses, unless the
  // test names them (by default the server picks: io_uring where the kernel allows it).
  if (const char* io = std::getenv("COUNT_TEST_IO"); io != nullptr && *io != '\0' && !named("--io")) {
    argv_.insert(argv_.end(), {"--io", io});
  }
  if (const auto data = std::find(args.begin(), args.end(), "--data");
      data != args.end() && data + 1 != args.end()) {
    data_path_ = *(data + 1);
  } else if (!named("--in-memory") && !named("--etcd")) {
    data_path_ = dir_.path() / "count.data";
    argv_.insert(argv_.end(), {"--data", data_path_.string()});
  }
  argv_.insert(argv_.begin(), launcher.begin(), launcher.end());
  start();
}

void ServerProcess::restart() {
  if (pid_ > 0) throw std::logic_error("count-server is still running: stop() it first");
  start();
}

void ServerProcess::start() {
  pid_ = spawn(argv_, "/dev/null", dir_.path() / "stdout", dir_.path() / "stderr");

  // "listening on 127.0.0.1:P", "listening with TLS on 127.0.0.1:T", or "listening on
  // 127.0.0.1:P and with TLS on 127.0.0.1:T", then the rest of the line.
  static const std::regex kListening(R"(count-server: info: listening [^\n]*\n)");
  static const std::regex kPlain(R"(^count-server: info: listening on 127\.0\.0\.1:(\d+))");
  static const std::regex kTls(R"(with TLS on 127\.0\.0\.1:(\d+))");
  static const std::regex kMetrics(R"(metrics on http://127\.0\.0\.1:(\d+)/metrics)");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    std::smatch match;
    const std::string text = log();
    if (std::regex_search(text, match, kListening)) {
      const std::string line = match[0].str();
      port_ = std::regex_search(line, match, kPlain)
                  ? static_cast<std::uint16_t>(std::stoi(match[1].str()))
                  : 0;
      tls_port_ = std::regex_search(line, match, kTls)
                      ? static_cast<std::uint16_t>(std::stoi(match[1].str()))
                      : 0;
      metrics_port_ = std::regex_search(text, match, kMetrics)
                          ? static_cast<std::uint16_t>(std::stoi(match[1].str()))
                          : 0;
      return;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("count-server exited at start: " + log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  stop(SIGKILL);
  throw std::runtime_error("count-server did not start listening: " + log());
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) stop(SIGKILL);
}

Client ServerProcess::connect() const {
  Client client = Client::connect("127.0.0.1", port_);
  client.set_receive_timeout(std::chrono::seconds(10));
  return client;
}

int ServerProcess::stop(int signal, std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, signal);
  return wait(timeout);
}

void ServerProcess::signal(int signal) const {
  if (pid_ > 0) ::kill(pid_, signal);
}

int ServerProcess::wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  const int status = wait_for_exit(pid_, timeout);
  pid_ = -1;
  return status;
}

long ServerProcess::rss_kib() const {
  std::ifstream status(fmt::format("/proc/{}/status", pid_));
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  }
  return -1;
}

std::string ServerProcess::log() const { return read_file(dir_.path() / "stderr"); }

bool ServerProcess::log_shows(std::string_view what, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (log().find(what) != std::string::npos) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

std::size_t occurrences(std::string_view text, std::string_view what) {
  std::size_t found = 0;
  for (std::size_t at = text.find(what); at != std::string_view::npos;
       at = text.find(what, at + 1)) {
    ++found;
  }
  return found;
}

::testing::AssertionResult exited_with(const RunResult& result, int status) {
  if (result.status == status) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "exit status " << result.status << ", want " << status << "\n--- stderr:\n"
         << result.err << "\n--- stdout:\n"
         << result.out.substr(0, 4096) << (result.out.size() > 4096 ? "\n[...]" : "");
}

RunResult run(const std::vector<std::string>& argv, const std::string& input,
              std::chrono::milliseconds timeout) {
  const TempDir dir;
  {
    std::ofstream in(dir.path() / "stdin", std::ios::binary);
    in << input;
  }
  const pid_t pid = spawn(argv, dir.path() / "stdin", dir.path() / "stdout", dir.path() / "stderr");
  RunResult result;
  result.status = wait_for_exit(pid, timeout);
  result.out = read_file(dir.path() / "stdout");
  result.err = read_file(dir.path() / "stderr");
  return result;
}

}  // namespace count::test
