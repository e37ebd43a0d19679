// count-client: one request from the command line, every line of a pipe, or a prompt; over
// TCP or TLS, after `auth` when there is a password. Exit status: 0 when every reply is ok,
// val or quit; 1 when a reply is err; 2 when the server cannot be reached, the connection
// drops before every reply arrived, or the password is refused.
#include <fcntl.h>
#include <fmt/core.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <array>
#include <cerrno>
#include <cstring>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

// libedit's readline interface, for line editing and history at the prompt.
#include <editline/readline.h>

#include "client/client.hpp"
#include "protocol/password.hpp"
#include "protocol/reply.hpp"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitErrReply = 1;
constexpr int kExitNoServer = 2;

int exit_status_for(std::string_view reply) {
  const std::optional<count::Reply> parsed = count::parse_reply(reply);
  if (!parsed) return kExitNoServer;
  return parsed->kind == count::Reply::Kind::kErr ? kExitErrReply : kExitOk;
}

int run_one(count::Client& client, const std::vector<std::string>& words) {
  std::string line;
  for (const std::string& word : words) {
    if (!line.empty()) line.push_back(' ');
    line.append(word);
  }
  const std::string reply = client.call(line);
  fmt::print("{}\n", reply);
  return exit_status_for(reply);
}

// Counts reply lines as they stream past, without keeping them.
class ReplyTally {
 public:
  void take(std::string_view bytes) {
    for (const char c : bytes) {
      if (c == '\n') {
        ++replies_;
        errs_ += current_ == "err" ? 1 : 0;
        last_was_quit_ = current_ == "quit";
        current_.clear();
      } else if (current_.size() < 5) {
        current_.push_back(c);
      }
    }
  }
  std::size_t replies() const { return replies_; }
  std::size_t errs() const { return errs_; }
  bool last_was_quit() const { return last_was_quit_; }

