#include "store/file_store.hpp"

#include <fcntl.h>
#include <fmt/core.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "core/counter.hpp"
#include "log/log.hpp"

namespace count {
namespace {

std::string errno_text(int error) { return std::system_category().message(error); }

[[noreturn]] void refuse(const std::filesystem::path& path, const std::string& what) {
  throw DataFileError(fmt::format("data file {}: {}", path.string(), what));
}

std::filesystem::path folder_of(const std::filesystem::path& path) {
  return path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
}

// Writes all of `bytes` at offset 0 and syncs them; throws on any failure.
void write_image(FileOps& ops, int fd, std::span<const std::byte> bytes,
                 const std::filesystem::path& path) {
  const IoResult result = ops.pwrite(fd, bytes, 0);
  if (result.error != 0) refuse(path, "cannot write: " + errno_text(result.error));
  if (result.bytes != bytes.size()) {
    refuse(path, fmt::format("cannot write: {} of {} bytes written", result.bytes, bytes.size()));
  }
  if (const int error = ops.fdatasync(fd); error != 0) {
    refuse(path, "cannot sync: " + errno_text(error));
  }
}

// Creates the data file whole or not at all: the image goes to a temporary file in the same
// folder, is synced, and is then linked under its name (which fails rather than replace a
// file another server created meanwhile); the folder is synced last so the name survives.
void create_data_file(FileOps& ops, const std::filesystem::path& path) {
  const std::filesystem::path folder = folder_of(path);
  std::string temp = (folder / fmt::format(".{}.new-XXXXXX", path.filename().string())).string();
  const UniqueFd fd(::mkostemp(temp.data(), O_CLOEXEC));
  if (!fd) refuse(path, "cannot create a file in " + folder.string() + ": " + errno_text(errno));
  struct TempName {
    std::string name;
    ~TempName() { ::unlink(name.c_str()); }
  } const temp_name{temp};

  // Private whatever the umask: the value is the operator's business. (An existing file keeps
  // the mode the operator gave it: only a new one is made here.)
  if (::fchmod(fd.get(), 0600) != 0) refuse(path, "cannot set its mode: " + errno_text(errno));
  const FileImage image = initial_image();
  write_image(ops, fd.get(), image, path);
  if (::link(temp.c_str(), path.c_str()) != 0 && errno != EEXIST) {
    refuse(path, "cannot create: " + errno_text(errno));
  }
  const UniqueFd dir(::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir || ::fsync(dir.get()) != 0) {
    refuse(path, "cannot sync its folder " + folder.string() + ": " + errno_text(errno));
  }
}

}  // namespace

FileStore::FileStore(FileStoreOptions options)
    : path_(std::move(options.path)),
      policy_(options.fsync),
      ops_(options.ops ? std::move(options.ops) : std::make_unique<SystemFileOps>()) {
  const std::filesystem::path folder = folder_of(path_);
  struct stat info {};
  if (::stat(folder.c_str(), &info) != 0) {
    refuse(path_, errno == ENOENT ? fmt::format("folder {} does not exist", folder.string())
                                  : fmt::format("cannot reach folder {}: {}", folder.string(),
                                                errno_text(errno)));
  }
  if (!S_ISDIR(info.st_mode)) refuse(path_, fmt::format("{} is not a folder", folder.string()));

  fd_ = UniqueFd(::open(path_.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd_ && errno == ENOENT) {
    create_data_file(*ops_, path_);
    created_ = true;
    fd_ = UniqueFd(::open(path_.c_str(), O_RDWR | O_CLOEXEC));
  }
  if (!fd_) refuse(path_, "cannot open: " + errno_text(errno));

  // Before reading: a second server must not read a file the first one is writing.
  if (::flock(fd_.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      refuse(path_, "in use by another count-server (it holds the file's lock)");
    }
    refuse(path_, "cannot lock: " + errno_text(errno));
  }
  if (::fstat(fd_.get(), &info) != 0) refuse(path_, "cannot stat: " + errno_text(errno));
  if (!S_ISREG(info.st_mode)) refuse(path_, "not a regular file");

  Recovery recovery;
  if (info.st_size == static_cast<off_t>(kDataFileBytes)) {
    FileImage image{};
    const IoResult read = ops_->pread(fd_.get(), image, 0);
    if (read.error != 0) refuse(path_, "cannot read: " + errno_text(read.error));
    if (read.bytes != kDataFileBytes) {
      refuse(path_, fmt::format("cannot read: {} of {} bytes read", read.bytes, kDataFileBytes));
    }
    recovery = recover(image);
  } else {
    recovery.status = info.st_size == 0 ? FileStatus::kEmpty : FileStatus::kWrongSize;
    recovery.size = static_cast<std::size_t>(info.st_size);
  }
  if (!recovery.ok()) refuse(path_, "corrupt, not starting: " + describe(recovery));
  if (recovery.one_slot_invalid()) {
    warning_ = fmt::format(
        "data file {}: one slot is invalid, as after a write cut short by a crash; using the "
        "other ({})",
        path_.string(), describe(recovery));
  }

  // What was read may still be only in the page cache (a crash between a write and its
  // sync): make it durable before any reply can show it.
  if (const int error = ops_->fdatasync(fd_.get()); error != 0) {
    refuse(path_, "cannot sync: " + errno_text(error));
  }

  value_ = recovery.newest.value;
  committer_.emplace(Committer::Config{
      .path = path_,
      .fd = fd_.get(),
      .ops = ops_.get(),
      .policy = policy_,
      .interval = options.interval,
      .generation = recovery.newest.generation,
      .value = recovery.newest.value,
      .latest = [this] { return get(); },
      .on_failure =
          [this, handler = std::move(options.on_failure)](const std::string& message) {
            last_acknowledgeable_seq_.store(applied_seq_.load(std::memory_order_acquire),
                                            std::memory_order_relaxed);
            failed_.store(true, std::memory_order_release);
            if (handler) {
              handler(message);
            } else {
              log_line(LogLevel::kError, message);
            }
          },
  });
}

FileStore::~FileStore() { close(); }

Applied FileStore::add(std::int64_t delta) {
  Applied applied;
  {
    const std::lock_guard lock(mutex_);
    const Seq seq = applied_seq_.load(std::memory_order_relaxed);
    const std::optional<std::int64_t> next = checked_add(value_, delta);
    if (!next) return {false, value_, seq};  // judged against the state of `seq`
    value_ = *next;
    applied_seq_.store(seq + 1, std::memory_order_release);
    applied = {true, value_, seq + 1};
  }
  return applied;
}

// Under everysec and never the committer keeps its own clock; under always it syncs as soon
// as a batch ends, and on its own again after each sync while mutations keep coming.
void FileStore::commit() {
  if (policy_ == FsyncPolicy::kAlways) committer_->wake();
}

void FileStore::commit_here() {
  if (policy_ == FsyncPolicy::kAlways) committer_->commit_here();
}

Snapshot FileStore::get() const {
  const std::lock_guard lock(mutex_);
  return {value_, applied_seq_.load(std::memory_order_relaxed)};
}

// WATCH tells nothing of the value, but EXEC later tells whether it moved: it waits, as a
// read does, for the state it saw.
Watched FileStore::watch() {
  const Seq seq = applied_seq_.load(std::memory_order_acquire);
  return {seq, seq};
}

// Every reply of the transaction waits for its last mutation: EXEC's replies leave together.
Transacted FileStore::transact(std::span<const Step> steps, const Watched* watched) {
  Transacted result;
  result.replies.reserve(steps.size());
  std::vector<StepResult> results(steps.size());
  {
    const std::lock_guard lock(mutex_);
    const Seq seq = applied_seq_.load(std::memory_order_relaxed);
    result.seq = seq;
    if (watched && watched->version != seq) return result;
    const auto [value, applied] =
        run_steps(value_, steps, [&](std::size_t i, const StepResult& step) { results[i] = step; });
    value_ = value;
    result.seq = seq + applied;
    applied_seq_.store(result.seq, std::memory_order_release);
  }
  result.ran = true;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    result.replies.push_back(step_reply(steps[i], results[i], result.seq));
  }
  return result;
}

// Under everysec and never, replies do not wait for the disk: everything applied counts,
// until the disk fails.
Seq FileStore::durable_seq() const {
  if (policy_ == FsyncPolicy::kAlways) return committer_->synced_seq();
  if (failed_.load(std::memory_order_acquire)) {
    return last_acknowledgeable_seq_.load(std::memory_order_relaxed);
  }
  return applied_seq_.load(std::memory_order_acquire);
}

void FileStore::on_durable(std::function<void()> listener) {
  committer_->on_synced(std::move(listener));
}

// Also gives the file and its lock back: a new store may open it at once.
bool FileStore::close() {
  const bool closed = committer_->close();
  fd_.reset();
  return closed;
}

void FileStore::write_metrics(MetricsText& out) const {
  out.gauge("count_server_value", "The counter's value.", static_cast<double>(get().value));
  out.gauge("count_server_durable_value",
            "The value in the data file's last synced slot: what a crash would leave.",
            static_cast<double>(committer_->synced_value()));
  out.counter("count_server_data_file_writes_total", "Slots written to the data file.",
              committer_->writes());
  out.counter("count_server_data_file_written_bytes_total", "Bytes written to the data file.",
              committer_->writes() * kSlotBytes);
  out.counter("count_server_data_file_syncs_total", "fdatasync calls on the data file.",
              committer_->syncs());
  out.histogram("count_server_data_file_sync_mutations",
                "Mutations each sync made durable (the group commit).",
                committer_->mutations_per_sync().snapshot());
  out.histogram("count_server_data_file_sync_duration_seconds", "How long each fdatasync took.",
                committer_->sync_seconds().snapshot());
}

}  // namespace count
