// A blocking connection to a count-server: used by count-client, count-bench's checks and
// the end-to-end tests. Protocol plus sockets; never the store. One thread at a time.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace count {

// Cannot connect, or the connection failed; what() says which, naming the server.
class ClientError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Client {
 public:
  // Connects to host:port (a name or an address), waiting at most `timeout`. Throws ClientError.
  static Client connect(const std::string& host, std::uint16_t port,
                        std::chrono::milliseconds timeout = std::chrono::seconds(5));

  Client(Client&& other) noexcept;
  Client& operator=(Client&& other) noexcept;
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends bytes as they are, all of them. Throws ClientError.
  void send(std::string_view bytes);
  // Sends one request: the line and a '\n'.
  void send_line(std::string_view line);

  // The next reply line, without its '\n'; nothing when the server has closed the
  // connection (a last line without '\n' is still returned). Throws ClientError on a
  // failure or when the receive timeout passes.
  std::optional<std::string> read_line();

  // Sends one request and reads its reply. Throws ClientError if the connection ends first.
  std::string call(std::string_view line);

  // Half-close: the server answers what it has and then closes.
  void shutdown_send();

  // Makes read_line() fail after waiting this long (0: wait for ever).
  void set_receive_timeout(std::chrono::milliseconds timeout);

  int native_handle() const { return fd_; }
  const std::string& peer() const { return peer_; }

 private:
  Client(int fd, std::string peer) : fd_(fd), peer_(std::move(peer)) {}
  [[noreturn]] void fail(std::string_view what) const;

  int fd_ = -1;
  std::string peer_;  // "host:port", for messages
  std::string input_;
  std::size_t input_pos_ = 0;
};

}  // namespace count
