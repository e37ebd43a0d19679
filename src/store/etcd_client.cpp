// EtcdClient: the etcd store's requests as etcd's gRPC messages, and gRPC's answers as our
// results. It must never resend a transaction, nor report one as not sent once gRPC has it.
#include "store/etcd_client.hpp"

#include <arpa/inet.h>
#include <fmt/core.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>

#include <charconv>
#include <set>
#include <thread>
#include <vector>

#include "store/etcd/rpc.grpc.pb.h"

namespace count {
namespace {

using Clock = std::chrono::system_clock;

// Pings while a call is in flight, 10 s apart: they find a member that vanished without
// closing its connection (a machine gone) during a long call. etcd answers pings more often
// than every 5 s (its --grpc-keepalive-min-time), or any ping with no call in flight, with
// GOAWAY, so there are none between calls: there, such a member is found by deadlines.
constexpr int kKeepaliveTimeMs = 10'000;
constexpr int kKeepaliveTimeoutMs = 5'000;
// The first reconnect attempt after a member's connection broke comes quickly. (gRPC's
// minimum backoff is left alone: it is also the time one connection attempt may take.)
constexpr int kInitialReconnectBackoffMs = 100;
// Between two tries of a read within its deadline: about a tenth of a leader election.
constexpr std::chrono::milliseconds kReadRetryPause{25};
// etcd's "require leader" metadata, and the refusal it gets from a member with no leader,
// sent by etcd's unary interceptor before the call reaches its handler.
constexpr char kRequireLeaderKey[] = "hasleader";
constexpr char kNoLeaderMessage[] = "etcdserver: no leader";

[[noreturn]] void refuse(std::string_view endpoint, std::string_view what) {
  throw EtcdConfigError(fmt::format("etcd endpoint \"{}\": {}", endpoint, what));
}

enum class Family { kIpv4, kIpv6 };

struct Address {
  Family family = Family::kIpv4;
  std::string host_port;  // as gRPC's ipv4: and ipv6: targets list it
};

Address parse_endpoint(std::string_view endpoint) {
  std::string_view rest = endpoint;
  if (const std::size_t scheme_end = rest.find("://"); scheme_end != std::string_view::npos) {
    const std::string_view scheme = rest.substr(0, scheme_end);
    if (scheme == "https") refuse(endpoint, "https is not supported: use http://");
    if (scheme != "http") refuse(endpoint, "the scheme must be http://");
    rest.remove_prefix(scheme_end + 3);
  }
  if (rest.ends_with('/')) rest.remove_suffix(1);
  if (rest.find('/') != std::string_view::npos) refuse(endpoint, "a path is not allowed");

  Address address;
  std::string_view host;
  std::string_view port;
  if (rest.starts_with('[')) {
    const std::size_t close = rest.find(']');
    if (close == std::string_view::npos) refuse(endpoint, "missing ']' after the IPv6 address");
    host = rest.substr(1, close - 1);
    if (close + 1 >= rest.size() || rest[close + 1] != ':') {
      refuse(endpoint, "missing :PORT after the address");
    }
    port = rest.substr(close + 2);
    address.family = Family::kIpv6;
    in6_addr parsed{};
    if (::inet_pton(AF_INET6, std::string(host).c_str(), &parsed) != 1) {
      refuse(endpoint, fmt::format("\"{}\" is not an IPv6 address", host));
    }
  } else {
    const std::size_t colon = rest.rfind(':');
    if (colon == std::string_view::npos) refuse(endpoint, "missing :PORT after the address");
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (host == "localhost") host = "127.0.0.1";
    in_addr parsed{};
    if (::inet_pton(AF_INET, std::string(host).c_str(), &parsed) != 1) {
      refuse(endpoint, fmt::format("\"{}\" is not an IPv4 address (host names other than "
                                   "localhost are not resolved; bracket an IPv6 address)",
                                   host));
    }
  }

  unsigned number = 0;
  const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (port.empty() || error != std::errc{} || end != port.data() + port.size() || number == 0 ||
      number > 65535) {
    refuse(endpoint, fmt::format("\"{}\" is not a port (1 to 65535)", port));
  }
  address.host_port = address.family == Family::kIpv6 ? fmt::format("[{}]:{}", host, number)
                                                      : fmt::format("{}:{}", host, number);
  return address;
}

const char* code_name(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "unknown code";
  }
}

std::string describe(const grpc::Status& status) {
  return fmt::format("{}: {}", code_name(status.error_code()), status.error_message());
}

void add_range(google::protobuf::RepeatedPtrField<etcdserverpb::RequestOp>& ops,
               std::string_view key) {
  etcdserverpb::RangeRequest& range = *ops.Add()->mutable_request_range();
  range.set_key(std::string(key));
  range.set_serializable(false);
}

void add_put(google::protobuf::RepeatedPtrField<etcdserverpb::RequestOp>& ops, std::string_view key,
             std::string_view value) {
  etcdserverpb::PutRequest& put = *ops.Add()->mutable_request_put();
  put.set_key(std::string(key));
  put.set_value(std::string(value));
}

// The entry a Range of one key found; false when the response is not a Range.
bool entry_from(const etcdserverpb::ResponseOp& response, EtcdEntry& entry) {
  if (!response.has_response_range()) return false;
  const etcdserverpb::RangeResponse& range = response.response_range();
  entry = {};
  if (range.kvs_size() > 0) {
    entry.exists = true;
    entry.value = range.kvs(0).value();
    entry.mod_revision = range.kvs(0).mod_revision();
  }
  return true;
}

// Both entries of a transaction whose applied branch was two Ranges.
bool entries_from(const etcdserverpb::TxnResponse& response, EtcdEntry& key, EtcdEntry& record) {
  return response.responses_size() == 2 && entry_from(response.responses(0), key) &&
         entry_from(response.responses(1), record);
}

// Up to 40 bytes of a foreign value, printable, for a message.
std::string quote_bytes(std::string_view bytes) {
  std::string out = "\"";
  for (const char c : bytes.substr(0, 40)) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f && c != '"' && c != '\\') {
      out += c;
    } else {
      out += fmt::format("\\x{:02x}", byte);
    }
  }
  out += bytes.size() > 40 ? "\"..." : "\"";
  return out;
}

