#include "support/front_end_load.hpp"

#include <gtest/gtest.h>

#include <climits>
#include <thread>

namespace count::test {

using Clock = std::chrono::steady_clock;

void expect_linearizable(History& history, std::int64_t final_value, std::size_t min_operations) {
  history.set_final_value(final_value);
  const CheckResult result = check_linearizable(history);
  EXPECT_EQ(result.verdict, Verdict::kLinearizable) << result.explanation;
  EXPECT_GT(history.operations().size(), min_operations);
}

void expect_exact(const Tally& tally, History& history, std::int64_t final_value,
                  std::size_t min_operations) {
  EXPECT_EQ(tally.problem, "");
  EXPECT_EQ(tally.unknown, 0) << "a front end left a client without a reply";
  EXPECT_EQ(final_value, tally.acknowledged) << "refused: " << tally.refused;
  EXPECT_GT(tally.ok_after_heal, 0) << "no progress after the fault";
  expect_linearizable(history, final_value, min_operations);
}

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
  stop_ = false;
  std::vector<Tally> probe_tallies(static_cast<std::size_t>(front_ends_));
  std::vector<std::thread> clients;
  for (int c = 0; c < clients_; ++c) {
    clients.emplace_back([&, c] { client_loop(c, tallies[static_cast<std::size_t>(c)]); });
  }
  for (int f = 0; f < front_ends_; ++f) {
    clients.emplace_back([&, f] { probe_loop(f, probe_tallies[static_cast<std::size_t>(f)]); });
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
  std::this_thread::sleep_for(length / 3);
  stop_ = true;
  for (std::thread& client : clients) client.join();
  Tally all;
  tallies.insert(tallies.end(), probe_tallies.begin(), probe_tallies.end());
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
  if (!ok && fault_at_ && sent >= *fault_at_ && !heal_at_ && !seen.first_err) {
    seen.first_err = since(*fault_at_);
  }
  if (ok && heal_at_ && sent >= *heal_at_ && !seen.first_ok_after_heal) {
    seen.first_ok_after_heal = since(*heal_at_);
  }
}

void FrontEndLoad::probe_loop(int front_end, Tally& tally) {
  std::optional<Client> client;
  for (int probe = 0; probe < 100'000 && !stop_; ++probe) {
    if (!client) {
      client = connect_(front_end);
      // A probe that waits longer than the tests' --etcd-timeout is in a transaction whose
      // outcome is unknown (it waits until that is known): it goes, and a new probe on a new
      // connection asks again.
      if (client) client->set_receive_timeout(std::chrono::seconds(2));
    }
    if (!client) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    const History::OpId op = history_.begin_get();
    const Clock::time_point sent = Clock::now();
    std::optional<std::string> reply;
    try {
      client->send_line("get");
      reply = client->read_line();
    } catch (const ClientError&) {
    }
    if (reply && reply->starts_with("val ")) {
      history_.end_get(op, std::stoll(reply->substr(4)));
      saw(front_end, true, sent);
    } else if (reply && *reply == "err") {
      history_.abandon(op);
      ++tally.err_replies;
      saw(front_end, false, sent);
    } else {
      history_.abandon(op);
      if (reply && tally.problem.empty()) tally.problem = "unexpected reply '" + *reply + "'";
      client.reset();  // broken, or no reply in time: a new connection
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void FrontEndLoad::client_loop(int index, Tally& tally) {
  int front_end = index % front_ends_;
  std::int64_t last_seen = INT64_MIN;
  std::uint64_t step = static_cast<std::uint64_t>(index) * 7;
  for (int batch = 0; batch < 100'000 && !stop_; ++batch) {
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
    for (int round = 0; round < 1'000'000 && !stop_; ++round) {
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
          } else if (delta == 0 && *reply == "err") {
            history_.abandon(op);
            ++tally.err_replies;
          } else if (delta != 0 && *reply == "ok") {
            history_.end_add(op, Outcome::kOk);
            tally.acknowledged += delta;
            if (after_heal) tally.ok_after_heal += delta;
          } else if (delta != 0 && *reply == "err") {
            history_.end_add(op, Outcome::kErr);
            tally.refused += delta;
            ++tally.err_replies;
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
