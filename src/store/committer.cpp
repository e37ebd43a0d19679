#include "store/committer.hpp"

#include <fmt/core.h>

#include <chrono>
#include <system_error>

#include "log/log.hpp"
#include "store/data_file.hpp"

namespace count {

std::string_view to_string(FsyncPolicy policy) {
  switch (policy) {
    case FsyncPolicy::kAlways:
      return "always";
    case FsyncPolicy::kEverySec:
      return "everysec";
    case FsyncPolicy::kNever:
      return "never";
  }
  return "unknown";
}

bool parse_fsync_policy(std::string_view text, FsyncPolicy& policy) {
  for (const FsyncPolicy candidate :
       {FsyncPolicy::kAlways, FsyncPolicy::kEverySec, FsyncPolicy::kNever}) {
    if (text == to_string(candidate)) {
      policy = candidate;
      return true;
    }
  }
  return false;
}

Committer::Committer(Config config)
    : config_(std::move(config)),
      generation_(config_.generation),
      written_value_(config_.value),
      synced_value_(config_.value),
      thread_([this] { run(); }) {}

Committer::~Committer() { close(); }

void Committer::wake() {
  // Relaxed is enough: if the committer's last look preceded this mutation, its store of
  // `true` happened before, through the store's lock, and this load sees it or a later value.
  if (!sleeping_.load(std::memory_order_relaxed)) return;
  if (!sleeping_.exchange(false)) return;  // another thread is already waking it
  {
    const std::lock_guard lock(mutex_);
    wake_requested_ = true;
  }
  changed_.notify_one();
}

bool Committer::close() {
  if (thread_.joinable()) {
    {
      const std::lock_guard lock(mutex_);
      stop_requested_ = true;
    }
    changed_.notify_one();
    thread_.join();
  }
  return !failed();
}

void Committer::run() {
  for (;;) {
    const bool stopping = wait_for_work();
    const std::lock_guard disk(disk_mutex_);
    if (failed()) return;  // commit_here() failed: nothing more is written
    // Everything applied up to now goes into this one write: the group commit.
    const Snapshot state = config_.latest();
    if (state.seq > written_seq_.load(std::memory_order_relaxed) && !write(state)) return;
    if (unsynced_ && (config_.policy != FsyncPolicy::kNever || stopping) && !sync()) return;
    if (stopping) return;
  }
}

void Committer::commit_here() {
  std::unique_lock disk(disk_mutex_, std::try_to_lock);
  if (!disk.owns_lock()) {
    // The committer (or another loop) is at the disk; its snapshot may predate this batch,
    // and the committer looks again before it sleeps.
    wake();
    return;
  }
  if (failed()) return;
  const Snapshot state = config_.latest();
  if (state.seq <= written_seq_.load(std::memory_order_relaxed)) return;  // and synced: see run()
  const std::uint64_t generation = generation_ + 1;
  const std::size_t index = slot_index(generation);
  const std::size_t offset = slot_offset(index);
  const SlotBytes bytes = encode_slot({generation, state.value});
  const auto start = std::chrono::steady_clock::now();
  const FileOps::DurableWrite result =
      config_.ops->pwrite_durably(config_.fd, bytes, static_cast<off_t>(offset));
  writes_.fetch_add(1, std::memory_order_relaxed);
  if (result.write.error != 0) {
    fail(fmt::format("pwrite of slot {} ({} bytes at offset {}, synced) failed: {}", index,
                     kSlotBytes, offset, std::system_category().message(result.write.error)),
         state.seq);
    return;
  }
  if (result.write.bytes != kSlotBytes) {
    fail(fmt::format("pwrite of slot {} at offset {} was short: {} of {} bytes written", index,
                     offset, result.write.bytes, kSlotBytes),
         state.seq);
    return;
  }
  syncs_.fetch_add(1, std::memory_order_relaxed);
  if (result.sync_error != 0) {
    fail(fmt::format("fdatasync failed: {}", std::system_category().message(result.sync_error)),
         state.seq);
    return;
  }
  synced(state, generation,
         std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

void Committer::synced(const Snapshot& state, std::uint64_t generation, double seconds) {
  generation_ = generation;
  written_seq_.store(state.seq, std::memory_order_relaxed);
  written_value_ = state.value;
  unsynced_ = false;
  sync_seconds_.observe(seconds);
  mutations_per_sync_.observe(static_cast<double>(state.seq - synced_seq()));
  synced_value_.store(state.value, std::memory_order_relaxed);
  synced_seq_.store(state.seq, std::memory_order_release);
  if (listener_) listener_();
}

bool Committer::wait_for_work() {
  std::unique_lock lock(mutex_);
  if (stop_requested_) return true;
  if (config_.policy != FsyncPolicy::kAlways) {
    changed_.wait_for(lock, config_.interval, [this] { return stop_requested_; });
    return stop_requested_;
  }
  // Say "sleeping" first, then look: see the comment on sleeping_.
  sleeping_.store(true);
  if (config_.latest().seq > written_seq_.load(std::memory_order_relaxed)) {
    sleeping_.store(false);
    return false;
  }
  changed_.wait(lock, [this] { return wake_requested_ || stop_requested_; });
  wake_requested_ = false;
  sleeping_.store(false);
  return stop_requested_;
}

bool Committer::write(const Snapshot& state) {
  const std::uint64_t generation = generation_ + 1;
  const std::size_t index = slot_index(generation);
  const std::size_t offset = slot_offset(index);
  const SlotBytes bytes = encode_slot({generation, state.value});
  const IoResult result = config_.ops->pwrite(config_.fd, bytes, static_cast<off_t>(offset));
  writes_.fetch_add(1, std::memory_order_relaxed);
  if (result.error != 0) {
    fail(fmt::format("pwrite of slot {} ({} bytes at offset {}) failed: {}", index, kSlotBytes,
                     offset, std::system_category().message(result.error)),
         state.seq);
    return false;
  }
  if (result.bytes != kSlotBytes) {
    // Not continued: the slot on disk is now torn, and the file is no longer what we think.
    fail(fmt::format("pwrite of slot {} at offset {} was short: {} of {} bytes written", index,
                     offset, result.bytes, kSlotBytes),
         state.seq);
    return false;
  }
  generation_ = generation;
  written_seq_.store(state.seq, std::memory_order_relaxed);
  written_value_ = state.value;
  unsynced_ = true;
  return true;
}

bool Committer::sync() {
  const auto start = std::chrono::steady_clock::now();
  const int error = config_.ops->fdatasync(config_.fd);
  sync_seconds_.observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  syncs_.fetch_add(1, std::memory_order_relaxed);
  if (error != 0) {
    // Never retried: after a failed fdatasync the kernel may have dropped the dirty pages
    // and cleared the error, so a second call could succeed with the data lost.
    fail(fmt::format("fdatasync failed: {}", std::system_category().message(error)),
         written_seq_.load(std::memory_order_relaxed));
    return false;
  }
  unsynced_ = false;
  const Seq written = written_seq_.load(std::memory_order_relaxed);
  mutations_per_sync_.observe(static_cast<double>(written - synced_seq()));
  synced_value_.store(written_value_, std::memory_order_relaxed);
  synced_seq_.store(written, std::memory_order_release);
  if (listener_) listener_();
  return true;
}

void Committer::fail(const std::string& what, Seq pending) {
  failed_.store(true, std::memory_order_release);
  const Seq synced = synced_seq();
  const std::string message = fmt::format(
      "data file {}: {}; {} mutation{} since the last successful sync {} not on stable storage",
      config_.path.string(), what, pending - synced, pending - synced == 1 ? "" : "s",
      pending - synced == 1 ? "is" : "are");
  if (config_.on_failure) {
    config_.on_failure(message);
  } else {
    log_line(LogLevel::kError, message);
  }
}

}  // namespace count
