#include "support/front_end_load.hpp"

#include <climits>
#include <thread>

namespace count::test {

using Clock = std::chrono::steady_clock;

FrontEndLoad::FrontEndLoad(History& history, int front_ends, Connect connect, int clients,
                           std::size_t pipeline)
    : history_(history),
      front_ends_(front_ends),
      connect_(std::move(connect)),
      clients_(clients),
      pipeline_(pipeline),
      availability_(static_cast<std::size_t>(front_ends)) {}

Tally FrontEndLoad::run(std::chrono::milliseconds length, const std::function<void()>& fault,
                        const std::function<void()>& heal) {
  std::vector<Tally> tallies(static_cast<std::size_t>(clients_));
  const auto end = Clock::now() + length;
  std::vector<std::thread> clients;
  for (int c = 0; c < clients_; ++c) {
    clients.emplace_back([&, c] { client_loop(c, end, tallies[static_cast<std::size_t>(c)]); });
  }
  std::this_thread::sleep_for(length / 3);
  {
    const std::lock_guard lock(mutex_);
    fault_at_ = Clock::now();
  }
  fault();
  std::this_thread::sleep_for(length / 3);
  heal();
  {
    const std::lock_guard lock(mutex_);
    heal_at_ = Clock::now();
  }
  for (std::thread& client : clients) client.join();
  Tally all;
  for (const Tally& one : tallies) {
    all.acknowledged += one.acknowledged;
    all.refused += one.refused;
    all.unknown += one.unknown;
    all.ok_after_heal += one.ok_after_heal;
    all.err_replies += one.err_replies;
    if (all.problem.empty()) all.problem = one.problem;
  }
  return all;
}

void FrontEndLoad::saw(int front_end, bool ok, Clock::time_point sent) {
  const std::lock_guard lock(mutex_);
  Availability& seen = availability_[static_cast<std::size_t>(front_end)];
  const auto since = [](Clock::time_point from) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - from);
  };
  if (!ok && fault_at_ && !heal_at_ && !seen.first_err) seen.first_err = since(*fault_at_);
  if (ok && heal_at_ && sent >= *heal_at_ && !seen.first_ok_after_heal) {
    seen.first_ok_after_heal = since(*heal_at_);
  }
}

void FrontEndLoad::client_loop(int index, Clock::time_point end, Tally& tally) {
  int front_end = index % front_ends_;
  std::int64_t last_seen = INT64_MIN;
  std::uint64_t step = static_cast<std::uint64_t>(index) * 7;
  for (int batch = 0; batch < 100'000 && Clock::now() < end; ++batch) {
    std::optional<Client> client;
    for (int tries = 0; tries < front_ends_ * 2 && !client; ++tries) {
      client = connect_(front_end);
      if (!client) front_end = (front_end + 1) % front_ends_;
    }
    if (!client) {
      tally.problem = "no front end accepts connections";
      return;
    }
    // Batches on this connection until the end or until it breaks.
    while (Clock::now() < end) {
      // incr only: one mutation size keeps the linearizability check exact.
      std::string requests;
      std::vector<std::int64_t> deltas;
      std::vector<History::OpId> ops;
      for (std::size_t i = 0; i < pipeline_; ++i) {
        const bool get = ++step % 11 == 0;
        deltas.push_back(get ? 0 : 1);
        requests += get ? "get\n" : "incr\n";
      }
      for (const std::int64_t delta : deltas) {
        ops.push_back(delta == 0 ? history_.begin_get() : history_.begin_add(delta));
      }
      const Clock::time_point sent = Clock::now();
      bool after_heal = false;
      {
        const std::lock_guard lock(mutex_);
        after_heal = heal_at_.has_value() && sent >= *heal_at_;
      }
      std::size_t answered = 0;
      try {
        client->send(requests);
        for (; answered < deltas.size(); ++answered) {
          const auto reply = client->read_line();
          if (!reply) break;
          const std::int64_t delta = deltas[answered];
          const History::OpId op = ops[answered];
          if (delta == 0 && reply->starts_with("val ")) {
            const std::int64_t seen = std::stoll(reply->substr(4));
            history_.end_get(op, seen);
            if (seen < last_seen && tally.problem.empty()) tally.problem = "a get went backwards";
            last_seen = seen;
            saw(front_end, true, sent);
          } else if (delta == 0 && *reply == "err") {
            history_.abandon(op);
            ++tally.err_replies;
            saw(front_end, false, sent);
          } else if (delta != 0 && *reply == "ok") {
            history_.end_add(op, Outcome::kOk);
            tally.acknowledged += delta;
            if (after_heal) tally.ok_after_heal += delta;
            saw(front_end, true, sent);
          } else if (delta != 0 && *reply == "err") {
            history_.end_add(op, Outcome::kErr);
            tally.refused += delta;
            ++tally.err_replies;
            saw(front_end, false, sent);
          } else if (tally.problem.empty()) {
            tally.problem = "unexpected reply '" + *reply + "'";
          }
        }
      } catch (const ClientError&) {
      }
      if (answered < deltas.size()) {
        for (std::size_t i = answered; i < deltas.size(); ++i) {
          history_.abandon(ops[i]);
          tally.unknown += deltas[i];
        }
        front_end = (front_end + 1) % front_ends_;
        break;  // the connection broke: on to another front end
      }
    }
  }
}

}  // namespace count::test
