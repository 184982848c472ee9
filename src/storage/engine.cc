// Opening a database, and the state thread: jobs, groups, the pipeline to
// the commit thread, checkpoint rounds.
//
// Open order, so that a failure never changes the data file:
//   1. flock "<path>.lock" (LOCK_EX|LOCK_NB): one engine per file, across
//      processes and within one (each Open has its own open file description);
//   2. an existing file is inspected read-only (schema::CheckExisting);
//   3. only then the read-write connection; until everything has loaded, its
//      close must not checkpoint a WAL into the file
//      (SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE). A format-1 file is migrated.
#include "storage/engine.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <future>
#include <limits>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "common/assert.h"
#include "storage/committer.h"
#include "storage/schema.h"
#include "storage/store.h"

namespace geokv::storage {

namespace {

Status CheckOptions(const Options& o) {
  if (o.path.empty() || o.path == ":memory:" || o.path.rfind("file:", 0) == 0) {
    return Status::Invalid("storage path must name a database file, not \"" + o.path + "\"");
  }
  if (o.partitions < 1 || o.partitions > kMaxPartitions) {
    return Status::Invalid("partition count " + std::to_string(o.partitions) + " is outside [1, " +
                           std::to_string(kMaxPartitions) + "]");
  }
  if (o.group_max_jobs < 1 || o.queue_max_jobs < 1 || o.log_max_bytes_per_partition < 1 ||
      o.checkpoint_slice_atoms < 1 || o.checkpoint_redo_bytes < 1) {
    return Status::Invalid(
        "group_max_jobs, queue_max_jobs, log_max_bytes_per_partition, checkpoint_slice_atoms and "
        "checkpoint_redo_bytes must be positive");
  }
  return Status::Ok();
}

std::string ErrnoText(int err) { return std::strerror(err); }

// Opens and locks "<path>.lock"; returns its descriptor. Records our pid in it
// (for the message another process gets).
Result<int> LockDatabase(const std::string& path) {
  const std::string lock_path = path + ".lock";
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Status::Io("cannot open lock file " + lock_path + ": " + ErrnoText(errno) +
                      " (does the directory exist?)");
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char holder[32] = {};
    const ssize_t n = ::pread(fd, holder, sizeof(holder) - 1, 0);
    ::close(fd);
    if (err == EWOULDBLOCK) {
      std::string who = n > 0 ? std::string(holder, static_cast<size_t>(n)) : "unknown";
      while (!who.empty() && (who.back() == '\n' || who.back() == ' ')) who.pop_back();
      return Status::Busy("database " + path + " is in use by another engine (process " + who +
                          " holds " + lock_path + ")");
    }
    return Status::Io("cannot lock " + lock_path + ": " + ErrnoText(err));
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  // Informational only: a failure here does not matter.
  if (::ftruncate(fd, 0) == 0) (void)!::pwrite(fd, pid.data(), pid.size(), 0);
  return fd;
}

// Whether the database at `path` must be created (false: it exists and passed
// the checks).
Result<bool> NeedsCreate(const std::string& path, const Options& options) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) return Status::Io("cannot stat " + path + ": " + ErrnoText(errno));
    // A WAL holds committed transactions; without its database they would be
    // lost, and a new empty database next to it would be silently empty.
    const std::string wal = path + "-wal";
    if (::stat(wal.c_str(), &st) == 0 && st.st_size > 0) {
      return Status::Corrupt("database " + path + " is missing but " + wal +
                             " exists; refusing to start empty (restore the database file)");
    }
    return true;
  }
  if (!S_ISREG(st.st_mode)) return Status::Invalid(path + " is not a regular file");
  if (st.st_size == 0) return true;
  auto existing = schema::CheckExisting(path, options.partitions, options.quick_check_on_open);
  if (!existing.ok()) return existing.status();
  return *existing == schema::Existing::kEmpty;
}

