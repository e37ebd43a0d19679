// count-bench: load generator for count-server (one front end or several), for redis-server
// and memcached so that they can be compared with one tool, and for a plain etcd cluster used
// by read and compare-and-swap, the baseline of count-server's etcd store. Parses flags and
// prints results; the work is in src/loadgen/. Exit status: 0 when every reply and the
// counter checks are right, 1 when a check failed, 2 for a bad command line or a server that
// cannot be reached. TLS and a password work with our line protocol and with RESP.
#include <fmt/core.h>
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "loadgen/codec.hpp"
#include "loadgen/command_mix.hpp"
#include "loadgen/counter_check.hpp"
#include "loadgen/etcd_load.hpp"
#include "loadgen/load_generator.hpp"
#include "loadgen/server_list.hpp"
#include "protocol/password.hpp"
#include "store/etcd_store.hpp"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitCheckFailed = 1;
constexpr int kExitUsage = 2;  // also: the server cannot be reached
constexpr std::uint64_t kDefaultRequests = 100000;
constexpr char kDefaultEtcdEndpoint[] = "http://127.0.0.1:2379";

struct Settings {
  count::LoadOptions load;         // load.servers: from hosts and ports, except for etcd
  std::vector<std::string> hosts;  // every -h value as given
  std::vector<std::string> ports;  // every -p value as given
  std::string protocol = "line";
  std::string ratio = "incr";
  std::string key = "count-bench";
  std::int64_t add_value = 1;
  double duration_s = 0;
  double warmup_s = 1;
  double timeout_s = 10;
  bool json = false;
  bool check_counter = true;
  bool tls = false;            // --tls, or implied by --cacert and --cert
  count::ClientTls tls_files;  // --cacert, --cert, --key
  std::string password_file;
  std::string io = "auto";
  std::vector<std::string> etcd_endpoints;  // --protocol etcd: the -h entries, etcd URLs

  bool etcd() const { return protocol == "etcd"; }
  // How the report names the servers: HOST:PORT each, or the etcd URLs.
  std::vector<std::string> server_names() const {
    if (etcd()) return etcd_endpoints;
    std::vector<std::string> names;
    for (const count::ServerAddress& server : load.servers) names.push_back(server.text());
    return names;
  }
};

// The outcome of the counter check: not run, impossible (a read failed), or compared; and,
// with several servers, whether they all read the same value after the run.
struct CounterOutcome {
  bool wanted = false;
  std::optional<std::int64_t> before;
  std::optional<std::int64_t> after;
  std::optional<count::CounterCheck> check;
  std::vector<count::ServerRead> others;  // every server but the first, read after the run
  std::optional<count::AgreementCheck> agreement;
  std::string problem;  // why there is no check
  bool passed() const { return !wanted || (check && check->ok && (!agreement || agreement->ok)); }
};

std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
    } else {
      out += c;
    }
  }
  return out + "\"";
}

template <typename T>
std::string json_optional(const std::optional<T>& value) {
  return value ? fmt::format("{}", *value) : "null";
}

double micros(std::uint64_t nanos) { return static_cast<double>(nanos) / 1000.0; }

// Connections go to the servers in turn: how many the one at `index` gets.
unsigned connections_of(const Settings& s, std::size_t index) {
  const auto servers = static_cast<unsigned>(s.server_names().size());
  return s.load.connections / servers + (index < s.load.connections % servers ? 1U : 0U);
}

std::string counter_json(const Settings& s, const CounterOutcome& counter) {
  if (!counter.wanted) return "null";
  std::string reads = "[";
  if (counter.after && counter.agreement) {
    reads += fmt::format(R"({{"server":{},"value":{}}})", json_string(s.server_names().front()),
                         *counter.after);
    for (const count::ServerRead& read : counter.others) {
      reads += fmt::format(R"(,{{"server":{},"value":{}}})", json_string(read.server),
                           json_optional(read.value));
    }
  }
  reads += "]";
  return fmt::format(
      "{{\"passed\":{},\"before\":{},\"after\":{},\"expected_delta\":{},\"actual_delta\":{},"
      "\"servers_agree\":{},\"reads_after\":{},\"message\":{}}}",
      counter.passed(), json_optional(counter.before), json_optional(counter.after),
      counter.check ? json_optional(counter.check->expected_delta) : "null",
      counter.check ? json_optional(counter.check->actual_delta) : "null",
      counter.agreement ? fmt::format("{}", counter.agreement->ok) : "null", reads,
      json_string(counter.check ? counter.check->message : counter.problem));
}

