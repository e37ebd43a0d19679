// The password of `auth` (docs/protocol.md, "Authentication") and the file that holds it,
// read the same way by count-server, count-client and count-bench. Pure but for the read.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

namespace count {

// The longest password: `auth PASSWORD` stays far inside the line limit.
inline constexpr std::size_t kMaxPasswordBytes = 512;

// The file cannot be read or does not hold a valid password; what() names the file and why.
class PasswordFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Why `password` cannot be one, or nothing when it can: 1 to kMaxPasswordBytes bytes, each
// printable ASCII other than space ('!' to '~'), since a request's words are separated by
// spaces and tabs.
const char* password_problem(std::string_view password);

// Reads a password file: the password on its first line. One line end after it ("\n" or
// "\r\n", as editors leave) is not part of it; anything else after it is an error.
std::string read_password_file(const std::string& path);

}  // namespace count
