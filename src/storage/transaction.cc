// The delta log, replication progress and metadata of a Transaction.
//
// Log bookkeeping (see schema.cc): partitions.log_bytes (cached) is the sum of
// length(delta) + kLogEntryOverheadBytes over the partition's log rows;
// log_floor(part, origin) is the highest seq ever dropped, so ReadLog(after)
// knows that it cannot answer when after < floor; the cache's log_last[origin]
// is the highest seq ever appended, which AppendLog checks order against.
#include "storage/transaction.h"

#include <limits>
#include <string>

#include "common/assert.h"
#include "crdt/codec.h"
#include "storage/store.h"

namespace geokv::storage {

using internal::PartitionCache;
using internal::Sql;
using internal::Store;

namespace {

std::string Where(uint32_t p, crdt::ReplicaId origin) {
  return "partition " + std::to_string(p) + " origin " + std::to_string(origin);
}

// A single uint64 from a one-row statement bound to (part, origin); `absent`
// when there is no row or the value is NULL.
uint64_t QueryU64(Store* store, Sql id, uint32_t p, crdt::ReplicaId origin, uint64_t absent,
                  const char* what) {
  Store::Lease lease = store->Acquire(id);
  if (!lease) return absent;
  sqlite::Query q(lease.get());
  q.Int(1, p).U64(2, origin);
  const int rc = q.Step();
  if (rc == SQLITE_ROW && q.ColType(0) != SQLITE_NULL) return q.ColU64(0);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) store->Fail(rc, what);
  return absent;
}

uint64_t Floor(Store* store, uint32_t p, crdt::ReplicaId origin) {
  return QueryU64(store, Sql::kFloorGet, p, origin, 0, "read log floor");
}

// Records that every seq of (p, origin) up to `through` has been dropped.
void RaiseFloor(Store* store, uint32_t p, crdt::ReplicaId origin, uint64_t through) {
  Store::Lease lease = store->Acquire(Sql::kFloorRaise);
  if (!lease) return;
  sqlite::Query q(lease.get());
  q.Int(1, p).U64(2, origin).U64(3, through);
  if (int rc = q.Step(); rc != SQLITE_DONE) store->Fail(rc, "raise log floor");
}

// Deletes the entries of (p, origin) within `through` (every seq <= through)
// and accounts for them.
void DropThrough(Store* store, uint32_t p, crdt::ReplicaId origin, uint64_t through) {
  uint64_t dropped_last = 0, bytes = 0, rows = 0;
  {
    Store::Lease lease = store->Acquire(Sql::kLogSumThrough);
    if (!lease) return;
    sqlite::Query q(lease.get());
    q.Int(1, p).U64(2, origin).U64(3, through);
    const int rc = q.Step();
    if (rc != SQLITE_ROW) {
      store->Fail(rc, "size log entries");
      return;
    }
    if (q.ColType(0) == SQLITE_NULL) return;  // nothing to drop
    dropped_last = q.ColU64(0);
    bytes = static_cast<uint64_t>(q.ColInt(1));
    rows = static_cast<uint64_t>(q.ColInt(2));
  }
  {
    Store::Lease lease = store->Acquire(Sql::kLogDeleteThrough);
    if (!lease) return;
    sqlite::Query q(lease.get());
    q.Int(1, p).U64(2, origin).U64(3, through);
    if (int rc = q.Step(); rc != SQLITE_DONE) {
      store->Fail(rc, "drop log entries");
      return;
    }
  }
  RaiseFloor(store, p, origin, dropped_last);
  uint64_t& log_bytes = store->MutableCache(p).log_bytes;
  const uint64_t freed = bytes + rows * kLogEntryOverheadBytes;
  log_bytes = freed > log_bytes ? 0 : log_bytes - freed;
}

// Drops the oldest entries of (p, origin) with first <= max_first until the
// partition's log fits in `limit` bytes or none is left.
void DropOldest(Store* store, uint32_t p, crdt::ReplicaId origin, uint64_t max_first,
                uint64_t limit) {
  const uint64_t log_bytes = store->cache(p).log_bytes;
  if (log_bytes <= limit) return;
  uint64_t freed = 0, through = 0;
  bool any = false;
  {
    Store::Lease lease = store->Acquire(Sql::kLogOldest);
    if (!lease) return;
    sqlite::Query q(lease.get());
    q.Int(1, p).U64(2, origin).U64(3, max_first);
    int rc = SQLITE_DONE;
    while (log_bytes - freed > limit && (rc = q.Step()) == SQLITE_ROW) {
      through = q.ColU64(0);
      freed += static_cast<uint64_t>(q.ColInt(1)) + kLogEntryOverheadBytes;
      any = true;
    }
    if (log_bytes - freed > limit && rc != SQLITE_DONE) {
      store->Fail(rc, "find oldest log entries");
      return;
    }
  }
  if (any) DropThrough(store, p, origin, through);
}

}  // namespace

