// EtcdCluster: three etcd processes wired with --initial-cluster, and the Maintenance Status
// and Range calls that say when they lead and serve. Never waits without a bound, and never
// signals a process it did not start.
#include "support/etcd_cluster.hpp"

#include <arpa/inet.h>
#include <fmt/core.h>
#include <grpcpp/create_channel_posix.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <stdexcept>
#include <thread>
#include <vector>

#include "store/etcd/rpc.grpc.pb.h"

namespace count::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr const char* kEtcdBinary = "/usr/bin/etcd";
// Starts a program with SIGKILL as its parent-death signal (util-linux, always installed),
// so that a test process that dies without its destructors (a crash, a sanitizer's abort)
// takes its etcd members with it. It execs the program: the PID stays the member's.
constexpr const char* kSetpriv = "/usr/bin/setpriv";
constexpr int kStartAttempts = 3;
constexpr std::uint16_t kLabClientPort = 2379;  // a member alone in its namespace: etcd's own
constexpr std::uint16_t kLabPeerPort = 2380;

// Ports that were free a moment ago: each bound to 127.0.0.1:0 at once, so they differ,
// then released for etcd. Another process may still take one before etcd binds it; the
// start detects that and tries again on new ports.
std::vector<std::uint16_t> free_ports(std::size_t count) {
  std::vector<int> fds;
  std::vector<std::uint16_t> ports;
  for (std::size_t i = 0; i < count; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      if (fd >= 0) ::close(fd);
      for (const int open : fds) ::close(open);
      throw std::runtime_error("cannot find a free port on 127.0.0.1");
    }
    fds.push_back(fd);
    ports.push_back(ntohs(address.sin_port));
  }
  for (const int fd : fds) ::close(fd);
  return ports;
}

bool loopback_accepts(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  const bool connected = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return connected;
}

std::string tail(const std::string& text, std::size_t lines) {
  std::size_t start = text.size();
  for (std::size_t seen = 0; start > 0 && seen <= lines;) {
    --start;
    if (text[start] == '\n') ++seen;
  }
  return text.substr(start);
}

}  // namespace

struct EtcdCluster::Member {
  std::string name;
  std::string host;  // the address it listens on
  std::uint16_t client_port = 0;
  std::uint16_t peer_port = 0;
  std::filesystem::path data_dir;
  std::vector<std::string> argv;
  pid_t pid = -1;
  int runs = 0;                            // each run logs to its own file
  std::shared_ptr<grpc::Channel> channel;  // to this member alone, for Status and Range

  std::filesystem::path log_path() const {
    return data_dir.parent_path() / fmt::format("{}.run{}.log", name, runs);
  }
};

struct EtcdCluster::Status {
  std::uint64_t member_id = 0;
  std::uint64_t leader_id = 0;
};

EtcdCluster::EtcdCluster() : EtcdCluster(nullptr) {}

EtcdCluster::EtcdCluster(const NetworkLab& lab) : EtcdCluster(&lab) {}

std::string EtcdCluster::node(int member) { return fmt::format("etcd{}", member); }

EtcdCluster::EtcdCluster(const NetworkLab* lab) : lab_(lab) {
  if (!std::filesystem::exists(kEtcdBinary)) {
    throw std::runtime_error(
        fmt::format("{} is missing: scripts/install-deps installs it (Debian package etcd-server)",
                    kEtcdBinary));
  }
  try {
    for (int attempt = 1; attempt <= kStartAttempts; ++attempt) {
      if (start_all(attempt)) return;
    }
    throw std::runtime_error(
        fmt::format("etcd did not start in {} attempts:\n{}", kStartAttempts, logs()));
  } catch (...) {
    // No destructor runs for an object whose constructor throws.
    for (int member = 0; member < kMembers; ++member) {
      if (members_[member]) kill(member);
    }
    throw;
  }
}

EtcdCluster::~EtcdCluster() {
  for (int member = 0; member < kMembers; ++member) {
    if (members_[member]) kill(member);
  }
}

