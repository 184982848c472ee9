#include "storage/committer.h"

#include <pthread.h>

#include <algorithm>
#include <cstdlib>

#include "common/assert.h"

namespace geokv::storage::internal {

namespace {

constexpr const char* kStmtSql[] = {
    "BEGIN IMMEDIATE",
    "COMMIT",
    "ROLLBACK",
    "INSERT INTO redo(id, ops) VALUES(?1, ?2)",
    "DELETE FROM redo WHERE id <= ?1",
    "INSERT OR REPLACE INTO atoms(part, key, slot, field, origin, counter, first, hlc, amount,"
    " bytes) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    "DELETE FROM atoms WHERE part = ?1 AND key = ?2 AND slot = ?3 AND field = ?4"
    " AND origin = ?5 AND counter = ?6",
    "UPDATE partitions SET context = ?2, log_bytes = ?3, key_count = ?4, redo_through = ?5"
    " WHERE part = ?1",
    "INSERT INTO applied(part, origin, seq) VALUES(?1, ?2, ?3)"
    " ON CONFLICT(part, origin) DO UPDATE SET seq = excluded.seq",
    "INSERT OR REPLACE INTO log(part, origin, first, last, delta) VALUES(?1, ?2, ?3, ?4, ?5)",
    "DELETE FROM log WHERE part = ?1 AND origin = ?2 AND first <= ?3 AND last <= ?3",
    "INSERT INTO log_floor(part, origin, through) VALUES(?1, ?2, ?3)"
    " ON CONFLICT(part, origin) DO UPDATE SET through = max(through, excluded.through)",
    "INSERT OR REPLACE INTO meta(name, value) VALUES(?1, ?2)",
    "INSERT OR REPLACE INTO settings(name, value) VALUES(?1, ?2)",
};

}  // namespace

Result<std::unique_ptr<Committer>> Committer::Start(sqlite::Connection db, const Options& options,
                                                    std::function<void()> notify) {
  std::unique_ptr<Committer> c(new Committer(std::move(db), options, std::move(notify)));
  static_assert(std::size(kStmtSql) == kStmtCount);
  for (const char* sql : kStmtSql) {
    auto stmt = sqlite::Statement::Prepare(c->db_.get(), sql, true);
    if (!stmt.ok()) return stmt.status();
    c->stmts_.push_back(std::move(*stmt));
  }
  c->thread_ = std::thread([raw = c.get()] { raw->Loop(); });
  return c;
}

Committer::Committer(sqlite::Connection db, const Options& options, std::function<void()> notify)
    : db_(std::move(db)),
      abort_in_slice_(options.testing_abort_in_checkpoint_slice),
      notify_(std::move(notify)) {}

Committer::~Committer() {
  Stop();
  stmts_.clear();
}

void Committer::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void Committer::Push(Item item) {
  {
    std::lock_guard lock(mu_);
    GEOKV_ASSERT(!stopping_);
    queue_.push_back(std::move(item));
  }
  wake_.notify_one();
}

std::vector<Committer::Item> Committer::TakeDone() {
  std::lock_guard lock(mu_);
  return std::exchange(done_, {});
}

void Committer::Resume() {
  std::lock_guard lock(mu_);
  GEOKV_ASSERT(queue_.empty());
  // The commit thread is idle (nothing queued): it reads these only while
  // it works on an item, which a Push after this call hands it under mu_.
  poisoned_ = false;
  poison_ = Status::Ok();
}

void Committer::Loop() {
  pthread_setname_np(pthread_self(), "geokv-commit");
  for (;;) {
    Item item;
    {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [&] { return !queue_.empty() || stopping_; });
      if (queue_.empty()) return;
      item = std::move(queue_.front());
      queue_.pop_front();
    }
    if (poisoned_) {
      item.result = poison_;
    } else if (!item.slices.empty()) {
      item.result = WriteSlices(item.slices);
    } else {
      item.result = WriteGroup(item);
      if (!item.result.ok()) {
        poisoned_ = true;
        poison_ = item.result;
      }
    }
    {
      std::lock_guard lock(mu_);
      done_.push_back(std::move(item));
    }
    notify_();
  }
}

Status Committer::Step(sqlite::Query& q, const char* what) {
  const int rc = q.Step();
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) return sqlite::ErrorStatus(db_.get(), rc, what);
  return Status::Ok();
}

Status Committer::Run(Stmt s) {
  sqlite::Query q(stmts_[s].get());
  return Step(q, kStmtSql[s]);
}

