// count-server: parses flags, builds the store and the server, maps outcomes to exit codes.
// Exit status: 0 after a clean shutdown, 1 when the server cannot run or its store fails,
// 2 for a bad command line.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <thread>

#include "log/log.hpp"
#include "metrics/http_endpoint.hpp"
#include "net/ring.hpp"
#include "net/server.hpp"
#include "net/service_notify.hpp"
#include "net/signals.hpp"
#include "net/tls.hpp"
#include "protocol/password.hpp"
#include "store/etcd_store.hpp"
#include "store/file_store.hpp"
#include "store/memory_store.hpp"

namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

// A write or sync of the data file failed: the replies that waited for it must never leave,
// and a restart must read what is really on disk. Exiting at once, from the committer's
// thread, guarantees both.
[[noreturn]] void stop_on_store_failure(const std::string& message) {
  count::log(count::LogLevel::kError, "{}; stopping", message);
  std::fflush(stderr);
  std::_Exit(kExitFailure);
}

}  // namespace

int main(int argc, char** argv) {
  // First of all, before the data file's committer or any event loop starts a thread.
  count::ServerSignals signals;

  count::ServerOptions options;
  options.threads = std::max(1U, std::thread::hardware_concurrency());
  // Clients on this machine need cores too: half the loops serve them (docs/performance.md).
  options.local_threads = std::max(1U, options.threads / 2);
  bool in_memory = false;
  std::string data_path = "count.data";
  std::string fsync = "always";

  CLI::App app{"count-server: a counter database server. Protocol: docs/protocol.md.",
               "count-server"};
  app.add_option("--bind", options.bind_address, "Address to listen on")->capture_default_str();
  app.add_option("--port", options.port, "TCP port to listen on (0: any free port)")
      ->capture_default_str();
  app.add_option("--threads", options.threads, "Event loops, one thread each")
      ->check(CLI::Range(1U, 256U))
      ->capture_default_str();
  std::string io = "auto";
  app.add_option("--io", io,
                 "How the event loops wait for sockets: io_uring, epoll, or auto (io_uring "
                 "where this kernel allows it, else epoll, with a line saying why)")
      ->check(CLI::IsMember({"auto", "io_uring", "epoll"}))
      ->capture_default_str();
  auto* local_threads =
      app.add_option("--local-threads", options.local_threads,
                     "Of those, how many serve clients on this machine (loopback); default: "
                     "half, at least 1")
          ->check(CLI::Range(1U, 256U));
  app.add_option("--max-connections", options.max_connections,
                 "Open connections at most; past it a new one gets `err` and is closed")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 24))
      ->capture_default_str();
  auto* data_option =
      app.add_option("--data", data_path,
                     "Data file holding the value; created when missing (its folder must exist)")
          ->capture_default_str();
  app.add_option("--fsync", fsync,
                 "When the data file reaches stable storage: always (before each reply that "
                 "depends on it), everysec (once a second), never (the OS decides)")
      ->check(CLI::IsMember({"always", "everysec", "never"}))
      ->capture_default_str();
  auto* memory_option = app.add_flag("--in-memory", in_memory,
                                     "Keep the value in memory only, no data file: it starts at 0")
                            ->excludes(data_option);
  std::string etcd_endpoints;
  count::EtcdStoreOptions etcd_options;
  auto* etcd_option =
      app.add_option("--etcd", etcd_endpoints,
                     "Keep the value in an etcd cluster, shared by every count-server started "
                     "with the same endpoints and key: its client URLs, comma-separated "
                     "(http://10.0.0.1:2379,http://10.0.0.2:2379,...)")
          ->excludes(data_option)
          ->excludes(memory_option);
  app.add_option("--etcd-key", etcd_options.key,
                 "The counter's etcd key: its base, with each front end's part under KEY/")
      ->needs(etcd_option)
      ->capture_default_str();
  unsigned etcd_timeout_ms = 5000;
  app.add_option("--etcd-timeout", etcd_timeout_ms,
                 "Milliseconds a request waits for etcd (no quorum, no member reachable) "
                 "before it gets err")
      ->needs(etcd_option)
      ->check(CLI::Range(100U, 600000U))
      ->capture_default_str();
  unsigned etcd_linger_us = 2000;
  app.add_option("--etcd-linger", etcd_linger_us,
                 "Microseconds a round may wait, once etcd answered the last one, for the "
                 "clients it answered to send again, so that one transaction carries both "
                 "(at most half the last round trip; 0: send at once)")
      ->needs(etcd_option)
      ->check(CLI::Range(0U, 100000U))
      ->capture_default_str();

  count::TlsFiles tls_files;
  std::uint16_t tls_port = 0;
  auto* tls_port_option = app.add_option(
      "--tls-port", tls_port, "Also listen for TLS (1.2, 1.3) on this port (0: any free port)");
  auto* cert_option = app.add_option("--tls-cert", tls_files.cert,
                                     "The server's certificate chain (PEM), for --tls-port; it, "
                                     "the key and the CA are read "
                                     "again on SIGHUP")
                          ->needs(tls_port_option);
  auto* key_option =
      app.add_option("--tls-key", tls_files.key, "Its private key (PEM), for --tls-port")
          ->needs(tls_port_option);
  app.add_option("--tls-ca", tls_files.ca,
                 "Require TLS clients to present a certificate signed by this CA (PEM)")
      ->needs(tls_port_option);
  bool no_plain = false;
  app.add_flag("--no-plain", no_plain, "Serve TLS only: no plain-text port (--port is ignored)")
      ->needs(tls_port_option);
  std::string password_file;
  auto* password_option = app.add_option(
      "--password-file", password_file,
      "File holding the password clients must give with `auth` (first line; the file, never "
      "the command line, where others can see it); read again on SIGHUP");
  std::string resp_key = "count";
  app.add_option("--resp-key", resp_key,
                 "The counter's key for Redis clients (INCR KEY, GET KEY): 1 to 256 printable "
                 "ASCII characters, no spaces")
      ->check([](const std::string& key) -> std::string {
        const bool printable =
            std::all_of(key.begin(), key.end(), [](char c) { return c > ' ' && c <= '~'; });
        if (key.empty() || key.size() > 256 || !printable) {
          return "not 1 to 256 printable ASCII characters without spaces";
        }
        return {};
      })
      ->capture_default_str();
  bool no_auth = false;
  app.add_flag("--no-auth", no_auth,
               "Serve an address other than loopback without a password (by default the server "
               "refuses to)")
      ->excludes(password_option);
  unsigned idle_timeout = 0;
  app.add_option("--idle-timeout", idle_timeout,
                 "Close a connection that sends nothing for this many seconds (0: never)")
      ->check(CLI::Range(0U, 31U * 24 * 3600))
      ->capture_default_str();
  unsigned stall_timeout = 30;
  app.add_option("--stall-timeout", stall_timeout,
                 "Close a connection that stops in the middle of a line, or does not read its "
                 "replies, for this many seconds")
      ->check(CLI::Range(1U, 24U * 3600))
      ->capture_default_str();
  unsigned handshake_timeout = 10;
  app.add_option("--handshake-timeout", handshake_timeout,
                 "Close a TLS connection whose handshake takes longer, in seconds")
      ->check(CLI::Range(1U, 3600U))
      ->capture_default_str();
  std::string metrics_address;
  app.add_option("--metrics", metrics_address,
                 "Serve Prometheus metrics over HTTP at http://ADDRESS:PORT/metrics (e.g. "
                 "127.0.0.1:9464; [::1]:9464; PORT 0: any free port)");
  std::string log_level = "info";
  app.add_option("--log-level", log_level,
                 "Least important lines logged: debug, info, warning (rejected clients), error")
      ->check(CLI::IsMember({"debug", "info", "warning", "error"}))
      ->capture_default_str();
  app.set_version_flag("--version", std::string("count-server ") + COUNT_VERSION);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    count::log(count::LogLevel::kError, "{} (see --help)", e.what());
    return kExitUsage;
  }
  count::LogLevel level = count::LogLevel::kInfo;
  count::parse_log_level(log_level, level);  // checked by the option above
  count::set_log_level(level);
  if (tls_port_option->count() > 0 && (cert_option->count() == 0 || key_option->count() == 0)) {
    count::log(count::LogLevel::kError, "--tls-port requires --tls-cert and --tls-key (see --help)");
    return kExitUsage;
  }
  if (local_threads->count() == 0) options.local_threads = std::max(1U, options.threads / 2);
  if (options.local_threads > options.threads) {
    count::log(count::LogLevel::kError,
               "--local-threads ({}) is more than --threads ({}) (see --help)",
               options.local_threads, options.threads);
    return kExitUsage;
  }

  if (io == "epoll") {
    options.io = count::IoBackend::kEpoll;
  } else if (const auto unavailable = count::io_uring_unavailable()) {
    if (io == "io_uring") {
      count::log(count::LogLevel::kError, "--io io_uring: {}", *unavailable);
      return kExitFailure;
    }
    count::log(count::LogLevel::kWarning, "io_uring cannot be used here, so epoll: {}",
               *unavailable);
    options.io = count::IoBackend::kEpoll;
  } else {
    options.io = count::IoBackend::kIoUring;
  }

  options.version = COUNT_VERSION;
  options.idle_timeout = std::chrono::seconds(idle_timeout);
  options.stall_timeout = std::chrono::seconds(stall_timeout);
  options.handshake_timeout = std::chrono::seconds(handshake_timeout);
  options.plain = !no_plain;

  asio::error_code bad_address;
  const asio::ip::address bind_address = asio::ip::make_address(options.bind_address, bad_address);
  if (bad_address) {
    count::log(count::LogLevel::kError, "--bind {}: not an IPv4 or IPv6 address (see --help)",
               options.bind_address);
    return kExitUsage;
  }
  count::MetricsEndpointOptions metrics_options;
  if (!metrics_address.empty()) {
    const std::size_t colon = metrics_address.rfind(':');
    std::string host = colon == std::string::npos ? "" : metrics_address.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    const std::string port = colon == std::string::npos ? "" : metrics_address.substr(colon + 1);
    unsigned long port_number = 0;
    asio::error_code bad;
    asio::ip::make_address(host, bad);
    const bool port_ok = !port.empty() && port.size() <= 5 &&
                         port.find_first_not_of("0123456789") == std::string::npos &&
                         (port_number = std::stoul(port)) <= 65535;
    if (bad || !port_ok) {
      count::log(count::LogLevel::kError,
                 "--metrics {}: not ADDRESS:PORT (an IPv4 or [IPv6] address and a port) (see "
                 "--help)",
                 metrics_address);
      return kExitUsage;
    }
    metrics_options.address = host;
    metrics_options.port = static_cast<std::uint16_t>(port_number);
  }
  options.resp_key = resp_key;
  if (!password_file.empty()) {
    try {
      options.password = count::read_password_file(password_file);
      options.password_file = password_file;
    } catch (const count::PasswordFileError& e) {
      count::log(count::LogLevel::kError, "--password-file: {}", e.what());
      return kExitUsage;
    }
  }
  if (tls_port_option->count() > 0) {
    try {
      options.tls = std::make_shared<count::TlsContext>(tls_files);
      options.tls_files = tls_files;
      options.tls_port = tls_port;
    } catch (const count::TlsConfigError& e) {
      count::log(count::LogLevel::kError, "{}", e.what());
      return kExitUsage;
    }
  }
  // Protected by default: beyond this machine, every client must prove who it is, by a
  // password or by a certificate on a TLS-only server, unless the operator says otherwise.
  const bool clients_prove_who_they_are =
      !options.password.empty() ||
      (options.tls && options.tls->requires_client_certificates() && !options.plain);
  if (!bind_address.is_loopback() && !clients_prove_who_they_are && !no_auth) {
    count::log(count::LogLevel::kError,
               "refusing to serve {} without a password: anyone who reaches it "
               "could change the counter. Give --password-file FILE (or --tls-ca FILE with "
               "--no-plain, so that every client needs a certificate), or --no-auth if that is "
               "what you want",
               options.bind_address);
    return kExitUsage;
  }

  std::unique_ptr<count::Store> store;
  // The store, by its kind; owned by `store`, then by the server.
  const count::EtcdStore* etcd = nullptr;
  const count::FileStore* file = nullptr;
  const count::MemoryStore* memory = nullptr;
  std::string store_name = "in-memory store";
  if (in_memory) {
    auto memory_store = std::make_unique<count::MemoryStore>();
    memory = memory_store.get();
    store = std::move(memory_store);
  } else if (!etcd_endpoints.empty()) {
    etcd_options.request_timeout = std::chrono::milliseconds(etcd_timeout_ms);
    etcd_options.max_linger = std::chrono::microseconds(etcd_linger_us);
    count::EtcdClientOptions client_options;
    client_options.endpoints = etcd_endpoints;
    client_options.timeout =
        std::min(std::chrono::milliseconds(2000), etcd_options.request_timeout);
    try {
      auto etcd_store = std::make_unique<count::EtcdStore>(
          std::make_unique<count::EtcdClientTxnKv>(client_options), etcd_options);
      store_name = fmt::format("etcd store {} at {}, value {}", etcd_options.key, etcd_endpoints,
                               etcd_store->initial_value());
      etcd = etcd_store.get();
      store = std::move(etcd_store);
    } catch (const count::EtcdConfigError& e) {
      count::log(count::LogLevel::kError, "--etcd: {} (see --help)", e.what());
      return kExitUsage;
    } catch (const count::EtcdStoreError& e) {
      count::log(count::LogLevel::kError, "{}", e.what());
      return kExitFailure;
    }
  } else {
    count::FileStoreOptions store_options;
    store_options.path = data_path;
    count::parse_fsync_policy(fsync, store_options.fsync);  // checked by the option above
    store_options.on_failure = stop_on_store_failure;
    try {
      auto file_store = std::make_unique<count::FileStore>(std::move(store_options));
      if (!file_store->warning().empty()) {
        count::log(count::LogLevel::kWarning, "{}", file_store->warning());
      }
      if (file_store->created()) {
        count::log(count::LogLevel::kInfo, "created data file {} (value 0)", data_path);
      }
      store_name = fmt::format("file store {}, fsync {}", data_path, fsync);
      file = file_store.get();
      store = std::move(file_store);
    } catch (const count::DataFileError& e) {
      count::log(count::LogLevel::kError, "{}", e.what());
      return kExitFailure;
    }
  }

  try {
    count::Server server(options, std::move(store));
    // Declared after the server, so destroyed before it: no scrape outlives what it reads.
    std::optional<count::MetricsEndpoint> metrics;
    if (!metrics_address.empty()) {
      metrics.emplace(metrics_options, [&server] { return server.metrics_text(); });
      count::log(count::LogLevel::kInfo, "metrics on http://{}:{}/metrics",
                 metrics_options.address.find(':') == std::string::npos
                     ? metrics_options.address
                     : fmt::format("[{}]", metrics_options.address),
                 metrics->local_port());
    }
    const std::string host =
        bind_address.is_v6() ? fmt::format("[{}]", options.bind_address) : options.bind_address;
    std::string listening;
    if (options.plain) listening = fmt::format("listening on {}:{}", host, server.local_port());
    if (options.tls) {
      listening += fmt::format("{}with TLS on {}:{}", listening.empty() ? "listening " : " and ",
                               host, server.local_tls_port());
      if (options.tls->requires_client_certificates()) listening += " (client certificates)";
    }
    // Everything an operator needs to know what is running, in one line.
    count::log(count::LogLevel::kInfo,
               "{} (version {}; {} event loop{} on {}, {} for local clients; {}; at most {} "
               "connections, stall timeout {} s, idle timeout {}; {})",
               listening, COUNT_VERSION, options.threads, options.threads == 1 ? "" : "s",
               count::io_backend_name(options.io), options.local_threads, store_name, options.max_connections,
               options.stall_timeout.count(),
               options.idle_timeout.count() > 0 ? fmt::format("{} s", options.idle_timeout.count())
                                                : std::string("off"),
               options.password.empty() ? "no password" : "password required");
    if (options.tls) {
      const count::CertificateInfo& certificate = options.tls->certificate();
      count::log(count::LogLevel::kInfo, "TLS certificate {} (SHA-256 {}), valid until {}",
                 certificate.subject, certificate.fingerprint, certificate.not_after_text);
    }
    count::notify_ready(listening);  // systemd (Type=notify): it accepts connections now
    const bool closed = server.run(signals);
    if (etcd != nullptr) {
      // How much the combining carried: requests per transaction is the factor over a
      // client that sends each request as a transaction of its own.
      const count::EtcdStore::Stats stats = etcd->stats();
      count::log(count::LogLevel::kInfo,
                 "etcd: {} requests in {} rounds, {} transactions ({} lost a "
                 "compare, {} unknown), {} reads, {} rounds failed, {} rounds within the "
                 "grant, {} rebalanced",
                 stats.requests, stats.rounds, stats.transactions, stats.conflicts, stats.unknown,
                 stats.reads, stats.failed_rounds, stats.fast_paths, stats.rebalances);
    }
    if (const std::string turned_away = server.rejections().summary(); !turned_away.empty()) {
      count::log(count::LogLevel::kInfo, "clients turned away or cut off: {}", turned_away);
    }
    // What the stop kept.
    if (file != nullptr) {
      if (closed) {
        count::log(count::LogLevel::kInfo,
                   "stopped: value {} synced to {} ({} writes and {} syncs in this run)",
                   file->committer().synced_value(), data_path, file->committer().writes(),
                   file->committer().syncs());
      } else {
        count::log(count::LogLevel::kError, "stopped: the last write or sync of {} failed",
                   data_path);
      }
    } else if (etcd != nullptr) {
      count::log(count::LogLevel::kInfo, "stopped: every acknowledged change is in etcd at {}",
                 etcd_options.key);
    } else if (memory != nullptr) {
      count::log(count::LogLevel::kInfo, "stopped: value {} was in memory only and is gone",
                 memory->get().value);
    }
    return closed ? 0 : kExitFailure;
  } catch (const std::system_error& e) {
    count::log(count::LogLevel::kError, "{}", e.what());
  } catch (const std::exception& e) {
    count::log(count::LogLevel::kError, "{}", e.what());
  }
  return kExitFailure;
}
