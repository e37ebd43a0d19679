// Raw-socket helpers for end-to-end tests: pipelined exchanges, bounded in time.
#pragma once

#include <sys/socket.h>

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

// True when the server has closed the connection: a read returns end of stream in time.
inline bool closed_by_peer(Client& client) {
  try {
    return !client.read_line().has_value();
  } catch (const ClientError&) {
    return true;  // reset counts as closed
  }
}

}  // namespace count::test