etcdserverpb::Compare::CompareResult relation_of(EtcdCondition::Relation relation) {
  switch (relation) {
    case EtcdCondition::Relation::kEqual:
      return etcdserverpb::Compare::EQUAL;
    case EtcdCondition::Relation::kNotEqual:
      return etcdserverpb::Compare::NOT_EQUAL;
    case EtcdCondition::Relation::kLess:
      return etcdserverpb::Compare::LESS;
    case EtcdCondition::Relation::kGreater:
      return etcdserverpb::Compare::GREATER;
  }
  return etcdserverpb::Compare::EQUAL;
}

void add_condition(etcdserverpb::TxnRequest& request, const EtcdCondition& condition) {
  etcdserverpb::Compare& compare = *request.add_compare();
  compare.set_result(relation_of(condition.relation));
  compare.set_key(condition.key);
  if (!condition.range_end.empty()) compare.set_range_end(condition.range_end);
  switch (condition.target) {
    case EtcdCondition::Target::kModRevision:
      compare.set_target(etcdserverpb::Compare::MOD);
      compare.set_mod_revision(condition.number);
      break;
    case EtcdCondition::Target::kCreateRevision:
      compare.set_target(etcdserverpb::Compare::CREATE);
      compare.set_create_revision(condition.number);
      break;
    case EtcdCondition::Target::kVersion:
      compare.set_target(etcdserverpb::Compare::VERSION);
      compare.set_version(condition.number);
      break;
    case EtcdCondition::Target::kValue:
      compare.set_target(etcdserverpb::Compare::VALUE);
      compare.set_value(condition.value);
      break;
  }
}

void add_operation(google::protobuf::RepeatedPtrField<etcdserverpb::RequestOp>& ops,
                   const EtcdOperation& operation) {
  switch (operation.kind) {
    case EtcdOperation::Kind::kRange: {
      etcdserverpb::RangeRequest& range = *ops.Add()->mutable_request_range();
      range.set_key(operation.key);
      if (!operation.range_end.empty()) range.set_range_end(operation.range_end);
      range.set_serializable(false);
      return;
    }
    case EtcdOperation::Kind::kPut: {
      etcdserverpb::PutRequest& put = *ops.Add()->mutable_request_put();
      put.set_key(operation.key);
      put.set_value(operation.value);
      put.set_lease(operation.lease);
      return;
    }
    case EtcdOperation::Kind::kDelete: {
      etcdserverpb::DeleteRangeRequest& remove = *ops.Add()->mutable_request_delete_range();
      remove.set_key(operation.key);
      if (!operation.range_end.empty()) remove.set_range_end(operation.range_end);
      return;
    }
  }
}