const char* io_name(const count::LoadResult& r) { return r.on_io_uring ? "io_uring" : "epoll"; }

void print_json(const Settings& s, const count::CommandMix& mix, const count::LoadResult& r,
                const CounterOutcome& counter, const count::EtcdLoadResult* etcd, bool ok) {
  const count::Histogram& h = r.latency_ns;
  const std::vector<std::string> names = s.server_names();
  std::string servers = "[";
  for (std::size_t i = 0; i < names.size(); ++i) {
    servers += fmt::format(R"({}{{"address":{},"connections":{}}})", i == 0 ? "" : ",",
                           json_string(names[i]), connections_of(s, i));
  }
  servers += "]";
  std::string etcd_json = "null";
  if (etcd) {
    etcd_json = fmt::format(
        "{{\"key\":{},\"mutations\":{},\"conflicts\":{},\"conflicts_per_mutation\":{:.3f},"
        "\"max_conflicts\":{},\"unknown_outcome\":{}}}",
        json_string(s.key), etcd->measured_mutations, etcd->measured_conflicts,
        etcd->conflicts_per_mutation(), etcd->max_conflicts, etcd->unknown_outcome);
  }
  fmt::print(
      "{{\"protocol\":{},\"tls\":{},\"host\":{},\"port\":{},\"servers\":{},\"connections\":{},"
      "\"threads\":{},\"io\":{},"
      "\"pipeline\":{},\"mix\":{},\"add_value\":{},\"mode\":{},\"warmup_seconds\":{},"
      "\"seconds\":{:.6f},\"sent\":{},\"measured\":{},\"throughput_rps\":{:.1f},"
      "\"latency_us\":{{\"p50\":{:.3f},\"p99\":{:.3f},\"p999\":{:.3f},\"max\":{:.3f},"
      "\"mean\":{:.3f}}},\"good\":{},\"error_replies\":{},\"unexpected\":{},"
      "\"lost_in_flight\":{},\"lost_mutations\":{},\"broken_connections\":{},\"timed_out\":{},"
      "\"acknowledged\":{{\"incr\":{},\"decr\":{},\"add\":{}}},\"counter_check\":{},"
      "\"etcd\":{},\"problem\":{},\"ok\":{}}}\n",
      json_string(s.protocol), s.load.setup.tls.has_value(),
      json_string(s.etcd() ? s.etcd_endpoints.front() : s.load.servers.front().host),
      s.etcd() ? "null" : fmt::format("{}", s.load.servers.front().port), servers,
      s.load.connections, s.load.threads, json_string(etcd ? "grpc" : io_name(r)), s.load.pipeline,
      json_string(mix.text()), s.add_value,
      json_string(s.load.requests > 0 ? "requests" : "duration"),
      s.load.requests > 0 ? 0.0 : s.warmup_s, r.window.count(), r.sent, r.measured, r.throughput(),
      micros(h.value_at_quantile(0.50)), micros(h.value_at_quantile(0.99)),
      micros(h.value_at_quantile(0.999)), micros(h.max()), h.mean() / 1000.0, r.good,
      r.error_replies, r.unexpected, r.lost_in_flight, r.lost_mutations, r.broken_connections,
      r.timed_out, r.acked.incr, r.acked.decr, r.acked.add, counter_json(s, counter), etcd_json,
      r.first_problem.empty() ? std::string("null") : json_string(r.first_problem), ok);
}

