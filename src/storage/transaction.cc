// The delta log, replication progress and metadata of a Transaction: views
// of the Store's memory (store.h); the log's older entries are read from the
// log table.
#include "storage/transaction.h"

#include <limits>
#include <string>

#include "common/assert.h"
#include "crdt/codec.h"
#include "storage/store.h"

namespace geokv::storage {

using internal::Store;

namespace {

std::string Where(uint32_t p, crdt::ReplicaId origin) {
  return "partition " + std::to_string(p) + " origin " + std::to_string(origin);
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
  return store_->part(p).atoms.key_count();
}

std::vector<std::string> Transaction::ScanKeys(uint32_t p, std::optional<std::string_view> after,
                                               size_t max_keys) {
  GEOKV_ASSERT(store_->in_job() && p < store_->partitions() && max_keys >= 1);
  std::vector<std::string> keys;
  if (store_->failed()) return keys;
  const internal::AtomTree& tree = store_->part(p).atoms;
  // The least key greater than k is k + "\0": one seek per key returned.
  std::string from;
  if (after) {
    from.assign(*after);
    from.push_back('\0');
  }
  auto it = tree.LowerBound(internal::AtomKey{from, crdt::Slot::kRegister, "", crdt::Dot{}});
  while (keys.size() < max_keys && it != tree.end()) {
    keys.emplace_back(it->key());
    from = keys.back();
    from.push_back('\0');
    it = tree.LowerBound(internal::AtomKey{from, crdt::Slot::kRegister, "", crdt::Dot{}});
  }
  return keys;
}

void Transaction::AppendLog(uint32_t p, const crdt::Delta& delta) {
  AppendLog(p, delta, crdt::EncodeDelta(delta));
}

void Transaction::AppendLog(uint32_t p, const crdt::Delta& delta, std::string_view bytes) {
  GEOKV_ASSERT(store_->in_job() && p < store_->partitions());
  GEOKV_ASSERT(delta.first >= 1 && delta.first <= delta.last);
  if (store_->failed()) return;
  store_->AppendLog(p, delta.origin, delta.first, delta.last, bytes);
  const uint64_t limit = store_->log_max_bytes();
  if (store_->part(p).log_bytes <= limit || store_->failed()) return;
  // Over the bound: this origin's oldest first (never the entry just added),
  // then other origins' (rare: only this node appends, unless its replica id
  // changed).
  store_->DropOldest(p, delta.origin, delta.first - 1, limit);
  if (store_->part(p).log_bytes <= limit || store_->failed()) return;
  for (crdt::ReplicaId origin : store_->LogOrigins(p)) {
    if (origin == delta.origin) continue;
    store_->DropOldest(p, origin, std::numeric_limits<uint64_t>::max(), limit);
    if (store_->part(p).log_bytes <= limit || store_->failed()) return;
  }
}

Result<std::vector<crdt::Delta>> Transaction::ReadLog(uint32_t p, crdt::ReplicaId origin,
                                                      uint64_t after, size_t max_bytes) {
  GEOKV_ASSERT(store_->in_job() && p < store_->partitions());
  if (store_->failed()) return store_->error();
  const auto& logs = store_->part(p).logs;
  auto log = logs.find(origin);
  const uint64_t floor = log == logs.end() ? 0 : log->second.floor;
  if (after < floor) {
    return Status::NotFound("log truncated: the log of " + Where(p, origin) +
                            " no longer holds seq " + std::to_string(after + 1) +
                            " (dropped through " + std::to_string(floor) +
                            "); send a state transfer instead");
  }
  auto entries = store_->ReadLog(p, origin, after, max_bytes);
  if (!entries.ok()) return entries.status();
  std::vector<crdt::Delta> deltas;
  deltas.reserve(entries->size());
  for (const internal::LogEntry& e : *entries) {
    auto delta = crdt::DecodeDelta(e.delta);
    if (!delta.ok()) {
      return Status::Corrupt("the log of " + Where(p, origin) + " at seq " +
                             std::to_string(e.first) + ": " + delta.status().message());
    }
    if (delta->origin != origin || delta->first != e.first || delta->last != e.last) {
      return Status::Corrupt("the log of " + Where(p, origin) + " at seq " +
                             std::to_string(e.first) + " holds another delta");
    }
    deltas.push_back(std::move(*delta));
  }
  return deltas;
}

void Transaction::TruncateLog(uint32_t p, crdt::ReplicaId origin, uint64_t through) {
  GEOKV_ASSERT(store_->in_job() && p < store_->partitions());
  if (store_->failed()) return;
  store_->DropLog(p, origin, through);
}

uint64_t Transaction::Applied(uint32_t p, crdt::ReplicaId origin) {
  GEOKV_ASSERT(store_->in_job() && p < store_->partitions());
  if (store_->failed()) return 0;
  const auto& applied = store_->part(p).applied;
  auto it = applied.find(origin);
  return it == applied.end() ? 0 : it->second;
}

void Transaction::SetApplied(uint32_t p, crdt::ReplicaId origin, uint64_t seq) {
  GEOKV_ASSERT(store_->in_job() && p < store_->partitions());
  if (store_->failed()) return;
  store_->SetApplied(p, origin, seq);
}

std::optional<std::string> Transaction::Meta(std::string_view name) {
  GEOKV_ASSERT(store_->in_job());
  if (store_->failed()) return std::nullopt;
  return store_->Meta(name);
}

void Transaction::SetMeta(std::string_view name, std::string_view value) {
  GEOKV_ASSERT(store_->in_job());
  if (store_->failed()) return;
  store_->SetMeta(name, value);
}

}  // namespace geokv::storage
