// Engine: a node's partition replicas, held in memory, with SQLite as their
// durable home.
//
// Every partition replica of a node — per partition the CRDT atoms, the causal
// context, the applied seqs, the delta log's bookkeeping — is loaded into
// memory at Open (storage/store.h). All access goes through jobs that run, one
// after another in submission order, on the engine's state thread, over memory
// only. A job that fails (or throws) is undone in memory alone.
//
// Durability: each job's changes are recorded as physical redo records; the
// jobs run while the previous group commits form the next group, and a group
// becomes ONE row of the `redo` table, committed by the engine's commit thread
// (group commit: many clients' writes, one small append). A job's `done` is
// called after its group's row committed (in submission order), so a write
// is acknowledged only once it is durable, and received deltas applied in one
// job commit atomically with the causal context they advance and the applied
// seq recorded for them. The state thread goes on with the next group while
// the commit thread commits (a pipeline of bounded depth).
//
// Checkpoints, in the background: partition by partition, the atoms changed
// since the last checkpoint, the context, the applied seqs and the log entries
// kept in memory are written into their tables (in bounded slices), and redo
// rows that no partition needs any more are deleted. Recovery at Open loads
// the tables and replays the redo rows after each partition's checkpoint.
// A clean shutdown (the destructor) checkpoints everything and leaves the redo
// table empty, so the tables are then a complete picture.
//
// Reads never wait for SQLite. A job submitted with Completion::kAfterRun
// that recorded no durable change gets its `done` as soon as it ran. Such a
// read may see writes whose group is still committing (as Redis does with
// appendfsync everysec): if that commit fails, those writes are undone and
// their clients get the error, but the reader saw them.
//
// A failed commit (disk full, I/O error) fails its group and every group run
// after it (their `done`s get the error), and memory is put back to the
// committed state by undoing those groups newest-first.
//
// Durability of a commit (Synchronous, WAL mode):
//   kNormal  a committed group survives a crash of the process (kill -9,
//            abort): it was written to the WAL before COMMIT returned. On power
//            loss or an OS crash the most recent groups may be lost, never
//            partially: the database stays consistent and reopens at an
//            earlier committed state (the WAL is fsynced only at checkpoints).
//   kFull    additionally the WAL is fsynced at every group commit, so a
//            committed group survives power loss too (as far as the disk
//            honours flushes). Costs one fsync per group, amortized over its jobs.
//
// A database is never silently started empty: Open refuses a file that is not
// a SQLite database, is corrupt (PRAGMA quick_check), was written by a newer
// format, holds another partition count, or is in use by another process — and
// then leaves the file untouched. A file of the previous format (1) is
// migrated (a redo table and a column added).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

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
  // Upper bound on the database file's size (0: none). A group whose commit
  // would grow the database beyond it fails with an Io Status ("database or
  // disk is full"), exactly as when the disk fills up; deletes still work.
  uint64_t max_database_bytes = 0;
  // Told of every atom entering or leaving a partition through a job (and its
  // undo). Called on the state thread; must outlive the engine.
  AtomObserver* atom_observer = nullptr;
  // Progress and timing of loading at Open, one line each (none if empty).
  std::function<void(std::string_view)> log;
  // A checkpoint round starts when this many redo bytes were committed since
  // the last round began, or checkpoint_interval_ms after it if any were.
  uint64_t checkpoint_redo_bytes = uint64_t{64} << 20;
  uint64_t checkpoint_interval_ms = 30'000;
  // Atoms written per checkpoint transaction (a slice), at most.
  size_t checkpoint_slice_atoms = 8192;
  // TESTING ONLY: abort() the process inside the n-th checkpoint transaction
  // (after its writes, before its COMMIT); 0: never.
  uint64_t testing_abort_in_checkpoint_slice = 0;
};

// When a job's `done` may be called.
enum class Completion : uint8_t {
  // After the job's group committed (whether or not it changed anything).
  kAfterCommit,
  // As soon as the job ran, if it recorded no durable change (a read); else
  // as kAfterCommit. Its `done` may then come before the `done`s of jobs
  // submitted earlier.
  kAfterRun,
};

constexpr uint32_t kMaxPartitions = uint32_t{1} << 16;

// What the engine measured, for metrics. Updated by the state thread only;
// read from any thread (Histogram is thread-safe).
struct EngineStats {
  // Seconds from a group's first job to its COMMIT's return: the jobs' work,
  // the wait for the commit thread and the commit (and its fsync with
  // Synchronous::kFull).
  Histogram group_seconds = Histogram::Seconds();
  // Jobs per group commit.
  Histogram group_jobs{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
};

class Engine {
 public:
  // Opens the database at options.path, creating it if the file does not exist
  // (or is an empty SQLite database), loads every partition into memory,
  // replays the redo rows, and starts the state and commit threads. Reads the
  // whole file once more with quick_check_on_open.
  // Fails, with a message that names the file and the problem, and without
  // changing the file, when: another process (or another Engine in this one)
  // has it open (Busy); it is not a SQLite database or is corrupt (Corrupt);
  // its format version is newer than this build's (Unsupported); it is some
  // other application's database or holds a different partition count, or the
  // options are invalid (Invalid); a WAL file exists without its database
  // (Corrupt); I/O fails (Io).
  static Result<std::unique_ptr<Engine>> Open(const Options& options);

  // Runs every job already queued, commits, checkpoints everything (the redo
  // table is then empty), stops the threads, closes the database and releases
  // the lock. REQUIRES: no thread calls Submit or Run concurrently with or
  // after the destructor.
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // A job: reads and writes through the Transaction; returns an error to have
  // its changes rolled back (the error is what `done` receives). Exceptions it
  // throws are caught and treated as such an error.
  using Job = std::function<Status(Transaction&)>;
  // Called once per accepted job, on the state thread, after the group's
  // COMMIT: Ok when the job's changes are durable (per Synchronous), else the
  // job's error, or the error that prevented the commit (then nothing of the
  // job was kept). Must not throw, and must not block for long: the next jobs
  // wait for it. (With Completion::kAfterRun, see there.)
  using Done = std::function<void(Status)>;

  // Queues `job`. Returns Ok if it was accepted (then `done` will be called),
  // or Busy — and calls nothing — when queue_max_jobs jobs are already waiting
  // (back-pressure: retry later or fail the client's request) or the engine is
  // being destroyed. Jobs run, and their kAfterCommit `done`s are called, in
  // the order their Submit calls took effect. Thread-safe; may be called from
  // a job or a `done` (the new job runs later, in this group or a later one).
  Status Submit(Job job, Done done, Completion completion = Completion::kAfterCommit);

  // Submits `job` and waits for its `done`: returns its status (or Busy, as
  // Submit). For tests and tools. Thread-safe. REQUIRES: not called on the
  // state thread, i.e. from a job or a `done` (it would wait for itself).
  Status Run(Job job);

  // TESTING ONLY: the destructor will stop without its final checkpoint,
  // leaving the file as a crash right after the last commit would (redo rows
  // for the next Open to replay).
  void AbandonForTesting();

  // Q, as in Options. Thread-safe.
  uint32_t partitions() const { return partitions_; }
  // The database file, as in Options. Thread-safe.
  const std::string& path() const { return path_; }
  // Group commit figures. Thread-safe.
  const EngineStats& stats() const;

 private:
  class Writer;  // engine.cc: the job queue and the state thread
  Engine(std::unique_ptr<Writer> writer, const Options& options);

  const std::string path_;
  const uint32_t partitions_;
  std::unique_ptr<Writer> writer_;
};

}  // namespace geokv::storage
