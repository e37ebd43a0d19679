// The file operations the file store performs on its data file once it is open, behind an
// interface so that tests can make a write fail, a sync fail, or a write come up short.
// SystemFileOps is the real thing: plain system calls, EINTR retried, nothing else.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <span>
#include <utility>

namespace count {

// An outcome of a read or write: bytes moved, or the errno that stopped it.
struct IoResult {
  std::size_t bytes = 0;
  int error = 0;  // 0, or an errno value
};

class FileOps {
 public:
  virtual ~FileOps() = default;

  // One pread(2)/pwrite(2) call; a result shorter than asked is not an error here.
  virtual IoResult pread(int fd, std::span<std::byte> out, off_t offset) = 0;
  virtual IoResult pwrite(int fd, std::span<const std::byte> bytes, off_t offset) = 0;
  // fdatasync(2); returns 0 or the errno.
  virtual int fdatasync(int fd) = 0;

  // Writes and makes the bytes durable in one go: by default pwrite() then, if it wrote them
  // all, fdatasync(). `sync_error` is set when the bytes were written and the sync failed.
  struct DurableWrite {
    IoResult write;
    int sync_error = 0;
  };
  virtual DurableWrite pwrite_durably(int fd, std::span<const std::byte> bytes, off_t offset);
};

class SystemFileOps final : public FileOps {
 public:
  IoResult pread(int fd, std::span<std::byte> out, off_t offset) override;
  IoResult pwrite(int fd, std::span<const std::byte> bytes, off_t offset) override;
  int fdatasync(int fd) override;
  // One pwritev2(2) with RWF_DSYNC: one system call for both (a failure is the write's).
  DurableWrite pwrite_durably(int fd, std::span<const std::byte> bytes, off_t offset) override;
};

// Owns a file descriptor; closes it when destroyed.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  ~UniqueFd() { reset(); }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  void reset();

 private:
  int fd_ = -1;
};

}  // namespace count
