// The etcd store's connection to an etcd 3.4 cluster: blocking reads and transactions over
// one gRPC channel to every listed member, each call bounded by its deadline. It knows keys,
// bytes and revisions, not the counter's rules, and it never resends a transaction itself.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace count {

// An endpoint list that cannot be used; what() names the endpoint and what is wrong with it.
class EtcdConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The gRPC target for a comma-separated list of etcd client URLs, e.g.
// "http://127.0.0.1:2379,http://127.0.0.1:22379" -> "ipv4:127.0.0.1:2379,127.0.0.1:22379".
// Each URL is http://HOST:PORT (the scheme may be left out, one trailing '/' is allowed):
// HOST an IPv4 address, "localhost" (taken as 127.0.0.1) or a bracketed IPv6 address, all
// of one family; no TLS. Throws EtcdConfigError.
std::string etcd_grpc_target(std::string_view endpoints);

// The value key's bytes for a counter value: its decimal text, "-" and digits only ("-42").
std::string encode_counter(std::int64_t value);
// The value back; nullopt for any other bytes ("+1", "007", "-0", " 1", past int64): not ours.
std::optional<std::int64_t> decode_counter(std::string_view bytes);

struct EtcdClientOptions {
  std::string endpoints;  // see etcd_grpc_target()
  // The deadline of each call, from its start: waiting for a connection included.
  std::chrono::milliseconds timeout{2000};
  // The longest wait between two attempts to reconnect to a member; gRPC's own default
  // (two minutes) would keep a member that came back unused for that long.
  std::chrono::milliseconds max_reconnect_backoff{1000};
  // Connections of this client's own. By default gRPC lets the channels of one process that
  // have the same target and settings share their connections, so that many clients in it
  // reach etcd as one; a load generator that stands for many separate clients wants them
  // apart.
  bool own_connections = false;
};

// One key as etcd holds it.
struct EtcdEntry {
  bool exists = false;
  std::string value;
  std::int64_t mod_revision = 0;  // the revision of its last change; 0 when it does not exist
};

enum class EtcdReadStatus {
  kOk,
  kFailed,  // no answer within the deadline, no member reachable, or etcd refused
};

struct EtcdRead {
  EtcdReadStatus status = EtcdReadStatus::kFailed;
  EtcdEntry key;
  EtcdEntry record;
  std::int64_t revision = 0;  // the store revision both keys were read at
  std::string error;          // kFailed: the gRPC code and message
  bool ok() const { return status == EtcdReadStatus::kOk; }
};

enum class CommitStatus {
  kCommitted,  // both puts applied, at `revision`
  kConflict,   // the value key's mod_revision was not the expected one: nothing applied
  // Certainly not applied: no member was reachable until the deadline, so the request was
  // never handed to gRPC (or it was refused before that: an empty or repeated key).
  kFailedNotSent,
  // Handed to gRPC, and no OK came back: it may have been applied, or may still be later (a
  // transaction can wait in etcd's raft log until a leader commits it). Read the record key
  // to find out; one that has not landed can still land until another commit moves the
  // value key's mod_revision past the one it expected.
  kUnknown,
};

struct EtcdCommit {
  CommitStatus status = CommitStatus::kUnknown;
  // kCommitted: the new mod_revision of both keys. kConflict: the revision read at.
  std::int64_t revision = 0;
  EtcdEntry key;      // kConflict: the value key as the transaction's else branch read it
  EtcdEntry record;   // kConflict: the record key, read alike
  std::string error;  // kFailedNotSent, kUnknown: what happened
};

// What the value key holds, checked before a server starts on it.
enum class EtcdKeyState {
  kMissing,      // nothing: a new counter at 0
  kCounter,      // a value of ours
  kNotOurs,      // bytes decode_counter() refuses: never to be overwritten
  kUnreachable,  // the cluster did not answer a linearizable read within the deadline
};

struct EtcdKeyCheck {
  EtcdKeyState state = EtcdKeyState::kUnreachable;
  std::int64_t value = 0;         // kCounter
  std::int64_t mod_revision = 0;  // kCounter, kNotOurs
  std::string error;              // kNotOurs, kUnreachable: one line saying what is wrong
};

// The end of the range of every key that starts with `prefix` (etcd's prefix range end: the
// prefix with its last byte below 0xff increased, what follows it dropped; "\0", meaning
// every key, when all its bytes are 0xff or it is empty).
std::string etcd_prefix_end(std::string_view prefix);

// One key as a Range of several keys returns it.
struct EtcdKeyValue {
  std::string key;
  std::string value;
  std::int64_t create_revision = 0;
  std::int64_t mod_revision = 0;
  std::int64_t version = 0;  // how many times it was put since it was created
  std::int64_t lease = 0;    // 0: none
};

// A condition of a transaction (EtcdClient::transact) on one key, or on every key of
// [key, range_end): etcd then requires it of each key that exists in the range. A key that
// does not exist, or a range with none, compares as a key whose revisions and version are 0
// (and never holds a kValue condition).
struct EtcdCondition {
  enum class Target : std::uint8_t { kModRevision, kCreateRevision, kVersion, kValue };
  enum class Relation : std::uint8_t { kEqual, kNotEqual, kLess, kGreater };
  std::string key;
  std::string range_end;  // empty: the key alone
  Target target = Target::kModRevision;
  Relation relation = Relation::kEqual;
  std::int64_t number = 0;  // the revision or version compared with (not for kValue)
  std::string value;        // kValue
};

// One operation of a transaction's branch.
struct EtcdOperation {
  enum class Kind : std::uint8_t { kRange, kPut, kDelete };
  Kind kind = Kind::kRange;
  std::string key;
  std::string range_end;   // kRange, kDelete: empty for the key alone
  std::string value;       // kPut
  std::int64_t lease = 0;  // kPut: the lease the key is bound to; 0 for none
};