// What etcd would refuse in a branch, found before sending: an empty key, a put with a range
// end, or a key put twice (etcd refuses "duplicate key given in txn request"). "" when none.
std::string refusal_of(const std::vector<EtcdOperation>& branch) {
  std::set<std::string_view> puts;
  for (const EtcdOperation& operation : branch) {
    if (operation.key.empty()) return "an operation without a key";
    if (operation.kind == EtcdOperation::Kind::kPut) {
      if (!operation.range_end.empty()) return "a put with a range end";
      if (!puts.insert(operation.key).second) {
        return fmt::format("the key {} put twice", quote_bytes(operation.key));
      }
    }
  }
  return "";
}

// The results of the branch that ran, one per operation.
bool results_from(const etcdserverpb::TxnResponse& response, EtcdTransacted& result) {
  result.ranges.assign(static_cast<std::size_t>(response.responses_size()), {});
  result.deleted.assign(static_cast<std::size_t>(response.responses_size()), 0);
  for (int i = 0; i < response.responses_size(); ++i) {
    const etcdserverpb::ResponseOp& op = response.responses(i);
    const auto at = static_cast<std::size_t>(i);
    if (op.has_response_range()) {
      for (const mvccpb::KeyValue& kv : op.response_range().kvs()) {
        result.ranges[at].push_back({kv.key(), kv.value(), kv.create_revision(), kv.mod_revision(),
                                     kv.version(), kv.lease()});
      }
    } else if (op.has_response_delete_range()) {
      result.deleted[at] = op.response_delete_range().deleted();
    } else if (!op.has_response_put()) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string etcd_grpc_target(std::string_view endpoints) {
  std::vector<Address> addresses;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = endpoints.find(',', start);
    const std::string_view endpoint = endpoints.substr(start, comma - start);
    if (endpoint.empty()) {
      throw EtcdConfigError(fmt::format("etcd endpoints \"{}\": an endpoint is empty", endpoints));
    }
    Address address = parse_endpoint(endpoint);
    for (const Address& earlier : addresses) {
      if (earlier.host_port == address.host_port) refuse(endpoint, "listed twice");
      if (earlier.family != address.family) {
        refuse(endpoint, "IPv4 and IPv6 endpoints cannot be mixed");
      }
    }
    addresses.push_back(std::move(address));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  std::string target = addresses.front().family == Family::kIpv6 ? "ipv6:" : "ipv4:";
  for (std::size_t i = 0; i < addresses.size(); ++i) {
    if (i > 0) target += ',';
    target += addresses[i].host_port;
  }
  return target;
}

std::string encode_counter(std::int64_t value) { return fmt::format("{}", value); }

std::optional<std::int64_t> decode_counter(std::string_view bytes) {
  std::int64_t value = 0;
  const char* const end = bytes.data() + bytes.size();
  const auto [ptr, error] = std::from_chars(bytes.data(), end, value);
  if (bytes.empty() || error != std::errc{} || ptr != end) return std::nullopt;
  // One spelling per value: no leading zeros, no "-0".
  if (encode_counter(value) != bytes) return std::nullopt;
  return value;
}

std::string etcd_prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

struct EtcdClient::Channel {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<etcdserverpb::KV::Stub> kv;
  std::unique_ptr<etcdserverpb::Lease::Stub> lease;

  // Waits until some member is connected. Asking for the state also starts connecting
  // when the channel is idle (at first, or after a long quiet spell).
  bool wait_connected(Clock::time_point deadline) const {
    grpc_connectivity_state state = channel->GetState(true);
    while (state != GRPC_CHANNEL_READY) {
      if (!channel->WaitForStateChange(state, deadline)) return false;
      state = channel->GetState(true);
    }
    return true;
  }

  // A client context with the deadline; queued while no member is connected rather than
  // failed at once, so that a member coming back within the deadline still serves it.
  // It also asks the member to refuse the call at once when it knows no leader (etcd's
  // "require leader" metadata): without quorum, nothing waits in its raft log for nothing.
  static void prepare(grpc::ClientContext& context, Clock::time_point deadline) {
    context.set_deadline(deadline);
    context.set_wait_for_ready(true);
    context.AddMetadata(kRequireLeaderKey, "true");
  }

  // Sends a transaction once. kNotSent: no member could be connected to before the
  // deadline, or etcd's interceptor refused it for want of a leader, before its handler ran
  // (it never reached raft). kUnknown: any other failure, once the request may have left (see
  // EtcdClient::commit()). kAnswered: `response` holds etcd's answer.
  enum class Sent { kAnswered, kNotSent, kUnknown };
  Sent send_once(const etcdserverpb::TxnRequest& request, etcdserverpb::TxnResponse& response,
                 std::chrono::milliseconds timeout, const std::string& target,
                 std::string& error) const {
    const Clock::time_point deadline = Clock::now() + timeout;
    if (!wait_connected(deadline)) {
      error = fmt::format("no etcd member of {} could be connected to within {} ms", target,
                          timeout.count());
      return Sent::kNotSent;
    }
    grpc::ClientContext context;
    prepare(context, deadline);
    const grpc::Status status = kv->Txn(&context, request, &response);
    if (status.ok()) return Sent::kAnswered;
    error = describe(status);
    return status.error_code() == grpc::StatusCode::UNAVAILABLE &&
                   status.error_message() == kNoLeaderMessage
               ? Sent::kNotSent
               : Sent::kUnknown;
  }

  // Calls `call(context)` (a read: it changes nothing) again while it fails with UNAVAILABLE
  // and time is left: a connection to a member that just died, or a linearizable read cut
  // short by a leader change, is followed by another member or the new leader.
  template <typename Call>
  static grpc::Status read_until_deadline(Clock::time_point deadline, const Call& call) {
    for (;;) {
      grpc::ClientContext context;
      prepare(context, deadline);
      grpc::Status status = call(context);
      if (status.error_code() != grpc::StatusCode::UNAVAILABLE ||
          Clock::now() + kReadRetryPause >= deadline) {
        return status;
      }
      std::this_thread::sleep_for(kReadRetryPause);
    }
  }
};

EtcdClient::EtcdClient(const EtcdClientOptions& options)
    : target_(etcd_grpc_target(options.endpoints)), timeout_(options.timeout) {
  grpc::ChannelArguments args;
  // Every member connected at once, calls spread over the ready ones; a broken connection
  // leaves the rotation at once (etcd's own Go client balances the same way).
  args.SetLoadBalancingPolicyName("round_robin");
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, kInitialReconnectBackoffMs);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
              static_cast<int>(options.max_reconnect_backoff.count()));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveTimeMs);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveTimeoutMs);
  if (options.own_connections) args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  channel_ = std::make_unique<Channel>();
  channel_->channel = grpc::CreateCustomChannel(target_, grpc::InsecureChannelCredentials(), args);
  channel_->kv = etcdserverpb::KV::NewStub(channel_->channel);
  channel_->lease = etcdserverpb::Lease::NewStub(channel_->channel);
}

