#include "support/netns.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "support/process.hpp"

namespace count::test {
namespace {

constexpr char kNamespaceFolder[] = "/var/run/netns";
constexpr char kSubnet[] = "10.213.0";
constexpr int kPrefixLength = 24;
constexpr char kIp[] = "/bin/ip";  // iproute2's, as Debian installs it

// Runs `ip ARGS...`; throws with what it said when it fails.
void ip(const std::vector<std::string>& args) {
  std::vector<std::string> argv{kIp};
  argv.insert(argv.end(), args.begin(), args.end());
  const RunResult result = run(argv, {}, std::chrono::seconds(10));
  if (result.status != 0) {
    std::string command;
    for (const std::string& arg : argv) command += (command.empty() ? "" : " ") + arg;
    throw std::runtime_error(fmt::format("`{}` failed (exit {}): {}", command, result.status,
                                         result.err.empty() ? result.out : result.err));
  }
}

// The same, for clean-up: what fails is left as it is.
void ip_quietly(const std::vector<std::string>& args) noexcept {
  try {
    ip(args);
  } catch (...) {
  }
}

std::vector<std::string> namespaces() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(kNamespaceFolder, ec)) {
    names.push_back(entry.path().filename().string());
  }
  return names;
}

// Namespaces of labs whose process has died: "cs<pid>-..." with no process <pid>.
void remove_orphans() {
  for (const std::string& name : namespaces()) {
    if (name.rfind("cs", 0) != 0) continue;
    const auto dash = name.find('-');
    if (dash == std::string::npos || dash == 2) continue;
    const std::string digits = name.substr(2, dash - 2);
    if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    const pid_t owner = static_cast<pid_t>(std::stol(digits));
    if (::kill(owner, 0) == 0 || errno != ESRCH) continue;
    ip_quietly({"netns", "delete", name});
  }
}

}  // namespace

std::optional<std::string> NetworkLab::unavailable() {
  if (::geteuid() != 0) return "network namespaces need root (run the tests as root)";
  if (::access(kIp, X_OK) != 0) return "the `ip` program (iproute2) is missing";
  // Making one is the only sure test: a container may forbid it.
  const std::string probe = fmt::format("cs{}-probe", ::getpid());
  const RunResult made = run({kIp, "netns", "add", probe}, {}, std::chrono::seconds(10));
  if (made.status != 0) {
    return "this machine does not let the tests make a network namespace: " + made.err;
  }
  ip_quietly({"netns", "delete", probe});
  return std::nullopt;
}

NetworkLab::NetworkLab(const std::vector<std::string>& nodes)
    : prefix_(fmt::format("cs{}-", ::getpid())) {
  static int labs = 0;  // several labs of one process, one after the other or side by side
  prefix_ += std::to_string(++labs) + "-";
  hub_ = prefix_ + "hub";
  remove_orphans();
  try {
    ip({"netns", "add", hub_});
    ip({"-n", hub_, "link", "set", "lo", "up"});
    ip({"-n", hub_, "link", "add", "br0", "type", "bridge"});
    ip({"-n", hub_, "link", "set", "br0", "up"});
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      Node node{nodes[i], prefix_ + nodes[i], fmt::format("{}.{}", kSubnet, i + 1),
                fmt::format("p{}", i + 1)};
      if (node.netns.size() > 200) throw std::runtime_error("node name too long: " + node.name);
      ip({"netns", "add", node.netns});
      nodes_.push_back(node);
      ip({"-n", node.netns, "link", "set", "lo", "up"});
      // The pair is made inside the node's namespace; one end then moves to the hub.
      ip({"-n", node.netns, "link", "add", "eth0", "type", "veth", "peer", "name",
          node.bridge_port});
      ip({"-n", node.netns, "link", "set", node.bridge_port, "netns", hub_});
      ip({"-n", node.netns, "addr", "add", fmt::format("{}/{}", node.address, kPrefixLength), "dev",
          "eth0"});
      ip({"-n", node.netns, "link", "set", "eth0", "up"});
      ip({"-n", hub_, "link", "set", node.bridge_port, "master", "br0"});
      ip({"-n", hub_, "link", "set", node.bridge_port, "up"});
    }
  } catch (...) {
    remove_all();
    throw;
  }
}

