#include "storage/store.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <limits>
#include <string>

#include "common/assert.h"
#include "crdt/codec.h"
#include "storage/partition_state.h"
#include "storage/transaction.h"

namespace geokv::storage::internal {

namespace {

// The reader's statements, indexed by Read.
enum Read : size_t {
  kLogLast,
  kLogRead,
  kLogOldest,
  kLogSumThrough,
  kLogNextOrigin,
  kReadCount,
};

constexpr const char* kReadSql[] = {
    // kLogLast
    "SELECT last FROM log WHERE part = ?1 AND origin = ?2 ORDER BY first DESC LIMIT 1",
    // kLogRead: from the entry holding after+1 (the last one starting at or
    // before `after`, if it reaches past it), in order, below the tail (?4).
    "SELECT first, last, delta FROM log WHERE part = ?1 AND origin = ?2"
    " AND first >= coalesce((SELECT max(first) FROM log WHERE part = ?1 AND origin = ?2"
    " AND first <= ?3), ?3) AND last > ?3 AND first < ?4 ORDER BY first",
    // kLogOldest: entries above the floor (?3), starting at or before ?4, below the tail (?5).
    // The floor is always some entry's last: an entry above it starts above it
    // too, and `first > floor` lets the index skip the entries dropped and not
    // yet deleted (a checkpoint deletes them), which `last > floor` alone scans
    // on every call: once a log is over its bound, every append drops its
    // oldest entry, and each such scan grew with the rows dropped before it.
    "SELECT last, length(delta) FROM log WHERE part = ?1 AND origin = ?2 AND first > ?3"
    " AND first <= ?4 AND first < ?5 AND last > ?3 ORDER BY first",
    // kLogSumThrough: entries within ?3, above the floor (?4), below the tail (?5)
    "SELECT max(last), sum(length(delta)), count(*) FROM log WHERE part = ?1 AND origin = ?2"
    " AND first > ?4 AND first <= ?3 AND last <= ?3 AND last > ?4 AND first < ?5",
    // kLogNextOrigin: origins one index seek at a time
    "SELECT origin FROM log WHERE part = ?1 AND origin >= ?2 ORDER BY origin LIMIT 1",
};
static_assert(std::size(kReadSql) == kReadCount);

constexpr uint64_t kNoTail = std::numeric_limits<uint64_t>::max();

// What SealGroup reserves for the next group at most.
constexpr size_t kRedoReserveBytesMax = size_t{1} << 20;
constexpr size_t kUndoReserveMax = 8192;

uint64_t TailFront(const OriginLog& log) { return log.tail.empty() ? kNoTail : log.tail.front().first; }

using Clock = std::chrono::steady_clock;

}  // namespace

Store::Store(sqlite::Connection reader, const Options& options)
    : reader_(std::move(reader)),
      log_max_bytes_(options.log_max_bytes_per_partition),
      observer_(options.atom_observer),
      log_(options.log),
      parts_(options.partitions) {
  for (uint32_t p = 0; p < parts_.size(); ++p) {
    parts_[p].state = std::make_unique<PartitionState>(this, p);
  }
}

Store::~Store() {
  GEOKV_ASSERT(group_undo_.empty());
  reads_.clear();  // statements before their connection
}

Result<std::unique_ptr<Store>> Store::Load(sqlite::Connection reader, const Options& options) {
  std::unique_ptr<Store> store(new Store(std::move(reader), options));
  for (const char* sql : kReadSql) {
    auto stmt = sqlite::Statement::Prepare(store->reader_.get(), sql, true);
    if (!stmt.ok()) return stmt.status();
    store->reads_.push_back(std::move(*stmt));
  }
  const auto started = Clock::now();
  if (Status s = store->LoadTables(); !s.ok()) return s;
  if (Status s = store->Replay(); !s.ok()) return s;
  if (store->log_) {
    size_t atoms = 0;
    for (const Partition& part : store->parts_) atoms += part.atoms.atom_count();
    const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    store->log_("storage: loaded " + std::to_string(store->parts_.size()) + " partitions, " +
                std::to_string(atoms) + " atoms in " + std::to_string(seconds) + " s");
  }
  return store;
}

Status Store::LoadTables() {
  sqlite3* db = reader_.get();
  auto each = [&](const char* sql, auto&& row) -> Status {
    auto stmt = sqlite::Statement::Prepare(db, sql, false);
    if (!stmt.ok()) return stmt.status();
    sqlite::Query q(stmt->get());
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) {
      if (Status s = row(q); !s.ok()) return s;
    }
    if (rc != SQLITE_DONE) return sqlite::ErrorStatus(db, rc, sql);
    return Status::Ok();
  };
  const uint32_t q = partitions();
  auto part_of = [&](int64_t part, const char* table) -> Result<uint32_t> {
    if (part < 0 || part >= q) {
      return Status::Corrupt(std::string(table) + " table: partition " + std::to_string(part));
    }
    return static_cast<uint32_t>(part);
  };