struct EtcdTransaction {
  std::vector<EtcdCondition> conditions;  // all must hold for `then` to run
  std::vector<EtcdOperation> then;
  std::vector<EtcdOperation> otherwise;
};

enum class TransactStatus {
  kThen,       // the conditions held: `then` ran, at `revision`
  kOtherwise,  // they did not: `otherwise` ran
  // Certainly not applied, as CommitStatus::kFailedNotSent (or refused before sending: a key
  // put twice, an empty key, a put with a range end).
  kFailedNotSent,
  kUnknown,  // as CommitStatus::kUnknown: it may have run, or may still
};

struct EtcdTransacted {
  TransactStatus status = TransactStatus::kUnknown;
  std::int64_t revision = 0;  // kThen, kOtherwise: the store's revision after it
  // kThen, kOtherwise: one entry per operation of the branch that ran, in order: a Range's
  // keys in key order, nothing for a Put or a Delete.
  std::vector<std::vector<EtcdKeyValue>> ranges;
  // The same for Deletes: how many keys each removed (0 for the other operations).
  std::vector<std::int64_t> deleted;
  std::string error;  // kFailedNotSent, kUnknown: what happened
};

// A lease: keys put with it are deleted when it ends (revoked, or not kept alive for its
// TTL).
struct EtcdLease {
  bool ok = false;
  std::int64_t id = 0;
  // Seconds left: as granted, or after a keep-alive; 0 from a keep-alive: the lease is gone.
  std::int64_t ttl = 0;
  std::string error;  // !ok: what happened
};

// Blocking calls, meant for one dedicated thread: never call them from an event loop, as
// each may block up to the timeout. The gRPC channel underneath is itself thread-safe, so
// calls from several threads at once are safe, but their transactions then race.
//
// The channel spreads calls over every member (round robin) and drops a member whose
// connection breaks until it accepts connections again, so when one member dies the next
// calls go to the others; any member serves every call (followers hand writes to the leader).
class EtcdClient {
 public:
  // Parses the endpoints (throws EtcdConfigError) and creates the channel; connects lazily.
  explicit EtcdClient(const EtcdClientOptions& options);
  ~EtcdClient();
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  // One linearizable read (serializable=false, so confirmed by the leader) of both keys at
  // the same revision: a read-only transaction of two Range requests. Tried again within
  // the deadline while gRPC says UNAVAILABLE (a member just died, the leader changed): a
  // read changes nothing, so kFailed means no answer came in time.
  EtcdRead read(std::string_view key, std::string_view record_key);

  // One transaction:
  //   if mod_revision(key) == expected_mod_revision   (0: the key must not exist)
  //   then put key = new_value, put record_key = record_value
  //   else range key, range record_key
  // Before the request is handed to gRPC the client waits, within the deadline, for a
  // connected member; if none comes, the result is kFailedNotSent. After that, any gRPC
  // status but OK is kUnknown, because no code tells where the call stopped:
  //   DEADLINE_EXCEEDED, CANCELLED: the request may be in etcd's raft log;
  //   UNAVAILABLE: gRPC reports a connection lost after sending with it too (a killed
  //     member), and etcd reports "leader changed" and "request timed out" with it, both
  //     after the transaction was proposed;
  //   every other code: etcd's refusals use them, but gRPC also makes some up on this side
  //     after the answer arrived (RESOURCE_EXHAUSTED for an answer too large, INTERNAL for
  //     one it cannot parse), when the transaction was applied.
  // One exception: UNAVAILABLE "etcdserver: no leader" is kFailedNotSent, since every call
  // asks etcd to refuse it while the member knows no leader, and that refusal comes from
  // etcd's interceptor, before the transaction can reach raft.
  // OK with succeeded=true is kCommitted and with succeeded=false kConflict. Keys must be
  // non-empty and different (etcd refuses two puts to one key in a transaction).
  EtcdCommit commit(std::string_view key, std::int64_t expected_mod_revision,
                    std::string_view new_value, std::string_view record_key,
                    std::string_view record_value);

  // Any transaction: the conditions, then one branch or the other, atomically at one
  // revision. A Range in a branch sees the Puts and Deletes before it in that branch. Sent
  // once, never again: an outcome etcd did not tell is kUnknown, exactly as for commit().
  EtcdTransacted transact(const EtcdTransaction& transaction);

  // Linearizable Ranges (kRange operations only) at one revision, tried again within the
  // deadline as read() is: a read changes nothing. kThen when answered, else kFailedNotSent.
  // `at_revision` > 0 reads the keys as they were at that past revision (etcd keeps them
  // until it is compacted past it; a compacted or future revision fails, saying which).
  EtcdTransacted read_ranges(const std::vector<EtcdOperation>& ranges,
                             std::int64_t at_revision = 0);

  // Grants a lease of `ttl_seconds` (etcd may choose more, never less).
  EtcdLease grant_lease(std::int64_t ttl_seconds);
  // Renews the lease once; ttl 0 in the answer: it has ended (its keys are gone).
  EtcdLease keep_alive(std::int64_t id);
  // Ends the lease now, deleting its keys; true once etcd confirmed it (or it had ended).
  bool revoke_lease(std::int64_t id, std::string* error = nullptr);

  // For the start: reads `key` linearizably (tried again as read() is), which needs a quorum
  // with a leader, and says whether it holds nothing, a counter value, or something that is
  // not ours.
  EtcdKeyCheck check_key(std::string_view key);

  // The gRPC target the endpoints became, for messages.
  const std::string& target() const { return target_; }

 private:
  struct Channel;

  std::string target_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<Channel> channel_;  // the gRPC channel and stub, kept out of this header
};

}  // namespace count
