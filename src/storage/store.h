// Store: every partition replica of the engine in memory, owned by the
// engine's state thread; private to src/storage.
//
// What it holds per partition: the atoms (AtomTree), the causal context, the
// applied seqs, and the delta log's bookkeeping with the entries appended since
// the last checkpoint that moved them (the tail; older entries are in the log
// table, read through a read-only connection). Jobs change all of it through
// the mutation functions below, each of which
//   - records the change as a physical redo record in the open group's blob
//     (redo.h): the group's row in the `redo` table is its durable form;
//   - records an undo entry with the before-image: a job that fails is undone
//     newest-first, and a group keeps its jobs' undo entries until its commit,
//     so that a failed commit (and every group after it) can be undone too;
//   - notes the change for the next checkpoint: a block put is marked dirty
//     (AtomRec::dirty), an erased position is listed (Partition::erased);
//   - tells the AtomObserver of atoms that enter or leave.
// Replay at Open calls the same functions in replay mode: no redo, no undo, no
// observer, the changes still noted for the checkpoint.
//
// Checkpoints. Partition p's checkpoint writes its dirty positions (upsert or
// delete each row as memory has it now), then — in its final slice — its
// context, applied seqs, log tail and floors, and R_p: the redo row through
// which the tables hold p. The changes (dirty blocks, erased positions) are
// taken when the first slice is cut (at group G, R_p := G); later slices may
// read newer values, which is exact because replay from G redoes every later
// change of those atoms in order (redo.h). After a failed commit a whole
// round goes in one transaction whose redo deletes come first (engine.cc). Recovery loads the tables and replays the redo rows after
// R_p for each p (after R_meta for meta). Redo rows at or below every R are
// deleted: a partition without changes after its R does not hold rows back.
//
// Invariant: outside a job, memory equals what the committed tables plus the
// committed redo rows give, plus the groups run and not yet committed (their
// undo entries are kept until then).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "crdt/dot_context.h"
#include "crdt/state.h"
#include "storage/atom_tree.h"
#include "storage/checkpoint.h"
#include "storage/engine.h"
#include "storage/redo.h"
#include "storage/sqlite.h"

