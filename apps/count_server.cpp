// count-server: parses flags, builds the store and the server, maps outcomes to exit codes.
// Exit status: 0 after a clean shutdown, 1 when the server cannot run or its store fails,
// 2 for a bad command line.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <exception>
#include <memory>
#include <system_error>
#include <thread>

#include "net/server.hpp"
#include "store/memory_store.hpp"

namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

}  // namespace

int main(int argc, char** argv) {
  count::ServerOptions options;
  options.threads = std::max(1U, std::thread::hardware_concurrency());
  bool in_memory = false;

  CLI::App app{"count-server: a counter database server. Protocol: docs/protocol.md.",
               "count-server"};
  app.add_option("--bind", options.bind_address, "Address to listen on")->capture_default_str();
  app.add_option("--port", options.port, "TCP port to listen on (0: any free port)")
      ->capture_default_str();
  app.add_option("--threads", options.threads, "Event loops, one thread each")
      ->check(CLI::Range(1U, 256U))
      ->capture_default_str();
  app.add_option("--max-connections", options.max_connections,
                 "Open connections at most; past it a new one gets `err` and is closed")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 24))
      ->capture_default_str();
  app.add_flag("--in-memory", in_memory, "Keep the value in memory only: it starts at 0");
  app.set_version_flag("--version", std::string("count-server ") + COUNT_VERSION);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    fmt::print(stderr, "count-server: {} (see --help)\n", e.what());
    return kExitUsage;
  }

  try {
    count::Server server(options, std::make_unique<count::MemoryStore>());
    fmt::print(stderr, "count-server: listening on {}:{} ({} event loop{}, {} store)\n",
               options.bind_address, server.local_port(), options.threads,
               options.threads == 1 ? "" : "s", "in-memory");
    const bool closed = server.run();
    fmt::print(stderr, "count-server: stopped\n");
    return closed ? 0 : kExitFailure;
  } catch (const std::system_error& e) {
    fmt::print(stderr, "count-server: cannot listen on {}:{}: {}\n", options.bind_address,
               options.port, e.code().message());
  } catch (const std::exception& e) {
    fmt::print(stderr, "count-server: {}\n", e.what());
  }
  return kExitFailure;
}
