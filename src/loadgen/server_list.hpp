// The servers count-bench spreads its connections over, from its -h and -p flags. Pure: no
// name is resolved and no connection made here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace count {

inline constexpr std::uint16_t kDefaultServerPort = 4444;
inline constexpr char kDefaultServerHost[] = "127.0.0.1";

struct ServerAddress {
  std::string host;  // a name or address as given; an IPv6 address without its brackets
  std::uint16_t port = kDefaultServerPort;

  // "host:port", or "[v6]:port".
  std::string text() const;
  bool operator==(const ServerAddress&) const = default;
};

// The servers named by every -h value and every -p value, in the order given. Each value
// may be a comma-separated list. The rule:
//   - an -h entry may carry its own port: HOST:PORT, or [IPV6]:PORT (an IPv6 address
//     without brackets has no port);
//   - entries without a port take it from -p: 4444 when -p is not given, the one port when
//     one is; with several ports, either a single -h entry (then that host on every port)
//     or exactly one portless entry per port, paired in order;
//   - no -h at all means 127.0.0.1.
// A port that no entry uses, a count of ports that fits none of these cases, an empty
// entry, a port outside 1..65535 and the same server twice are refused: returns nothing
// and sets `error` to one line saying why.
std::optional<std::vector<ServerAddress>> parse_server_list(const std::vector<std::string>& hosts,
                                                            const std::vector<std::string>& ports,
                                                            std::string& error);

// The entries of comma-separated values, in order, for lists of -h values such as etcd's
// URLs; an empty entry is kept (as "") for the caller to refuse.
std::vector<std::string> split_commas(const std::vector<std::string>& values);

}  // namespace count
