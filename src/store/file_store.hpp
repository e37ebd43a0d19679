// The store on disk: the value lives in memory and in a data file (docs/storage.md) that the
// committer thread keeps up to date with group commit. Mutations and reads take one short
// lock and never touch the disk; replies wait for durable_seq() instead.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>

#include "store/committer.hpp"
#include "store/data_file.hpp"
#include "store/file_ops.hpp"
#include "store/store.hpp"

namespace count {

// The data file cannot be used: missing folder, unreadable, corrupt, locked by another
// server. what() is one line naming the file and what is wrong. The file is left untouched.
class DataFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct FileStoreOptions {
  std::filesystem::path path = "count.data";
  FsyncPolicy fsync = FsyncPolicy::kAlways;
  // Between background writes under everysec and never.
  std::chrono::milliseconds interval{1000};
  // The file operations after open; null: the real system calls.
  std::unique_ptr<FileOps> ops;
  // Told once, on the committer's thread, when a write or sync failed; null: printed to
  // stderr. The server's handler exits the process.
  StoreFailureHandler on_failure;
};

class FileStore final : public Store {
 public:
  // Opens the data file (creating it, fully allocated, when missing), locks it against a
  // second server, reads the newest valid slot, syncs what it read, and starts the committer.
  // Throws DataFileError.
  explicit FileStore(FileStoreOptions options);
  ~FileStore() override;
  FileStore(const FileStore&) = delete;
  FileStore& operator=(const FileStore&) = delete;

  Applied add(std::int64_t delta) override;
  Snapshot get() const override;
  // The version is the seq of the last mutation applied: each applied mutation takes one.
  Watched watch() override;
  Transacted transact(std::span<const Step> steps, const Watched* watched) override;
  void commit() override;
  // Under the policy always: writes and syncs here (see Committer::commit_here()).
  void commit_here() override;
  Seq durable_seq() const override;
  void on_durable(std::function<void()> listener) override;
  // Writes and syncs the final value (every policy), stops the committer, and closes the
  // file, which releases its lock. Later mutations are never written.
  bool close() override;
  void write_metrics(MetricsText& out) const override;

  const std::filesystem::path& path() const { return path_; }
  FsyncPolicy policy() const { return policy_; }
  // True when open() created the file.
  bool created() const { return created_; }
  // What open() found wrong but could live with (one slot invalid), or empty.
  const std::string& warning() const { return warning_; }
  // The newest seq really on stable storage, whatever the policy.
  Seq synced_seq() const { return committer_->synced_seq(); }
  const Committer& committer() const { return *committer_; }

 private:
  std::filesystem::path path_;
  FsyncPolicy policy_;
  std::unique_ptr<FileOps> ops_;
  UniqueFd fd_;  // the data file, locked for as long as it is open
  bool created_ = false;
  std::string warning_;

  mutable std::mutex mutex_;  // guards value_ and each write of applied_seq_
  std::int64_t value_ = 0;
  // Seq of the last mutation applied; written under mutex_, read without it by durable_seq().
  std::atomic<Seq> applied_seq_{0};
  // Set on the committer's thread when a write or sync failed: under everysec and never,
  // durable_seq() stays at what was applied then, so that no later mutation is acknowledged.
  std::atomic<bool> failed_{false};
  std::atomic<Seq> last_acknowledgeable_seq_{0};

  // Declared last: its thread stops before the members it reads go away.
  std::optional<Committer> committer_;
};

}  // namespace count
