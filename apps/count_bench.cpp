// count-bench: load generator for count-server, and for redis-server and memcached so that
// the three can be compared with one tool. Parses flags and prints results; the work is in
// src/loadgen/. Exit status: 0 when every reply and the counter check are right, 1 when a
// check failed, 2 for a bad command line or a server that cannot be reached.
#include <fmt/core.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <optional>
#include <string>

#include "loadgen/codec.hpp"
#include "loadgen/command_mix.hpp"
#include "loadgen/counter_check.hpp"
#include "loadgen/load_generator.hpp"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitCheckFailed = 1;
constexpr int kExitUsage = 2;  // also: the server cannot be reached
constexpr std::uint64_t kDefaultRequests = 100000;

struct Settings {
  count::LoadOptions load;
  std::string protocol = "line";
  std::string ratio = "incr";
  std::string key = "count-bench";
  std::int64_t add_value = 1;
  double duration_s = 0;
  double warmup_s = 1;
  double timeout_s = 10;
  bool json = false;
  bool check_counter = true;
};

// The outcome of the counter check: not run, impossible (a read failed), or compared.
struct CounterOutcome {
  bool wanted = false;
  std::optional<std::int64_t> before;
  std::optional<std::int64_t> after;
  std::optional<count::CounterCheck> check;
  std::string problem;  // why there is no check
  bool passed() const { return !wanted || (check && check->ok); }
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

void print_json(const Settings& s, const count::CommandMix& mix, const count::LoadResult& r,
                const CounterOutcome& counter, bool ok) {
  const count::Histogram& h = r.latency_ns;
  std::string counter_json = "null";
  if (counter.wanted) {
    counter_json = fmt::format(
        "{{\"passed\":{},\"before\":{},\"after\":{},\"expected_delta\":{},\"actual_delta\":{},"
        "\"message\":{}}}",
        counter.passed(), json_optional(counter.before), json_optional(counter.after),
        counter.check ? json_optional(counter.check->expected_delta) : "null",
        counter.check ? json_optional(counter.check->actual_delta) : "null",
        json_string(counter.check ? counter.check->message : counter.problem));
  }
  fmt::print(
      "{{\"protocol\":{},\"host\":{},\"port\":{},\"connections\":{},\"threads\":{},"
      "\"pipeline\":{},\"mix\":{},\"add_value\":{},\"mode\":{},\"warmup_seconds\":{},"
      "\"seconds\":{:.6f},\"sent\":{},\"measured\":{},\"throughput_rps\":{:.1f},"
      "\"latency_us\":{{\"p50\":{:.3f},\"p99\":{:.3f},\"p999\":{:.3f},\"max\":{:.3f},"
      "\"mean\":{:.3f}}},\"good\":{},\"error_replies\":{},\"unexpected\":{},"
      "\"lost_in_flight\":{},\"lost_mutations\":{},\"broken_connections\":{},\"timed_out\":{},"
      "\"acknowledged\":{{\"incr\":{},\"decr\":{},\"add\":{}}},\"counter_check\":{},"
      "\"problem\":{},\"ok\":{}}}\n",
      json_string(s.protocol), json_string(s.load.host), s.load.port, s.load.connections,
      s.load.threads, s.load.pipeline, json_string(mix.text()), s.add_value,
      json_string(s.load.requests > 0 ? "requests" : "duration"),
      s.load.requests > 0 ? 0.0 : s.warmup_s, r.window.count(), r.sent, r.measured, r.throughput(),
      micros(h.value_at_quantile(0.50)), micros(h.value_at_quantile(0.99)),
      micros(h.value_at_quantile(0.999)), micros(h.max()), h.mean() / 1000.0, r.good,
      r.error_replies, r.unexpected, r.lost_in_flight, r.lost_mutations, r.broken_connections,
      r.timed_out, r.acked.incr, r.acked.decr, r.acked.add, counter_json,
      r.first_problem.empty() ? std::string("null") : json_string(r.first_problem), ok);
}

void print_table(const Settings& s, const count::CommandMix& mix, const count::LoadResult& r,
                 const CounterOutcome& counter) {
  const count::Histogram& h = r.latency_ns;
  fmt::print("count-bench: {} protocol, {}:{}\n", s.protocol, s.load.host, s.load.port);
  fmt::print("  {} connection{} on {} thread{}, pipeline {}, mix {}{}\n", s.load.connections,
             s.load.connections == 1 ? "" : "s", s.load.threads, s.load.threads == 1 ? "" : "s",
             s.load.pipeline, mix.text(),
             mix.uses(count::Op::kAdd) ? fmt::format(", add {}", s.add_value) : "");
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
  fmt::print(
      "  {:<12} {} good, {} error, {} unexpected, {} lost in flight, {} broken connection{}\n",
      "replies", r.good, r.error_replies, r.unexpected, r.lost_in_flight, r.broken_connections,
      r.broken_connections == 1 ? "" : "s");
  if (!counter.wanted) {
    fmt::print("  {:<12} not checked (--no-counter-check)\n", "counter");
  } else if (counter.check) {
    fmt::print("  {:<12} {}\n", "counter", counter.check->message);
  } else {
    fmt::print("  {:<12} NOT CHECKED: {}\n", "counter", counter.problem);
  }
}

}  // namespace