  uint32_t expected = 0;
  Status s = each("SELECT part, context, log_bytes, redo_through FROM partitions ORDER BY part",
                  [&](sqlite::Query& row) -> Status {
                    if (row.ColInt(0) != expected || expected >= q) {
                      return Status::Corrupt("partitions table: row " +
                                             std::to_string(row.ColInt(0)) + " where " +
                                             std::to_string(expected) + " was expected");
                    }
                    auto context = crdt::DecodeDotContext(row.ColBlob(1));
                    if (!context.ok()) {
                      return Status::Corrupt("partition " + std::to_string(expected) +
                                             ": causal context: " + context.status().message());
                    }
                    Partition& part = parts_[expected++];
                    part.context = std::move(*context);
                    part.log_bytes = static_cast<uint64_t>(row.ColInt(2));
                    part.redo_through = static_cast<uint64_t>(row.ColInt(3));
                    next_group_ = std::max(next_group_, part.redo_through + 1);
                    return Status::Ok();
                  });
  if (!s.ok()) return s;
  if (expected != q) {
    return Status::Corrupt("partitions table has " + std::to_string(expected) + " rows, not " +
                           std::to_string(q));
  }

  auto last_log = Clock::now();
  uint32_t current = 0;
  crdt::Path path;
  crdt::Atom atom;
  s = each(
      "SELECT part, key, slot, field, origin, counter, first, hlc, amount, bytes FROM atoms"
      " ORDER BY part, key, slot, field, origin, counter",
      [&](sqlite::Query& row) -> Status {
        auto p = part_of(row.ColInt(0), "atoms");
        if (!p.ok()) return p.status();
        const int64_t slot = row.ColInt(2);
        if (slot < 0 || !crdt::IsValidSlot(static_cast<uint64_t>(slot))) {
          return Status::Corrupt("partition " + std::to_string(*p) +
                                 ": an atom row has an invalid slot");
        }
        path.key.assign(row.ColBlob(1));
        path.slot = static_cast<crdt::Slot>(slot);
        path.field.assign(row.ColBlob(3));
        atom.dot = crdt::Dot{row.ColU64(4), row.ColU64(5)};
        atom.first = row.ColU64(6);
        atom.hlc.value = row.ColU64(7);
        atom.amount = row.ColInt(8);
        atom.bytes.assign(row.ColBlob(9));
        AtomRec* rec = AtomRec::Make(path, atom);
        rec->set_dirty(false);  // what the table holds
        AtomRec::Free(parts_[*p].atoms.Append(rec));
        current = *p;
        if (log_ && (parts_[*p].atoms.atom_count() & 0xffff) == 0 &&
            Clock::now() - last_log >= std::chrono::seconds(1)) {
          last_log = Clock::now();
          log_("storage: loading partition " + std::to_string(current) + "/" + std::to_string(q) +
               ", " + std::to_string(parts_[*p].atoms.atom_count()) + " atoms");
        }
        return Status::Ok();
      });
  if (!s.ok()) return s;

