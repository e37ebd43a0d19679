// The file store: what survives a restart, how seqs and durability move, and what a failing
// write or sync does (docs/storage.md). Faults come from a FileOps that tests control.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <mutex>
#include <thread>
#include <vector>

#include "store/file_store.hpp"
#include "support/process.hpp"

namespace count {
namespace {

using namespace std::chrono_literals;
using test::read_file;
using test::TempDir;
using test::write_file;

// What the faulty file operations do, shared between a test and the store that owns them.
// Counts and faults apply only once armed, so that opening the store is not affected.
struct FaultPlan {
  std::atomic<bool> armed{false};
  std::atomic<int> slot_writes{0};
  std::atomic<int> syncs{0};
  int fail_write_at = 0;  // 1-based, counted once armed; 0: never
  int short_write_at = 0;
  int fail_sync_at = 0;
  int error = EIO;

  // While hold_syncs, fdatasync waits for release(): lets a test pile up mutations behind it.
  std::mutex mutex;
  std::condition_variable changed;
  bool hold_syncs = false;
  int syncs_entered = 0;

  void release() {
    {
      const std::lock_guard lock(mutex);
      hold_syncs = false;
    }
    changed.notify_all();
  }
  bool wait_for_sync_entered(int count) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, 10s, [&] { return syncs_entered >= count; });
  }
};

class FaultyFileOps final : public FileOps {
 public:
  explicit FaultyFileOps(std::shared_ptr<FaultPlan> plan) : plan_(std::move(plan)) {}

  IoResult pread(int fd, std::span<std::byte> out, off_t offset) override {
    return real_.pread(fd, out, offset);
  }
  IoResult pwrite(int fd, std::span<const std::byte> bytes, off_t offset) override {
    if (!plan_->armed) return real_.pwrite(fd, bytes, offset);
    const int n = ++plan_->slot_writes;
    if (n == plan_->fail_write_at) return {0, plan_->error};
    if (n == plan_->short_write_at) return real_.pwrite(fd, bytes.first(10), offset);
    return real_.pwrite(fd, bytes, offset);
  }
  int fdatasync(int fd) override {
    if (!plan_->armed) return real_.fdatasync(fd);
    const int n = ++plan_->syncs;
    {
      std::unique_lock lock(plan_->mutex);
      ++plan_->syncs_entered;
      plan_->changed.notify_all();
      // Bounded, so that a failing test cannot hang its store's destructor.
      plan_->changed.wait_for(lock, 10s, [&] { return !plan_->hold_syncs; });
    }
    if (n == plan_->fail_sync_at) return plan_->error;
    return real_.fdatasync(fd);
  }

 private:
  SystemFileOps real_;
  std::shared_ptr<FaultPlan> plan_;
};

// Collects what the store reports as failed.
struct FailureLog {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::string> messages;

  StoreFailureHandler handler() {
    return [this](const std::string& message) {
      const std::lock_guard lock(mutex);
      messages.push_back(message);
      changed.notify_all();
    };
  }
  bool wait() {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, 10s, [&] { return !messages.empty(); });
  }
  std::size_t size() {
    const std::lock_guard lock(mutex);
    return messages.size();
  }
  std::string first() {
    const std::lock_guard lock(mutex);
    return messages.empty() ? std::string() : messages.front();
  }
};

// Polls `condition` for up to 10 s.
template <typename Condition>
bool eventually(Condition condition) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

class FileStoreTest : public ::testing::Test {
 protected:
  std::filesystem::path data() const { return dir_.path() / "count.data"; }

  FileStoreOptions options(FsyncPolicy policy = FsyncPolicy::kAlways) {
    FileStoreOptions result;
    result.path = data();
    result.fsync = policy;
    result.interval = 20ms;
    result.ops = std::make_unique<FaultyFileOps>(plan_);
    result.on_failure = failures_.handler();
    return result;
  }
  std::unique_ptr<FileStore> open(FsyncPolicy policy = FsyncPolicy::kAlways) {
    return std::make_unique<FileStore>(options(policy));
  }
  std::string open_error(FsyncPolicy policy = FsyncPolicy::kAlways) {
    try {
      FileStore store(options(policy));
    } catch (const DataFileError& e) {
      return e.what();
    }
    return "(opened)";
  }

