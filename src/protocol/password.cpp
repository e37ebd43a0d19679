#include "protocol/password.hpp"

#include <fstream>
#include <mutex>
#include <utility>

namespace count {

const char* password_problem(std::string_view password) {
  if (password.empty()) return "it is empty";
  if (password.size() > kMaxPasswordBytes) return "it is longer than 512 bytes";
  for (const char c : password) {
    if (c < '!' || c > '~') {
      return c == ' ' || c == '\t' ? "it holds a space or a tab"
                                   : "it holds a byte that is not printable ASCII";
    }
  }
  return nullptr;
}

std::string read_password_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw PasswordFileError("cannot read the password file " + path);
  // One byte past the longest valid content is enough to tell that the file is too long.
  std::string content;
  content.resize(kMaxPasswordBytes + 3);
  in.read(content.data(), static_cast<std::streamsize>(content.size()));
  if (in.bad()) throw PasswordFileError("cannot read the password file " + path);
  content.resize(static_cast<std::size_t>(in.gcount()));
  std::string_view password{content};
  if (password.ends_with('\n')) password.remove_suffix(1);
  if (password.ends_with('\r')) password.remove_suffix(1);
  if (password.find('\n') != std::string_view::npos) {
    throw PasswordFileError("the password file " + path +
                            " holds more than one line; it must hold the password alone");
  }
  if (const char* problem = password_problem(password)) {
    throw PasswordFileError("the password file " + path + " holds no valid password: " + problem);
  }
  return std::string{password};
}

// Every call reads kMaxPasswordBytes of each (zeros past the end) and folds the differences
// with OR, so neither the length of the common prefix nor the bytes show in the time taken.
bool same_password(std::string_view given, std::string_view expected) {
  unsigned difference = given.size() == expected.size() ? 0U : 1U;
  for (std::size_t i = 0; i < kMaxPasswordBytes; ++i) {
    const auto a = static_cast<unsigned char>(i < given.size() ? given[i] : 0);
    const auto b = static_cast<unsigned char>(i < expected.size() ? expected[i] : 0);
    difference |= static_cast<unsigned>(a ^ b);
  }
  return difference == 0 && given.size() <= kMaxPasswordBytes;
}

ServerPassword::ServerPassword(std::string password)
    : current_(std::make_shared<const std::string>(std::move(password))) {}

bool ServerPassword::matches(std::string_view given) const {
  std::shared_ptr<const std::string> current;
  {
    const std::lock_guard lock(mutex_);
    current = current_;
  }
  return same_password(given, *current);
}

bool ServerPassword::replace(std::string password) {
  auto next = std::make_shared<const std::string>(std::move(password));
  const std::lock_guard lock(mutex_);
  const bool changed = *next != *current_;
  current_ = std::move(next);
  return changed;
}

}  // namespace count
