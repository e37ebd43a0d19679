// The etcd client against a real three-member etcd cluster: reads, the conditional
// transaction and its record key, the start check, a member killed, quorum lost and back.
// Each test has its own cluster; every loop is bounded in calls and in time.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/etcd_client.hpp"
#include "support/etcd_cluster.hpp"

namespace count {
namespace {

using namespace std::chrono_literals;
using test::EtcdCluster;
using Clock = std::chrono::steady_clock;

constexpr const char* kKey = "count/value";
constexpr const char* kRecordKey = "count/record/front-end-1";
// How much later than its deadline a call may return: a busy machine, a sanitizer build.
constexpr auto kDeadlineSlack = 1500ms;

std::chrono::milliseconds since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
}

const char* name(CommitStatus status) {
  switch (status) {
    case CommitStatus::kCommitted:
      return "committed";
    case CommitStatus::kConflict:
      return "conflict";
    case CommitStatus::kFailedNotSent:
      return "failed, not sent";
    case CommitStatus::kUnknown:
      return "unknown";
  }
  return "?";
}

// Adds 1 to the counter the way a single-key client does (earlier versions of the etcd
// store): read both keys, commit at the value key's revision with a record naming this
// attempt, and after an unknown outcome read the record to learn whether it landed. Gives
// up after `max_calls` calls or `within`.
struct Increment {
  bool done = false;
  int calls = 0;
  std::vector<std::string> failures;  // what each failed call said
};

Increment increment(EtcdClient& client, const std::string& tag, int max_calls = 20,
                    std::chrono::milliseconds within = 20s) {
  Increment result;
  const auto deadline = Clock::now() + within;
  std::optional<EtcdRead> known;  // the state the next commit builds on; empty: read first
  while (result.calls < max_calls && Clock::now() < deadline) {
    if (!known) {
      ++result.calls;
      EtcdRead read = client.read(kKey, kRecordKey);
      if (!read.ok()) {
        result.failures.push_back("read: " + read.error);
        continue;
      }
      if (read.record.exists && read.record.value == tag) {  // an unknown commit landed
        result.done = true;
        return result;
      }
      known = std::move(read);
    }
    const std::int64_t value = known->key.exists ? *decode_counter(known->key.value) : 0;
    ++result.calls;
    const EtcdCommit commit =
        client.commit(kKey, known->key.mod_revision, encode_counter(value + 1), kRecordKey, tag);
    switch (commit.status) {
      case CommitStatus::kCommitted:
        result.done = true;
        return result;
      case CommitStatus::kConflict:
        known->key = commit.key;
        known->record = commit.record;
        if (known->record.exists && known->record.value == tag) {
          result.done = true;
          return result;
        }
        break;
      case CommitStatus::kFailedNotSent:
      case CommitStatus::kUnknown:
        result.failures.push_back(std::string("commit ") + name(commit.status) + ": " +
                                  commit.error);
        known.reset();
        break;
    }
  }
  return result;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string all;
  for (const std::string& line : lines) all += "\n  " + line;
  return all;
}

// The counter as a linearizable read sees it; fails the test when the read fails.
std::int64_t counter_value(EtcdClient& client) {
  const EtcdRead read = client.read(kKey, kRecordKey);
  EXPECT_TRUE(read.ok()) << read.error;
  if (!read.ok() || !read.key.exists) return 0;
  const std::optional<std::int64_t> value = decode_counter(read.key.value);
  EXPECT_TRUE(value.has_value()) << read.key.value;
  return value.value_or(0);
}

TEST(EtcdClient, ReadOfMissingKeysSaysNeitherExists) {
  EtcdCluster cluster;
  EtcdClient client({.endpoints = cluster.endpoints(), .timeout = 5s});
  const EtcdRead read = client.read(kKey, kRecordKey);
  ASSERT_TRUE(read.ok()) << read.error;
  EXPECT_FALSE(read.key.exists);
  EXPECT_EQ(read.key.mod_revision, 0);
  EXPECT_FALSE(read.record.exists);
  EXPECT_GE(read.revision, 1);
}

TEST(EtcdClient, CommitAtRevisionZeroCreatesTheKeyAndItsRecordAtOneRevision) {
  EtcdCluster cluster;
  EtcdClient client({.endpoints = cluster.endpoints(), .timeout = 5s});
  const EtcdCommit commit = client.commit(kKey, 0, "5", kRecordKey, "attempt-1");
  ASSERT_EQ(commit.status, CommitStatus::kCommitted) << commit.error;
  EXPECT_GT(commit.revision, 1);

  const EtcdRead read = client.read(kKey, kRecordKey);
  ASSERT_TRUE(read.ok()) << read.error;
  EXPECT_TRUE(read.key.exists);
  EXPECT_EQ(read.key.value, "5");
  EXPECT_EQ(read.key.mod_revision, commit.revision);
  EXPECT_TRUE(read.record.exists);
  EXPECT_EQ(read.record.value, "attempt-1");
  EXPECT_EQ(read.record.mod_revision, commit.revision);
  EXPECT_EQ(read.revision, commit.revision);
}

TEST(EtcdClient, CommitWithAStaleRevisionConflictsAndShowsWhatIsStored) {
  EtcdCluster cluster;
  EtcdClient client({.endpoints = cluster.endpoints(), .timeout = 5s});
  const EtcdCommit first = client.commit(kKey, 0, "1", kRecordKey, "a");
  ASSERT_EQ(first.status, CommitStatus::kCommitted) << first.error;
  const EtcdCommit second = client.commit(kKey, first.revision, "2", kRecordKey, "b");
  ASSERT_EQ(second.status, CommitStatus::kCommitted) << second.error;
  EXPECT_GT(second.revision, first.revision);

  const EtcdCommit stale = client.commit(kKey, first.revision, "3", kRecordKey, "c");
  ASSERT_EQ(stale.status, CommitStatus::kConflict) << stale.error;
  EXPECT_EQ(stale.revision, second.revision);  // nothing was written
  EXPECT_TRUE(stale.key.exists);
  EXPECT_EQ(stale.key.value, "2");
  EXPECT_EQ(stale.key.mod_revision, second.revision);
  EXPECT_TRUE(stale.record.exists);
  EXPECT_EQ(stale.record.value, "b");
  EXPECT_EQ(stale.record.mod_revision, second.revision);

  // Revision 0 means "must not exist": refused now that it does.
  const EtcdCommit create = client.commit(kKey, 0, "9", kRecordKey, "d");
  ASSERT_EQ(create.status, CommitStatus::kConflict) << create.error;
  EXPECT_EQ(create.key.value, "2");

  // And a revision for a key that does not exist conflicts too, showing it missing.
  const EtcdCommit missing = client.commit("count/other", 7, "1", "count/other-record", "e");
  ASSERT_EQ(missing.status, CommitStatus::kConflict) << missing.error;
  EXPECT_FALSE(missing.key.exists);
  EXPECT_FALSE(missing.record.exists);

  EXPECT_EQ(counter_value(client), 2);
}

TEST(EtcdClient, CommitRefusesAnEmptyOrRepeatedKeyWithoutSendingIt) {
  EtcdCluster cluster;
  EtcdClient client({.endpoints = cluster.endpoints(), .timeout = 5s});
  EXPECT_EQ(client.commit(kKey, 0, "1", kKey, "a").status, CommitStatus::kFailedNotSent);
  EXPECT_EQ(client.commit("", 0, "1", kRecordKey, "a").status, CommitStatus::kFailedNotSent);
  const EtcdRead read = client.read(kKey, kKey);
  ASSERT_TRUE(read.ok()) << read.error;
  EXPECT_FALSE(read.key.exists);
}

TEST(EtcdClient, CheckKeyTellsMissingFromOursFromNotOurs) {
  EtcdCluster cluster;
  EtcdClient client({.endpoints = cluster.endpoints(), .timeout = 5s});
  const EtcdKeyCheck missing = client.check_key(kKey);
  EXPECT_EQ(missing.state, EtcdKeyState::kMissing) << missing.error;

  const EtcdCommit ours = client.commit(kKey, 0, encode_counter(-12), kRecordKey, "a");
  ASSERT_EQ(ours.status, CommitStatus::kCommitted) << ours.error;
  const EtcdKeyCheck counter = client.check_key(kKey);
  EXPECT_EQ(counter.state, EtcdKeyState::kCounter) << counter.error;
  EXPECT_EQ(counter.value, -12);
  EXPECT_EQ(counter.mod_revision, ours.revision);

  const EtcdCommit foreign = client.commit("config/name", 0, "hello\n", "config/record", "a");
  ASSERT_EQ(foreign.status, CommitStatus::kCommitted) << foreign.error;
  const EtcdKeyCheck not_ours = client.check_key("config/name");
  EXPECT_EQ(not_ours.state, EtcdKeyState::kNotOurs);
  EXPECT_EQ(not_ours.error,
            "etcd key \"config/name\" holds \"hello\\x0a\" (6 bytes), which is not a counter "
            "value (the decimal text of a signed 64-bit integer): it is left untouched");
}

TEST(EtcdFailover, KillingTheLeaderLeavesTheNextCallsWorking) {
  EtcdCluster cluster;
  EtcdClient client({.endpoints = cluster.endpoints(), .timeout = 2s});
  for (int i = 0; i < 3; ++i) {
    const Increment before = increment(client, "before-" + std::to_string(i), 2);
    ASSERT_TRUE(before.done) << joined(before.failures);
  }
  const std::optional<int> leader = cluster.leader(5s);
  ASSERT_TRUE(leader.has_value()) << cluster.logs();
  cluster.kill(*leader);

  // The client was connected to every member, the leader among them; a new leader takes
  // about one election timeout, and the calls meanwhile wait for it or fail.
  const auto killed = Clock::now();
  for (int i = 0; i < 5; ++i) {
    const Increment after = increment(client, "after-" + std::to_string(i), 10, 15s);
    ASSERT_TRUE(after.done) << "increment " << i << " after the kill failed " << after.calls
                            << " times:" << joined(after.failures) << "\n"
                            << cluster.logs();
  }
  EXPECT_LT(since(killed), 15s);
  EXPECT_EQ(counter_value(client), 8);
  const std::optional<int> new_leader = cluster.leader(5s);
  ASSERT_TRUE(new_leader.has_value());
  EXPECT_NE(*new_leader, *leader);
}

TEST(EtcdFailover, KillingAFollowerLeavesTheNextCallsWorking) {
  EtcdCluster cluster;
  EtcdClient client({.endpoints = cluster.endpoints(), .timeout = 2s});
  const Increment before = increment(client, "before", 2);
  ASSERT_TRUE(before.done) << joined(before.failures);
  const std::optional<int> leader = cluster.leader(5s);
  ASSERT_TRUE(leader.has_value()) << cluster.logs();
  const int follower = (*leader + 1) % EtcdCluster::kMembers;
  cluster.kill(follower);

  // No election: at most the call that meets the broken connection fails.
  for (int i = 0; i < 5; ++i) {
    const Increment after = increment(client, "after-" + std::to_string(i), 3, 10s);
    ASSERT_TRUE(after.done) << "increment " << i << ":" << joined(after.failures);
  }
  EXPECT_EQ(counter_value(client), 6);

  // A new client whose first endpoint is the dead member goes to the others at once.
  std::string dead_first = cluster.endpoint(follower);
  for (int member = 0; member < EtcdCluster::kMembers; ++member) {
    if (member != follower) dead_first.append(",").append(cluster.endpoint(member));
  }
  EtcdClient fresh({.endpoints = dead_first, .timeout = 2s});
  EXPECT_EQ(counter_value(fresh), 6);
}

TEST(EtcdFailover, QuorumLossFailsCallsWithinTheDeadlineAndTheSameClientRecovers) {
  EtcdCluster cluster;
  constexpr auto kTimeout = 1s;
  EtcdClient client({.endpoints = cluster.endpoints(), .timeout = kTimeout});
  const Increment before = increment(client, "before", 2);
  ASSERT_TRUE(before.done) << joined(before.failures);
  const EtcdRead known = client.read(kKey, kRecordKey);
  ASSERT_TRUE(known.ok()) << known.error;

  // Two followers go: the leader is left alone, so a transaction it takes now may sit in
  // its log and still be committed once the others are back.
  const std::optional<int> leader = cluster.leader(5s);
  ASSERT_TRUE(leader.has_value()) << cluster.logs();
  for (int member = 0; member < EtcdCluster::kMembers; ++member) {
    if (member != *leader) cluster.stop(member);
  }

  auto start = Clock::now();
  const EtcdRead read = client.read(kKey, kRecordKey);
  EXPECT_FALSE(read.ok());
  EXPECT_LT(since(start), kTimeout + kDeadlineSlack);

  start = Clock::now();
  const EtcdCommit commit = client.commit(kKey, known.key.mod_revision, "2", kRecordKey, "lost");
  EXPECT_TRUE(commit.status == CommitStatus::kUnknown ||
              commit.status == CommitStatus::kFailedNotSent)
      << name(commit.status);
  EXPECT_LT(since(start), kTimeout + kDeadlineSlack);

  start = Clock::now();
  const EtcdKeyCheck check = client.check_key(kKey);
  EXPECT_EQ(check.state, EtcdKeyState::kUnreachable);
  EXPECT_NE(check.error.find("did not answer"), std::string::npos) << check.error;
  EXPECT_LT(since(start), kTimeout + kDeadlineSlack);

  for (int member = 0; member < EtcdCluster::kMembers; ++member) {
    if (member != *leader) cluster.start(member);
  }
  ASSERT_TRUE(cluster.wait_until_serving(20s)) << cluster.logs();

  // The same client: its reconnect backoff is short, so the members that came back serve it.
  std::optional<EtcdRead> after;
  for (int i = 0; i < 20 && !after; ++i) {
    EtcdRead attempt = client.read(kKey, kRecordKey);
    if (attempt.ok()) after = std::move(attempt);
  }
  ASSERT_TRUE(after.has_value());
  // The unanswered transaction either landed whole or not at all.
  const bool landed = after->record.value == "lost";
  EXPECT_EQ(after->key.value, landed ? "2" : "1");

  const Increment recovered = increment(client, "recovered", 10, 15s);
  ASSERT_TRUE(recovered.done) << joined(recovered.failures);
  EXPECT_EQ(counter_value(client), landed ? 3 : 2);
}

TEST(EtcdFailover, CommitWithNoMemberReachableIsNotSentAndChangesNothing) {
  EtcdCluster cluster;
  constexpr auto kTimeout = 1s;
  EtcdClient client({.endpoints = cluster.endpoints(), .timeout = kTimeout});
  const EtcdCommit first = client.commit(kKey, 0, "1", kRecordKey, "a");
  ASSERT_EQ(first.status, CommitStatus::kCommitted) << first.error;

  for (int member = 0; member < EtcdCluster::kMembers; ++member) cluster.kill(member);
  // The read meets the broken connections, tries again, and waits out its deadline for a
  // member; by then the client has seen every connection go.
  const EtcdRead read = client.read(kKey, kRecordKey);
  EXPECT_FALSE(read.ok());
  EXPECT_NE(read.error.find("DEADLINE_EXCEEDED"), std::string::npos) << read.error;

  const auto start = Clock::now();
  const EtcdCommit commit = client.commit(kKey, first.revision, "2", kRecordKey, "b");
  EXPECT_EQ(commit.status, CommitStatus::kFailedNotSent)
      << name(commit.status) << ": " << commit.error;
  EXPECT_LT(since(start), kTimeout + kDeadlineSlack);

  for (int member = 0; member < EtcdCluster::kMembers; ++member) cluster.start(member);
  ASSERT_TRUE(cluster.wait_until_serving(20s)) << cluster.logs();
  std::optional<EtcdRead> after;
  for (int i = 0; i < 20 && !after; ++i) {
    EtcdRead attempt = client.read(kKey, kRecordKey);
    if (attempt.ok()) after = std::move(attempt);
  }
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->key.value, "1");
  EXPECT_EQ(after->record.value, "a");
  EXPECT_EQ(after->key.mod_revision, first.revision);

  const EtcdCommit again = client.commit(kKey, first.revision, "2", kRecordKey, "b");
  EXPECT_EQ(again.status, CommitStatus::kCommitted) << again.error;
}

}  // namespace
}  // namespace count