EtcdClient::~EtcdClient() = default;

EtcdRead EtcdClient::read(std::string_view key, std::string_view record_key) {
  etcdserverpb::TxnRequest request;
  // No compare: the success branch always runs. A transaction of Ranges only is read-only,
  // served without a raft entry, and linearizable since no Range in it is serializable.
  add_range(*request.mutable_success(), key);
  add_range(*request.mutable_success(), record_key);

  etcdserverpb::TxnResponse response;
  const grpc::Status status =
      Channel::read_until_deadline(Clock::now() + timeout_, [&](grpc::ClientContext& context) {
        response.Clear();
        return channel_->kv->Txn(&context, request, &response);
      });

  EtcdRead result;
  if (!status.ok()) {
    result.error = describe(status);
    return result;
  }
  if (!entries_from(response, result.key, result.record)) {
    result.error = "etcd answered the read without the two ranges asked for";
    return result;
  }
  result.status = EtcdReadStatus::kOk;
  result.revision = response.header().revision();
  return result;
}

EtcdCommit EtcdClient::commit(std::string_view key, std::int64_t expected_mod_revision,
                              std::string_view new_value, std::string_view record_key,
                              std::string_view record_value) {
  EtcdCommit result;
  if (key.empty() || record_key.empty() || key == record_key) {
    result.status = CommitStatus::kFailedNotSent;
    result.error = "the value key and the record key must be non-empty and different";
    return result;
  }

  etcdserverpb::TxnRequest request;
  etcdserverpb::Compare& compare = *request.add_compare();
  compare.set_result(etcdserverpb::Compare::EQUAL);
  compare.set_target(etcdserverpb::Compare::MOD);
  compare.set_key(std::string(key));
  compare.set_mod_revision(expected_mod_revision);
  add_put(*request.mutable_success(), key, new_value);
  add_put(*request.mutable_success(), record_key, record_value);
  add_range(*request.mutable_failure(), key);
  add_range(*request.mutable_failure(), record_key);

  etcdserverpb::TxnResponse response;
  switch (channel_->send_once(request, response, timeout_, target_, result.error)) {
    case Channel::Sent::kNotSent:
      result.status = CommitStatus::kFailedNotSent;
      return result;
    case Channel::Sent::kUnknown:
      result.status = CommitStatus::kUnknown;
      return result;
    case Channel::Sent::kAnswered:
      break;
  }
  result.revision = response.header().revision();
  if (response.succeeded()) {
    result.status = CommitStatus::kCommitted;
    return result;
  }
  if (!entries_from(response, result.key, result.record)) {
    // Not applied, but what it read is missing: the caller must read again, as for kUnknown.
    result.status = CommitStatus::kUnknown;
    result.error = "etcd answered a conflict without the two ranges asked for";
    return result;
  }
  result.status = CommitStatus::kConflict;
  return result;
}