uint32_t Transaction::partitions() const { return store_->partitions(); }

const Status& Transaction::status() const { return store_->error(); }

bool Transaction::PreviousJobKept() const { return store_->previous_job_kept(); }

void Transaction::FailForTesting(Status error) { store_->Fail(std::move(error)); }

crdt::MutableState& Transaction::Partition(uint32_t p) {
  GEOKV_ASSERT(store_->in_job() && p < store_->partitions());
  return store_->state(p);
}

uint64_t Transaction::KeyCount(uint32_t p) {
  GEOKV_ASSERT(store_->in_job() && p < store_->partitions());
  store_->SettleKeyCounts();
  return store_->cache(p).key_count;
}

std::vector<std::string> Transaction::ScanKeys(uint32_t p, std::optional<std::string_view> after,
                                               size_t max_keys) {
  GEOKV_ASSERT(store_->in_job() && p < store_->partitions() && max_keys >= 1);
  std::vector<std::string> keys;
  if (store_->failed()) return keys;
  std::string cursor(after.value_or(""));
  bool first = !after.has_value();
  // One index seek per key: skips over every atom of a key at once.
  while (keys.size() < max_keys) {
    Store::Lease lease = store_->Acquire(first ? Sql::kFirstKey : Sql::kNextKey);
    if (!lease) break;
    sqlite::Query q(lease.get());
    q.Int(1, p);
    if (!first) q.Blob(2, cursor);
    const int rc = q.Step();
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) {
      store_->Fail(rc, "scan keys");
      break;
    }
    cursor.assign(q.ColBlob(0));
    keys.push_back(cursor);
    first = false;
  }
  if (store_->failed()) keys.clear();
  return keys;
}

void Transaction::AppendLog(uint32_t p, const crdt::Delta& delta) {
  AppendLog(p, delta, crdt::EncodeDelta(delta));
}

void Transaction::AppendLog(uint32_t p, const crdt::Delta& delta, std::string_view bytes) {
  GEOKV_ASSERT(store_->in_job() && p < store_->partitions());
  GEOKV_ASSERT(delta.first >= 1 && delta.first <= delta.last);
  if (store_->failed()) return;
  PartitionCache& cache = store_->MutableCache(p);
  auto last = cache.log_last.find(delta.origin);
  if (last == cache.log_last.end()) {
    const uint64_t floor = Floor(store_, p, delta.origin);
    uint64_t logged =
        QueryU64(store_, Sql::kLogLast, p, delta.origin, 0, "read the log's last entry");
    if (store_->failed()) return;
    last = cache.log_last.emplace(delta.origin, std::max(floor, logged)).first;
  }
  // The log is a sequence: a delta at or below what was logged is a caller bug.
  GEOKV_ASSERT(delta.first > last->second);

  {
    Store::Lease lease = store_->Acquire(Sql::kLogInsert);
    if (!lease) return;
    sqlite::Query q(lease.get());
    q.Int(1, p).U64(2, delta.origin).U64(3, delta.first).U64(4, delta.last).Blob(5, bytes);
    if (int rc = q.Step(); rc != SQLITE_DONE) {
      store_->Fail(rc, "append to the log of " + Where(p, delta.origin));
      return;
    }
  }
  last->second = delta.last;
  cache.log_bytes += bytes.size() + kLogEntryOverheadBytes;

  const uint64_t limit = store_->log_max_bytes();
  if (cache.log_bytes <= limit) return;
  // Over the bound: this origin's oldest first (never the entry just added),
  // then other origins'.
  DropOldest(store_, p, delta.origin, delta.first - 1, limit);
  if (store_->cache(p).log_bytes <= limit || store_->failed()) return;
  // Other origins' entries, origin by origin (rare: only this node appends,
  // unless its replica id changed).
  for (uint64_t from = 0;;) {
    crdt::ReplicaId origin;
    {
      Store::Lease lease = store_->Acquire(Sql::kLogNextOrigin);
      if (!lease) return;
      sqlite::Query q(lease.get());
      q.Int(1, p).U64(2, from);
      const int rc = q.Step();
      if (rc == SQLITE_DONE) return;
      if (rc != SQLITE_ROW) {
        store_->Fail(rc, "list log origins");
        return;
      }
      origin = q.ColU64(0);
    }
    if (origin != delta.origin) {
      DropOldest(store_, p, origin, std::numeric_limits<uint64_t>::max(), limit);
      if (store_->cache(p).log_bytes <= limit || store_->failed()) return;
    }
    if (origin == std::numeric_limits<uint64_t>::max()) return;
    from = origin + 1;
  }
}

