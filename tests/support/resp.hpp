// The Redis protocol from a test's side: requests encoded as arrays of bulk strings, and
// replies read whole, as the bytes the server sent. Every wait is the client's receive
// timeout.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "client/client.hpp"

namespace count::test {

// One request: *N\r\n then each word as $len\r\nword\r\n.
std::string resp_request(const std::vector<std::string>& words);

// Several requests, one after another (a pipeline).
std::string resp_requests(const std::vector<std::vector<std::string>>& requests);

// The size of the first whole reply in `bytes`, or nothing while it is incomplete.
std::optional<std::size_t> resp_reply_size(std::string_view bytes);

// Reads replies off a client, each as the bytes the server sent for it.
class RespReader {
 public:
  explicit RespReader(Client& client) : client_(client) {}

  // The next reply; nothing when the server closed the connection first. Throws ClientError
  // on a failure or when the receive timeout passes.
  std::optional<std::string> next();

  // The next n replies (fewer only if the connection ends).
  std::vector<std::string> next(std::size_t n);

 private:
  Client& client_;
  std::string buffer_;
};

// Sends one request and reads its reply ("" when the connection ends first).
std::string resp_call(Client& client, const std::vector<std::string>& words);

// An integer reply's bytes: ":N\r\n". A bulk string's: "$len\r\nbytes\r\n".
std::string resp_integer(long long value);
std::string resp_bulk(std::string_view bytes);

}  // namespace count::test