void print_table(const Settings& s, const count::CommandMix& mix, const count::LoadResult& r,
                 const CounterOutcome& counter, const count::EtcdLoadResult* etcd) {
  const count::Histogram& h = r.latency_ns;
  const std::vector<std::string> names = s.server_names();
  if (etcd) {
    fmt::print("count-bench: etcd protocol (read, then compare-and-swap), key {} at {}\n", s.key,
               fmt::join(names, ","));
    fmt::print(
        "  {} connection{}, each one client on a thread of its own with one request in "
        "flight, mix {}{}\n",
        s.load.connections, s.load.connections == 1 ? "" : "s", mix.text(),
        mix.uses(count::Op::kAdd) ? fmt::format(", add {}", s.add_value) : "");
  } else {
    const char* over = s.load.setup.tls ? " over TLS" : "";
    if (names.size() == 1) {
      fmt::print("count-bench: {} protocol{}, {}\n", s.protocol, over, names.front());
    } else {
      std::vector<std::string> shares;
      for (std::size_t i = 0; i < names.size(); ++i) {
        shares.push_back(fmt::format("{} ({})", names[i], connections_of(s, i)));
      }
      fmt::print("count-bench: {} protocol{}, {} servers (connections): {}\n", s.protocol, over,
                 names.size(), fmt::join(shares, ", "));
    }
    fmt::print("  {} connection{} on {} thread{} ({}), pipeline {}, mix {}{}\n", s.load.connections,
               s.load.connections == 1 ? "" : "s", s.load.threads, s.load.threads == 1 ? "" : "s",
               io_name(r), s.load.pipeline, mix.text(),
               mix.uses(count::Op::kAdd) ? fmt::format(", add {}", s.add_value) : "");
    if (!r.io_note.empty() && s.io == "auto" && !s.load.setup.tls) {
      fmt::print("  {:<12} epoll, since io_uring cannot be used here: {}\n", "io", r.io_note);
    }
  }
  if (s.load.requests > 0) {
    fmt::print("  {:<12} {} requests in {:.3f} s\n", "run", r.sent, r.window.count());
  } else {
    fmt::print("  {:<12} {:.3f} s measured after {:.3f} s of warm-up ({} requests in all)\n", "run",
               r.window.count(), s.warmup_s, r.sent);
  }
  fmt::print("  {:<12} {:.0f} requests/s\n", "throughput", r.throughput());
  fmt::print("  {:<12} {:>10} {:>10} {:>10} {:>10} {:>10}\n", "latency (us)", "p50", "p99", "p99.9",
             "max", "mean");
  fmt::print("  {:<12} {:>10.1f} {:>10.1f} {:>10.1f} {:>10.1f} {:>10.1f}\n", "",
             micros(h.value_at_quantile(0.50)), micros(h.value_at_quantile(0.99)),
             micros(h.value_at_quantile(0.999)), micros(h.max()), h.mean() / 1000.0);
  if (etcd) {
    fmt::print("  {:<12} {} good, {} error ({} with unknown outcome), {} unexpected\n", "replies",
               r.good, r.error_replies, etcd->unknown_outcome, r.unexpected);
    fmt::print(
        "  {:<12} {:.2f} compare failures per mutation ({} lost compares, {} mutations "
        "committed while measuring; at most {} for one request)\n",
        "retries", etcd->conflicts_per_mutation(), etcd->measured_conflicts,
        etcd->measured_mutations, etcd->max_conflicts);
  } else {
    fmt::print(
        "  {:<12} {} good, {} error, {} unexpected, {} lost in flight, {} broken connection{}\n",
        "replies", r.good, r.error_replies, r.unexpected, r.lost_in_flight, r.broken_connections,
        r.broken_connections == 1 ? "" : "s");
  }
  if (!counter.wanted) {
    fmt::print("  {:<12} not checked (--no-counter-check)\n", "counter");
  } else if (counter.check) {
    fmt::print("  {:<12} {}\n", "counter", counter.check->message);
    if (counter.agreement) fmt::print("  {:<12} {}\n", "servers", counter.agreement->message);
  } else {
    fmt::print("  {:<12} NOT CHECKED: {}\n", "counter", counter.problem);
  }
}

// Prints the progress line on a terminal, about once a second.
std::function<void(const count::Progress&)> progress_printer() {
  if (::isatty(STDERR_FILENO) != 1) return {};
  return [last_replies = std::uint64_t{0},
          last_elapsed = count::Seconds{0}](const count::Progress& p) mutable {
    const double span = (p.elapsed - last_elapsed).count();
    const double rate = span > 0 ? static_cast<double>(p.replies - last_replies) / span : 0.0;
    fmt::print(stderr, "\r\033[K  {:6.1f} s  {}{} replies  {:.0f} requests/s", p.elapsed.count(),
               p.warming_up ? "(warm-up) " : "", p.replies, rate);
    last_replies = p.replies;
    last_elapsed = p.elapsed;
  };
}

void end_progress() {
  if (::isatty(STDERR_FILENO) == 1) fmt::print(stderr, "\r\033[K");
}

