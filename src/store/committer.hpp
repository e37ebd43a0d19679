// The group-commit thread of the file store: writes the store's newest state into the data
// file and syncs it, one write and one fdatasync for every mutation that arrived meanwhile,
// then publishes the new durable seq. The threads that mutate never wait for it. An io_uring
// loop may do the same work itself (commit_here()), with no hand-off to this thread and back;
// one thread at a time is at the disk.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "store/file_ops.hpp"
#include "store/store.hpp"

namespace count {

// When the data file is synced (docs/storage.md, "Fsync policies").
enum class FsyncPolicy {
  kAlways,    // before any reply that depends on a mutation leaves
  kEverySec,  // once a second, in the background
  kNever,     // written once a second, synced only at close: the OS decides
};

std::string_view to_string(FsyncPolicy policy);
// "always", "everysec", "never"; false for anything else.
bool parse_fsync_policy(std::string_view text, FsyncPolicy& policy);

// Told, once and on the committer's thread, what failed: one line naming the file, the
// operation and the errno text. The committer has stopped by then; nothing it had not
// already made durable ever will be.
using StoreFailureHandler = std::function<void(const std::string& message)>;

class Committer {
 public:
  struct Config {
    std::filesystem::path path;  // for messages
    int fd = -1;                 // the open data file; owned by the caller, outlives this
    FileOps* ops = nullptr;      // owned by the caller, outlives this
    FsyncPolicy policy = FsyncPolicy::kAlways;
    std::chrono::milliseconds interval{1000};  // between background writes (everysec, never)
    std::uint64_t generation = 0;              // of the newest slot on disk
    std::int64_t value = 0;                    // ... and its value, synced before the start
    // The store's newest state. Called on the committer's thread; takes the store's lock.
    std::function<Snapshot()> latest;
    StoreFailureHandler on_failure;
  };

  // Starts the thread.
  explicit Committer(Config config);
  // Closes, if close() was not called.
  ~Committer();
  Committer(const Committer&) = delete;
  Committer& operator=(const Committer&) = delete;

  // Any thread, after a mutation changed latest(): makes the committer look. Costs a load
  // and nothing else while the committer is busy; a wake-up only when it sleeps.
  void wake();

  // Any thread, under the policy always: writes and syncs the newest state on this thread
  // (one pwritev2 with RWF_DSYNC), publishes it, and tells the listener, here. When another
  // thread is at the disk, wakes the committer instead, which covers what that one missed.
  void commit_here();

  // The newest seq known to be on stable storage. Any thread.
  Seq synced_seq() const { return synced_seq_.load(std::memory_order_acquire); }

  // Called on the thread that synced (the committer's, or commit_here()'s caller) after each
  // advance of synced_seq(); must not block. Set before the first mutation.
  void on_synced(std::function<void()> listener) { listener_ = std::move(listener); }

  // Writes and syncs the newest state (under every policy), then stops the thread. Returns
  // false when that, or an earlier write or sync, failed. Once only; not concurrently.
  bool close();

  bool failed() const { return failed_.load(std::memory_order_acquire); }

  // Under the policy always: the committer waits for a wake() (it has looked, and found
  // nothing to write; it looks again only when woken). Any thread; for tests that need the
  // disk to themselves.
  bool idle() const {
    const std::lock_guard lock(mutex_);  // held by the committer from its flag to its wait
    return sleeping_.load(std::memory_order_acquire);
  }

  // Disk writes and syncs done so far (the first counts each slot write). Any thread.
  std::uint64_t writes() const { return writes_.load(std::memory_order_relaxed); }
  std::uint64_t syncs() const { return syncs_.load(std::memory_order_relaxed); }
  // The value in the last slot synced. Any thread.
  std::int64_t synced_value() const { return synced_value_.load(std::memory_order_relaxed); }
  // Per sync: how many mutations it made durable, and how long the fdatasync took.
  const MetricHistogram& mutations_per_sync() const { return mutations_per_sync_; }
  const MetricHistogram& sync_seconds() const { return sync_seconds_; }

 private:
  void run();
  // Waits for work; returns true once close() has asked to stop.
  bool wait_for_work();
  bool write(const Snapshot& state);
  bool sync();
  // Reports a failed write or sync once; `pending` is the seq that was to become durable.
  void fail(const std::string& what, Seq pending);

  // Records a slot written and synced: the counters, then synced_seq(), then the listener.
  void synced(const Snapshot& state, std::uint64_t generation, double seconds);

  Config config_;
  // The disk and what was last written: held by the thread at the disk (the committer's, or
  // commit_here()'s caller) for a write and its sync.
  std::mutex disk_mutex_;
  std::uint64_t generation_;        // of the last slot written
  std::atomic<Seq> written_seq_{0};  // seq of the last slot written (read without the lock)
  bool unsynced_ = false;           // a slot was written and not yet synced
  std::int64_t written_value_ = 0;  // the value in the last slot written
  std::function<void()> listener_;

  std::atomic<Seq> synced_seq_{0};
  std::atomic<bool> failed_{false};
  std::atomic<std::uint64_t> writes_{0};
  std::atomic<std::uint64_t> syncs_{0};
  std::atomic<std::int64_t> synced_value_{0};
  MetricHistogram mutations_per_sync_{{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384}};
  MetricHistogram sync_seconds_{
      {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}};

  // Set by the committer before its last look at latest() when it is about to sleep, and
  // cleared by the first wake() that sees it. The store's lock orders that look against
  // each mutation, so a mutation either is seen by the look or sees the flag.
  std::atomic<bool> sleeping_{false};
  mutable std::mutex mutex_;  // guards the two flags below
  std::condition_variable changed_;
  bool wake_requested_ = false;
  bool stop_requested_ = false;

  std::thread thread_;  // last: starts once everything above is ready
};

}  // namespace count