bool EtcdCluster::start_all(int attempt) {
  for (int member = 0; member < kMembers; ++member) {
    if (members_[member]) kill(member);
  }
  // Two per member, client then peer; in a lab each member has its namespace's ports.
  const std::vector<std::uint16_t> ports =
      lab_ != nullptr ? std::vector<std::uint16_t>{} : free_ports(std::size_t{2} * kMembers);
  const std::filesystem::path folder = dir_.path() / fmt::format("attempt{}", attempt);
  std::filesystem::create_directories(folder);

  std::string initial_cluster;
  for (int member = 0; member < kMembers; ++member) {
    auto created = std::make_unique<Member>();
    created->name = fmt::format("member{}", member);
    if (lab_ != nullptr) {
      created->host = lab_->address(node(member));
      created->client_port = kLabClientPort;
      created->peer_port = kLabPeerPort;
    } else {
      const auto first = std::size_t{2} * static_cast<std::size_t>(member);
      created->host = "127.0.0.1";
      created->client_port = ports[first];
      created->peer_port = ports[first + 1];
    }
    created->data_dir = folder / created->name;
    if (member > 0) initial_cluster += ',';
    initial_cluster +=
        fmt::format("{}=http://{}:{}", created->name, created->host, created->peer_port);
    members_[member] = std::move(created);
  }
  for (int member = 0; member < kMembers; ++member) {
    Member& m = *members_[member];
    const std::string client_url = fmt::format("http://{}:{}", m.host, m.client_port);
    const std::string peer_url = fmt::format("http://{}:{}", m.host, m.peer_port);
    m.argv = {kSetpriv, "--pdeathsig=KILL", "--"};
    if (lab_ != nullptr) {
      const std::vector<std::string> launcher = lab_->launcher(node(member));
      m.argv.insert(m.argv.end(), launcher.begin(), launcher.end());
    }
    m.argv.insert(
        m.argv.end(),
        {
            kEtcdBinary,
            "--name=" + m.name,
            "--data-dir=" + m.data_dir.string(),
            "--listen-client-urls=" + client_url,
            "--advertise-client-urls=" + client_url,
            "--listen-peer-urls=" + peer_url,
            "--initial-advertise-peer-urls=" + peer_url,
            "--initial-cluster=" + initial_cluster,
            "--initial-cluster-state=new",
            // Unique per cluster: members of two test clusters never take each other in.
            fmt::format("--initial-cluster-token={}-{}", dir_.path().filename().string(), attempt),
            fmt::format("--heartbeat-interval={}", kHeartbeatMs),
            fmt::format("--election-timeout={}", kElectionMs),
            // A member that merely missed heartbeats (a busy machine) asks the others before
            // it calls an election, rather than deposing a working leader.
            "--pre-vote=true",
            "--logger=zap",
            "--log-outputs=stderr",
        });
    if (lab_ == nullptr) {
      // Reconnects soon after the member (re)starts. The minimum backoff stays gRPC's: it
      // is also how long one connection attempt may take.
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
      args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
      m.channel = grpc::CreateCustomChannel(fmt::format("ipv4:127.0.0.1:{}", m.client_port),
                                            grpc::InsecureChannelCredentials(), args);
    }
    spawn_member(member);
  }

  const auto deadline = Clock::now() + 20s;
  while (Clock::now() < deadline) {
    for (int member = 0; member < kMembers; ++member) {
      if (alive(member)) continue;
      // A port taken between free_ports() and etcd's bind is worth another attempt;
      // anything else is not.
      const std::string log = read_file(members_[member]->log_path());
      if (log.find("address already in use") != std::string::npos) return false;
      throw std::runtime_error(
          fmt::format("etcd {} exited at start:\n{}", members_[member]->name, tail(log, 20)));
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (wait_until_serving(std::min<std::chrono::milliseconds>(left, 500ms))) return true;
  }
  const std::string log = logs();
  throw std::runtime_error("etcd did not elect a leader and serve within 20 s:\n" + log);
}

void EtcdCluster::spawn_member(int member) {
  Member& m = *members_[member];
  ++m.runs;
  m.pid = spawn(m.argv, "/dev/null", "/dev/null", m.log_path());
}

bool EtcdCluster::alive(int member) const {
  Member& m = *members_[member];
  if (m.pid <= 0) return false;
  int status = 0;
  if (::waitpid(m.pid, &status, WNOHANG) == m.pid) m.pid = -1;
  return m.pid > 0;
}

std::string EtcdCluster::endpoints() const {
  std::string list;
  for (int member = 0; member < kMembers; ++member) {
    if (member > 0) list += ',';
    list += endpoint(member);
  }
  return list;
}

std::string EtcdCluster::endpoint(int member) const {
  return fmt::format("http://{}:{}", members_[member]->host, members_[member]->client_port);
}

std::shared_ptr<grpc::Channel> EtcdCluster::channel_to(int member) const {
  const Member& m = *members_[member];
  if (lab_ == nullptr) return m.channel;
  const int fd = lab_->connect_from(node(member), m.host, m.client_port, 150);
  if (fd < 0) return nullptr;
  return grpc::CreateInsecureChannelFromFd(m.host, fd);
}

bool EtcdCluster::accepts_connections(int member) const {
  const Member& m = *members_[member];
  if (lab_ == nullptr) return loopback_accepts(m.client_port);
  const int fd = lab_->connect_from(node(member), m.host, m.client_port, 200);
  if (fd >= 0) ::close(fd);
  return fd >= 0;
}

bool EtcdCluster::running(int member) const { return alive(member); }

pid_t EtcdCluster::pid(int member) const { return members_[member]->pid; }

void EtcdCluster::kill(int member) {
  Member& m = *members_[member];
  if (m.pid <= 0) return;
  ::kill(m.pid, SIGKILL);
  wait_for_exit(m.pid, 5s);
  m.pid = -1;
}

void EtcdCluster::stop(int member) {
  Member& m = *members_[member];
  if (m.pid <= 0) return;
  ::kill(m.pid, SIGTERM);
  wait_for_exit(m.pid, 15s);
  m.pid = -1;
}

void EtcdCluster::start(int member) {
  if (alive(member)) throw std::logic_error("etcd member is still running: stop it first");
  Member& m = *members_[member];
  // Its ports were released when it stopped; if something took one meanwhile, that
  // something is usually a connection closing, gone a moment later.
  for (int attempt = 1; attempt <= 5; ++attempt) {
    spawn_member(member);
    const auto deadline = Clock::now() + 10s;
    while (Clock::now() < deadline && alive(member) && !accepts_connections(member)) {
      std::this_thread::sleep_for(10ms);
    }
    if (alive(member)) {
      if (accepts_connections(member)) return;
      kill(member);
      break;
    }
    if (read_file(m.log_path()).find("address already in use") == std::string::npos) break;
    std::this_thread::sleep_for(200ms);
  }
  throw std::runtime_error(
      fmt::format("etcd {} did not start again:\n{}", m.name, tail(read_file(m.log_path()), 20)));
}

std::optional<EtcdCluster::Status> EtcdCluster::status(int member) const {
  if (!alive(member)) return std::nullopt;
  const std::shared_ptr<grpc::Channel> channel = channel_to(member);
  if (!channel) return std::nullopt;
  auto stub = etcdserverpb::Maintenance::NewStub(channel);
  // Short: a member that has not joined yet holds the call until the deadline, and the
  // members are asked one after the other.
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 150ms);
  // Queued until connected: without it, a channel whose first attempt was refused (the
  // member not yet listening) fails every call at once and does not try again.
  context.set_wait_for_ready(true);
  etcdserverpb::StatusResponse response;
  if (!stub->Status(&context, etcdserverpb::StatusRequest{}, &response).ok()) return std::nullopt;
  return Status{response.header().member_id(), response.leader()};
}

