// Raw-socket helpers for end-to-end tests: pipelined exchanges, bounded in time.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "client/client.hpp"

namespace count::test {

// Sends `requests` from a second thread while reading reply lines here, so that neither
// side's buffers can fill up; returns the replies read until `expected` lines or the end of
// the connection. The client's receive timeout bounds every wait.
inline std::vector<std::string> exchange(Client& client, const std::string& requests,
                                         std::size_t expected, bool half_close = false) {
  std::thread sender([&] {
    try {
      client.send(requests);
      if (half_close) client.shutdown_send();
    } catch (const ClientError&) {
      // The reader sees the connection end too.
    }
  });
  std::vector<std::string> replies;
  replies.reserve(expected);
  try {
    while (replies.size() < expected) {
      auto line = client.read_line();
      if (!line) break;
      replies.push_back(std::move(*line));
    }
  } catch (const ClientError&) {
  }
  sender.join();
  return replies;
}

// Repeats `line` + '\n' n times.
inline std::string repeat_line(const std::string& line, std::size_t n) {
  std::string all;
  all.reserve((line.size() + 1) * n);
  for (std::size_t i = 0; i < n; ++i) all.append(line).push_back('\n');
  return all;
}

// What a flood sent: how many whole requests, and the bytes that finish the one it cut.
struct Flood {
  std::size_t requests = 0;
  std::string rest;
};

// Writes `line` + '\n' over and over without reading until the socket stays full for
// `stall` (the server stopped reading) or `limit` passes.
inline Flood flood(Client& client, std::chrono::milliseconds stall, std::chrono::seconds limit,
                   const std::string& line = "incr") {
  const int fd = client.native_handle();
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  const std::string block = repeat_line(line, 8192);
  std::size_t sent_bytes = 0;
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < give_up) {
    const std::size_t at = sent_bytes % block.size();
    const ssize_t n = ::send(fd, block.data() + at, block.size() - at, MSG_NOSIGNAL);
    if (n > 0) {
      sent_bytes += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN) break;
    pollfd writable{fd, POLLOUT, 0};
    if (::poll(&writable, 1, static_cast<int>(stall.count())) == 0) break;  // stalled
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  const std::size_t cut = sent_bytes % (line.size() + 1);
  return {sent_bytes / (line.size() + 1), cut == 0 ? std::string() : (line + '\n').substr(cut)};
}

// flood()'s whole requests; a cut request stays unsent: the next bytes finish it.
inline std::size_t flood_until_stalled(Client& client, std::chrono::milliseconds stall,
                                       std::chrono::seconds limit,
                                       const std::string& line = "incr") {
  return flood(client, stall, limit, line).requests;
}

// True when the server has closed the connection: a read returns end of stream in time.
inline bool closed_by_peer(Client& client) {
  try {
    return !client.read_line().has_value();
  } catch (const ClientError&) {
    return true;  // reset counts as closed
  }
}

}  // namespace count::test
