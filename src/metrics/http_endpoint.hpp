// The metrics page over HTTP (docs/metrics.md): GET /metrics answers what `render` returns,
// in Prometheus's text format; every other path is 404, other methods 405. It runs on a
// thread of its own, never on an event loop, and stays bounded whatever clients do: a few
// connections at a time (more are closed at once), a small request, a short timeout.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace count {

struct MetricsEndpointOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;                    // 0: any free port, see local_port()
  std::size_t max_connections = 16;          // open at once; past it a new one is closed
  std::size_t max_request_bytes = 8 * 1024;  // request line and headers
  std::chrono::milliseconds timeout{5000};   // for a whole request and its response
};

class MetricsEndpoint {
 public:
  // Binds and listens at once (throws std::system_error naming the address), serves from
  // its own thread until destroyed. `render` is called on that thread, once per scrape.
  MetricsEndpoint(const MetricsEndpointOptions& options, std::function<std::string()> render);
  ~MetricsEndpoint();
  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

  std::uint16_t local_port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace count