NetworkLab::~NetworkLab() { remove_all(); }

void NetworkLab::remove_all() noexcept {
  // Deleting a namespace deletes its links, and a veth pair goes with either end.
  for (const Node& node : nodes_) ip_quietly({"netns", "delete", node.netns});
  ip_quietly({"netns", "delete", hub_});
  nodes_.clear();
}

const NetworkLab::Node& NetworkLab::node(const std::string& name) const {
  for (const Node& node : nodes_) {
    if (node.name == name) return node;
  }
  throw std::invalid_argument("no node named " + name + " in this lab");
}

const std::string& NetworkLab::address(const std::string& name) const { return node(name).address; }

const std::string& NetworkLab::namespace_of(const std::string& name) const {
  return node(name).netns;
}

std::vector<std::string> NetworkLab::launcher(const std::string& name) const {
  return {kIp, "netns", "exec", node(name).netns};
}

void NetworkLab::cut(const std::string& from, const std::string& to) {
  const auto cut = std::make_pair(from, to);
  if (std::find(cuts_.begin(), cuts_.end(), cut) != cuts_.end()) return;
  // A host route beats the subnet's: packets to `to` go nowhere, and a sender is not told.
  ip({"-n", node(from).netns, "route", "add", "blackhole", node(to).address + "/32"});
  cuts_.push_back(cut);
}

void NetworkLab::cut_between(const std::string& a, const std::string& b) {
  cut(a, b);
  cut(b, a);
}

void NetworkLab::heal(const std::string& from, const std::string& to) {
  const auto cut = std::find(cuts_.begin(), cuts_.end(), std::make_pair(from, to));
  if (cut == cuts_.end()) return;
  ip({"-n", node(from).netns, "route", "del", "blackhole", node(to).address + "/32"});
  cuts_.erase(cut);
}

void NetworkLab::heal_all() {
  while (!cuts_.empty()) {
    const auto [from, to] = cuts_.back();
    heal(from, to);
  }
}

void NetworkLab::unplug(const std::string& name) {
  ip({"-n", hub_, "link", "set", node(name).bridge_port, "down"});
}

void NetworkLab::plug(const std::string& name) {
  ip({"-n", hub_, "link", "set", node(name).bridge_port, "up"});
}

namespace {

// Runs `make` on a thread of its own that has entered the namespace at `path` (a thread's
// network namespace is its own): a socket it makes stays in that namespace wherever it is
// used from. Returns what `make` returns, or -1 when the namespace cannot be entered.
template <typename Make>
int inside(const std::string& path, const Make& make) {
  int made = -1;
  std::thread([&] {
    const int ns = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0) return;
    const bool entered = ::setns(ns, CLONE_NEWNET) == 0;
    ::close(ns);
    if (entered) made = make();
  }).join();
  return made;
}

std::optional<sockaddr_in> ipv4(const std::string& host, int port) {
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &to.sin_addr) != 1) return std::nullopt;
  return to;
}

}  // namespace

int NetworkLab::listen_in(const std::string& name, int port) const {
  const std::optional<sockaddr_in> at = ipv4(node(name).address, port);
  if (!at) return -1;
  return inside(std::string(kNamespaceFolder) + "/" + node(name).netns, [&] {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    const int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&*at), sizeof *at) != 0 ||
        ::listen(fd, 16) != 0) {
      ::close(fd);
      return -1;
    }
    return fd;
  });
}

int NetworkLab::connect_from(const std::string& name, const std::string& host, int port,
                             int timeout_ms) const {
  const std::optional<sockaddr_in> to = ipv4(host, port);
  if (!to) return -1;
  return inside(std::string(kNamespaceFolder) + "/" + node(name).netns, [&] {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int result = ::connect(fd, reinterpret_cast<const sockaddr*>(&*to), sizeof *to);
    if (result != 0 && errno == EINPROGRESS) {
      pollfd writable{fd, POLLOUT, 0};
      int error = ETIMEDOUT;
      socklen_t length = sizeof error;
      if (::poll(&writable, 1, timeout_ms) == 1) {
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
      }
      result = error == 0 ? 0 : -1;
    }
    if (result != 0) {
      ::close(fd);
      return -1;
    }
    // Blocking from here on, as the tests' clients expect.
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
  });
}

}  // namespace count::test