 private:
  std::string current_;  // start of the reply being read, enough to tell err and quit
  std::size_t replies_ = 0;
  std::size_t errs_ = 0;
  bool last_was_quit_ = false;
};

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Wakes the sender out of its wait for standard input: a pipe it polls beside it.
class WakePipe {
 public:
  WakePipe() {
    if (::pipe2(fds_.data(), O_CLOEXEC) != 0) {
      throw count::ClientError(fmt::format("cannot make a pipe: {}", std::strerror(errno)));
    }
  }
  ~WakePipe() {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  WakePipe(const WakePipe&) = delete;
  WakePipe& operator=(const WakePipe&) = delete;

  int read_end() const { return fds_[0]; }
  void wake() const {
    const char byte = 1;
    while (::write(fds_[1], &byte, 1) < 0 && errno == EINTR) {
    }
  }

 private:
  std::array<int, 2> fds_{-1, -1};
};

// What the sender found in standard input; read by the reader once the sender has ended.
struct SentInput {
  std::size_t requests = 0;  // lines, and a last line without '\n'
  bool complete = false;     // all of standard input went out
};

// Copies standard input to the server until it ends, then half-closes. It waits on standard
// input and on `wake` together, so that the reader can end it at any moment: when the server
// closed (after a quit) while standard input still has more, or never ends.
SentInput send_input(count::Client& client, const WakePipe& wake) {
  SentInput sent;
  std::array<char, 64 * 1024> chunk{};
  bool mid_line = false;
  for (;;) {
    std::array<pollfd, 2> waits{pollfd{STDIN_FILENO, POLLIN, 0}, pollfd{wake.read_end(), POLLIN, 0}};
    if (::poll(waits.data(), waits.size(), -1) < 0) {
      if (errno == EINTR) continue;
      return sent;
    }
    if (waits[1].revents != 0) return sent;
    const ssize_t n = ::read(STDIN_FILENO, chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    const std::string_view bytes(chunk.data(), static_cast<std::size_t>(n));
    for (const char c : bytes) sent.requests += c == '\n' ? 1 : 0;
    mid_line = bytes.back() != '\n';
    try {
      client.send(bytes);
    } catch (const count::ClientError&) {
      return sent;  // the server closed (after a quit, or it went away): the reader tells which
    }
  }
  sent.requests += mid_line ? 1 : 0;
  // Everything went out: the replies tell the rest. The half-close can still fail when the
  // server, having answered it all, closed first and the reader shut the socket down.
  sent.complete = true;
  try {
    client.shutdown_send();
  } catch (const count::ClientError&) {
  }
  return sent;
}

// Standard input goes to the server as it is, pipelined, on a sender thread, while the
// replies come back on this one: reading and writing at once, so that neither side's buffers
// fill up. The sender always ends before this returns (it never outlives the connection, nor
// runs on while the process exits): the reader wakes it, and shuts the socket down under a
// send that the server no longer reads.
int run_pipe(count::Client& client) {
  const WakePipe wake;
  SentInput sent;
  std::thread sender([&] { sent = send_input(client, wake); });
  const auto stop_sender = [&] {
    wake.wake();
    ::shutdown(client.native_handle(), SHUT_RDWR);
    sender.join();
  };

  ReplyTally tally;
  std::array<char, 64 * 1024> chunk{};
  for (;;) {
    std::size_t n = 0;
    try {
      n = client.read_some(chunk.data(), chunk.size());
    } catch (const count::ClientError& e) {
      stop_sender();
      fmt::print(stderr, "count-client: {}\n", e.what());
      return kExitNoServer;
    }
    if (n == 0) break;
    const std::string_view bytes(chunk.data(), n);
    tally.take(bytes);
    if (!write_all(STDOUT_FILENO, bytes)) {
      stop_sender();
      return kExitNoServer;
    }
  }
  stop_sender();
  const bool complete =
      tally.last_was_quit() || (sent.complete && tally.replies() == sent.requests);
  if (!complete) {
    fmt::print(stderr, "count-client: connection to {} closed before every reply arrived\n",
               client.peer());
    return kExitNoServer;
  }
  return tally.errs() > 0 ? kExitErrReply : kExitOk;
}

std::string history_path() {
  const char* home = std::getenv("HOME");
  return home != nullptr ? std::string(home) + "/.count_client_history" : std::string();
}

int run_prompt(count::Client& client) {
  const std::string history = history_path();
  if (!history.empty()) read_history(history.c_str());
  const std::string prompt = client.peer() + "> ";
  int status = kExitOk;
  for (;;) {
    char* raw = readline(prompt.c_str());
    if (raw == nullptr) break;  // end of input
    const std::string line(raw);
    std::free(raw);  // NOLINT(cppcoreguidelines-no-malloc): readline's buffer
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    add_history(line.c_str());
    const std::string reply = client.call(line);
    fmt::print("{}\n", reply);
    if (reply == "quit") break;
  }
  if (!history.empty()) write_history(history.c_str());
  return status;
}

// The password: from the file, or else from COUNT_PASSWORD; nothing when neither is set
// (an empty COUNT_PASSWORD counts as not set). Throws PasswordFileError.
std::optional<std::string> password_from(const std::string& password_file) {
  if (!password_file.empty()) return count::read_password_file(password_file);
  const char* from_environment = std::getenv("COUNT_PASSWORD");
  if (from_environment == nullptr || *from_environment == '\0') return std::nullopt;
  if (const char* problem = count::password_problem(from_environment)) {
    throw count::PasswordFileError(std::string("COUNT_PASSWORD holds no valid password: ") +
                                   problem);
  }
  return std::string(from_environment);
}

// Sends `auth PASSWORD` first; true when the server answers ok.
bool authenticate(count::Client& client, const std::string& password) {
  const std::string reply = client.call("auth " + password);
  if (reply == "ok") return true;
  if (reply == "err") {
    fmt::print(stderr, "count-client: the server refused the password\n");
  } else {
    fmt::print(stderr, "count-client: {} answered '{}' to auth instead of ok or err\n",
               client.peer(), reply);
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  std::uint16_t port = 4444;
  double timeout_seconds = 5;
  bool use_tls = false;
  count::ClientTls tls;
  std::string password_file;

  CLI::App app{
      "count-client: talk to a count-server.\n"
      "  count-client get             one request; prints the reply\n"
      "  printf 'incr\\nget\\n' | count-client   every line of standard input, pipelined\n"
      "  count-client                 a prompt, when standard input is a terminal\n"
      "Password: --password-file, or else the environment variable COUNT_PASSWORD (a\n"
      "process's environment is visible to its own user and root only; a password is never\n"
      "taken from the command line, which every user can see). It goes first, as auth.\n"
      "Exit status: 0 ok/val/quit, 1 err, 2 no server, connection lost or password refused.",
      "count-client"};
  app.set_help_flag("--help", "Print this help and exit");
  app.add_option("-h,--host", host, "Server host name or address")->capture_default_str();
  app.add_option("-p,--port", port, "Server port")->capture_default_str();
  app.add_option("-t,--timeout", timeout_seconds,
                 "Seconds to wait for the connection (and TLS handshake)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_flag("--tls", use_tls,
               "Speak TLS; the server's certificate must verify (against the system's CAs "
               "unless --cacert) for the host name or address given with -h");
  app.add_option("--cacert", tls.ca_file,
                 "CA certificates (PEM) to verify the server with instead of the system's; "
                 "implies --tls")
      ->type_name("FILE");
  auto* cert = app.add_option("--cert", tls.cert_file,
                              "Client certificate (PEM), for a server that asks for one; "
                              "implies --tls")
                   ->type_name("FILE");
  auto* key =
      app.add_option("--key", tls.key_file, "Private key (PEM) of --cert")->type_name("FILE");
  cert->needs(key);
  key->needs(cert);
  app.add_option("--password-file", password_file,
                 "File whose first line is the password (instead of COUNT_PASSWORD)")
      ->type_name("FILE");
  app.set_version_flag("--version", std::string("count-client ") + COUNT_VERSION);
  // Everything from the command word on is the request, even words that look like flags
  // ("add -5").
  app.prefix_command();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    fmt::print(stderr, "count-client: {} (see --help)\n", e.what());
    return kExitNoServer;
  }
  const std::vector<std::string> words = app.remaining();
  use_tls = use_tls || !tls.ca_file.empty() || !tls.cert_file.empty();

  std::optional<std::string> password;
  try {
    password = password_from(password_file);
  } catch (const count::PasswordFileError& e) {
    fmt::print(stderr, "count-client: {}\n", e.what());
    return kExitNoServer;
  }

  try {
    count::Client client = count::Client::connect(
        host, port, std::chrono::milliseconds(static_cast<long>(timeout_seconds * 1000)),
        use_tls ? &tls : nullptr);
    if (password && !authenticate(client, *password)) return kExitNoServer;
    if (!words.empty()) return run_one(client, words);
    if (::isatty(STDIN_FILENO) == 0) return run_pipe(client);
    return run_prompt(client);
  } catch (const count::ClientError& e) {
    fmt::print(stderr, "count-client: {}\n", e.what());
    return kExitNoServer;
  }
}