Result<std::vector<crdt::Delta>> Transaction::ReadLog(uint32_t p, crdt::ReplicaId origin,
                                                      uint64_t after, size_t max_bytes) {
  GEOKV_ASSERT(store_->in_job() && p < store_->partitions());
  if (store_->failed()) return store_->error();
  const uint64_t floor = Floor(store_, p, origin);
  if (store_->failed()) return store_->error();
  if (after < floor) {
    return Status::NotFound("log truncated: the log of " + Where(p, origin) +
                            " no longer holds seq " + std::to_string(after + 1) +
                            " (dropped through " + std::to_string(floor) +
                            "); send a state transfer instead");
  }
  std::vector<crdt::Delta> deltas;
  Store::Lease lease = store_->Acquire(Sql::kLogRead);
  if (!lease) return store_->error();
  sqlite::Query q(lease.get());
  q.Int(1, p).U64(2, origin).U64(3, after);
  size_t total = 0;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    const std::string_view bytes = q.ColBlob(2);
    if (!deltas.empty() && total + bytes.size() > max_bytes) return deltas;
    auto delta = crdt::DecodeDelta(bytes);
    if (!delta.ok()) {
      return Status::Corrupt("the log of " + Where(p, origin) + " at seq " +
                             std::to_string(q.ColU64(0)) + ": " + delta.status().message());
    }
    if (delta->origin != origin || delta->first != q.ColU64(0) || delta->last != q.ColU64(1)) {
      return Status::Corrupt("the log of " + Where(p, origin) + " at seq " +
                             std::to_string(q.ColU64(0)) + " holds another delta");
    }
    total += bytes.size();
    deltas.push_back(std::move(*delta));
  }
  if (rc != SQLITE_DONE) {
    store_->Fail(rc, "read the log of " + Where(p, origin));
    return store_->error();
  }
  return deltas;
}

void Transaction::TruncateLog(uint32_t p, crdt::ReplicaId origin, uint64_t through) {
  GEOKV_ASSERT(store_->in_job() && p < store_->partitions());
  if (store_->failed()) return;
  DropThrough(store_, p, origin, through);
}

uint64_t Transaction::Applied(uint32_t p, crdt::ReplicaId origin) {
  GEOKV_ASSERT(store_->in_job() && p < store_->partitions());
  if (store_->failed()) return 0;
  return QueryU64(store_, Sql::kAppliedGet, p, origin, 0, "read applied seq");
}

void Transaction::SetApplied(uint32_t p, crdt::ReplicaId origin, uint64_t seq) {
  GEOKV_ASSERT(store_->in_job() && p < store_->partitions());
  if (store_->failed()) return;
  Store::Lease lease = store_->Acquire(Sql::kAppliedSet);
  if (!lease) return;
  sqlite::Query q(lease.get());
  q.Int(1, p).U64(2, origin).U64(3, seq);
  if (int rc = q.Step(); rc != SQLITE_DONE) store_->Fail(rc, "set applied seq");
}

std::optional<std::string> Transaction::Meta(std::string_view name) {
  GEOKV_ASSERT(store_->in_job());
  if (store_->failed()) return std::nullopt;
  Store::Lease lease = store_->Acquire(Sql::kMetaGet);
  if (!lease) return std::nullopt;
  sqlite::Query q(lease.get());
  q.Blob(1, name);
  const int rc = q.Step();
  if (rc == SQLITE_ROW) return std::string(q.ColBlob(0));
  if (rc != SQLITE_DONE) store_->Fail(rc, "read meta");
  return std::nullopt;
}

void Transaction::SetMeta(std::string_view name, std::string_view value) {
  GEOKV_ASSERT(store_->in_job());
  if (store_->failed()) return;
  Store::Lease lease = store_->Acquire(Sql::kMetaSet);
  if (!lease) return;
  sqlite::Query q(lease.get());
  q.Blob(1, name).Blob(2, value);
  if (int rc = q.Step(); rc != SQLITE_DONE) store_->Fail(rc, "write meta");
}

}  // namespace geokv::storage