// Prints the report and the failures; returns the exit status.
int report(const Settings& s, const count::CommandMix& mix, const count::LoadResult& result,
           const CounterOutcome& counter, const count::EtcdLoadResult* etcd) {
  const bool ok = result.clean() && counter.passed();
  if (s.json) {
    print_json(s, mix, result, counter, etcd, ok);
  } else {
    print_table(s, mix, result, counter, etcd);
  }
  if (!result.first_problem.empty() && etcd) {
    fmt::print(stderr,
               "count-bench: FAILED: {} error reply(s), {} of them of unknown outcome, {} "
               "unexpected; first: {}\n",
               result.error_replies, etcd->unknown_outcome, result.unexpected,
               result.first_problem);
  } else if (!result.first_problem.empty()) {
    fmt::print(
        stderr,
        "count-bench: FAILED: {} error reply(s), {} unexpected, {} lost in flight; first: {}\n",
        result.error_replies, result.unexpected, result.lost_in_flight, result.first_problem);
  }
  if (counter.wanted && !counter.passed()) {
    if (!counter.check) {
      fmt::print(stderr, "count-bench: FAILED: counter not checked: {}\n", counter.problem);
    } else if (!counter.check->ok) {
      fmt::print(stderr, "count-bench: FAILED: {}\n", counter.check->message);
    }
    if (counter.agreement && !counter.agreement->ok) {
      fmt::print(stderr, "count-bench: FAILED: {}\n", counter.agreement->message);
    }
  }
  return ok ? kExitOk : kExitCheckFailed;
}

// count-server, Redis or memcached: one server or several sharing one counter.
int run_servers(Settings& s, const count::CommandMix& mix, const count::Codec& codec) {
  const auto probe_timeout = s.load.reply_timeout;
  const count::ConnectionSetup& setup = s.load.setup;
  const count::ServerAddress& first = s.load.servers.front();
  CounterOutcome counter;
  counter.wanted = s.check_counter;
  count::LoadResult result;
  try {
    if (counter.wanted) {
      try {
        count::prepare_counter(first, codec, setup, probe_timeout);
        counter.before = count::read_counter(first, codec, setup, probe_timeout);
      } catch (const count::ProbeError& e) {
        counter.problem = e.what();
      }
    }

    count::LoadGenerator generator(s.load, codec, mix);
    result = generator.run(progress_printer());
    end_progress();

    if (counter.before) {
      try {
        counter.after = count::read_counter(first, codec, setup, probe_timeout);
        counter.check =
            count::check_counter(*counter.before, *counter.after, result.acked, s.add_value);
        if (result.lost_mutations > 0 && !counter.check->ok) {
          counter.check->message += fmt::format(
              " ({} mutation(s) were in flight on broken connections)", result.lost_mutations);
        }
      } catch (const count::ProbeError& e) {
        counter.problem = e.what();
      }
    }
    if (counter.after && s.load.servers.size() > 1) {
      for (std::size_t i = 1; i < s.load.servers.size(); ++i) {
        count::ServerRead read{s.load.servers[i].text(), std::nullopt, ""};
        try {
          read.value = count::read_counter(s.load.servers[i], codec, setup, probe_timeout);
        } catch (const std::runtime_error& e) {  // ProbeError, ConnectError: this server only
          read.problem = e.what();
        }
        counter.others.push_back(std::move(read));
      }
      counter.agreement = count::check_agreement(first.text(), *counter.after, counter.others);
    }
  } catch (const count::ConnectError& e) {
    end_progress();
    fmt::print(stderr, "count-bench: {}\n", e.what());
    return kExitUsage;
  }
  return report(s, mix, result, counter, nullptr);
}

// The etcd baseline: read and compare-and-swap, straight against the cluster.
int run_etcd(Settings& s, const count::CommandMix& mix) {
  count::EtcdLoadOptions options;
  options.client.endpoints = fmt::format("{}", fmt::join(s.etcd_endpoints, ","));
  options.client.timeout = s.load.reply_timeout;
  options.key = s.key;
  options.connections = s.load.connections;
  options.requests = s.load.requests;
  options.duration = s.load.duration;
  options.warmup = s.load.warmup;
  options.add_value = s.add_value;

  CounterOutcome counter;
  counter.wanted = s.check_counter;
  try {
    if (counter.wanted) {
      try {
        counter.before = count::read_etcd_counter(options.client, s.key);
      } catch (const count::ProbeError& e) {
        counter.problem = e.what();
      }
    }
    count::EtcdLoadGenerator generator(options, mix);
    const count::EtcdLoadResult result = generator.run(progress_printer());
    end_progress();
    if (counter.before) {
      try {
        counter.after = count::read_etcd_counter(options.client, s.key);
        counter.check =
            count::check_counter(*counter.before, *counter.after, result.load.acked, s.add_value);
        if (result.unknown_outcome > 0 && !counter.check->ok) {
          counter.check->message +=
              fmt::format(" ({} mutation(s) got no answer: etcd may have applied them)",
                          result.unknown_outcome);
        }
      } catch (const std::runtime_error& e) {  // ProbeError, ConnectError: after the run
        counter.problem = e.what();
      }
    }
    return report(s, mix, result.load, counter, &result);
  } catch (const count::ConnectError& e) {
    end_progress();
    fmt::print(stderr, "count-bench: etcd at {}: {}\n", options.client.endpoints, e.what());
    return kExitUsage;
  }
}