  TempDir dir_;
  std::shared_ptr<FaultPlan> plan_ = std::make_shared<FaultPlan>();
  FailureLog failures_;
};

TEST_F(FileStoreTest, CreatesAMissingFileAtFullSizeHoldingZero) {
  auto store = open();
  EXPECT_TRUE(store->created());
  EXPECT_EQ(store->get().value, 0);
  EXPECT_EQ(std::filesystem::file_size(data()), kDataFileBytes);
  EXPECT_TRUE(store->close());
  // Nothing but the data file is left in the folder.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_.path()),
                          std::filesystem::directory_iterator()),
            1);
  EXPECT_FALSE(open()->created());
}

// The value is the operator's business: a new data file is readable by its owner only,
// whatever the umask; an existing one keeps the mode the operator gave it.
TEST_F(FileStoreTest, ANewFileIsPrivateWhateverTheUmask) {
  for (const mode_t mask : {mode_t{0}, mode_t{022}, mode_t{077}}) {
    std::filesystem::remove(data());
    const mode_t before = ::umask(mask);
    auto store = open();
    ::umask(before);
    struct stat info {};
    ASSERT_EQ(::stat(data().c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 07777, 0600U) << "umask " << std::oct << mask;
    EXPECT_TRUE(store->close());
  }
}

TEST_F(FileStoreTest, AnExistingFileKeepsItsMode) {
  EXPECT_TRUE(open()->close());
  ASSERT_EQ(::chmod(data().c_str(), 0640), 0);
  auto store = open();
  ASSERT_TRUE(store->add(1).ok);
  EXPECT_TRUE(store->close());
  struct stat info {};
  ASSERT_EQ(::stat(data().c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0640U);
}

TEST_F(FileStoreTest, RestartKeepsTheValueUnderEveryPolicy) {
  std::int64_t expected = 0;
  for (const FsyncPolicy policy :
       {FsyncPolicy::kAlways, FsyncPolicy::kEverySec, FsyncPolicy::kNever}) {
    auto store = open(policy);
    EXPECT_EQ(store->get().value, expected) << to_string(policy);
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(store->add(3).ok);
    ASSERT_TRUE(store->add(-1).ok);
    expected += 299;
    EXPECT_TRUE(store->close());
  }
  EXPECT_EQ(open()->get().value, expected);
  EXPECT_EQ(failures_.size(), 0U);
}

// The value on disk at the start was synced before the first reply: the durable value (the
// stop's log line, the metrics) is that one until a write changes it, not 0.
TEST_F(FileStoreTest, TheDurableValueAfterARestartIsTheOneRead) {
  {
    auto store = open();
    ASSERT_TRUE(store->add(41).ok);
    EXPECT_TRUE(store->close());
  }
  auto store = open();
  EXPECT_EQ(store->committer().synced_value(), 41);
  EXPECT_TRUE(store->close());
  EXPECT_EQ(store->committer().synced_value(), 41);
  EXPECT_EQ(store->committer().writes(), 0U);
}

TEST_F(FileStoreTest, ExtremeValuesSurviveARestart) {
  {
    auto store = open();
    ASSERT_TRUE(store->add(std::numeric_limits<std::int64_t>::min()).ok);
    EXPECT_FALSE(store->add(-1).ok);
  }
  EXPECT_EQ(open()->get().value, std::numeric_limits<std::int64_t>::min());
}

TEST_F(FileStoreTest, MissingFolderIsAClearErrorAndCreatesNothing) {
  FileStoreOptions opts = options();
  opts.path = dir_.path() / "no-such-folder" / "count.data";
  try {
    FileStore store(std::move(opts));
    FAIL() << "opened";
  } catch (const DataFileError& e) {
    EXPECT_NE(std::string(e.what()).find("no-such-folder does not exist"), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "no-such-folder"));
}

TEST_F(FileStoreTest, CorruptFileIsRefusedAndLeftUntouched) {
  { open()->add(5); }
  std::string bytes = read_file(data());
  bytes[slot_offset(0) + kValueOffset] ^= 1;
  bytes[slot_offset(1) + kGenerationOffset] ^= 1;
  write_file(data(), bytes);

  const std::string error = open_error();
  EXPECT_NE(error.find(data().string()), std::string::npos) << error;
  EXPECT_NE(error.find("corrupt"), std::string::npos) << error;
  EXPECT_NE(error.find("checksum mismatch"), std::string::npos) << error;
  EXPECT_EQ(read_file(data()), bytes);
}

TEST_F(FileStoreTest, EmptyTruncatedOrForeignFileIsRefusedAndLeftUntouched) {
  for (const std::string& bytes :
       {std::string(), std::string(100, 'x'), std::string(kDataFileBytes, 'x'),
        std::string(kDataFileBytes + 1, '\0')}) {
    write_file(data(), bytes);
    const std::string error = open_error();
    EXPECT_NE(error.find("corrupt"), std::string::npos) << error;
    EXPECT_EQ(read_file(data()), bytes);
  }
}

TEST_F(FileStoreTest, AFolderInPlaceOfTheFileIsRefused) {
  std::filesystem::create_directory(data());
  EXPECT_NE(open_error().find("cannot open"), std::string::npos);
}

TEST_F(FileStoreTest, SecondStoreOnTheSameFileIsRefused) {
  auto first = open();
  const std::string error = open_error();
  EXPECT_NE(error.find("in use by another count-server"), std::string::npos) << error;
  first.reset();
  EXPECT_EQ(open_error(), "(opened)");
}

TEST_F(FileStoreTest, TornNewestSlotFallsBackToTheValueBefore) {
  {
    auto store = open();
    store->add(10);  // may share a write with the next one; close writes the last state anyway
    EXPECT_TRUE(store->close());
  }
  {
    auto store = open();
    store->add(5);
    EXPECT_TRUE(store->close());
  }
  // The newest slot (value 15) is cut short: the one before it (10) must win.
  std::string bytes = read_file(data());
  const FileImage image = [&] {
    FileImage copy{};
    std::memcpy(copy.data(), bytes.data(), copy.size());
    return copy;
  }();
  const std::size_t newest = recover(image).newest_index;
  std::fill_n(bytes.begin() + static_cast<std::ptrdiff_t>(slot_offset(newest) + 12), 16, '\0');
  write_file(data(), bytes);
  auto store = open();
  EXPECT_EQ(store->get().value, 10);
  EXPECT_NE(store->warning().find("one slot is invalid"), std::string::npos);
  // The next write goes to the damaged slot and the file is whole again.
  store->add(1);
  EXPECT_TRUE(store->close());
  auto again = open();
  EXPECT_EQ(again->get().value, 11);
  EXPECT_TRUE(again->warning().empty());
}

TEST_F(FileStoreTest, SeqsGrowAndDurabilityFollowsUnderAlways) {
  auto store = open();
  std::atomic<int> notices{0};
  store->on_durable([&] { ++notices; });
  EXPECT_EQ(store->get().seq, 0U);
  EXPECT_EQ(store->durable_seq(), 0U);
  Seq last = 0;
  for (int i = 1; i <= 50; ++i) {
    const Applied applied = store->add(i);
    ASSERT_TRUE(applied.ok);
    EXPECT_GT(applied.seq, last);
    last = applied.seq;
    // Never ahead of what was applied.
    EXPECT_LE(store->durable_seq(), applied.seq);
  }
  store->commit();
  const Snapshot snapshot = store->get();
  EXPECT_EQ(snapshot.value, 50 * 51 / 2);
  EXPECT_EQ(snapshot.seq, last);
  EXPECT_TRUE(eventually([&] { return store->durable_seq() >= last; }));
  EXPECT_EQ(store->durable_seq(), last);
  // The notice follows the advance (the seq is published first).
  EXPECT_TRUE(eventually([&] { return notices.load() >= 1; }));
}

TEST_F(FileStoreTest, RefusedAddChangesNothingAndNeedsNoWrite) {
  auto store = open();
  ASSERT_TRUE(store->add(std::numeric_limits<std::int64_t>::max()).ok);
  const Snapshot before = store->get();
  const Applied refused = store->add(1);
  EXPECT_FALSE(refused.ok);
  EXPECT_EQ(refused.value, before.value);
  EXPECT_EQ(refused.seq, before.seq);
  EXPECT_EQ(store->get().seq, before.seq);
}

// Mutations that arrive while a sync is in flight all share the next one.
TEST_F(FileStoreTest, MutationsDuringASyncShareTheNextOne) {
  auto store = open();
  plan_->hold_syncs = true;
  plan_->armed = true;
  const Seq first = store->add(1).seq;
  store->commit();
  ASSERT_TRUE(plan_->wait_for_sync_entered(1));
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 250; ++i) store->add(1);
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(store->durable_seq(), 0U);  // the first sync has not returned yet
  plan_->release();
  const Seq last = store->get().seq;
  EXPECT_EQ(last, first + 1000);
  ASSERT_TRUE(eventually([&] { return store->durable_seq() >= last; }));
  EXPECT_EQ(plan_->slot_writes.load(), 2);
  EXPECT_EQ(plan_->syncs.load(), 2);
  EXPECT_EQ(store->get().value, 1001);
}

TEST_F(FileStoreTest, ConcurrentWaitingWritersAreAllDurableAndCounted) {
  auto store = open();
  plan_->armed = true;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 300;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  std::atomic<int> not_durable{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        const Seq seq = store->add(1).seq;
        store->commit();
        // As a session does: the next request only after this reply could leave.
        if (!eventually([&] { return store->durable_seq() >= seq; })) ++not_durable;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(not_durable.load(), 0);
  EXPECT_EQ(store->get().value, kThreads * kPerThread);
  EXPECT_LE(plan_->syncs.load(), kThreads * kPerThread);
  EXPECT_TRUE(store->close());
  EXPECT_EQ(open()->get().value, kThreads * kPerThread);
}

TEST_F(FileStoreTest, FailedWriteIsReportedAndNothingBecomesDurable) {
  auto store = open();
  plan_->fail_write_at = 1;
  plan_->armed = true;
  const Seq seq = store->add(7).seq;
  store->commit();
  ASSERT_TRUE(failures_.wait());
  const std::string message = failures_.first();
  EXPECT_NE(message.find(data().string()), std::string::npos) << message;
  EXPECT_NE(message.find("pwrite of slot"), std::string::npos) << message;
  EXPECT_NE(message.find("Input/output error"), std::string::npos) << message;
  EXPECT_EQ(store->durable_seq(), 0U);
  EXPECT_LT(store->durable_seq(), seq);
  store->add(1);  // nothing is written or synced any more
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(store->close());
  EXPECT_EQ(plan_->slot_writes.load(), 1);
  EXPECT_EQ(plan_->syncs.load(), 0);
  EXPECT_EQ(store->durable_seq(), 0U);
  EXPECT_EQ(failures_.size(), 1U);
}

TEST_F(FileStoreTest, FailedSyncLeavesDurabilityAtTheLastGoodBatch) {
  auto store = open();
  plan_->fail_sync_at = 2;
  plan_->error = ENOSPC;
  plan_->armed = true;
  const Seq good = store->add(1).seq;
  store->commit();
  ASSERT_TRUE(eventually([&] { return store->durable_seq() >= good; }));
  const Seq lost = store->add(1).seq;
  store->commit();
  ASSERT_TRUE(failures_.wait());
  const std::string message = failures_.first();
  EXPECT_NE(message.find("fdatasync failed: No space left on device"), std::string::npos)
      << message;
  EXPECT_NE(message.find("1 mutation since the last successful sync is not"), std::string::npos)
      << message;
  EXPECT_EQ(store->durable_seq(), good);
  EXPECT_LT(store->durable_seq(), lost);
  store->add(1);
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(store->close());
  // Never retried, not even at close.
  EXPECT_EQ(plan_->syncs.load(), 2);
  EXPECT_EQ(store->durable_seq(), good);
}

// An io_uring loop's commit: the write and the sync happen on the calling thread, which
// sees the durable seq advance and the listener called before the call returns.
TEST_F(FileStoreTest, CommitHereWritesAndSyncsOnTheCallingThread) {
  {
    auto store = open();
    std::atomic<std::thread::id> told_on{};
    store->on_durable([&] { told_on = std::this_thread::get_id(); });
    // The committer, just started, looks once for work before it sleeps: let it.
    ASSERT_TRUE(eventually([&] { return store->committer().idle(); }));
    plan_->armed = true;
    store->add(5);
    const Seq seq = store->add(2).seq;
    store->commit_here();
    EXPECT_GE(store->durable_seq(), seq);
    EXPECT_EQ(told_on.load(), std::this_thread::get_id());
    EXPECT_EQ(plan_->slot_writes.load(), 1);  // one write and one sync for the batch
    EXPECT_EQ(plan_->syncs.load(), 1);
    store->commit_here();  // nothing new: nothing written
    EXPECT_EQ(plan_->slot_writes.load(), 1);
    EXPECT_TRUE(store->close());
  }
  auto reopened = open();
  EXPECT_EQ(reopened->get().value, 7);
}

TEST_F(FileStoreTest, CommitHereFailedWriteIsReportedAndNothingBecomesDurable) {
  auto store = open();
  ASSERT_TRUE(eventually([&] { return store->committer().idle(); }));
  plan_->fail_write_at = 1;
  plan_->armed = true;
  const Seq seq = store->add(7).seq;
  store->commit_here();
  ASSERT_EQ(failures_.size(), 1U);  // reported on this thread, before the call returned
  const std::string message = failures_.first();
  EXPECT_NE(message.find("pwrite of slot"), std::string::npos) << message;
  EXPECT_NE(message.find("Input/output error"), std::string::npos) << message;
  EXPECT_LT(store->durable_seq(), seq);
  store->add(1);
  store->commit_here();  // nothing is written or synced any more, here or by the committer
  store->commit();
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(store->close());
  EXPECT_EQ(plan_->slot_writes.load(), 1);
  EXPECT_EQ(plan_->syncs.load(), 0);
  EXPECT_EQ(failures_.size(), 1U);
}

TEST_F(FileStoreTest, CommitHereFailedSyncLeavesDurabilityAtTheLastGoodBatch) {
  auto store = open();
  ASSERT_TRUE(eventually([&] { return store->committer().idle(); }));
  plan_->fail_sync_at = 2;
  plan_->error = ENOSPC;
  plan_->armed = true;
  const Seq good = store->add(1).seq;
  store->commit_here();
  EXPECT_EQ(store->durable_seq(), good);
  const Seq lost = store->add(1).seq;
  store->commit_here();
  ASSERT_EQ(failures_.size(), 1U);
  const std::string message = failures_.first();
  EXPECT_NE(message.find("fdatasync failed: No space left on device"), std::string::npos)
      << message;
  EXPECT_EQ(store->durable_seq(), good);
  EXPECT_LT(store->durable_seq(), lost);
  EXPECT_FALSE(store->close());
  EXPECT_EQ(plan_->syncs.load(), 2);  // never retried, not even at close
  EXPECT_EQ(store->durable_seq(), good);
}

// While the committer thread is at the disk, commit_here() does not wait for it: it leaves
// the batch to the committer, which writes it once the sync in progress is over.
TEST_F(FileStoreTest, CommitHereWhileTheCommitterIsAtTheDiskLeavesTheBatchToIt) {
  auto store = open();
  plan_->hold_syncs = true;
  plan_->armed = true;
  store->add(1);
  store->commit();
  ASSERT_TRUE(plan_->wait_for_sync_entered(1));
  const Seq later = store->add(1).seq;
  store->commit_here();  // returns at once: the disk is busy
  EXPECT_LT(store->durable_seq(), later);
  plan_->release();
  EXPECT_TRUE(eventually([&] { return store->durable_seq() >= later; }));
  EXPECT_TRUE(store->close());
  EXPECT_EQ(plan_->syncs.load(), 2);
}

TEST_F(FileStoreTest, ShortWriteIsAFailureAndTheFileStillReadsTheLastDurableValue) {
  {
    auto store = open();
    plan_->short_write_at = 2;
    plan_->armed = true;
    const Seq good = store->add(40).seq;
    store->commit();
    ASSERT_TRUE(eventually([&] { return store->durable_seq() >= good; }));
    store->add(2);
    store->commit();
    ASSERT_TRUE(failures_.wait());
    EXPECT_NE(failures_.first().find("was short: 10 of 28 bytes written"), std::string::npos)
        << failures_.first();
    EXPECT_EQ(store->durable_seq(), good);
    EXPECT_FALSE(store->close());
  }
  plan_->armed = false;
  auto store = open();
  EXPECT_EQ(store->get().value, 40);
  EXPECT_FALSE(store->warning().empty());
}

TEST_F(FileStoreTest, EverySecRepliesDoNotWaitAndTheBackgroundSyncCatchesUp) {
  auto store = open(FsyncPolicy::kEverySec);
  plan_->armed = true;
  const Applied applied = store->add(9);
  EXPECT_GE(store->durable_seq(), applied.seq);
  EXPECT_TRUE(eventually([&] { return store->synced_seq() >= applied.seq; }));
  EXPECT_GE(plan_->syncs.load(), 1);
  FileImage image{};
  const std::string bytes = read_file(data());
  std::memcpy(image.data(), bytes.data(), image.size());
  EXPECT_EQ(recover(image).newest.value, 9);
}

TEST_F(FileStoreTest, NeverWritesWithoutSyncingUntilClose) {
  auto store = open(FsyncPolicy::kNever);
  plan_->armed = true;
  const Applied applied = store->add(5);
  EXPECT_GE(store->durable_seq(), applied.seq);
  EXPECT_TRUE(eventually([&] { return plan_->slot_writes.load() >= 1; }));
  std::this_thread::sleep_for(60ms);
  EXPECT_EQ(plan_->syncs.load(), 0);
  EXPECT_TRUE(store->close());
  EXPECT_EQ(plan_->syncs.load(), 1);
  EXPECT_EQ(store->synced_seq(), applied.seq);
  plan_->armed = false;
  EXPECT_EQ(open()->get().value, 5);
}

TEST_F(FileStoreTest, FailedSyncAtCloseIsReported) {
  auto store = open(FsyncPolicy::kNever);
  plan_->fail_sync_at = 1;
  plan_->armed = true;
  store->add(5);
  EXPECT_FALSE(store->close());
  EXPECT_NE(failures_.first().find("fdatasync failed"), std::string::npos);
}

TEST_F(FileStoreTest, AfterAFailureUnderEverySecNothingMoreIsAcknowledged) {
  auto store = open(FsyncPolicy::kEverySec);
  plan_->fail_sync_at = 1;
  plan_->armed = true;
  const Applied before = store->add(1);
  EXPECT_GE(store->durable_seq(), before.seq);
  ASSERT_TRUE(failures_.wait());
  const Seq frozen = store->durable_seq();
  const Applied after = store->add(1);
  EXPECT_GT(after.seq, frozen);
  EXPECT_EQ(store->durable_seq(), frozen);
  EXPECT_FALSE(store->close());
}

TEST(FsyncPolicy, ParsesItsThreeNames) {
  FsyncPolicy policy = FsyncPolicy::kNever;
  EXPECT_TRUE(parse_fsync_policy("always", policy));
  EXPECT_EQ(policy, FsyncPolicy::kAlways);
  EXPECT_TRUE(parse_fsync_policy("everysec", policy));
  EXPECT_EQ(policy, FsyncPolicy::kEverySec);
  EXPECT_FALSE(parse_fsync_policy("sometimes", policy));
  EXPECT_EQ(policy, FsyncPolicy::kEverySec);
  EXPECT_EQ(to_string(FsyncPolicy::kNever), "never");
}

}  // namespace
}  // namespace count
