// The -h and -p values into a list of servers, by the rule in server_list.hpp.
#include "loadgen/server_list.hpp"

#include <charconv>

namespace count {
namespace {

// One -h entry: its host, and its port when it carries one.
struct HostEntry {
  std::string host;
  std::optional<std::uint16_t> port;
};

std::optional<std::uint16_t> parse_port(std::string_view text) {
  unsigned number = 0;
  const char* const end = text.data() + text.size();
  const auto [ptr, status] = std::from_chars(text.data(), end, number);
  if (text.empty() || status != std::errc{} || ptr != end || number == 0 || number > 65535) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(number);
}

std::optional<HostEntry> parse_host_entry(std::string_view entry, std::string& error) {
  HostEntry parsed;
  std::string_view port;
  bool has_port = false;
  if (entry.starts_with('[')) {
    const std::size_t close = entry.find(']');
    if (close == std::string_view::npos || close == 1) {
      error = "-h '" + std::string(entry) + "': an IPv6 address goes inside [ ]";
      return std::nullopt;
    }
    parsed.host = std::string(entry.substr(1, close - 1));
    const std::string_view rest = entry.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        error = "-h '" + std::string(entry) + "': only :PORT may follow ']'";
        return std::nullopt;
      }
      port = rest.substr(1);
      has_port = true;
    }
  } else if (const std::size_t colon = entry.find(':');
             colon != std::string_view::npos &&
             entry.find(':', colon + 1) == std::string_view::npos) {
    parsed.host = std::string(entry.substr(0, colon));
    port = entry.substr(colon + 1);
    has_port = true;
  } else {
    parsed.host = std::string(entry);  // a name, an IPv4 address, or a bare IPv6 address
  }
  if (parsed.host.empty()) {
    error = "-h '" + std::string(entry) + "': the host is empty";
    return std::nullopt;
  }
  if (has_port) {
    parsed.port = parse_port(port);
    if (!parsed.port) {
      error =
          "-h '" + std::string(entry) + "': '" + std::string(port) + "' is not a port (1 to 65535)";
      return std::nullopt;
    }
  }
  return parsed;
}

}  // namespace

std::string ServerAddress::text() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::vector<std::string> split_commas(const std::vector<std::string>& values) {
  std::vector<std::string> entries;
  for (const std::string& value : values) {
    std::size_t start = 0;
    for (;;) {
      const std::size_t comma = value.find(',', start);
      entries.push_back(value.substr(start, comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return entries;
}

std::optional<std::vector<ServerAddress>> parse_server_list(const std::vector<std::string>& hosts,
                                                            const std::vector<std::string>& ports,
                                                            std::string& error) {
  std::vector<HostEntry> entries;
  std::size_t portless = 0;
  for (const std::string& text : split_commas(hosts)) {
    if (text.empty()) {
      error = "-h: an entry of the list is empty";
      return std::nullopt;
    }
    std::optional<HostEntry> entry = parse_host_entry(text, error);
    if (!entry) return std::nullopt;
    if (!entry->port) ++portless;
    entries.push_back(std::move(*entry));
  }
  if (entries.empty()) {
    entries.push_back({kDefaultServerHost, std::nullopt});
    portless = 1;
  }

  std::vector<std::uint16_t> port_list;
  for (const std::string& text : split_commas(ports)) {
    const std::optional<std::uint16_t> port = parse_port(text);
    if (!port) {
      error = "-p: '" + text + "' is not a port (1 to 65535)";
      return std::nullopt;
    }
    port_list.push_back(*port);
  }

  std::vector<ServerAddress> servers;
  if (!port_list.empty() && portless == 0) {
    error = "-p is not used: every -h entry has its own port";
    return std::nullopt;
  }
  if (port_list.size() <= 1) {
    const std::uint16_t port = port_list.empty() ? kDefaultServerPort : port_list.front();
    for (const HostEntry& entry : entries)
      servers.push_back({entry.host, entry.port.value_or(port)});
  } else if (entries.size() == 1) {
    for (const std::uint16_t port : port_list) servers.push_back({entries.front().host, port});
  } else if (portless == port_list.size()) {
    std::size_t next = 0;
    for (const HostEntry& entry : entries) {
      servers.push_back({entry.host, entry.port ? *entry.port : port_list[next++]});
    }
  } else {
    error = std::to_string(port_list.size()) + " ports (-p) for " + std::to_string(portless) +
            " -h entr" + (portless == 1 ? "y" : "ies") +
            " without a port: give one port for them all, one per such entry (paired in "
            "order), several for a single -h host, or HOST:PORT in each -h entry";
    return std::nullopt;
  }

  for (std::size_t i = 0; i < servers.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (servers[i] == servers[j]) {
        error = "the server " + servers[i].text() + " is listed twice";
        return std::nullopt;
      }
    }
  }
  return servers;
}

}  // namespace count