Status SyncDirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::Io("cannot open directory " + dir + ": " + ErrnoText(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return Status::Io("cannot fsync directory " + dir + ": " + ErrnoText(err));
  return Status::Ok();
}

// The page size of a database this engine creates.
constexpr int64_t kPageBytes = 1024;

// Connection settings (not stored in the file, except journal_mode and, for a
// new file, page_size).
Status Configure(sqlite::Connection& db, const Options& options) {
  sqlite3_db_config(db.get(), SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  // Only this engine writes; a future read-only connection may hold a
  // snapshot briefly while a checkpoint wants to proceed.
  sqlite3_busy_timeout(db.get(), 5000);
  // Takes effect in a new, empty file only (a file keeps the page size it was
  // made with). Every commit writes whole pages to the WAL and later to the
  // file: a group commit of a few SETs appends one small redo row, and a
  // checkpoint rewrites pages around atoms scattered over the key space, so
  // small pages cut the bytes written per SET (docs/benchmarks.md).
  if (Status s = db.Exec("PRAGMA page_size = " + std::to_string(kPageBytes) + ";"); !s.ok()) {
    return s;
  }
  {
    auto stmt = sqlite::Statement::Prepare(db.get(), "PRAGMA journal_mode = WAL", false);
    if (!stmt.ok()) return stmt.status();
    sqlite::Query q(stmt->get());
    const int rc = q.Step();
    if (rc != SQLITE_ROW) return sqlite::ErrorStatus(db.get(), rc, "PRAGMA journal_mode = WAL");
    if (q.ColBlob(0) != "wal") {
      return Status::Io("cannot switch " + std::string(sqlite3_db_filename(db.get(), "main")) +
                        " to WAL mode (journal_mode is " + std::string(q.ColBlob(0)) + ")");
    }
  }
  const int64_t cache_kib = static_cast<int64_t>(options.cache_bytes / 1024);
  std::string pragmas = options.synchronous == Synchronous::kFull ? "PRAGMA synchronous = FULL;"
                                                                  : "PRAGMA synchronous = NORMAL;";
  pragmas += "PRAGMA cache_size = " + std::to_string(-cache_kib) + ";";
  pragmas += "PRAGMA foreign_keys = OFF;";
  // Truncate a WAL that a burst grew, after it is checkpointed.
  pragmas += "PRAGMA journal_size_limit = " + std::to_string(int64_t{64} << 20) + ";";
  if (Status s = db.Exec(pragmas); !s.ok()) return s;
  if (options.max_database_bytes > 0) {
    auto page_size = db.QueryInt("PRAGMA page_size");
    if (!page_size.ok()) return page_size.status();
    const uint64_t pages = (options.max_database_bytes + static_cast<uint64_t>(*page_size) - 1) /
                           static_cast<uint64_t>(*page_size);
    // Never below the pages in use: SQLite keeps the larger of the two.
    auto set = db.QueryInt("PRAGMA max_page_count = " + std::to_string(pages));
    if (!set.ok()) return set.status();
  }
  return Status::Ok();
}

}  // namespace

// The queue of jobs and the state thread that runs them over the Store, hands
// sealed groups and checkpoint slices to the Committer and calls the `done`s.
class Engine::Writer {
 public:
  Writer(std::unique_ptr<internal::Store> store, int lock_fd, const Options& options);
  // Runs every job already queued, commits, checkpoints everything, stops the
  // threads, closes the database and releases the lock.
  ~Writer();
  // Second step of construction: the committer calls back into this.
  Status Start(sqlite::Connection db, const Options& options);

  Status Submit(Job job, Done done, Completion completion);
  void Abandon() { abandon_ = true; }
  const EngineStats& stats() const { return stats_; }
  bool OnStateThread() const { return std::this_thread::get_id() == thread_.get_id(); }

 private:
  struct Queued {
    Job job;
    Done done;
    Completion completion;
  };
  // A job that ran and waits for its group's commit.
  struct Ran {
    Done done;
    Status result;
  };
  // A group or a slice handed to the committer, in its order.
  struct InFlight {
    internal::Group group;
    std::vector<Ran> jobs;
    std::vector<std::shared_ptr<const internal::CheckpointSlice>> slices;
    std::chrono::steady_clock::time_point started;
  };
  static constexpr size_t kGroupsInFlightMax = 2;

  void Loop();
  // Calls the `done`s of what the committer finished; undoes on failure.
  void HandleDone();
  // The first item in flight failed; `already_done` later ones are done too.
  void FailFrom(Status error, size_t already_done);
  // Hands the open group to the committer when it is idle (or the group full).
  void MaybeSeal();
  void MaybeCheckpoint();
  // The slices of a whole round, to be written in one transaction (after a
  // failed commit; at shutdown).
  std::vector<std::shared_ptr<const internal::CheckpointSlice>> WholeRound();
  // The destructor's checkpoint of everything (threads stopped).
  void FinalCheckpoint();

  const std::string path_;
  const size_t group_max_jobs_;
  const size_t queue_max_jobs_;
  const uint64_t checkpoint_redo_bytes_;
  const std::chrono::milliseconds checkpoint_interval_;
  const size_t checkpoint_slice_atoms_;
  std::unique_ptr<internal::Store> store_;  // state thread only
  std::unique_ptr<internal::Committer> committer_;
  int lock_fd_;
  EngineStats stats_;  // written by the state thread
  std::atomic<bool> abandon_{false};

  // State thread only.
  std::vector<Ran> open_jobs_;  // in the open group
  std::chrono::steady_clock::time_point open_started_;
  std::deque<InFlight> in_flight_;
  size_t groups_in_flight_ = 0;
  bool slice_in_flight_ = false;
  // A group failed to commit: a checkpoint round may free space (the redo rows
  // it covers), so one starts soon (at most once a second).
  bool checkpoint_soon_ = false;
  std::chrono::steady_clock::time_point last_round_ = std::chrono::steady_clock::now();

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Queued> queue_;       // guarded by mu_
  bool stopping_ = false;          // guarded by mu_
  bool committed_ = false;         // guarded by mu_: the committer finished something
  std::thread thread_;
};

Result<std::unique_ptr<Engine>> Engine::Open(const Options& options) {
  if (Status s = CheckOptions(options); !s.ok()) return s;
  auto lock = LockDatabase(options.path);
  if (!lock.ok()) return lock.status();
  const int lock_fd = *lock;
  auto fail = [&](const Status& s) {
    ::close(lock_fd);
    return s;
  };

  auto create = NeedsCreate(options.path, options);
  if (!create.ok()) return fail(create.status());
  const int flags = SQLITE_OPEN_READWRITE | (*create ? SQLITE_OPEN_CREATE : 0);
  auto db = sqlite::Connection::Open(options.path, flags);
  if (!db.ok()) return fail(db.status());
  sqlite3_db_config(db->get(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  if (Status s = Configure(*db, options); !s.ok()) return fail(s);
  if (*create) {
    if (Status s = schema::Create(*db, options.partitions); !s.ok()) return fail(s);
    // The new file's directory entry must be as durable as its contents.
    if (Status s = SyncDirectoryOf(options.path); !s.ok()) return fail(s);
  } else if (Status s = schema::Migrate(*db, options.path); !s.ok()) {
    return fail(s);
  }
  auto reader = sqlite::Connection::Open(options.path, SQLITE_OPEN_READONLY);
  if (!reader.ok()) return fail(reader.status());
  sqlite3_busy_timeout(reader->get(), 5000);
  auto store = internal::Store::Load(std::move(*reader), options);
  if (!store.ok()) {
    return fail(Status::Corrupt("database " + options.path + ": " + store.status().message()));
  }
  sqlite3_db_config(db->get(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, nullptr);
  auto writer = std::make_unique<Writer>(std::move(*store), lock_fd, options);
  if (Status s = writer->Start(std::move(*db), options); !s.ok()) return s;  // ~Writer unlocks
  return std::unique_ptr<Engine>(new Engine(std::move(writer), options));
}

Engine::Engine(std::unique_ptr<Writer> writer, const Options& options)
    : path_(options.path), partitions_(options.partitions), writer_(std::move(writer)) {}

Engine::~Engine() = default;

Status Engine::Submit(Job job, Done done, Completion completion) {
  return writer_->Submit(std::move(job), std::move(done), completion);
}

const EngineStats& Engine::stats() const { return writer_->stats(); }

void Engine::AbandonForTesting() { writer_->Abandon(); }

Status Engine::Run(Job job) {
  GEOKV_ASSERT(!writer_->OnStateThread());
  std::promise<Status> promise;
  std::future<Status> result = promise.get_future();
  Status submitted =
      Submit(std::move(job), [&promise](Status status) { promise.set_value(std::move(status)); });
  if (!submitted.ok()) return submitted;
  return result.get();
}

Engine::Writer::Writer(std::unique_ptr<internal::Store> store, int lock_fd, const Options& options)
    : path_(options.path),
      group_max_jobs_(options.group_max_jobs),
      queue_max_jobs_(options.queue_max_jobs),
      checkpoint_redo_bytes_(options.checkpoint_redo_bytes),
      checkpoint_interval_(options.checkpoint_interval_ms),
      checkpoint_slice_atoms_(options.checkpoint_slice_atoms),
      store_(std::move(store)),
      lock_fd_(lock_fd) {}

Status Engine::Writer::Start(sqlite::Connection db, const Options& options) {
  auto committer = internal::Committer::Start(std::move(db), options, [this] {
    {
      std::lock_guard<std::mutex> lock(mu_);
      committed_ = true;
    }
    wake_.notify_one();
  });
  if (!committer.ok()) return committer.status();
  committer_ = std::move(*committer);
  thread_ = std::thread([this] { Loop(); });
  return Status::Ok();
}

Engine::Writer::~Writer() {
  if (thread_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }
  if (committer_) {
    committer_->Stop();
    if (!abandon_) FinalCheckpoint();
  }
  store_.reset();
  committer_.reset();  // closes the connection (and checkpoints the WAL)
  ::close(lock_fd_);   // releases the lock, after the database is closed
}

std::vector<std::shared_ptr<const internal::CheckpointSlice>> Engine::Writer::WholeRound() {
  std::vector<std::shared_ptr<const internal::CheckpointSlice>> slices;
  bool start = true;
  while (auto slice = store_->NextSlice(start, std::numeric_limits<size_t>::max())) {
    start = false;
    slices.push_back(std::make_shared<internal::CheckpointSlice>(std::move(*slice)));
  }
  return slices;
}

void Engine::Writer::FinalCheckpoint() {
  // Rounds until no partition has changes after its checkpoint; a failure
  // (disk full) leaves the rest to the redo rows, as after a crash.
  for (int round = 0; round < 3; ++round) {
    auto slices = WholeRound();
    if (slices.empty()) break;
    const Status s = committer_->WriteSlices(slices);
    for (const auto& slice : slices) {
      store_->SliceDone(*slice, s);
    }
    if (!s.ok()) return;
  }
  (void)committer_->DeleteRedoThrough(store_->next_group_id() - 1);
}

Status Engine::Writer::Submit(Job job, Done done, Completion completion) {
  GEOKV_ASSERT(job && done);
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return Status::Busy("storage engine " + path_ + " is closing");
    if (queue_.size() >= queue_max_jobs_) {
      return Status::Busy("storage engine " + path_ + ": write queue full (" +
                          std::to_string(queue_max_jobs_) + " jobs)");
    }
    wake = queue_.empty();
    queue_.push_back(Queued{std::move(job), std::move(done), completion});
  }
  if (wake) wake_.notify_one();
  return Status::Ok();
}

void Engine::Writer::Loop() {
  pthread_setname_np(pthread_self(), "geokv-storage");
  for (;;) {
    HandleDone();
    MaybeSeal();
    MaybeCheckpoint();
    std::deque<Queued> batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      auto runnable = [&] { return !queue_.empty() && open_jobs_.size() < group_max_jobs_; };
      if (!runnable() && !committed_) {
        if (stopping_ && queue_.empty() && open_jobs_.empty() && in_flight_.empty()) return;
        // Wake up now and then for time-triggered checkpoints.
        wake_.wait_for(lock, std::chrono::milliseconds(200), [&] {
          return runnable() || committed_ ||
                 (stopping_ && queue_.empty() && open_jobs_.empty() && in_flight_.empty());
        });
      }
      committed_ = false;
      while (runnable() && batch.size() < group_max_jobs_ - open_jobs_.size()) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    for (Queued& q : batch) {
      if (open_jobs_.empty()) open_started_ = std::chrono::steady_clock::now();
      bool durable = false;
      Status result = store_->RunJob(q.job, &durable);
      q.job = nullptr;
      if (q.completion == Completion::kAfterRun && !durable) {
        q.done(std::move(result));
        continue;
      }
      open_jobs_.push_back(Ran{std::move(q.done), std::move(result)});
    }
  }
}

void Engine::Writer::MaybeSeal() {
  if (open_jobs_.empty()) return;
  if (groups_in_flight_ > 0 &&
      (open_jobs_.size() < group_max_jobs_ || groups_in_flight_ >= kGroupsInFlightMax)) {
    return;  // more jobs may join while the committer is busy
  }
  InFlight f;
  f.group = store_->SealGroup();
  f.jobs = std::move(open_jobs_);
  open_jobs_.clear();
  f.started = open_started_;
  internal::Committer::Item item;
  item.id = f.group.id;
  item.redo = std::move(f.group.redo);
  ++groups_in_flight_;
  in_flight_.push_back(std::move(f));
  committer_->Push(std::move(item));
}

void Engine::Writer::MaybeCheckpoint() {
  if (slice_in_flight_ || !open_jobs_.empty()) return;  // slices are cut between groups
  const auto now = std::chrono::steady_clock::now();
  const uint64_t redo = store_->redo_bytes_since_round();
  const bool soon = checkpoint_soon_ && now - last_round_ >= std::chrono::seconds(1);
  const bool start = soon || redo >= checkpoint_redo_bytes_ ||
                     (redo > 0 && now - last_round_ >= checkpoint_interval_);
  if (!start && !store_->checkpointing()) return;
  if (start && !store_->checkpointing()) last_round_ = now;
  InFlight f;
  if (soon) {
    checkpoint_soon_ = false;
    f.slices = WholeRound();
  } else if (auto slice = store_->NextSlice(start, checkpoint_slice_atoms_)) {
    f.slices.push_back(std::make_shared<internal::CheckpointSlice>(std::move(*slice)));
  }
  if (f.slices.empty()) return;
  f.started = now;
  internal::Committer::Item item;
  item.slices = f.slices;
  slice_in_flight_ = true;
  in_flight_.push_back(std::move(f));
  committer_->Push(std::move(item));
}

void Engine::Writer::HandleDone() {
  std::vector<internal::Committer::Item> done = committer_->TakeDone();
  for (size_t i = 0; i < done.size(); ++i) {
    GEOKV_ASSERT(!in_flight_.empty());
    InFlight f = std::move(in_flight_.front());
    in_flight_.pop_front();
    const Status& status = done[i].result;
    if (!f.slices.empty()) {
      slice_in_flight_ = false;
      for (const auto& slice : f.slices) {
        store_->SliceDone(*slice, status);
      }
      continue;
    }
    --groups_in_flight_;
    if (!status.ok()) {
      in_flight_.push_front(std::move(f));
      FailFrom(status, done.size() - i - 1);
      return;  // FailFrom took every later item
    }
    store_->Committed(f.group);
    stats_.group_seconds.Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - f.started).count());
    stats_.group_jobs.Observe(static_cast<double>(f.jobs.size()));
    for (Ran& r : f.jobs) r.done(std::move(r.result));
  }
}

void Engine::Writer::FailFrom(Status error, size_t already_done) {
  // in_flight_.front() failed: every later item fails too (the committer is
  // poisoned). Wait for them all, then undo newest-first: the open group,
  // then the in-flight groups.
  size_t pending = in_flight_.size() - 1 - already_done;
  while (pending > 0) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] { return committed_; });
      committed_ = false;
    }
    pending -= committer_->TakeDone().size();
  }
  internal::Group open = store_->SealGroup();
  store_->Revert(open);
  for (auto it = in_flight_.rbegin(); it != in_flight_.rend(); ++it) {
    if (!it->slices.empty()) {
      for (const auto& slice : it->slices) {
        store_->SliceDone(*slice, error);
      }
    } else {
      store_->Revert(it->group);
    }
  }
  committer_->Resume();
  checkpoint_soon_ = true;
  slice_in_flight_ = false;
  groups_in_flight_ = 0;
  std::deque<InFlight> failed = std::move(in_flight_);
  in_flight_.clear();
  std::vector<Ran> open_jobs = std::move(open_jobs_);
  open_jobs_.clear();
  for (InFlight& f : failed) {
    for (Ran& r : f.jobs) r.done(r.result.ok() ? error : std::move(r.result));
  }
  for (Ran& r : open_jobs) r.done(r.result.ok() ? error : std::move(r.result));
}

}  // namespace geokv::storage
