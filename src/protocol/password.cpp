#include "protocol/password.hpp"

#include <fstream>

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

}  // namespace count