namespace geokv::storage::internal {

class PartitionState;

// One delta log entry held in memory.
struct LogEntry {
  uint64_t first = 0;
  uint64_t last = 0;
  std::string delta;
};

// The log of one (partition, origin).
struct OriginLog {
  // Entries appended since the last checkpoint that moved them to the table,
  // in seq order. While a checkpoint that moves some is committing they are
  // in both places: readers take the table's entries below tail.front().
  std::deque<LogEntry> tail;
  uint64_t floor = 0;  // the highest seq dropped (reads after less: truncated)
  // The highest seq ever appended (order check); loaded on first use.
  bool last_known = false;
  uint64_t last = 0;
};

struct Partition {
  AtomTree atoms;
  crdt::DotContext context;
  std::map<crdt::ReplicaId, uint64_t> applied;
  std::map<crdt::ReplicaId, OriginLog> logs;
  // The whole log's size as Options::log_max_bytes_per_partition counts it
  // (table entries not dropped, plus the tail).
  uint64_t log_bytes = 0;
  // Positions erased since the last checkpoint took the changes (with the
  // dirty blocks of the tree: what it writes).
  std::vector<crdt::AtomPosition> erased;
  uint64_t redo_through = 0;  // R_p, as committed
  uint64_t last_redo = 0;     // the last group whose redo changed p (0: none since Open)
  // The job (Store::job_) whose undo already holds the context as it was when
  // that job began: later joins in the same job need no copy of their own.
  uint64_t context_saved_job = 0;
  std::unique_ptr<PartitionState> state;
};

// The before-image of one change (see the header comment).
struct Undo {
  enum class Kind : uint8_t { kAtom, kContext, kApplied, kMeta, kLogAppend, kLogDrop };
  Kind kind = Kind::kAtom;
  uint32_t part = 0;
  AtomRec* added = nullptr;    // kAtom: linked by the change
  AtomRec* removed = nullptr;  // kAtom: unlinked by it (owned here)
  std::unique_ptr<crdt::DotContext> context;  // kContext
  crdt::ReplicaId origin = 0;  // kApplied, kLogAppend, kLogDrop
  std::optional<uint64_t> before;  // kApplied: the seq; kLogAppend: last (if known)
  uint64_t size = 0;               // kLogAppend: bytes counted; kLogDrop: log_bytes before
  uint64_t floor = 0;              // kLogDrop
  std::vector<LogEntry> dropped;   // kLogDrop: tail entries it removed
  std::string name;                // kMeta
  std::optional<std::string> meta;  // kMeta
};

// A group of jobs run and waiting for (or in) its commit.
struct Group {
  uint64_t id = 0;    // its redo row id (groups without changes write no row)
  std::string redo;   // empty: nothing to write
  std::vector<Undo> undo;
};

class Store {
 public:
  // Loads the tables through `reader` (a read-only connection that the store
  // then keeps for log reads) and replays the redo rows. `log` gets progress.
  static Result<std::unique_ptr<Store>> Load(sqlite::Connection reader, const Options& options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  uint32_t partitions() const { return static_cast<uint32_t>(parts_.size()); }
  Partition& part(uint32_t p) { return parts_[p]; }
  const Partition& part(uint32_t p) const { return parts_[p]; }
  crdt::MutableState& state(uint32_t p);
  size_t log_max_bytes() const { return log_max_bytes_; }

  // --- The current job's first storage error (Transaction::status()).
  bool failed() const { return !error_.ok(); }
  const Status& error() const { return error_; }
  void Fail(Status status);
  void Fail(int rc, std::string_view what);
  bool in_job() const { return in_job_; }
  bool previous_job_kept() const { return previous_job_kept_; }

  // --- Jobs and groups (state thread).
  // Runs `job` (BeginJob, the job, EndJob): returns its status (a storage
  // error or an exception wins over what it returned); *durable says whether
  // it kept a durable change.
  Status RunJob(const std::function<Status(Transaction&)>& job, bool* durable);
  void BeginJob();
  // Ends the job: keeps its changes in the open group, or (keep false) undoes
  // them. Returns whether it kept a durable change.
  bool EndJob(bool keep);
  // Cuts the open group (its redo and undo); the next group starts empty.
  Group SealGroup();
  bool open_group_empty() const { return redo_.empty() && group_undo_.empty(); }
  // After the group's commit: frees its before-images.
  void Committed(Group& group);
  // After a failed commit: undoes the group (call newest group first).
  void Revert(Group& group);
  uint64_t next_group_id() const { return next_group_; }

  // --- Mutations (a job's, or replay's).
  void Put(uint32_t p, const crdt::Path& path, const crdt::Atom& atom);
  void Erase(uint32_t p, const crdt::Path& path, const crdt::Dot& dot);
  void JoinContext(uint32_t p, const crdt::DotContext& dots);
  void SetApplied(uint32_t p, crdt::ReplicaId origin, uint64_t seq);
  void SetMeta(std::string_view name, std::string_view value);
  std::optional<std::string> Meta(std::string_view name) const;
  // REQUIRES: first > every seq of origin appended before.
  void AppendLog(uint32_t p, crdt::ReplicaId origin, uint64_t first, uint64_t last,
                 std::string_view delta);
  // Drops the entries of (p, origin) whose every seq is <= through.
  void DropLog(uint32_t p, crdt::ReplicaId origin, uint64_t through);
  // The highest seq appended to (p, origin), 0 if none (may query the table).
  uint64_t LogLast(uint32_t p, crdt::ReplicaId origin);
  // The log table's entries of (p, origin) holding a seq > after and lying
  // below the tail, then the tail's, while their bytes total at most
  // max_bytes (at least one).
  Result<std::vector<LogEntry>> ReadLog(uint32_t p, crdt::ReplicaId origin, uint64_t after,
                                        size_t max_bytes);
  // Drops the oldest entries of (p, origin) with first <= max_first until the
  // log of p fits in `limit` bytes or none is left.
  void DropOldest(uint32_t p, crdt::ReplicaId origin, uint64_t max_first, uint64_t limit);
  // Origins with a log in p (table or memory).
  std::vector<crdt::ReplicaId> LogOrigins(uint32_t p);

  // --- Checkpoints (state thread, between groups: the open group is empty).
  // The next slice to write, or nullopt when nothing needs one. Starts a new
  // round over the partitions when `start` (or a round is under way).
  // `last_sealed`: the id of the last group cut, which the slice covers.
  std::optional<CheckpointSlice> NextSlice(bool start, size_t slice_atoms_max);
  // Whether a round is under way.
  bool checkpointing() const { return round_.has_value(); }
  // After the slice's transaction (in cut order): on success its log entries
  // leave the tail; on failure every position cut and not yet done is dirty
  // again and the round ends (the next starts over).
  void SliceDone(const CheckpointSlice& slice, const Status& status);
  // Redo bytes written since the round before began (a checkpoint trigger).
  uint64_t redo_bytes_since_round() const { return redo_bytes_since_round_; }

 private:
  Store(sqlite::Connection reader, const Options& options);
  Status LoadTables();
  Status Replay();
  // The redo rows nothing needs once the slices cut so far commit (rows <=
  // the result may go): each partition with changes after its R_p (the R_p
  // its cut final slice records, if any) needs the rows after it, and so
  // does meta after R_meta (or `meta_through`, being cut).
  uint64_t CoveredThrough(std::optional<uint64_t> meta_through) const;
  void Revert(Undo& u);
  void Release(Undo& u);
  void PushUndo(Undo u);
  // Marks `positions` as changed again (a checkpoint that took them failed).
  void Redirty(uint32_t p, std::vector<crdt::AtomPosition> positions);
  void NoteChange(uint32_t p);
  // Table queries on the reader; record failures as the job's error.
  uint64_t TableLogLast(uint32_t p, crdt::ReplicaId origin);

  sqlite::Connection reader_;
  std::vector<sqlite::Statement> reads_;
  const size_t log_max_bytes_;
  AtomObserver* observer_;
  std::function<void(std::string_view)> log_;
  std::vector<Partition> parts_;
  std::map<std::string, std::string, std::less<>> meta_;
  std::set<std::string, std::less<>> meta_dirty_;
  uint64_t meta_through_ = 0;  // R_meta
  uint64_t meta_last_redo_ = 0;

  bool replaying_ = false;
  bool in_job_ = false;
  bool previous_job_kept_ = true;
  Status error_;
  // The open group: its blob, and the undo entries of its kept jobs; the
  // running job's entries follow at job_undo_from_ / job_redo_from_.
  RedoWriter redo_;
  std::vector<Undo> group_undo_;
  size_t job_undo_from_ = 0;
  uint64_t job_ = 0;  // counts BeginJob calls: which job is running
  size_t job_redo_from_ = 0;
  std::vector<uint32_t> group_parts_;  // partitions the open group changed
  bool group_meta_ = false;
  uint64_t next_group_ = 1;
  uint64_t redo_bytes_since_round_ = 0;

  // A checkpoint round: partitions in order, each in slices.
  struct Round {
    uint32_t next_part = 0;
    // The partition being sliced: its changed positions (sorted, unique) and where
    // the next slice starts in it.
    std::optional<uint32_t> part;
    std::vector<crdt::AtomPosition> dirty;
    size_t done = 0;
    uint64_t through = 0;  // R_p it will record
  };
  std::optional<Round> round_;
  // Positions of partitions whose final slice is cut and not yet done: dirty
  // again if it fails.
  struct Cut {
    std::vector<crdt::AtomPosition> positions;
    uint64_t through = 0;
  };
  std::map<uint32_t, Cut> cut_;
};

}  // namespace geokv::storage::internal
