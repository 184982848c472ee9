// Opening a database, and the writer thread's group commit.
//
// Open order, so that a failure never changes the data file:
//   1. flock "<path>.lock" (LOCK_EX|LOCK_NB): one engine per file, across
//      processes and within one (each Open has its own open file description);
//   2. an existing file is inspected read-only (schema::CheckExisting);
//   3. only then the read-write connection; until the partition rows have
//      loaded, its close must not checkpoint a WAL into the file
//      (SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE).
#include "storage/engine.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "common/assert.h"
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
  if (o.group_max_jobs < 1 || o.queue_max_jobs < 1 || o.log_max_bytes_per_partition < 1) {
    return Status::Invalid(
        "group_max_jobs, queue_max_jobs and log_max_bytes_per_partition must be positive");
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

// Connection settings (not stored in the file, except journal_mode).
Status Configure(sqlite::Connection& db, const Options& options) {
  sqlite3_db_config(db.get(), SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  // Only this engine writes; a future read-only connection may hold a
  // snapshot briefly while a checkpoint wants to proceed.
  sqlite3_busy_timeout(db.get(), 5000);
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

// The queue of jobs and the writer thread that runs them in groups over the
// database it owns.
class Engine::Writer {
 public:
  Writer(std::unique_ptr<internal::Store> store, int lock_fd, const Options& options);
  // Runs every job already queued, commits, stops the thread, closes the
  // database and releases the lock.
  ~Writer();

  Status Submit(Job job, Done done);
  const EngineStats& stats() const { return stats_; }
  bool OnWriterThread() const { return std::this_thread::get_id() == thread_.get_id(); }

 private:
  struct Queued {
    Job job;
    Done done;
  };
  void Loop();
  // Runs queued jobs as one group transaction and acknowledges them.
  void RunGroup();

  const std::string path_;
  const size_t group_max_jobs_;
  const size_t queue_max_jobs_;
  std::unique_ptr<internal::Store> store_;  // writer thread only
  int lock_fd_;
  EngineStats stats_;  // written by the writer thread

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Queued> queue_;     // guarded by mu_
  bool stopping_ = false;        // guarded by mu_
  bool writer_waiting_ = false;  // guarded by mu_
  std::thread thread_;           // last: starts once everything above is built
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
  }
  auto store = internal::Store::Load(std::move(*db), options);
  if (!store.ok()) {
    return fail(Status::Corrupt("database " + options.path + ": " + store.status().message()));
  }
  sqlite3_db_config((*store)->db(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, nullptr);
  auto writer = std::make_unique<Writer>(std::move(*store), lock_fd, options);
  return std::unique_ptr<Engine>(new Engine(std::move(writer), options));
}

Engine::Engine(std::unique_ptr<Writer> writer, const Options& options)
    : path_(options.path), partitions_(options.partitions), writer_(std::move(writer)) {}

Engine::~Engine() = default;

Status Engine::Submit(Job job, Done done) {
  return writer_->Submit(std::move(job), std::move(done));
}

const EngineStats& Engine::stats() const { return writer_->stats(); }

Status Engine::Run(Job job) {
  GEOKV_ASSERT(!writer_->OnWriterThread());
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
      store_(std::move(store)),
      lock_fd_(lock_fd),
      thread_([this] { Loop(); }) {}

Engine::Writer::~Writer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
  store_.reset();     // closes the connection (and checkpoints the WAL)
  ::close(lock_fd_);  // releases the lock, after the database is closed
}

Status Engine::Writer::Submit(Job job, Done done) {
  GEOKV_ASSERT(job && done);
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return Status::Busy("storage engine " + path_ + " is closing");
    if (queue_.size() >= queue_max_jobs_) {
      return Status::Busy("storage engine " + path_ + ": write queue full (" +
                          std::to_string(queue_max_jobs_) + " jobs)");
    }
    queue_.push_back(Queued{std::move(job), std::move(done)});
    wake = writer_waiting_;
  }
  if (wake) wake_.notify_one();
  return Status::Ok();
}

void Engine::Writer::Loop() {
  pthread_setname_np(pthread_self(), "geokv-storage");
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      writer_waiting_ = true;
      wake_.wait(lock, [&] { return !queue_.empty() || stopping_; });
      writer_waiting_ = false;
      if (queue_.empty()) return;  // stopping, and every queued job has run
    }
    RunGroup();
  }
}

void Engine::Writer::RunGroup() {
  std::vector<Queued> jobs;
  std::vector<Status> results;
  const auto started = std::chrono::steady_clock::now();
  Status open = store_->BeginGroup();
  // Jobs that arrive while the group runs join it, up to group_max_jobs.
  while (jobs.size() < group_max_jobs_) {
    const size_t from = jobs.size();
    {
      std::lock_guard<std::mutex> lock(mu_);
      while (!queue_.empty() && jobs.size() < group_max_jobs_) {
        jobs.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    if (jobs.size() == from) break;
    for (size_t i = from; i < jobs.size(); ++i) {
      if (!open.ok()) {
        results.push_back(open);
        continue;
      }
      bool group_lost = false;
      Status result = store_->RunJob(jobs[i].job, &group_lost);
      if (group_lost) {
        // SQLite rolled back the jobs before this one too: none of them will
        // be acknowledged. Later jobs get a fresh transaction.
        for (Status& earlier : results) {
          if (earlier.ok()) earlier = result;
        }
        open = store_->BeginGroup();
      }
      results.push_back(std::move(result));
    }
  }
  const Status commit = open.ok() ? store_->CommitGroup() : open;
  stats_.group_seconds.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  stats_.group_jobs.Observe(static_cast<double>(jobs.size()));
  for (size_t i = 0; i < jobs.size(); ++i) {
    jobs[i].done(results[i].ok() ? commit : results[i]);
  }
}

}  // namespace geokv::storage