EtcdTransacted EtcdClient::transact(const EtcdTransaction& transaction) {
  EtcdTransacted result;
  for (const std::vector<EtcdOperation>* branch : {&transaction.then, &transaction.otherwise}) {
    if (std::string refusal = refusal_of(*branch); !refusal.empty()) {
      result.status = TransactStatus::kFailedNotSent;
      result.error = "not sent: " + refusal;
      return result;
    }
  }
  etcdserverpb::TxnRequest request;
  for (const EtcdCondition& condition : transaction.conditions) add_condition(request, condition);
  for (const EtcdOperation& operation : transaction.then) {
    add_operation(*request.mutable_success(), operation);
  }
  for (const EtcdOperation& operation : transaction.otherwise) {
    add_operation(*request.mutable_failure(), operation);
  }

  etcdserverpb::TxnResponse response;
  switch (channel_->send_once(request, response, timeout_, target_, result.error)) {
    case Channel::Sent::kNotSent:
      result.status = TransactStatus::kFailedNotSent;
      return result;
    case Channel::Sent::kUnknown:
      result.status = TransactStatus::kUnknown;
      return result;
    case Channel::Sent::kAnswered:
      break;
  }
  if (!results_from(response, result)) {
    result.status = TransactStatus::kUnknown;
    result.error = "etcd answered the transaction with a result of a kind not asked for";
    return result;
  }
  result.status = response.succeeded() ? TransactStatus::kThen : TransactStatus::kOtherwise;
  result.revision = response.header().revision();
  return result;
}

EtcdTransacted EtcdClient::read_ranges(const std::vector<EtcdOperation>& ranges,
                                       std::int64_t at_revision) {
  EtcdTransacted result;
  result.status = TransactStatus::kFailedNotSent;
  etcdserverpb::TxnRequest request;
  for (const EtcdOperation& range : ranges) {
    if (range.kind != EtcdOperation::Kind::kRange || range.key.empty()) {
      result.error = "not sent: a read of ranges holds ranges of non-empty keys only";
      return result;
    }
    add_operation(*request.mutable_success(), range);
    if (at_revision > 0) {
      request.mutable_success()->rbegin()->mutable_request_range()->set_revision(at_revision);
    }
  }
  etcdserverpb::TxnResponse response;
  const grpc::Status status =
      Channel::read_until_deadline(Clock::now() + timeout_, [&](grpc::ClientContext& context) {
        response.Clear();
        return channel_->kv->Txn(&context, request, &response);
      });
  if (!status.ok()) {
    result.error = describe(status);
    return result;
  }
  if (!results_from(response, result) || result.ranges.size() != ranges.size()) {
    result.error = "etcd answered the read without the ranges asked for";
    return result;
  }
  result.status = TransactStatus::kThen;
  result.revision = response.header().revision();
  return result;
}

