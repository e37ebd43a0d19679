// A blocking connection to a count-server, over plain TCP or TLS: used by count-client and
// the end-to-end tests. Protocol plus sockets; never the store. One thread at a time, except
// that one thread may send while another reads.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
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

// How to speak TLS to the server. The server's certificate is always verified, against
// ca_file and for server_name; TLS 1.2 at least.
struct ClientTls {
  std::string ca_file;      // CA certificates (PEM) to trust; empty: the system's default CAs
  std::string cert_file;    // client certificate (PEM), given together with key_file; both
  std::string key_file;     //   empty: none
  std::string server_name;  // the name the certificate must hold; empty: the host connected to
};

class Client {
 public:
  // Connects to host:port (a name or an address), TLS handshake included when `tls` is given,
  // all within `timeout`. `tls` is read during the call only. Throws ClientError.
  static Client connect(const std::string& host, std::uint16_t port,
                        std::chrono::milliseconds timeout = std::chrono::seconds(5),
                        const ClientTls* tls = nullptr);

  // Takes a socket already connected over plain TCP (one made in another network
  // namespace, say); `peer` names the server in errors.
  static Client adopt(int fd, std::string peer);

  Client(Client&& other) noexcept;
  Client& operator=(Client&& other) noexcept;
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends bytes as they are, all of them. Throws ClientError. May run on one thread while
  // read_some() or read_line() runs on another.
  void send(std::string_view bytes);
  // Sends one request: the line and a '\n'.
  void send_line(std::string_view line);

  // The next reply line, without its '\n'; nothing when the server has closed the
  // connection (a last line without '\n' is still returned). Throws ClientError on a
  // failure or when the receive timeout passes.
  std::optional<std::string> read_line();

  // Up to `size` bytes as they arrive, waiting for at least one; 0 when the server has
  // closed the connection. Throws ClientError on a failure or when the receive timeout passes.
  std::size_t read_some(char* data, std::size_t size);

  // Sends one request and reads its reply. Throws ClientError if the connection ends first.
  std::string call(std::string_view line);

  // Half-close: the server answers what it has and then closes. Over TLS, close_notify goes
  // first. May run on one thread while another reads.
  void shutdown_send();

  // Makes read_line() fail after waiting this long (0: wait for ever).
  void set_receive_timeout(std::chrono::milliseconds timeout);

  // The socket; over TLS it is non-blocking and its bytes are encrypted.
  int native_handle() const { return fd_; }
  const std::string& peer() const { return peer_; }
  bool tls() const { return tls_ != nullptr; }

 private:
  struct Tls;  // the OpenSSL session, in client.cpp

  Client(int fd, std::string peer);
  // Runs the handshake on the connected socket by `deadline`, with `tls`'s context (its
  // certificates loaded before connecting), for `server_name`. Throws ClientError.
  void start_tls(std::unique_ptr<Tls> tls, const std::string& server_name,
                 std::chrono::steady_clock::time_point deadline);
  // Sends close_notify if it can without waiting, and closes the socket.
  void close_connection() noexcept;
  [[noreturn]] void fail(std::string_view what) const;
  std::size_t tls_read_some(char* data, std::size_t size);
  void tls_send(std::string_view bytes);
  void tls_shutdown_send();

  int fd_ = -1;
  std::string peer_;          // "host:port", for messages
  std::unique_ptr<Tls> tls_;  // none: plain TCP
  std::string input_;
  std::size_t input_pos_ = 0;
};

}  // namespace count
