// A real three-member etcd cluster (/usr/bin/etcd) on free 127.0.0.1 ports, for the tests of
// the etcd store: members can be killed, stopped and started again. Every wait here is
// bounded, and every process it started is killed by its PID when the cluster goes away.
#pragma once

#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "support/netns.hpp"
#include "support/process.hpp"

namespace grpc {
class Channel;
}

namespace count::test {

class EtcdCluster {
 public:
  static constexpr int kMembers = 3;
  // Raft timing, kept short for tests but with room for a busy two-core machine: a member
  // calls an election after missing heartbeats for this long (etcd's default is 1000 ms).
  static constexpr int kHeartbeatMs = 50;
  static constexpr int kElectionMs = 500;

  // Members die with the thread that started them (their parent-death signal), so that a
  // test that crashes leaves none running: create the cluster, and call start(), on a
  // thread that outlives it.
  //
  // Starts the members (fsync on, as in production) and waits, 20 s at most, until they
  // have a leader that answers a linearizable read. When a member exits at start because a
  // port was taken meanwhile, starts again on new ports (3 attempts). Throws
  // std::runtime_error, with the members' logs, when etcd is missing or the cluster does
  // not come up.
  EtcdCluster();
  // The same, each member in a namespace of `lab` (nodes "etcd0", "etcd1", "etcd2", which
  // the lab must have), listening on the node's address: its ports are etcd's own, 2379
  // and 2380. The lab must outlive the cluster.
  explicit EtcdCluster(const NetworkLab& lab);
  ~EtcdCluster();
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  // The lab node of each member.
  static std::string node(int member);

  // "http://127.0.0.1:PORT,..." for every member, in member order; and one member's.
  std::string endpoints() const;
  std::string endpoint(int member) const;

  bool running(int member) const;
  pid_t pid(int member) const;

  // SIGKILL, then waits for the exit (5 s at most).
  void kill(int member);
  // SIGTERM, then waits for the exit: 15 s at most (a leader first hands its leadership
  // over, which takes long when no other member answers), then SIGKILL.
  void stop(int member);
  // Starts a stopped member again on the same data folder and ports, and waits (10 s at
  // most) until it accepts connections; it rejoins the cluster on its own after that.
  void start(int member);

  // The member that says it leads, as the running members tell through the Maintenance
  // Status call; asked again until one does or `within` has passed.
  std::optional<int> leader(std::chrono::milliseconds within) const;

  // True once there is a leader and it answers a linearizable read; false after `within`.
  bool wait_until_serving(std::chrono::milliseconds within) const;

  // The end of each member's log, for failure messages.
  std::string logs() const;

 private:
  struct Member;
  struct Status;

  explicit EtcdCluster(const NetworkLab* lab);
  bool start_all(int attempt);
  // A channel to the member alone: the same one each time on loopback; in a lab, a new one
  // over a connection made inside the member's namespace (nullptr when none is made).
  std::shared_ptr<grpc::Channel> channel_to(int member) const;
  bool accepts_connections(int member) const;
  void spawn_member(int member);
  // Reaps a member that exited by itself; true while it runs.
  bool alive(int member) const;
  std::optional<Status> status(int member) const;

  const NetworkLab* lab_ = nullptr;
  TempDir dir_;
  // unique_ptr: a member's gRPC channel stays out of this header.
  std::array<std::unique_ptr<Member>, kMembers> members_;
};

}  // namespace count::test