EtcdLease EtcdClient::grant_lease(std::int64_t ttl_seconds) {
  etcdserverpb::LeaseGrantRequest request;
  request.set_ttl(ttl_seconds);
  etcdserverpb::LeaseGrantResponse response;
  // A lease nobody knows the ID of expires by itself: granting again is harmless.
  const grpc::Status status =
      Channel::read_until_deadline(Clock::now() + timeout_, [&](grpc::ClientContext& context) {
        response.Clear();
        return channel_->lease->LeaseGrant(&context, request, &response);
      });
  EtcdLease lease;
  if (!status.ok()) {
    lease.error = describe(status);
    return lease;
  }
  if (!response.error().empty()) {
    lease.error = response.error();
    return lease;
  }
  lease.ok = true;
  lease.id = response.id();
  lease.ttl = response.ttl();
  return lease;
}

EtcdLease EtcdClient::keep_alive(std::int64_t id) {
  EtcdLease lease;
  lease.id = id;
  grpc::ClientContext context;
  Channel::prepare(context, Clock::now() + timeout_);
  const std::unique_ptr<grpc::ClientReaderWriter<etcdserverpb::LeaseKeepAliveRequest,
                                                 etcdserverpb::LeaseKeepAliveResponse>>
      stream = channel_->lease->LeaseKeepAlive(&context);
  etcdserverpb::LeaseKeepAliveRequest request;
  request.set_id(id);
  etcdserverpb::LeaseKeepAliveResponse response;
  const bool answered = stream->Write(request) && stream->WritesDone() && stream->Read(&response);
  const grpc::Status status = stream->Finish();
  if (!answered) {
    lease.error =
        status.ok() ? "etcd closed the keep-alive stream without an answer" : describe(status);
    return lease;
  }
  lease.ok = true;
  lease.ttl = response.ttl();
  return lease;
}

bool EtcdClient::revoke_lease(std::int64_t id, std::string* error) {
  etcdserverpb::LeaseRevokeRequest request;
  request.set_id(id);
  etcdserverpb::LeaseRevokeResponse response;
  // Revoking twice is harmless: the second finds the lease gone.
  const grpc::Status status =
      Channel::read_until_deadline(Clock::now() + timeout_, [&](grpc::ClientContext& context) {
        response.Clear();
        return channel_->lease->LeaseRevoke(&context, request, &response);
      });
  if (status.ok() || status.error_code() == grpc::StatusCode::NOT_FOUND) return true;
  if (error != nullptr) *error = describe(status);
  return false;
}

EtcdKeyCheck EtcdClient::check_key(std::string_view key) {
  etcdserverpb::RangeRequest request;
  request.set_key(std::string(key));
  request.set_serializable(false);

  etcdserverpb::RangeResponse response;
  const grpc::Status status =
      Channel::read_until_deadline(Clock::now() + timeout_, [&](grpc::ClientContext& context) {
        response.Clear();
        return channel_->kv->Range(&context, request, &response);
      });

  EtcdKeyCheck check;
  if (!status.ok()) {
    check.error = fmt::format("etcd at {} did not answer a read of {} within {} ms: {}", target_,
                              quote_bytes(key), timeout_.count(), describe(status));
    return check;
  }
  if (response.kvs_size() == 0) {
    check.state = EtcdKeyState::kMissing;
    return check;
  }
  const mvccpb::KeyValue& kv = response.kvs(0);
  check.mod_revision = kv.mod_revision();
  if (const std::optional<std::int64_t> value = decode_counter(kv.value())) {
    check.state = EtcdKeyState::kCounter;
    check.value = *value;
    return check;
  }
  check.state = EtcdKeyState::kNotOurs;
  check.error = fmt::format(
      "etcd key {} holds {} ({} bytes), which is not a counter value (the decimal text of a "
      "signed 64-bit integer): it is left untouched",
      quote_bytes(key), quote_bytes(kv.value()), kv.value().size());
  return check;
}

}  // namespace count