  s = each("SELECT part, origin, seq FROM applied", [&](sqlite::Query& row) -> Status {
    auto p = part_of(row.ColInt(0), "applied");
    if (!p.ok()) return p.status();
    parts_[*p].applied[row.ColU64(1)] = row.ColU64(2);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  s = each("SELECT part, origin, through FROM log_floor", [&](sqlite::Query& row) -> Status {
    auto p = part_of(row.ColInt(0), "log_floor");
    if (!p.ok()) return p.status();
    parts_[*p].logs[row.ColU64(1)].floor = row.ColU64(2);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  s = each("SELECT name, value FROM meta", [&](sqlite::Query& row) -> Status {
    meta_.emplace(std::string(row.ColBlob(0)), std::string(row.ColBlob(1)));
    return Status::Ok();
  });
  if (!s.ok()) return s;
  s = each("SELECT value FROM settings WHERE name = 'meta_redo_through'",
           [&](sqlite::Query& row) -> Status {
             meta_through_ = static_cast<uint64_t>(row.ColInt(0));
             next_group_ = std::max(next_group_, meta_through_ + 1);
             return Status::Ok();
           });
  return s;
}

Status Store::Replay() {
  replaying_ = true;
  uint64_t rows = 0;
  auto stmt = sqlite::Statement::Prepare(reader_.get(), "SELECT id, ops FROM redo ORDER BY id", false);
  if (!stmt.ok()) return stmt.status();
  sqlite::Query q(stmt->get());
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    const uint64_t id = static_cast<uint64_t>(q.ColInt(0));
    next_group_ = std::max(next_group_, id + 1);
    ++rows;
    Status s = ForEachRedo(id, q.ColBlob(1), partitions(), [&](const RedoRecord& r) -> Status {
      if (r.op == RedoOp::kMeta) {
        if (id > meta_through_) {
          SetMeta(r.name, r.value);
          meta_last_redo_ = id;
        }
        return Status::Ok();
      }
      Partition& part = parts_[r.part];
      if (id <= part.redo_through) return Status::Ok();
      part.last_redo = id;
      switch (r.op) {
        case RedoOp::kPut: Put(r.part, r.path, r.atom); break;
        case RedoOp::kErase: Erase(r.part, r.path, r.atom.dot); break;
        case RedoOp::kJoin: JoinContext(r.part, r.dots); break;
        case RedoOp::kApplied: SetApplied(r.part, r.origin, r.first); break;
        case RedoOp::kLogAppend:
          // Already in the log table when a checkpoint after this row moved it.
          if (r.first > LogLast(r.part, r.origin)) {
            AppendLog(r.part, r.origin, r.first, r.last, r.value);
          }
          break;
        case RedoOp::kLogDrop: DropLog(r.part, r.origin, r.first); break;
        case RedoOp::kMeta: break;
      }
      if (failed()) return error_;
      return Status::Ok();
    });
    if (!s.ok()) return s;
  }
  if (rc != SQLITE_DONE) return sqlite::ErrorStatus(reader_.get(), rc, "read the redo table");
  replaying_ = false;
  if (log_ && rows > 0) {
    log_("storage: replayed " + std::to_string(rows) + " redo rows (group commits since the last checkpoint)");
  }
  return Status::Ok();
}

crdt::MutableState& Store::state(uint32_t p) {
  GEOKV_ASSERT(p < parts_.size());
  return *parts_[p].state;
}

void Store::Fail(Status status) {
  GEOKV_ASSERT(!status.ok());
  if (error_.ok()) error_ = std::move(status);
}

void Store::Fail(int rc, std::string_view what) { Fail(sqlite::ErrorStatus(reader_.get(), rc, what)); }

// --- Jobs and groups

Status Store::RunJob(const std::function<Status(Transaction&)>& job, bool* durable) {
  BeginJob();
  Status result;
  try {
    Transaction txn(this);
    result = job(txn);
  } catch (const std::exception& e) {
    result = Status::Invalid(std::string("job threw an exception: ") + e.what());
  } catch (...) {
    result = Status::Invalid("job threw an exception");
  }
  if (!error_.ok()) result = error_;  // a storage error wins over what the job said
  *durable = EndJob(result.ok());
  return result;
}

void Store::BeginJob() {
  GEOKV_ASSERT(!in_job_);
  error_ = Status::Ok();
  in_job_ = true;
  ++job_;
  job_undo_from_ = group_undo_.size();
  job_redo_from_ = redo_.size();
}

bool Store::EndJob(bool keep) {
  GEOKV_ASSERT(in_job_);
  in_job_ = false;
  if (!error_.ok()) keep = false;
  error_ = Status::Ok();
  if (keep) {
    previous_job_kept_ = true;
    return redo_.size() > job_redo_from_;
  }
  while (group_undo_.size() > job_undo_from_) {
    Revert(group_undo_.back());
    group_undo_.pop_back();
  }
  redo_.Truncate(job_redo_from_);
  previous_job_kept_ = false;
  return false;
}

Group Store::SealGroup() {
  GEOKV_ASSERT(!in_job_);
  Group group;
  group.redo = redo_.Take();
  group.undo = std::move(group_undo_);
  group_undo_.clear();
  // The next group is likely about as big: room for it up front, rather than
  // a series of doublings that each copy what the group holds so far (an
  // Undo is 168 bytes, and a write makes several). Bounded, so that one huge
  // group does not make every later one hold as much.
  redo_.Reserve(std::min(group.redo.size(), kRedoReserveBytesMax));
  group_undo_.reserve(std::min(group.undo.size(), kUndoReserveMax));
  if (!group.redo.empty()) {
    group.id = next_group_++;
    for (uint32_t p : group_parts_) parts_[p].last_redo = group.id;
    if (group_meta_) meta_last_redo_ = group.id;
    redo_bytes_since_round_ += group.redo.size();
  }
  group_parts_.clear();
  group_meta_ = false;
  return group;
}

void Store::Committed(Group& group) {
  for (Undo& u : group.undo) Release(u);
  group.undo.clear();
}

void Store::Revert(Group& group) {
  for (auto it = group.undo.rbegin(); it != group.undo.rend(); ++it) Revert(*it);
  group.undo.clear();
  previous_job_kept_ = false;
}

void Store::Release(Undo& u) {
  AtomRec::Free(u.removed);
  u.removed = nullptr;
}

void Store::Revert(Undo& u) {
  Partition& part = parts_[u.part];
  switch (u.kind) {
    case Undo::Kind::kAtom: {
      crdt::Path path;
      crdt::Atom atom;
      if (u.added != nullptr) {
        part.atoms.Unlink(u.added);
        if (observer_ != nullptr) {
          u.added->Read(&path, &atom);
          observer_->AtomRemoved(u.part, path, atom);
        }
        AtomRec::Free(u.added);
        u.added = nullptr;
      }
      if (u.removed != nullptr) {
        AtomRec* displaced = part.atoms.Insert(u.removed);
        GEOKV_ASSERT(displaced == nullptr);
        if (observer_ != nullptr) {
          u.removed->Read(&path, &atom);
          observer_->AtomAdded(u.part, path, atom);
        }
        u.removed = nullptr;
      }
      return;
    }
    case Undo::Kind::kContext:
      part.context = std::move(*u.context);
      return;
    case Undo::Kind::kApplied:
      if (u.before) {
        part.applied[u.origin] = *u.before;
      } else {
        part.applied.erase(u.origin);
      }
      return;
    case Undo::Kind::kMeta:
      if (u.meta) {
        meta_[u.name] = std::move(*u.meta);
      } else {
        meta_.erase(u.name);
      }
      return;
    case Undo::Kind::kLogAppend: {
      OriginLog& log = part.logs[u.origin];
      GEOKV_ASSERT(!log.tail.empty());
      log.tail.pop_back();
      part.log_bytes -= u.size;
      log.last_known = u.before.has_value();
      log.last = u.before.value_or(0);
      return;
    }
    case Undo::Kind::kLogDrop: {
      OriginLog& log = part.logs[u.origin];
      for (auto it = u.dropped.rbegin(); it != u.dropped.rend(); ++it) {
        log.tail.push_front(std::move(*it));
      }
      log.floor = u.floor;
      part.log_bytes = u.size;
      return;
    }
  }
}

void Store::PushUndo(Undo u) { group_undo_.push_back(std::move(u)); }

void Store::Redirty(uint32_t p, std::vector<crdt::AtomPosition> positions) {
  Partition& part = parts_[p];
  for (crdt::AtomPosition& pos : positions) {
    if (const AtomRec* rec = part.atoms.Find(AtomKey::Of(pos.path, pos.dot))) {
      rec->set_dirty(true);
    } else {
      part.erased.push_back(std::move(pos));
    }
  }
}

void Store::NoteChange(uint32_t p) {
  if (group_parts_.empty() || group_parts_.back() != p) {
    if (std::find(group_parts_.begin(), group_parts_.end(), p) == group_parts_.end()) {
      group_parts_.push_back(p);
    }
  }
}

// --- Mutations

void Store::Put(uint32_t p, const crdt::Path& path, const crdt::Atom& atom) {
  Partition& part = parts_[p];
  AtomRec* rec = AtomRec::Make(path, atom);
  AtomRec* old = part.atoms.Insert(rec);
  if (replaying_) {
    AtomRec::Free(old);
    return;
  }
  GEOKV_ASSERT(in_job_);
  redo_.Put(p, path, atom);
  if (observer_ != nullptr) {
    if (old != nullptr) {
      crdt::Path old_path;
      crdt::Atom old_atom;
      old->Read(&old_path, &old_atom);
      observer_->AtomRemoved(p, old_path, old_atom);
    }
    observer_->AtomAdded(p, path, atom);
  }
  Undo u;
  u.kind = Undo::Kind::kAtom;
  u.part = p;
  u.added = rec;
  u.removed = old;
  PushUndo(std::move(u));
  NoteChange(p);
}

void Store::Erase(uint32_t p, const crdt::Path& path, const crdt::Dot& dot) {
  Partition& part = parts_[p];
  AtomRec* old = part.atoms.Remove(AtomKey::Of(path, dot));
  if (old == nullptr) return;
  part.erased.push_back(crdt::AtomPosition{path, dot});
  if (replaying_) {
    AtomRec::Free(old);
    return;
  }
  GEOKV_ASSERT(in_job_);
  redo_.Erase(p, path, dot);
  if (observer_ != nullptr) {
    crdt::Atom atom;
    old->ReadAtom(&atom);
    observer_->AtomRemoved(p, path, atom);
  }
  Undo u;
  u.kind = Undo::Kind::kAtom;
  u.part = p;
  u.removed = old;
  PushUndo(std::move(u));
  NoteChange(p);
}

void Store::JoinContext(uint32_t p, const crdt::DotContext& dots) {
  Partition& part = parts_[p];
  // Most joins add nothing new (a delta's removals of dots already seen): no
  // undo copy, no redo then.
  bool news = false;
  for (const auto& [origin, intervals] : dots.by_origin()) {
    for (const auto& [first, last] : intervals) {
      if (!part.context.ContainsRange(origin, first, last)) {
        news = true;
        break;
      }
    }
    if (news) break;
  }
  if (!news) return;
  if (!replaying_) {
    GEOKV_ASSERT(in_job_);
    redo_.Join(p, dots);
    // The context as the job found it, once per partition and job (a copy of
    // the whole context, not of the join): undo entries are reverted newest
    // first, so the job's first copy is the one that counts, whether the job
    // or its whole group is reverted.
    if (part.context_saved_job != job_) {
      part.context_saved_job = job_;
      Undo u;
      u.kind = Undo::Kind::kContext;
      u.part = p;
      u.context = std::make_unique<crdt::DotContext>(part.context);
      PushUndo(std::move(u));
    }
    NoteChange(p);
  }
  part.context.Join(dots);
}

void Store::SetApplied(uint32_t p, crdt::ReplicaId origin, uint64_t seq) {
  Partition& part = parts_[p];
  auto it = part.applied.find(origin);
  if (!replaying_) {
    GEOKV_ASSERT(in_job_);
    if (it != part.applied.end() && it->second == seq) return;
    redo_.Applied(p, origin, seq);
    Undo u;
    u.kind = Undo::Kind::kApplied;
    u.part = p;
    u.origin = origin;
    if (it != part.applied.end()) u.before = it->second;
    PushUndo(std::move(u));
    NoteChange(p);
  }
  part.applied[origin] = seq;
}

void Store::SetMeta(std::string_view name, std::string_view value) {
  auto it = meta_.find(name);
  if (!replaying_) {
    GEOKV_ASSERT(in_job_);
    if (it != meta_.end() && it->second == value) return;
    redo_.Meta(name, value);
    Undo u;
    u.kind = Undo::Kind::kMeta;
    u.name.assign(name);
    if (it != meta_.end()) u.meta = it->second;
    PushUndo(std::move(u));
    group_meta_ = true;
  }
  if (it != meta_.end()) {
    it->second.assign(value);
  } else {
    meta_.emplace(std::string(name), std::string(value));
  }
  meta_dirty_.emplace(name);
}

std::optional<std::string> Store::Meta(std::string_view name) const {
  auto it = meta_.find(name);
  if (it == meta_.end()) return std::nullopt;
  return it->second;
}

uint64_t Store::TableLogLast(uint32_t p, crdt::ReplicaId origin) {
  sqlite::Query q(reads_[kLogLast].get());
  q.Int(1, p).U64(2, origin);
  const int rc = q.Step();
  if (rc == SQLITE_ROW) return q.ColU64(0);
  if (rc != SQLITE_DONE) Fail(rc, "read the log's last entry");
  return 0;
}

uint64_t Store::LogLast(uint32_t p, crdt::ReplicaId origin) {
  OriginLog& log = parts_[p].logs[origin];
  if (!log.last_known) {
    uint64_t last = std::max(log.floor, TableLogLast(p, origin));
    if (!log.tail.empty()) last = std::max(last, log.tail.back().last);
    if (failed()) return last;
    log.last = last;
    log.last_known = true;
  }
  return log.last;
}

void Store::AppendLog(uint32_t p, crdt::ReplicaId origin, uint64_t first, uint64_t last,
                      std::string_view delta) {
  Partition& part = parts_[p];
  const uint64_t before = LogLast(p, origin);
  if (failed()) return;
  // The log is a sequence: a delta at or below what was logged is a caller bug.
  GEOKV_ASSERT(first > before);
  OriginLog& log = part.logs[origin];
  const uint64_t size = delta.size() + kLogEntryOverheadBytes;
  log.tail.push_back(LogEntry{first, last, std::string(delta)});
  log.last = last;
  part.log_bytes += size;
  if (replaying_) return;
  GEOKV_ASSERT(in_job_);
  redo_.LogAppend(p, origin, first, last, delta);
  Undo u;
  u.kind = Undo::Kind::kLogAppend;
  u.part = p;
  u.origin = origin;
  u.before = before;
  u.size = size;
  PushUndo(std::move(u));
  NoteChange(p);
}

void Store::DropLog(uint32_t p, crdt::ReplicaId origin, uint64_t through) {
  Partition& part = parts_[p];
  auto found = part.logs.find(origin);
  const uint64_t floor = found == part.logs.end() ? 0 : found->second.floor;
  if (through <= floor) return;  // every entry within it is gone already
  OriginLog& log = part.logs[origin];
  uint64_t dropped_last = 0, freed = 0;
  {
    sqlite::Query q(reads_[kLogSumThrough].get());
    q.Int(1, p).U64(2, origin).U64(3, through).U64(4, log.floor).U64(5, TailFront(log));
    const int rc = q.Step();
    if (rc != SQLITE_ROW) {
      Fail(rc, "size log entries");
      return;
    }
    if (q.ColType(0) != SQLITE_NULL) {
      dropped_last = q.ColU64(0);
      freed = static_cast<uint64_t>(q.ColInt(1)) +
              static_cast<uint64_t>(q.ColInt(2)) * kLogEntryOverheadBytes;
    }
  }
  std::vector<LogEntry> dropped;
  while (!log.tail.empty() && log.tail.front().last <= through) {
    dropped_last = std::max(dropped_last, log.tail.front().last);
    freed += log.tail.front().delta.size() + kLogEntryOverheadBytes;
    dropped.push_back(std::move(log.tail.front()));
    log.tail.pop_front();
  }
  if (dropped_last <= log.floor) return;  // nothing there
  Undo u;
  u.kind = Undo::Kind::kLogDrop;
  u.part = p;
  u.origin = origin;
  u.size = part.log_bytes;
  u.floor = log.floor;
  u.dropped = std::move(dropped);
  log.floor = dropped_last;
  part.log_bytes = freed > part.log_bytes ? 0 : part.log_bytes - freed;
  if (replaying_) return;
  GEOKV_ASSERT(in_job_);
  redo_.LogDrop(p, origin, through);
  PushUndo(std::move(u));
  NoteChange(p);
}

void Store::DropOldest(uint32_t p, crdt::ReplicaId origin, uint64_t max_first, uint64_t limit) {
  Partition& part = parts_[p];
  if (part.log_bytes <= limit) return;
  OriginLog& log = part.logs[origin];
  uint64_t freed = 0, through = 0;
  bool any = false;
  {
    sqlite::Query q(reads_[kLogOldest].get());
    q.Int(1, p).U64(2, origin).U64(3, log.floor).U64(4, max_first).U64(5, TailFront(log));
    int rc = SQLITE_DONE;
    while (part.log_bytes - freed > limit && (rc = q.Step()) == SQLITE_ROW) {
      through = q.ColU64(0);
      freed += static_cast<uint64_t>(q.ColInt(1)) + kLogEntryOverheadBytes;
      any = true;
    }
    if (part.log_bytes - freed > limit && rc != SQLITE_DONE) {
      Fail(rc, "find oldest log entries");
      return;
    }
  }
  for (const LogEntry& e : log.tail) {
    if (part.log_bytes - freed <= limit || e.first > max_first) break;
    through = e.last;
    freed += e.delta.size() + kLogEntryOverheadBytes;
    any = true;
  }
  if (any) DropLog(p, origin, through);
}

std::vector<crdt::ReplicaId> Store::LogOrigins(uint32_t p) {
  std::set<crdt::ReplicaId> origins;
  for (const auto& [origin, log] : parts_[p].logs) {
    if (!log.tail.empty()) origins.insert(origin);
  }
  for (uint64_t from = 0;;) {
    sqlite::Query q(reads_[kLogNextOrigin].get());
    q.Int(1, p).U64(2, from);
    const int rc = q.Step();
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) {
      Fail(rc, "list log origins");
      break;
    }
    const crdt::ReplicaId origin = q.ColU64(0);
    origins.insert(origin);
    if (origin == std::numeric_limits<uint64_t>::max()) break;
    from = origin + 1;
  }
  return std::vector<crdt::ReplicaId>(origins.begin(), origins.end());
}

Result<std::vector<LogEntry>> Store::ReadLog(uint32_t p, crdt::ReplicaId origin, uint64_t after,
                                             size_t max_bytes) {
  std::vector<LogEntry> out;
  size_t total = 0;
  auto found = parts_[p].logs.find(origin);
  const uint64_t tail_front = found == parts_[p].logs.end() ? kNoTail : TailFront(found->second);
  {
    sqlite::Query q(reads_[kLogRead].get());
    q.Int(1, p).U64(2, origin).U64(3, after).U64(4, tail_front);
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) {
      const std::string_view bytes = q.ColBlob(2);
      if (!out.empty() && total + bytes.size() > max_bytes) return out;
      total += bytes.size();
      out.push_back(LogEntry{q.ColU64(0), q.ColU64(1), std::string(bytes)});
    }
    if (rc != SQLITE_DONE) {
      Fail(rc, "read the log");
      return error_;
    }
  }
  if (found == parts_[p].logs.end()) return out;
  for (const LogEntry& e : found->second.tail) {
    if (e.last <= after) continue;
    if (!out.empty() && total + e.delta.size() > max_bytes) break;
    total += e.delta.size();
    out.push_back(e);
  }
  return out;
}

// --- Checkpoints

uint64_t Store::CoveredThrough(std::optional<uint64_t> meta_through) const {
  uint64_t through = next_group_ - 1;
  for (uint32_t p = 0; p < partitions(); ++p) {
    auto cut = cut_.find(p);
    const uint64_t r = cut != cut_.end() ? cut->second.through : parts_[p].redo_through;
    if (parts_[p].last_redo > r) through = std::min(through, r);
  }
  const uint64_t m = meta_through.value_or(meta_through_);
  if (meta_last_redo_ > m) through = std::min(through, m);
  return through;
}

std::optional<CheckpointSlice> Store::NextSlice(bool start, size_t slice_atoms_max) {
  GEOKV_ASSERT(!in_job_ && open_group_empty());
  if (!round_) {
    if (!start) return std::nullopt;
    round_ = Round{};
    redo_bytes_since_round_ = 0;
  }
  Round& round = *round_;
  const uint64_t sealed = next_group_ - 1;
  CheckpointSlice slice;
  if (!round.part) {
    while (round.next_part < partitions()) {
      Partition& part = parts_[round.next_part];
      if (part.last_redo > part.redo_through) break;
      // Changes only by jobs that were undone: the tables have it all.
      part.erased.clear();
      ++round.next_part;
    }
    if (round.next_part == partitions()) {
      // The round is over: meta, and redo rows nothing needs any more.
      round_.reset();
      const bool meta = meta_last_redo_ > meta_through_;
      if (!meta) return std::nullopt;
      for (const std::string& name : meta_dirty_) {
        auto it = meta_.find(name);
        if (it != meta_.end()) slice.meta.emplace_back(it->first, it->second);
      }
      meta_dirty_.clear();
      slice.meta_through = sealed;
      slice.redo_delete_through = CoveredThrough(sealed);
      return slice;
    }
    const uint32_t p = round.next_part++;
    round.part = p;
    // The changes: the dirty blocks (one walk of the tree, in order; their
    // marks cleared) and the erased positions.
    round.dirty = std::move(parts_[p].erased);
    parts_[p].erased.clear();
    const size_t erased = round.dirty.size();
    crdt::Path path;
    crdt::Atom atom;
    for (const AtomRec& rec : parts_[p].atoms) {
      if (!rec.dirty()) continue;
      rec.set_dirty(false);
      const AtomKey k = rec.Key();
      round.dirty.push_back(crdt::AtomPosition{
          crdt::Path{std::string(k.key), k.slot, std::string(k.field)}, k.dot});
    }
    std::sort(round.dirty.begin(), round.dirty.begin() + static_cast<ptrdiff_t>(erased));
    std::inplace_merge(round.dirty.begin(), round.dirty.begin() + static_cast<ptrdiff_t>(erased),
                       round.dirty.end());
    round.dirty.erase(std::unique(round.dirty.begin(), round.dirty.end()), round.dirty.end());
    round.done = 0;
    round.through = sealed;
  }
  const uint32_t p = *round.part;
  Partition& part = parts_[p];
  slice.part = p;
  const size_t end = std::min(round.dirty.size(), round.done + std::max<size_t>(1, slice_atoms_max));
  slice.rows.reserve(end - round.done);
  for (size_t i = round.done; i < end; ++i) {
    const crdt::AtomPosition& pos = round.dirty[i];
    CheckpointSlice::AtomRow row;
    const AtomRec* rec = part.atoms.Find(AtomKey::Of(pos.path, pos.dot));
    row.path = pos.path;
    row.atom.dot = pos.dot;
    if (rec != nullptr) {
      rec->ReadAtom(&row.atom);
      row.present = true;
    }
    slice.rows.push_back(std::move(row));
  }
  round.done = end;
  if (round.done == round.dirty.size()) {
    cut_[p] = Cut{std::move(round.dirty), round.through};
    round.dirty.clear();
    round.part.reset();
    slice.final = true;
    slice.context = crdt::EncodeDotContext(part.context);
    slice.key_count = part.atoms.key_count();
    slice.log_bytes = part.log_bytes;
    slice.redo_through = round.through;
    slice.applied.assign(part.applied.begin(), part.applied.end());
    for (const auto& [origin, log] : part.logs) {
      if (log.floor > 0) slice.floors.emplace_back(origin, log.floor);
      for (const LogEntry& e : log.tail) {
        slice.log_rows.push_back(CheckpointSlice::LogRow{origin, e.first, e.last, e.delta});
      }
      if (!log.tail.empty()) slice.moved_through[origin] = log.tail.back().last;
    }
    slice.redo_delete_through = CoveredThrough(std::nullopt);
  }
  return slice;
}

void Store::SliceDone(const CheckpointSlice& slice, const Status& status) {
  if (!status.ok()) {
    // Write it all again in a later round.
    for (auto& [p, cut] : cut_) Redirty(p, std::move(cut.positions));
    cut_.clear();
    if (round_ && round_->part) Redirty(*round_->part, std::move(round_->dirty));
    for (auto& [name, value] : slice.meta) meta_dirty_.insert(name);
    round_.reset();
    return;
  }
  if (slice.meta_through) meta_through_ = *slice.meta_through;
  if (slice.part == kNoPartition || !slice.final) return;
  cut_.erase(slice.part);
  Partition& part = parts_[slice.part];
  part.redo_through = slice.redo_through;
  for (const auto& [origin, through] : slice.moved_through) {
    OriginLog& log = part.logs[origin];
    while (!log.tail.empty() && log.tail.front().last <= through) log.tail.pop_front();
  }
}

}  // namespace geokv::storage::internal