Status Committer::WriteGroup(const Item& item) {
  if (item.redo.empty()) return Status::Ok();
  // One statement in autocommit mode: one transaction, one (f)sync.
  sqlite::Query q(stmts_[kRedoInsert].get());
  q.Int(1, static_cast<int64_t>(item.id)).Blob(2, item.redo);
  return Step(q, "commit a group (redo row)");
}

Status Committer::DeleteRedoThrough(uint64_t id) {
  sqlite::Query q(stmts_[kRedoDelete].get());
  q.Int(1, static_cast<int64_t>(id));
  return Step(q, "delete redo rows");
}

Status Committer::WriteSlices(const std::vector<std::shared_ptr<const CheckpointSlice>>& slices) {
  if (Status s = Run(kBegin); !s.ok()) return s;
  Status s;
  // Deletes first: on a full disk the pages they free hold the rest.
  uint64_t delete_through = 0;
  for (const auto& slice : slices) delete_through = std::max(delete_through, slice->redo_delete_through);
  if (delete_through > 0) s = DeleteRedoThrough(delete_through);
  for (size_t i = 0; i < slices.size() && s.ok(); ++i) {
    s = WriteSliceBody(*slices[i]);
    if (s.ok() && abort_in_slice_ > 0 && ++slices_ == abort_in_slice_) {
      std::abort();  // testing: a crash inside the checkpoint transaction
    }
  }
  if (s.ok()) s = Run(kCommit);
  if (!s.ok() && sqlite3_get_autocommit(db_.get()) == 0) (void)Run(kRollback);
  return s;
}

Status Committer::WriteSliceBody(const CheckpointSlice& slice) {
  const int64_t part = slice.part;
  for (const CheckpointSlice::AtomRow& row : slice.rows) {
    sqlite::Query q(stmts_[row.present ? kAtomPut : kAtomErase].get());
    q.Int(1, part).Blob(2, row.path.key).Int(3, static_cast<int64_t>(row.path.slot));
    q.Blob(4, row.path.field).U64(5, row.atom.dot.origin).U64(6, row.atom.dot.counter);
    if (row.present) {
      q.U64(7, row.atom.first).U64(8, row.atom.hlc.value).Int(9, row.atom.amount);
      q.Blob(10, row.atom.bytes);
    }
    if (Status s = Step(q, "checkpoint an atom"); !s.ok()) return s;
  }
  if (slice.final) {
    {
      sqlite::Query q(stmts_[kPartitionWrite].get());
      q.Int(1, part).Blob(2, slice.context).Int(3, static_cast<int64_t>(slice.log_bytes));
      q.Int(4, static_cast<int64_t>(slice.key_count));
      q.Int(5, static_cast<int64_t>(slice.redo_through));
      if (Status s = Step(q, "checkpoint a partition row"); !s.ok()) return s;
    }
    for (const auto& [origin, seq] : slice.applied) {
      sqlite::Query q(stmts_[kAppliedSet].get());
      q.Int(1, part).U64(2, origin).U64(3, seq);
      if (Status s = Step(q, "checkpoint an applied seq"); !s.ok()) return s;
    }
    for (const auto& [origin, through] : slice.floors) {
      sqlite::Query drop(stmts_[kLogDropThrough].get());
      drop.Int(1, part).U64(2, origin).U64(3, through);
      if (Status s = Step(drop, "checkpoint log drops"); !s.ok()) return s;
      sqlite::Query q(stmts_[kFloorSet].get());
      q.Int(1, part).U64(2, origin).U64(3, through);
      if (Status s = Step(q, "checkpoint a log floor"); !s.ok()) return s;
    }
    for (const CheckpointSlice::LogRow& row : slice.log_rows) {
      sqlite::Query q(stmts_[kLogInsert].get());
      q.Int(1, part).U64(2, row.origin).U64(3, row.first).U64(4, row.last).Blob(5, row.delta);
      if (Status s = Step(q, "checkpoint a log entry"); !s.ok()) return s;
    }
  }
  for (const auto& [name, value] : slice.meta) {
    sqlite::Query q(stmts_[kMetaSet].get());
    q.Blob(1, name).Blob(2, value);
    if (Status s = Step(q, "checkpoint meta"); !s.ok()) return s;
  }
  if (slice.meta_through) {
    sqlite::Query q(stmts_[kSettingSet].get());
    q.Text(1, "meta_redo_through").Int(2, static_cast<int64_t>(*slice.meta_through));
    if (Status s = Step(q, "checkpoint the meta position"); !s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace geokv::storage::internal