int main(int argc, char** argv) {
  // A server that closes the connection must show up as an error, not kill the process.
  std::signal(SIGPIPE, SIG_IGN);

  Settings s;
  CLI::App app{"count-bench: load generator for count-server (and redis-server, memcached).",
               "count-bench"};
  app.set_help_flag("--help", "Print this help and exit");
  app.add_option("-h,--host", s.load.host, "Server host")->capture_default_str();
  app.add_option("-p,--port", s.load.port, "Server port")->capture_default_str();
  app.add_option("-c,--connections", s.load.connections, "Connections")
      ->check(CLI::Range(1U, 100000U))
      ->capture_default_str();
  app.add_option("-t,--threads", s.load.threads, "Threads, each its own event loop")
      ->check(CLI::Range(1U, 256U))
      ->capture_default_str();
  app.add_option("-P,--pipeline", s.load.pipeline, "Requests in flight per connection")
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
                 "Wire protocol: line (count-server), resp (Redis), "
                 "memcache (memcached)")
      ->check(CLI::IsMember({"line", "resp", "memcache"}))
      ->capture_default_str();
  app.add_option("--key", s.key, "The key holding the counter (resp, memcache)")
      ->capture_default_str();
  app.add_option("--timeout", s.timeout_s, "Seconds without any reply before giving up")
      ->check(CLI::Range(0.01, 3600.0))
      ->capture_default_str();
  app.add_flag("--json", s.json, "Print one JSON object instead of the table");
  app.add_flag("!--no-counter-check", s.check_counter,
               "Do not read the counter before and after the run (for servers without one)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    fmt::print(stderr, "count-bench: {} (see --help)\n", e.what());
    return kExitUsage;
  }

  std::string error;
  const std::optional<count::CommandMix> mix = count::CommandMix::parse(s.ratio, error);
  if (!mix) {
    fmt::print(stderr, "count-bench: bad --ratio '{}': {}\n", s.ratio, error);
    return kExitUsage;
  }
  const std::optional<count::Codec> codec =
      count::Codec::make(*count::protocol_from_name(s.protocol), s.key, s.add_value, *mix, error);
  if (!codec) {
    fmt::print(stderr, "count-bench: {}\n", error);
    return kExitUsage;
  }
  if (s.duration_s > 0) {
    s.load.duration = count::Seconds(s.duration_s);
    s.load.warmup = count::Seconds(s.warmup_s);
  } else if (s.load.requests == 0) {
    s.load.requests = kDefaultRequests;
  }
  s.load.threads = std::min(s.load.threads, s.load.connections);
  s.load.reply_timeout = std::chrono::milliseconds(static_cast<long>(s.timeout_s * 1000));

  const auto probe_timeout = s.load.reply_timeout;
  CounterOutcome counter;
  counter.wanted = s.check_counter;
  count::LoadResult result;
  try {
    if (counter.wanted) {
      try {
        count::prepare_counter(s.load.host, s.load.port, *codec, probe_timeout);
        counter.before = count::read_counter(s.load.host, s.load.port, *codec, probe_timeout);
      } catch (const count::ProbeError& e) {
        counter.problem = e.what();
      }
    }

    const bool progress = ::isatty(STDERR_FILENO) == 1;
    std::uint64_t last_replies = 0;
    count::Seconds last_elapsed{0};
    count::LoadGenerator generator(s.load, *codec, *mix);
    result = generator.run([&](const count::Progress& p) {
      if (!progress) return;
      const double span = (p.elapsed - last_elapsed).count();
      const double rate = span > 0 ? static_cast<double>(p.replies - last_replies) / span : 0.0;
      fmt::print(stderr, "\r\033[K  {:6.1f} s  {}{} replies  {:.0f} requests/s", p.elapsed.count(),
                 p.warming_up ? "(warm-up) " : "", p.replies, rate);
      last_replies = p.replies;
      last_elapsed = p.elapsed;
    });
    if (progress) fmt::print(stderr, "\r\033[K");

    if (counter.before) {
      try {
        counter.after = count::read_counter(s.load.host, s.load.port, *codec, probe_timeout);
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
  } catch (const count::ConnectError& e) {
    fmt::print(stderr, "count-bench: {}\n", e.what());
    return kExitUsage;
  }

  const bool ok = result.clean() && counter.passed();
  if (s.json) {
    print_json(s, *mix, result, counter, ok);
  } else {
    print_table(s, *mix, result, counter);
  }
  if (!result.first_problem.empty()) {
    fmt::print(
        stderr,
        "count-bench: FAILED: {} error reply(s), {} unexpected, {} lost in flight; first: {}\n",
        result.error_replies, result.unexpected, result.lost_in_flight, result.first_problem);
  }
  if (counter.wanted && !counter.passed()) {
    fmt::print(stderr, "count-bench: FAILED: {}\n",
               counter.check ? counter.check->message : "counter not checked: " + counter.problem);
  }
  return ok ? kExitOk : kExitCheckFailed;
}
