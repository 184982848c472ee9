#include "storage/store.h"

#include <exception>
#include <string>

#include "common/assert.h"
#include "crdt/codec.h"
#include "storage/partition_state.h"

namespace geokv::storage::internal {

namespace {

// Indexed by Sql. Column lists of the three scans are the same so that one
// reader serves them all. ORDER BY clauses restate the primary key's order:
// SQLite walks the index and sorts nothing.
constexpr const char* kSqlText[] = {
    // kBegin .. kRollbackTo
    "BEGIN IMMEDIATE",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT job",
    "RELEASE job",
    "ROLLBACK TO job",
    // kWritePartition
    "UPDATE partitions SET context = ?2, log_bytes = ?3, key_count = ?4 WHERE part = ?1",
    // kScanPartition
    "SELECT key, slot, field, origin, counter, first, hlc, amount, bytes FROM atoms"
    " WHERE part = ?1 ORDER BY key, slot, field, origin, counter",
    // kScanKeySlots
    "SELECT key, slot, field, origin, counter, first, hlc, amount, bytes FROM atoms"
    " WHERE part = ?1 AND key = ?2 AND slot BETWEEN ?3 AND ?4"
    " ORDER BY slot, field, origin, counter",
    // kScanField
    "SELECT key, slot, field, origin, counter, first, hlc, amount, bytes FROM atoms"
    " WHERE part = ?1 AND key = ?2 AND slot = ?3 AND field = ?4 ORDER BY origin, counter",
    // kScanFrom: a row-value comparison, which SQLite runs as one index range.
    "SELECT key, slot, field, origin, counter, first, hlc, amount, bytes FROM atoms"
    " WHERE part = ?1 AND (key, slot, field, origin, counter) >= (?2, ?3, ?4, ?5, ?6)"
    " ORDER BY key, slot, field, origin, counter",
    // kFind
    "SELECT first, hlc, amount, bytes FROM atoms WHERE part = ?1 AND key = ?2 AND slot = ?3"
    " AND field = ?4 AND origin = ?5 AND counter = ?6",
    // kPut
    "INSERT OR REPLACE INTO atoms(part, key, slot, field, origin, counter, first, hlc, amount,"
    " bytes) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    // kErase
    "DELETE FROM atoms WHERE part = ?1 AND key = ?2 AND slot = ?3 AND field = ?4"
    " AND origin = ?5 AND counter = ?6",
    // kKeyAny
    "SELECT 1 FROM atoms WHERE part = ?1 AND key = ?2 LIMIT 1",
    // kFirstKey
    "SELECT key FROM atoms WHERE part = ?1 ORDER BY key LIMIT 1",
    // kNextKey
    "SELECT key FROM atoms WHERE part = ?1 AND key > ?2 ORDER BY key LIMIT 1",
    // kLogInsert
    "INSERT INTO log(part, origin, first, last, delta) VALUES(?1, ?2, ?3, ?4, ?5)",
    // kLogLast
    "SELECT last FROM log WHERE part = ?1 AND origin = ?2 ORDER BY first DESC LIMIT 1",
    // kLogRead: from the entry holding after+1 (the last one starting at or
    // before `after`, if it reaches past it), in order.
    "SELECT first, last, delta FROM log WHERE part = ?1 AND origin = ?2"
    " AND first >= coalesce((SELECT max(first) FROM log WHERE part = ?1 AND origin = ?2"
    " AND first <= ?3), ?3) AND last > ?3 ORDER BY first",
    // kLogOldest
    "SELECT last, length(delta) FROM log WHERE part = ?1 AND origin = ?2 AND first <= ?3"
    " ORDER BY first",
    // kLogNextOrigin: origins one index seek at a time (DISTINCT would walk
    // every entry).
    "SELECT origin FROM log WHERE part = ?1 AND origin >= ?2 ORDER BY origin LIMIT 1",
    // kLogSumThrough
    "SELECT max(last), sum(length(delta)), count(*) FROM log WHERE part = ?1 AND origin = ?2"
    " AND first <= ?3 AND last <= ?3",
    // kLogDeleteThrough
    "DELETE FROM log WHERE part = ?1 AND origin = ?2 AND first <= ?3 AND last <= ?3",
    // kFloorGet
    "SELECT through FROM log_floor WHERE part = ?1 AND origin = ?2",
    // kFloorRaise
    "INSERT INTO log_floor(part, origin, through) VALUES(?1, ?2, ?3)"
    " ON CONFLICT(part, origin) DO UPDATE SET through = max(through, excluded.through)",
    // kAppliedGet
    "SELECT seq FROM applied WHERE part = ?1 AND origin = ?2",
    // kAppliedSet
    "INSERT INTO applied(part, origin, seq) VALUES(?1, ?2, ?3)"
    " ON CONFLICT(part, origin) DO UPDATE SET seq = excluded.seq",
    // kMetaGet
    "SELECT value FROM meta WHERE name = ?1",
    // kMetaSet
    "INSERT OR REPLACE INTO meta(name, value) VALUES(?1, ?2)",
};
static_assert(std::size(kSqlText) == static_cast<size_t>(Sql::kCount));

}  // namespace

const char* SqlText(Sql id) { return kSqlText[static_cast<size_t>(id)]; }

Store::Lease::~Lease() {
  if (stmt_ == nullptr) return;
  if (transient_) {
    sqlite3_finalize(stmt_);
  } else {
    store_->leased_[static_cast<size_t>(id_)] = false;
  }
}

Store::Store(sqlite::Connection db, const Options& options)
    : db_(std::move(db)),
      log_max_bytes_(options.log_max_bytes_per_partition),
      observer_(options.atom_observer),
      observed_(options.partitions, 0) {}

Store::~Store() {
  // Statements before the connection (members die in reverse order, but be
  // explicit: sqlite3_close refuses a connection with live statements).
  for (auto& s : statements_) s = sqlite::Statement();
}

Result<std::unique_ptr<Store>> Store::Load(sqlite::Connection db, const Options& options) {
  std::unique_ptr<Store> store(new Store(std::move(db), options));
  for (size_t i = 0; i < store->statements_.size(); ++i) {
    auto stmt = sqlite::Statement::Prepare(store->db(), kSqlText[i], true);
    if (!stmt.ok()) return stmt.status();
    store->statements_[i] = std::move(*stmt);
  }

  const uint32_t q = options.partitions;
  store->caches_.resize(q);
  store->job_undo_.resize(q);
  store->group_undo_.resize(q);
  for (uint32_t p = 0; p < q; ++p) {
    store->states_.push_back(std::make_unique<PartitionState>(store.get(), p));
  }
  auto rows = sqlite::Statement::Prepare(
      store->db(), "SELECT part, context, log_bytes, key_count FROM partitions ORDER BY part",
      false);
  if (!rows.ok()) return rows.status();
  sqlite::Query query(rows->get());
  uint32_t expected = 0;
  int rc;
  while ((rc = query.Step()) == SQLITE_ROW) {
    const int64_t part = query.ColInt(0);
    if (part != expected || part >= q) {
      return Status::Corrupt("partitions table: row " + std::to_string(part) + " where " +
                             std::to_string(expected) + " was expected");
    }
    auto context = crdt::DecodeDotContext(query.ColBlob(1));
    if (!context.ok()) {
      return Status::Corrupt("partition " + std::to_string(part) +
                             ": causal context: " + context.status().message());
    }
    PartitionCache& cache = store->caches_[part];
    cache.context = std::move(*context);
    cache.log_bytes = static_cast<uint64_t>(query.ColInt(2));
    cache.key_count = static_cast<uint64_t>(query.ColInt(3));
    ++expected;
  }
  if (rc != SQLITE_DONE) return sqlite::ErrorStatus(store->db(), rc, "load partitions");
  if (expected != q) {
    return Status::Corrupt("partitions table has " + std::to_string(expected) + " rows, not " +
                           std::to_string(q));
  }
  return store;
}

Store::Lease Store::Acquire(Sql id) {
  const size_t i = static_cast<size_t>(id);
  if (!leased_[i]) {
    leased_[i] = true;
    return Lease(this, id, statements_[i].get(), false);
  }
  // Nested use (a visitor scanning inside a scan): a statement of its own.
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v3(db(), kSqlText[i], -1, 0, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    Fail(rc, "prepare");
    sqlite3_finalize(stmt);
    return Lease(this, id, nullptr, true);
  }
  return Lease(this, id, stmt, true);
}

void Store::Fail(int rc, std::string_view what) { Fail(sqlite::ErrorStatus(db(), rc, what)); }

void Store::Fail(Status status) {
  GEOKV_ASSERT(!status.ok());
  if (error_.ok()) error_ = std::move(status);
}

PartitionCache& Store::MutableCache(uint32_t p) {
  GEOKV_ASSERT(in_job_ && p < caches_.size());
  if (!job_undo_[p]) {
    job_undo_[p] = caches_[p];
    job_touched_.push_back(p);
  }
  return caches_[p];
}

crdt::MutableState& Store::state(uint32_t p) {
  GEOKV_ASSERT(p < states_.size());
  return *states_[p];
}

void Store::NoteObserved(uint32_t p) {
  if ((observed_[p] & 1) != 0) return;
  observed_[p] |= 1;
  job_observed_.push_back(p);
}

void Store::SettleKeyCounts() {
  for (PartitionState* state : unsettled_) state->SettleKeyCount();
  unsettled_.clear();
}

Status Store::Run(Sql id) {
  Lease lease = Acquire(id);
  if (!lease) return error_;
  sqlite::Query q(lease.get());
  const int rc = q.Step();
  if (rc != SQLITE_DONE) return sqlite::ErrorStatus(db(), rc, kSqlText[static_cast<size_t>(id)]);
  return Status::Ok();
}

Status Store::BeginGroup() {
  GEOKV_ASSERT(group_touched_.empty() && job_touched_.empty());
  return Run(Sql::kBegin);
}

void Store::RestoreJob() {
  // SQLite undoes the rows without telling the observer: it rebuilds instead.
  for (uint32_t p : job_observed_) {
    observed_[p] &= static_cast<uint8_t>(~1);
    observer_->PartitionReset(p);
  }
  job_observed_.clear();
  for (uint32_t p : job_touched_) {
    caches_[p] = std::move(*job_undo_[p]);
    job_undo_[p].reset();
  }
  job_touched_.clear();
}

void Store::RestoreGroup() {
  previous_job_kept_ = false;  // every job of the group is gone
  RestoreJob();
  for (uint32_t p : group_touched_) {
    caches_[p] = std::move(*group_undo_[p]);
    group_undo_[p].reset();
  }
  group_touched_.clear();
  for (uint32_t p : group_observed_) {
    observed_[p] = 0;
    observer_->PartitionReset(p);
  }
  group_observed_.clear();
}

void Store::AbandonGroup() {
  if (sqlite3_get_autocommit(db()) == 0) {
    // Nothing more can be done if even ROLLBACK fails: the connection is
    // unusable and the next BEGIN will say so.
    (void)Run(Sql::kRollback);
  }
  RestoreGroup();
}

Status Store::RunJob(const Job& job, bool* group_lost) {
  *group_lost = false;
  error_ = Status::Ok();
  if (Status s = Run(Sql::kSavepoint); !s.ok()) {
    *group_lost = true;
    AbandonGroup();
    return s;
  }
  Status result;
  ++job_epoch_;
  unsettled_.clear();
  in_job_ = true;
  try {
    Transaction txn(this);
    result = job(txn);
    if (result.ok()) SettleKeyCounts();
  } catch (const std::exception& e) {
    result = Status::Invalid(std::string("job threw an exception: ") + e.what());
  } catch (...) {
    result = Status::Invalid("job threw an exception");
  }
  unsettled_.clear();
  in_job_ = false;
  ++job_epoch_;
  if (!error_.ok()) result = error_;  // a storage error wins over what the job said
  error_ = Status::Ok();

  if (result.ok()) {
    if (Status s = Run(Sql::kRelease); !s.ok()) {
      result = s;
    } else {
      // The job's undo copies become the group's where the group has none yet.
      for (uint32_t p : job_touched_) {
        if (!group_undo_[p]) {
          group_undo_[p] = std::move(job_undo_[p]);
          group_touched_.push_back(p);
        }
        job_undo_[p].reset();
      }
      job_touched_.clear();
      for (uint32_t p : job_observed_) {
        if (observed_[p] == 1) group_observed_.push_back(p);
        observed_[p] = 2;
      }
      job_observed_.clear();
      previous_job_kept_ = true;
      return result;
    }
  }

  previous_job_kept_ = false;
  RestoreJob();
  if (sqlite3_get_autocommit(db()) != 0) {
    // SQLite rolled back the whole transaction on its own (SQLITE_FULL, IOERR).
    *group_lost = true;
    RestoreGroup();
    return result;
  }
  Status rollback = Run(Sql::kRollbackTo);
  if (rollback.ok()) rollback = Run(Sql::kRelease);
  if (!rollback.ok()) {
    *group_lost = true;
    AbandonGroup();
  }
  return result;
}

Status Store::WritePartition(uint32_t p) {
  const PartitionCache& now = caches_[p];
  const std::string context = crdt::EncodeDotContext(now.context);
  Lease lease = Acquire(Sql::kWritePartition);
  if (!lease) return error_;
  sqlite::Query q(lease.get());
  q.Int(1, p).Blob(2, context).Int(3, static_cast<int64_t>(now.log_bytes));
  q.Int(4, static_cast<int64_t>(now.key_count));
  if (int rc = q.Step(); rc != SQLITE_DONE) {
    return sqlite::ErrorStatus(db(), rc, "write back partition " + std::to_string(p));
  }
  return Status::Ok();
}

Status Store::CommitGroup() {
  GEOKV_ASSERT(job_touched_.empty());
  Status status;
  for (uint32_t p : group_touched_) {
    const PartitionCache& now = caches_[p];
    const PartitionCache& before = *group_undo_[p];
    if (now.context == before.context && now.log_bytes == before.log_bytes &&
        now.key_count == before.key_count) {
      continue;  // touched only by jobs that were rolled back, or a no-op
    }
    status = WritePartition(p);
    if (!status.ok()) break;
  }
  if (status.ok()) status = Run(Sql::kCommit);
  error_ = Status::Ok();
  if (!status.ok()) {
    AbandonGroup();
    return status;
  }
  for (uint32_t p : group_touched_) group_undo_[p].reset();
  group_touched_.clear();
  for (uint32_t p : group_observed_) observed_[p] = 0;
  group_observed_.clear();
  return Status::Ok();
}

}  // namespace geokv::storage::internal
