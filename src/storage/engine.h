// Engine: a node's SQLite database of partition replicas, with group commit.
//
// One database file holds every partition replica of a node: per partition
// the CRDT atoms, the causal context and the log of the deltas this node
// originated (schema: schema.cc). All access goes through jobs that run, one
// after another in submission order, on the engine's single writer thread.
// The writer takes the jobs waiting in the queue — up to
// Options::group_max_jobs — into one transaction (group commit: many clients'
// writes, one COMMIT), runs each inside its own SAVEPOINT so that a failing
// job is rolled back alone, commits, and only then calls each job's `done`.
// So a write is acknowledged only once it is committed, and received deltas
// applied in one job commit atomically with the causal context they advance
// and with the applied sequence recorded for them.
//
// Durability (Synchronous, WAL mode):
//   kNormal  a committed transaction survives a crash of the process (kill -9,
//            abort): it was written to the WAL before COMMIT returned. On power
//            loss or an OS crash the most recent transactions may be lost,
//            never partially: the database stays consistent and reopens at an
//            earlier committed state (the WAL is fsynced only at checkpoints).
//   kFull    additionally the WAL is fsynced at every COMMIT, so a committed
//            transaction survives power loss too (as far as the disk honours
//            flushes). Costs one fsync per group, amortized over its jobs.
//
// A database is never silently started empty: Open refuses a file that is not
// a SQLite database, is corrupt (PRAGMA quick_check), was written by a newer
// format, holds another partition count, or is in use by another process — and
// then leaves the file untouched.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/histogram.h"
#include "common/status.h"
#include "storage/atom_observer.h"
#include "storage/transaction.h"

namespace geokv::storage {

enum class Synchronous : uint8_t {
  // Survives a process crash; a power loss may lose the last commits, and
  // with them deltas that peers may already hold: acknowledged writes of this
  // node then live only at its peers until it catches them up again.
  kNormal,
  // Survives power loss: fsync at every group commit (one per group, so it
  // costs little under load; docs/benchmarks.md). The default.
  kFull,
};

struct Options {
  // The database file. Its directory must exist. "<path>.lock" next to it is
  // created and flock()ed for the engine's lifetime (the file stays: its lock,
  // not its existence, is what counts); SQLite adds "<path>-wal" and
  // "<path>-shm". Copy or move the database only while no engine has it open.
  std::string path;
  // Q, the number of partitions. Fixed when the database is created; opening
  // it with another count fails. 1 <= partitions <= kMaxPartitions.
  uint32_t partitions = 64;
  Synchronous synchronous = Synchronous::kFull;
  // Bound on each partition's delta log (see Transaction::AppendLog).
  size_t log_max_bytes_per_partition = size_t{64} << 20;
  // Jobs per group-commit transaction (>= 1).
  size_t group_max_jobs = 1024;
  // Jobs waiting in the queue at most; Submit beyond it answers Busy (>= 1).
  size_t queue_max_jobs = 65536;
  // SQLite page cache of the connection.
  size_t cache_bytes = size_t{64} << 20;
  // Run PRAGMA quick_check when opening an existing database: reads the whole
  // file once (seconds per GB), so that a damaged file is refused at start
  // rather than failing writes later. The header, format version and partition
  // count are checked either way.
  bool quick_check_on_open = true;
  // Upper bound on the database file's size (0: none). A job whose writes would
  // grow the database beyond it fails with an Io Status ("database or disk is
  // full"), exactly as when the disk fills up; deletes still work.
  uint64_t max_database_bytes = 0;
  // Told of every atom change (atom_observer.h); not owned, must outlive the
  // engine. Null: none.
  AtomObserver* atom_observer = nullptr;
};

constexpr uint32_t kMaxPartitions = uint32_t{1} << 16;

// What the writer thread measured, for metrics. Updated by the writer thread
// only; read from any thread (Histogram is thread-safe).
struct EngineStats {
  // Seconds from a group's BEGIN to its COMMIT's return: the jobs' work plus
  // the commit (and its fsync with Synchronous::kFull).
  Histogram group_seconds = Histogram::Seconds();
  // Jobs per group commit.
  Histogram group_jobs{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
};

class Engine {
 public:
  // Opens the database at options.path, creating it if the file does not exist
  // (or is an empty SQLite database), and starts the writer thread. Reads the
  // whole file once (quick_check_on_open).
  // Fails, with a message that names the file and the problem, and without
  // changing the file, when: another process (or another Engine in this one)
  // has it open (Busy); it is not a SQLite database or is corrupt (Corrupt);
  // its format version is newer than this build's (Unsupported); it is some
  // other application's database or holds a different partition count, or the
  // options are invalid (Invalid); a WAL file exists without its database
  // (Corrupt); I/O fails (Io).
  static Result<std::unique_ptr<Engine>> Open(const Options& options);

  // Runs every job already queued, commits, stops the writer thread, closes
  // the database and releases the lock. REQUIRES: no thread calls Submit or Run
  // concurrently with or after the destructor.
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // A job: reads and writes through the Transaction; returns an error to have
  // its changes rolled back (the error is what `done` receives). Exceptions it
  // throws are caught and treated as such an error.
  using Job = std::function<Status(Transaction&)>;
  // Called once per accepted job, on the writer thread, after the group's
  // COMMIT: Ok when the job's changes are durable (per Synchronous), else the
  // job's error, or the error that prevented the commit (then nothing of the
  // job was kept). Must not throw, and must not block for long: the next group
  // waits for it.
  using Done = std::function<void(Status)>;

  // Queues `job`. Returns Ok if it was accepted (then `done` will be called),
  // or Busy — and calls nothing — when queue_max_jobs jobs are already waiting
  // (back-pressure: retry later or fail the client's request) or the engine is
  // being destroyed. Jobs run, and their `done`s are called, in the order
  // their Submit calls took effect. Thread-safe; may be called from a job or a
  // `done` (the new job runs later, in this group or a later one).
  Status Submit(Job job, Done done);

  // Submits `job` and waits for its `done`: returns its status (or Busy, as
  // Submit). For tests and tools. Thread-safe. REQUIRES: not called on the
  // writer thread, i.e. from a job or a `done` (it would wait for itself).
  Status Run(Job job);

  // Q, as in Options. Thread-safe.
  uint32_t partitions() const { return partitions_; }
  // The database file, as in Options. Thread-safe.
  const std::string& path() const { return path_; }
  // Group commit figures. Thread-safe.
  const EngineStats& stats() const;

 private:
  class Writer;  // engine.cc: the job queue, the writer thread and its database
  Engine(std::unique_ptr<Writer> writer, const Options& options);

  const std::string path_;
  const uint32_t partitions_;
  std::unique_ptr<Writer> writer_;
};

}  // namespace geokv::storage
