// Store: the state the engine's writer thread owns, private to src/storage.
//
// It holds the read-write connection, the prepared statements (cached for the
// connection's lifetime), an in-memory copy of each partition's row of the
// `partitions` table (causal context, log size, key count), and the
// transaction bookkeeping of group commit.
//
// Invariants:
// - Outside a group transaction, caches_[p] equals partition p's committed row
//   (plus lazily loaded log_last entries, which equal what the log holds).
// - Inside one, caches_[p] is what the row will be if the group commits:
//   CommitGroup writes back every partition the group touched, in the same
//   transaction. group_undo_[p] is the cache before the group's first change
//   to p, job_undo_[p] before the current job's first change; rolling back a
//   job (or the group) restores them, as SQLite restores the rows.
// - A statement in the cache is either idle (reset, no bindings held) or
//   leased to exactly one Query; a nested use of the same SQL (a Scan visitor
//   that scans again) gets a transient statement of its own.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "crdt/dot_context.h"
#include "crdt/state.h"
#include "storage/engine.h"
#include "storage/sqlite.h"

namespace geokv::storage::internal {

class PartitionState;

// A partition's row of the `partitions` table, in memory.
struct PartitionCache {
  crdt::DotContext context;
  uint64_t log_bytes = 0;
  uint64_t key_count = 0;
  // origin -> the highest seq ever appended to this partition's log (kept
  // across truncation); loaded on first use by AppendLog, not stored.
  std::map<crdt::ReplicaId, uint64_t> log_last;
};

// Every SQL statement the engine runs after Open (see kSqlText in store.cc).
enum class Sql : uint8_t {
  kBegin,
  kCommit,
  kRollback,
  kSavepoint,
  kRelease,
  kRollbackTo,
  kWritePartition,
  kScanPartition,
  kScanKeySlots,
  kScanField,
  kScanFrom,
  kFind,
  kPut,
  kErase,
  kKeyAny,
  kFirstKey,
  kNextKey,
  kLogInsert,
  kLogLast,
  kLogRead,
  kLogOldest,
  kLogNextOrigin,
  kLogSumThrough,
  kLogDeleteThrough,
  kFloorGet,
  kFloorRaise,
  kAppliedGet,
  kAppliedSet,
  kMetaGet,
  kMetaSet,
  kCount,
};

// The text of a statement (for tests that check its query plan).
const char* SqlText(Sql id);

class Store {
 public:
  using Job = std::function<Status(Transaction&)>;

  // Takes over an open connection to a database with the current schema:
  // prepares the statements and loads every partition's row. Returns Corrupt if
  // a row is missing or does not decode.
  static Result<std::unique_ptr<Store>> Load(sqlite::Connection db, const Options& options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  uint32_t partitions() const { return static_cast<uint32_t>(caches_.size()); }
  size_t log_max_bytes() const { return log_max_bytes_; }
  sqlite3* db() const { return db_.get(); }

  // A statement for one Query (declare the Lease before the Query, so that the
  // Query resets the statement before the Lease gives it back).
  class Lease {
   public:
    Lease(Store* store, Sql id, sqlite3_stmt* stmt, bool transient)
        : store_(store), id_(id), stmt_(stmt), transient_(transient) {}
    ~Lease();
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    sqlite3_stmt* get() const { return stmt_; }
    explicit operator bool() const { return stmt_ != nullptr; }

   private:
    Store* store_;
    Sql id_;
    sqlite3_stmt* stmt_;
    bool transient_;
  };
  // The statement for `id`; an empty Lease (and the job failed) if a transient
  // statement could not be prepared.
  Lease Acquire(Sql id);

  // --- The current job's first storage error (Transaction::status()).
  bool failed() const { return !error_.ok(); }
  const Status& error() const { return error_; }
  // Records a failed statement (only the first failure of a job is kept).
  void Fail(int rc, std::string_view what);
  void Fail(Status status);

  // --- Caches. REQUIRES: p < partitions().
  const PartitionCache& cache(uint32_t p) const { return caches_[p]; }
  // For a change: remembers the value before the job's first change.
  // REQUIRES: inside a job.
  PartitionCache& MutableCache(uint32_t p);
  crdt::MutableState& state(uint32_t p);
  // The engine's AtomObserver (null: none), and the note that this job told
  // it of a change to p: a rollback then tells it PartitionReset(p).
  AtomObserver* observer() const { return observer_; }
  void NoteObserved(uint32_t p);
  // A partition whose key count waits for PartitionState::SettleKeyCount.
  void NoteUnsettled(PartitionState* state) { unsettled_.push_back(state); }
  // Settles every such partition's key count (before reading a count, and
  // before a job's changes are kept).
  void SettleKeyCounts();
  bool in_job() const { return in_job_; }
  // Transaction::PreviousJobKept.
  bool previous_job_kept() const { return previous_job_kept_; }
  // Changes at every job's start and end (so also at every rollback): what a
  // PartitionState remembers under one epoch is valid only within one job.
  uint64_t job_epoch() const { return job_epoch_; }

  // --- Group commit, driven by the writer thread. A group is BeginGroup, then
  // RunJob for each job, then CommitGroup.
  Status BeginGroup();
  // Runs `job` inside a SAVEPOINT: releases it if the job and every statement
  // succeeded, else rolls it back and returns the error. Sets *group_lost when
  // SQLite itself rolled back the whole group transaction (after SQLITE_FULL,
  // SQLITE_IOERR, ...): then every change of the group is gone, the caches are
  // back to the committed state, no transaction is open, and the caller must
  // fail the jobs before this one and call BeginGroup again.
  Status RunJob(const Job& job, bool* group_lost);
  // Writes back the partitions the group changed and commits. On failure the
  // group is rolled back (caches too) and the error returned.
  Status CommitGroup();

 private:
  Store(sqlite::Connection db, const Options& options);
  // Steps a statement that returns no rows; Ok or the error.
  Status Run(Sql id);
  // Stores caches_[p] in partition p's row.
  Status WritePartition(uint32_t p);
  void RestoreJob();
  void RestoreGroup();
  // After a failure: rolls back whatever SQLite still has open, restores the
  // caches to the committed state.
  void AbandonGroup();

  sqlite::Connection db_;
  size_t log_max_bytes_;
  std::array<sqlite::Statement, static_cast<size_t>(Sql::kCount)> statements_;
  std::array<bool, static_cast<size_t>(Sql::kCount)> leased_{};
  std::vector<PartitionCache> caches_;
  std::vector<std::unique_ptr<PartitionState>> states_;
  // Undo copies (see the invariants above) and the partitions they cover.
  std::vector<std::optional<PartitionCache>> job_undo_, group_undo_;
  std::vector<uint32_t> job_touched_, group_touched_;
  AtomObserver* observer_ = nullptr;
  // Partitions whose atoms this job / the group's kept jobs changed (told the
  // observer), flagged by observed_ (1: job, 2: group).
  std::vector<uint32_t> job_observed_, group_observed_;
  std::vector<uint8_t> observed_;
  std::vector<PartitionState*> unsettled_;  // this job's
  Status error_;
  bool in_job_ = false;
  uint64_t job_epoch_ = 1;
  // Set by RunJob after each job: whether it was released into the group;
  // cleared whenever the group is rolled back.
  bool previous_job_kept_ = true;
};

}  // namespace geokv::storage::internal