int usage_error(const std::string& message) {
  fmt::print(stderr, "count-bench: {} (see --help)\n", message);
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  // A server that closes the connection must show up as an error, not kill the process.
  std::signal(SIGPIPE, SIG_IGN);

  Settings s;
  CLI::App app{"count-bench: load generator for count-server (and redis-server, memcached, etcd).",
               "count-bench"};
  app.set_help_flag("--help", "Print this help and exit");
  app.add_option("-h,--host", s.hosts,
                 "Server: HOST or HOST:PORT ([IPV6]:PORT); a comma list or repeated -h spreads "
                 "the connections over several servers in turn (default 127.0.0.1). With "
                 "--protocol etcd: etcd client URLs (default http://127.0.0.1:2379)")
      ->allow_extra_args(false);
  auto* ports = app.add_option("-p,--port", s.ports,
                               "Port of the -h entries without one (default 4444); several "
                               "(comma list or repeated -p): one per such entry, or all on a "
                               "single -h host")
                    ->allow_extra_args(false);
  app.add_option("-c,--connections", s.load.connections, "Connections")
      ->check(CLI::Range(1U, 100000U))
      ->capture_default_str();
  auto* threads = app.add_option("-t,--threads", s.load.threads,
                                 "Threads, each its own event loop (not with --protocol etcd, "
                                 "which runs a thread per connection)")
                      ->check(CLI::Range(1U, 256U))
                      ->capture_default_str();
  app.add_option("-P,--pipeline", s.load.pipeline,
                 "Requests in flight per connection (1 with --protocol etcd)")
      ->check(CLI::Range(1U, 65536U))
      ->capture_default_str();
  auto* requests = app.add_option("-n,--requests", s.load.requests,
                                  "Requests in all (default 100000 when -d is not given)")
                       ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 62));
  auto* duration = app.add_option("-d,--duration", s.duration_s,
                                  "Seconds to measure, after the warm-up (instead of -n)")
                       ->check(CLI::Range(0.001, 86400.0));
  requests->excludes(duration);
  app.add_option("--warmup", s.warmup_s, "Seconds of load before measuring (with -d)")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  app.add_option("--ratio", s.ratio, "Command mix: incr, decr, add, get, e.g. incr:get=9:1")
      ->capture_default_str();
  app.add_option("--add-value", s.add_value, "The N of `add N`")->capture_default_str();
  app.add_option("--protocol", s.protocol,
                 "Wire protocol: line (count-server), resp (Redis), memcache (memcached), "
                 "etcd (an etcd cluster by read and compare-and-swap, without count-server)")
      ->check(CLI::IsMember({"line", "resp", "memcache", "etcd"}))
      ->capture_default_str();
  auto* key = app.add_option("--key", s.key,
                             "The key holding the counter (memcache; resp: default count, "
                             "count-server's; etcd: default count-server's, " +
                                 count::EtcdStoreOptions{}.key + ")")
                  ->capture_default_str();
  app.add_option("--timeout", s.timeout_s,
                 "Seconds without any reply before giving up (etcd: the deadline of each call)")
      ->check(CLI::Range(0.01, 3600.0))
      ->capture_default_str();
  app.add_flag("--tls", s.tls,
               "Speak TLS (line and resp): each server's certificate must verify (against the "
               "system's CAs unless --cacert) for the name or address given with -h; handshakes "
               "happen before the clock starts");
  app.add_option("--cacert", s.tls_files.ca_file,
                 "CA certificates (PEM) to verify the servers with instead of the system's; "
                 "implies --tls")
      ->type_name("FILE");
  auto* client_cert =
      app.add_option("--cert", s.tls_files.cert_file,
                     "Client certificate (PEM), for servers that ask for one; implies "
                     "--tls")
          ->type_name("FILE");
  // --key already names the counter's key; the certificate's key gets a name of its own.
  auto* client_key =
      app.add_option("--cert-key", s.tls_files.key_file, "Private key (PEM) of --cert")
          ->type_name("FILE");
  client_cert->needs(client_key);
  client_key->needs(client_cert);
  app.add_option("--password-file", s.password_file,
                 "File whose first line is the password: every connection logs in with it "
                 "(line: auth, resp: AUTH) before the clock starts")
      ->type_name("FILE");
  auto* io = app.add_option("--io", s.io,
                            "How the threads wait for their sockets: io_uring, epoll, or auto "
                            "(io_uring where this kernel allows it, else epoll); TLS runs on "
                            "epoll")
                 ->check(CLI::IsMember({"auto", "io_uring", "epoll"}))
                 ->capture_default_str();
  app.add_flag("--json", s.json, "Print one JSON object instead of the table");
  app.add_flag("!--no-counter-check", s.check_counter,
               "Do not read the counter before and after the run (for servers without one)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    return usage_error(e.what());
  }

  s.tls = s.tls || !s.tls_files.ca_file.empty() || !s.tls_files.cert_file.empty();
  const bool speaks_tls_and_auth = s.protocol == "line" || s.protocol == "resp";
  if (s.tls && !speaks_tls_and_auth) {
    return usage_error("--tls (and --cacert, --cert) works with --protocol line and resp only");
  }
  if (!s.password_file.empty() && !speaks_tls_and_auth) {
    return usage_error("--password-file works with --protocol line and resp only");
  }
  if (s.tls) s.load.setup.tls = s.tls_files;
  if (s.io == "io_uring" && s.tls) {
    return usage_error("--io io_uring is for plain TCP: TLS runs on epoll");
  }
  s.load.io = s.io == "io_uring" ? count::LoadIo::kIoUring
              : s.io == "epoll"  ? count::LoadIo::kEpoll
                                 : count::LoadIo::kAuto;
  if (!s.password_file.empty()) {
    try {
      s.load.setup.password = count::read_password_file(s.password_file);
    } catch (const count::PasswordFileError& e) {
      fmt::print(stderr, "count-bench: {}\n", e.what());
      return kExitUsage;
    }
  }

  std::string error;
  const std::optional<count::CommandMix> mix = count::CommandMix::parse(s.ratio, error);
  if (!mix) {
    fmt::print(stderr, "count-bench: bad --ratio '{}': {}\n", s.ratio, error);
    return kExitUsage;
  }
  if (s.duration_s > 0) {
    s.load.duration = count::Seconds(s.duration_s);
    s.load.warmup = count::Seconds(s.warmup_s);
  } else if (s.load.requests == 0) {
    s.load.requests = kDefaultRequests;
  }
  s.load.reply_timeout = std::chrono::milliseconds(static_cast<long>(s.timeout_s * 1000));

  if (s.etcd()) {
    if (ports->count() > 0) {
      return usage_error("--protocol etcd takes no -p: each etcd URL in -h carries its port");
    }
    if (threads->count() > 0) {
      return usage_error("--protocol etcd takes no -t: each connection has a thread of its own");
    }
    if (io->count() > 0) {
      return usage_error("--protocol etcd takes no --io: each connection is a gRPC client");
    }
    if (s.load.pipeline != 1) {
      return usage_error(
          "--protocol etcd takes no -P: each connection is one synchronous client with one "
          "request in flight");
    }
    if (key->count() == 0) s.key = count::EtcdStoreOptions{}.key;
    s.etcd_endpoints = count::split_commas(s.hosts);
    if (s.etcd_endpoints.empty()) s.etcd_endpoints.emplace_back(kDefaultEtcdEndpoint);
    try {
      count::etcd_grpc_target(fmt::format("{}", fmt::join(s.etcd_endpoints, ",")));
    } catch (const count::EtcdConfigError& e) {
      return usage_error(e.what());
    }
    if (s.key.empty()) return usage_error("--key: the etcd key must not be empty");
    s.load.threads = s.load.connections;
    return run_etcd(s, *mix);
  }

  std::optional<std::vector<count::ServerAddress>> servers =
      count::parse_server_list(s.hosts, s.ports, error);
  if (!servers) return usage_error(error);
  s.load.servers = std::move(*servers);
  if (key->count() == 0 && s.protocol == "resp") s.key = "count";  // count-server's default
  const std::optional<count::Codec> codec =
      count::Codec::make(*count::protocol_from_name(s.protocol), s.key, s.add_value, *mix, error);
  if (!codec) {
    fmt::print(stderr, "count-bench: {}\n", error);
    return kExitUsage;
  }
  s.load.threads = std::min(s.load.threads, s.load.connections);
  return run_servers(s, *mix, *codec);
}
