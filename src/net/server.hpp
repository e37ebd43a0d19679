// The server: owns the store, listens, accepts, hands each connection to a loop, enforces
// the connection limit, and shuts down on SIGINT or SIGTERM (docs/protocol.md, "Limits").
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include "net/loop_pool.hpp"
#include "store/store.hpp"

namespace count {

struct ServerOptions {
  std::string bind_address = "127.0.0.1";
  std::uint16_t port = 4444;  // 0: any free port, see local_port()
  unsigned threads = 1;        // event loops, one thread each
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

  std::uint16_t local_port() const;

  // Serves until SIGINT, SIGTERM or stop(); then stops accepting, lets every session answer
  // what it has received (within the grace time), and closes the store. Returns false when
  // closing the store failed.
  bool run();

  // Any thread: makes run() shut down and return.
  void stop();

 private:
  asio::awaitable<void> accept_loop();
  void start_session(Loop& loop, int fd);
  void refuse(int fd);

  ServerOptions options_;
  std::unique_ptr<Store> store_;
  LoopPool loops_;
  asio::ip::tcp::acceptor acceptor_;  // on loop 0
  asio::signal_set signals_;          // on loop 0
  asio::steady_timer accept_retry_;   // on loop 0: backs off when out of descriptors
  asio::ip::tcp protocol_;            // of the listening socket, and so of every connection
  std::atomic<std::size_t> connections_{0};  // any thread: live sessions

  std::mutex mutex_;  // guards the two flags below
  std::condition_variable changed_;
  bool stop_requested_ = false;
  std::size_t loops_running_ = 0;
};

}  // namespace count
