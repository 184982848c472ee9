// Transaction: what a job of the storage Engine (engine.h) sees.
//
// A Transaction exists only while one job runs, on the engine's state thread,
// over the partitions held in memory. Everything a job changes through it —
// atoms, causal contexts, the delta log, applied sequences, metadata — commits
// together with the rest of its group (one redo row), or not at all; a job
// that fails is undone alone. Reads see the writes of this job and of every
// job that ran before it (including groups still committing).
//
// Errors. Only reading the log's older entries touches SQLite inside a job (a
// read-only connection); such a read can fail (I/O error, a corrupt page), and
// a job can be failed for testing. The MutableState interface has no way to
// say so, so the Transaction records the first failure (status()), every later
// call becomes a no-op returning nothing (empty scans, 0, nullopt), and the
// engine undoes the job and reports that failure to its `done`, whatever the
// job returned. (A full disk fails the group's commit instead: engine.h.)
//
// Not thread-safe; never keep a Transaction, a MutableState it returned, or a
// reference into them past the job.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "crdt/delta.h"
#include "crdt/state.h"

namespace geokv::storage {

namespace internal {
class Store;
}

// What one log row costs towards Options::log_max_bytes_per_partition besides
// its encoded delta, so that a flood of tiny deltas is bounded too.
constexpr size_t kLogEntryOverheadBytes = 32;

class Transaction {
 public:
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  // The number of partitions Q of the database.
  uint32_t partitions() const;

  // Partition p's replica (atoms and causal context) as a MutableState: run
  // DeltaBuilder, ApplyDelta, JoinState, FoldStableCounters, the readers of
  // key_space.h etc. on it. It behaves exactly like crdt::MemoryState,
  // including Scan order; a point scope (one field, one key's slots) costs a
  // tree lookup. REQUIRES: p < partitions(). Valid during the job only.
  crdt::MutableState& Partition(uint32_t p);

  // DBSIZE of partition p: the number of keys holding at least one atom, kept
  // as a counter (O(1)). REQUIRES: p < partitions().
  uint64_t KeyCount(uint32_t p);
  // SCAN of partition p: up to max_keys keys holding at least one atom, in byte
  // order, starting strictly after `after` (from the first key if nullopt).
  // Costs a tree lookup per key returned, whatever the size of the values.
  // An empty result means the iteration is over.
  // REQUIRES: p < partitions(); max_keys >= 1.
  std::vector<std::string> ScanKeys(uint32_t p, std::optional<std::string_view> after,
                                    size_t max_keys);

  // --- The delta log of partition p: the deltas this node originated there, so
  // that a peer that missed some can catch up ("partition p, origin o, after
  // seq s") without a state transfer.

  // Appends `delta` (stored as EncodeDelta bytes under (p, delta.origin,
  // delta.first..delta.last); held in memory until a checkpoint moves it to
  // the log table). Keep the log gap-free: append every delta of the
  // origin, also the empty ones (their dots are sequence numbers too).
  // Retention: when the log of p exceeds Options::log_max_bytes_per_partition
  // (counting each row as its encoded size + kLogEntryOverheadBytes), the
  // oldest entries of delta.origin are dropped, then those of other origins,
  // until it fits; the entry just appended is always kept. A peer that needs a
  // dropped entry gets "log truncated" from ReadLog and must fall back to a
  // state transfer.
  // REQUIRES: p < partitions(); 1 <= delta.first <= delta.last; delta.first is
  // greater than every seq of delta.origin appended to p before.
  void AppendLog(uint32_t p, const crdt::Delta& delta);
  // The same, storing `encoded` as it is: for a caller that has the bytes
  // already (replication encodes each delta once, for the log and the wire).
  // REQUIRES: as above; encoded == crdt::EncodeDelta(delta).
  void AppendLog(uint32_t p, const crdt::Delta& delta, std::string_view encoded);

  // The logged deltas of (p, origin) that hold a seq > after, in order: at
  // least one if there is any, then more while their encoded bytes total at
  // most max_bytes. An empty vector means the log holds nothing after `after`
  // (the peer is up to date, as far as this log knows).
  // Returns a NotFound Status "log truncated" when entries after `after` were
  // dropped (by TruncateLog or the size bound): the log cannot bring the peer
  // from `after` to the end, so the caller answers with a state transfer
  // instead — crdt::TakeSnapshot(Partition(p)) on this side, crdt::JoinState on
  // the peer's, which includes everything the log held (joins are idempotent,
  // so overlap with deltas the peer already has is harmless); the peer then
  // resumes from this node's current seq. Returns a Corrupt Status if a stored
  // delta does not decode, or the transaction's error (status()).
  // REQUIRES: p < partitions().
  Result<std::vector<crdt::Delta>> ReadLog(uint32_t p, crdt::ReplicaId origin, uint64_t after,
                                           size_t max_bytes);

  // Drops the entries of (p, origin) whose every seq is <= through: call it
  // with the lowest seq that every live replica has acknowledged applying (from
  // heartbeats), so that truncation never drops a delta a live replica still
  // needs. An entry straddling `through` stays. REQUIRES: p < partitions().
  void TruncateLog(uint32_t p, crdt::ReplicaId origin, uint64_t through);

  // --- Replication progress: for each (p, origin) the seq through which this
  // node has applied origin's deltas (the next one expected is Applied + 1).
  // Set it in the same job that applies the deltas, so that after a crash the
  // node knows exactly what it has.

  // 0 if never set. REQUIRES: p < partitions().
  uint64_t Applied(uint32_t p, crdt::ReplicaId origin);
  // Overwrites (also with a lower value). REQUIRES: p < partitions().
  void SetApplied(uint32_t p, crdt::ReplicaId origin, uint64_t seq);

  // --- Small metadata (node id, ...): arbitrary bytes under arbitrary names.

  std::optional<std::string> Meta(std::string_view name);
  void SetMeta(std::string_view name, std::string_view value);

  // Ok, or the first storage error in this job (see "Errors" above).
  const Status& status() const;

  // Whether the job that ran before this one on this engine kept its changes
  // so far: false if it was rolled back, or if a failed commit undid it (with
  // its group and the groups after) before this job ran; true for the first
  // job of an engine. A caller that mirrors storage in
  // memory (the replication core) learns here, before it builds on that
  // mirror, of a rollback whose `done` has not been called yet.
  bool PreviousJobKept() const;

  // TESTING ONLY: records `error` as this job's storage error, as a failed
  // statement does (fault injection). REQUIRES: !error.ok().
  void FailForTesting(Status error);

 private:
  friend class internal::Store;  // creates one per job
  explicit Transaction(internal::Store* store) : store_(store) {}
  internal::Store* store_;
};

}  // namespace geokv::storage
