// A private network of Linux network namespaces for partition tests: each node (an etcd
// member, a front end) gets a namespace of its own with one veth link into a bridge, which
// lives in a namespace of its own too. The nodes' addresses (10.213.0.0/24) exist only inside
// those namespaces: no packet leaves the machine, and the test's own namespace never sees
// them. Faults are routes (a blackhole route on one side drops that side's packets to a peer:
// a one-way partition) and links taken down. Everything the lab made is removed when it goes
// away, also when a test fails; a lab left behind by a process that died is removed by the
// next one.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace count::test {

class NetworkLab {
 public:
  // Why namespaces cannot be made here (not root, no `ip`, not permitted), or nothing.
  static std::optional<std::string> unavailable();

  // Makes one namespace per name, in order, with addresses 10.213.0.1, .2, ...; throws
  // std::runtime_error (with what `ip` said) when it cannot, after removing what it made.
  explicit NetworkLab(const std::vector<std::string>& nodes);
  ~NetworkLab();
  NetworkLab(const NetworkLab&) = delete;
  NetworkLab& operator=(const NetworkLab&) = delete;

  const std::string& address(const std::string& node) const;
  const std::string& namespace_of(const std::string& node) const;
  // The command line prefix that runs a program inside the node's namespace. The program
  // keeps its PID (`ip netns exec` execs it), so it is stopped by PID as any other.
  std::vector<std::string> launcher(const std::string& node) const;

  // From now on `from` drops every packet it sends to `to` (`to` still sends to `from`).
  void cut(const std::string& from, const std::string& to);
  // Both ways.
  void cut_between(const std::string& a, const std::string& b);
  // Undoes cut(from, to); and every cut of the lab.
  void heal(const std::string& from, const std::string& to);
  void heal_all();
  // Takes the node's link down (nothing in or out), and up again.
  void unplug(const std::string& node);
  void plug(const std::string& node);

  // A TCP connection made from inside the node's namespace to `host`:`port` (its loopback
  // address, or another node's address), within `timeout_ms`: the descriptor, which works
  // from any thread; or -1 when the connection is not made.
  int connect_from(const std::string& node, const std::string& host, int port,
                   int timeout_ms) const;
  // A listening TCP socket on the node's address and `port`, made inside its namespace; the
  // descriptor, or -1.
  int listen_in(const std::string& node, int port) const;

 private:
  struct Node {
    std::string name;
    std::string netns;
    std::string address;
    std::string bridge_port;  // the veth end in the bridge's namespace
  };
  const Node& node(const std::string& name) const;
  void remove_all() noexcept;

  std::string prefix_;  // of every namespace of this lab: cs<pid>-
  std::string hub_;     // the bridge's namespace
  std::vector<Node> nodes_;
  std::vector<std::pair<std::string, std::string>> cuts_;
};

}  // namespace count::test
