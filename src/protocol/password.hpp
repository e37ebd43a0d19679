// The password of `auth` (docs/protocol.md, "Authentication") and the file that holds it,
// read the same way by count-server, count-client and count-bench. Pure but for the read
// (and the server's lock around a password a reload may replace).
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
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

// Compares a password in a time that depends on neither its bytes nor where they differ.
bool same_password(std::string_view given, std::string_view expected);

// The server's password, which a reload may replace while connections check against it:
// each check compares with the one current at that moment. Any thread.
class ServerPassword {
 public:
  explicit ServerPassword(std::string password);
  ServerPassword(const ServerPassword&) = delete;
  ServerPassword& operator=(const ServerPassword&) = delete;

  bool matches(std::string_view given) const;
  // Makes `password` the one checked from now on; says whether it differs from the last.
  bool replace(std::string password);

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const std::string> current_;
};

}  // namespace count
