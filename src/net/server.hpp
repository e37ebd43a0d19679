// The server: owns the store, listens, accepts, hands each connection to a loop, enforces
// the connection limit (docs/protocol.md, "Limits"), and shuts down when a signal or stop()
// asks. run() is the only thing the calling thread does; the loops have threads of their own.
#pragma once

#include <sys/socket.h>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/server_metrics.hpp"
#include "net/loop_pool.hpp"
#include "net/rejection_log.hpp"
#include "net/signals.hpp"
#include "net/tls.hpp"
#include "store/store.hpp"

namespace count {

struct ServerOptions {
  std::string bind_address = "127.0.0.1";
  std::uint16_t port = 4444;        // 0: any free port, see local_port()
  bool plain = true;                // false: no plain-text port, TLS only
  std::uint16_t tls_port = 0;       // with `tls` set; 0: any free port, see local_tls_port()
  std::shared_ptr<TlsContext> tls;  // null: no TLS port
  std::string password;             // empty: none (docs/protocol.md, "Authentication")
  // Where `tls` and `password` came from, for a reload (SIGHUP) to read them again; empty:
  // nothing to read (what was given stays).
  TlsFiles tls_files;
  std::string password_file;
  std::string resp_key = "count";  // the counter's key for Redis clients
  std::chrono::seconds idle_timeout{0};
  std::chrono::seconds stall_timeout{30};
  std::chrono::seconds handshake_timeout{10};
  std::string version;         // for the metrics' build_info
  unsigned threads = 1;        // event loops, one thread each
  IoBackend io = IoBackend::kEpoll;  // how they wait (io_uring: see io_uring_unavailable())
  unsigned local_threads = 1;  // of those, the loops that serve clients on this machine
  std::size_t max_connections = 10000;
  // At shutdown, how long sessions get to send their last replies before they are cut.
  std::chrono::milliseconds shutdown_grace{3000};
};

class Server {
 public:
  // Binds and listens at once; throws std::system_error (port in use, bad address).
  Server(const ServerOptions& options, std::unique_ptr<Store> store);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The ports it listens on: plain (0 with plain = false) and TLS (0 without TLS).
  std::uint16_t local_port() const;
  std::uint16_t local_tls_port() const;

  // Every client turned away or cut off so far, by cause.
  const RejectionLog& rejections() const { return rejections_; }

  // The metrics page (docs/metrics.md), in Prometheus's text format: the loops' counters
  // summed, the store's own, the process's. Any thread, while the server exists.
  std::string metrics_text() const;

  // Serves until `signals` or stop() ask it to stop; then stops accepting, lets every session
  // answer what it has received (within the grace time; at once after SIGQUIT or a second
  // SIGINT/SIGTERM), and closes the store. SIGHUP reloads (see reload()). Returns false when
  // closing the store failed. Call it on the thread that made `signals`.
  bool run(ServerSignals& signals);

  // Reads the TLS files and the password file again (README, "Reloading"): new connections
  // get the new certificate at once, and `auth` checks the new password from now on; open
  // connections keep what they have. All of it takes effect, or none: a file that does not
  // load leaves everything as it was and is named in one error line. Returns whether it took
  // effect (true too when there is nothing to read). One caller at a time: run() calls it.
  bool reload(std::string_view why);

  // Any thread, also from a signal handler: makes run() shut down gracefully and return.
  void stop();

 private:
  class RingAccept;
  asio::awaitable<void> accept_loop(asio::ip::tcp::acceptor& acceptor, bool tls);
  // A connection just accepted on loop 0: past the limit it is refused, else handed to a loop.
  void admit(int fd, const sockaddr_storage& peer, bool tls);
  void start_session(Loop& loop, int fd, bool tls);
  void refuse(int fd, const sockaddr_storage& peer);
  void listen(asio::ip::tcp::acceptor& acceptor, std::uint16_t port);
  // Sleeps until a signal is pending, wake() was called, or `timeout` passed (-1: no limit).
  void wait_for_event(const ServerSignals& signals, std::chrono::milliseconds timeout) const;
  void wake() const;

  // Every loop's counters summed: for the metrics page and the debug log's periodic line.
  LoopTotals loop_totals() const;
  // The TLS context new connections get; null without TLS.
  std::shared_ptr<TlsContext> tls_context() const;
  // Warns when the certificate served expires within a week; returns when to look again.
  std::chrono::steady_clock::time_point check_certificate_expiry() const;

  ServerOptions options_;
  std::unique_ptr<ServerPassword> password_;  // null: none
  mutable std::mutex tls_mutex_;
  std::shared_ptr<TlsContext> tls_;  // guarded by tls_mutex_; replaced whole by reload()
  std::atomic<std::uint64_t> reloads_{0};
  std::atomic<std::uint64_t> failed_reloads_{0};
  RejectionLog rejections_;
  RespSettings resp_;
  std::atomic<std::uint64_t> next_client_id_{1};  // any loop thread: CLIENT ID
  SessionPolicy policy_;
  std::unique_ptr<Store> store_;
  LoopPool loops_;
  // With io_uring, the listening sockets' Asio objects live here (never run: loop 0's ring
  // accepts), so that loop 0's io_context has no reactor.
  asio::io_context listen_context_;
  asio::ip::tcp::acceptor acceptor_;         // on loop 0: plain text
  asio::ip::tcp::acceptor tls_acceptor_;     // on loop 0: TLS
  asio::steady_timer accept_retry_;          // on loop 0: backs off when out of descriptors
  std::vector<std::unique_ptr<RingAccept>> ring_accepts_;  // io_uring: on loop 0
  asio::ip::tcp protocol_;                   // of the listening socket, and so of every connection
  std::atomic<std::size_t> connections_{0};  // any thread: live sessions
  std::chrono::system_clock::time_point started_ = std::chrono::system_clock::now();

  // run() sleeps on this eventfd; stop() and each loop thread that ends write to it.
  int wake_fd_ = -1;
  std::atomic<bool> stop_requested_{false};
  std::atomic<std::size_t> loops_running_{0};
};

}  // namespace count