std::optional<int> EtcdCluster::leader(std::chrono::milliseconds within) const {
  const auto deadline = Clock::now() + within;
  for (;;) {
    for (int member = 0; member < kMembers; ++member) {
      const std::optional<Status> answer = status(member);
      if (answer && answer->leader_id != 0 && answer->leader_id == answer->member_id) {
        return member;
      }
    }
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(20ms);
  }
}

bool EtcdCluster::wait_until_serving(std::chrono::milliseconds within) const {
  const auto deadline = Clock::now() + within;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (const std::optional<int> member = leader(std::max(left, 0ms))) {
      if (const std::shared_ptr<grpc::Channel> channel = channel_to(*member)) {
        auto stub = etcdserverpb::KV::NewStub(channel);
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + 1s);
        context.set_wait_for_ready(true);
        etcdserverpb::RangeRequest request;
        request.set_key("count-test-probe");
        etcdserverpb::RangeResponse response;
        if (stub->Range(&context, request, &response).ok()) return true;
      }
    }
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
}

std::string EtcdCluster::logs() const {
  std::string all;
  for (const auto& member : members_) {
    if (!member) continue;
    all += fmt::format("--- {} (client port {}, peer port {}), run {}:\n", member->name,
                       member->client_port, member->peer_port, member->runs);
    all += tail(read_file(member->log_path()), 15);
  }
  return all;
}

}  // namespace count::test
