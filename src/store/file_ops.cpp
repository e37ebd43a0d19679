#include "store/file_ops.hpp"

#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>

namespace count {

IoResult SystemFileOps::pread(int fd, std::span<std::byte> out, off_t offset) {
  for (;;) {
    const ssize_t n = ::pread(fd, out.data(), out.size(), offset);
    if (n >= 0) return {static_cast<std::size_t>(n), 0};
    if (errno != EINTR) return {0, errno};
  }
}

IoResult SystemFileOps::pwrite(int fd, std::span<const std::byte> bytes, off_t offset) {
  for (;;) {
    const ssize_t n = ::pwrite(fd, bytes.data(), bytes.size(), offset);
    if (n >= 0) return {static_cast<std::size_t>(n), 0};
    if (errno != EINTR) return {0, errno};
  }
}

// EINTR is retried: it means the call was interrupted before it did anything, not that a
// sync failed (a failed sync reports EIO, ENOSPC, EDQUOT...).
int SystemFileOps::fdatasync(int fd) {
  for (;;) {
    if (::fdatasync(fd) == 0) return 0;
    if (errno != EINTR) return errno;
  }
}

FileOps::DurableWrite FileOps::pwrite_durably(int fd, std::span<const std::byte> bytes,
                                              off_t offset) {
  DurableWrite result{pwrite(fd, bytes, offset)};
  if (result.write.error == 0 && result.write.bytes == bytes.size()) {
    result.sync_error = fdatasync(fd);
  }
  return result;
}

FileOps::DurableWrite SystemFileOps::pwrite_durably(int fd, std::span<const std::byte> bytes,
                                                    off_t offset) {
  iovec vector{const_cast<std::byte*>(bytes.data()), bytes.size()};
  for (;;) {
    const ssize_t n = ::pwritev2(fd, &vector, 1, offset, RWF_DSYNC);
    if (n >= 0) return {{static_cast<std::size_t>(n), 0}};
    if (errno != EINTR) return {{0, errno}};
  }
}

void UniqueFd::reset() {
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
}

}  // namespace count
