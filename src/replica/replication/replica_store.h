// ReplicaStore: the storage the replication core works on.
//
// The same operations, with the same meaning, as storage::Transaction
// (src/storage/transaction.h), so that the node implements this over the
// transaction of the storage job it runs the core in (one call each), and the
// simulation over memory (MemoryReplicaStore). What the core changes through a
// ReplicaStore during one call must commit atomically (one storage job): the
// deltas it applies together with the applied seqs it records.
//
// Errors: as with a Transaction, an implementation that hits a storage error
// records it and fails the whole job; the caller then throws the core away
// (see core.h, "Failed jobs"). So the interface carries no Status except for
// ReadLog, where "log truncated" is an answer, not a failure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "crdt/delta.h"
#include "crdt/state.h"

namespace geokv::replication {

class ReplicaStore {
 public:
  virtual ~ReplicaStore() = default;

  // Partition p's replica (atoms and causal context). REQUIRES: p < Q.
  virtual crdt::MutableState& Partition(uint32_t p) = 0;

  // The seq through which origin's deltas in p have been applied here (0 if
  // never set). REQUIRES: p < Q.
  virtual uint64_t Applied(uint32_t p, crdt::ReplicaId origin) = 0;
  // Records it (overwrites). REQUIRES: p < Q.
  virtual void SetApplied(uint32_t p, crdt::ReplicaId origin, uint64_t seq) = 0;

  // Appends one of this node's own deltas to p's log, stored as `encoded`
  // (the caller encoded it once, for the log and the batch that ships it).
  // Retention may drop the oldest entries (storage:
  // Options::log_max_bytes_per_partition).
  // REQUIRES: p < Q; encoded == crdt::EncodeDelta(delta); delta.first is above
  // every seq of delta.origin logged in p.
  virtual void AppendLog(uint32_t p, const crdt::Delta& delta, std::string_view encoded) = 0;
  // The logged deltas of (p, origin) holding a seq > after, in order: at least
  // one if there is any, then more while their bytes total at most max_bytes.
  // Empty: nothing after `after`. NotFound ("log truncated"): entries after
  // `after` were dropped. Other errors: the store failed (the job will fail).
  // REQUIRES: p < Q.
  virtual Result<std::vector<crdt::Delta>> ReadLog(uint32_t p, crdt::ReplicaId origin,
                                                   uint64_t after, size_t max_bytes) = 0;
  // Drops the entries of (p, origin) whose every seq is <= through.
  // REQUIRES: p < Q.
  virtual void TruncateLog(uint32_t p, crdt::ReplicaId origin, uint64_t through) = 0;

  // The record of the state transfer into p under way (the core's encoding,
  // messages.h TransferRecord), empty if none: it commits with each chunk the
  // core joins, so that a restart resumes the transfer (the ranges joined so
  // far hold atoms whose dots only the transfer's first context covers).
  // REQUIRES: p < Q.
  virtual std::string TransferRecord(uint32_t p) = 0;
  // Records it (empty: none). REQUIRES: p < Q.
  virtual void SetTransferRecord(uint32_t p, std::string_view record) = 0;

  // The core's placement record of p (the core's encoding, core_move.cc),
  // empty if none: which nodes hold p at the epoch this node adopted, its
  // streams, and the move of p under way here, so that a restart resumes the
  // move (docs/replication.md, "Membership change"). REQUIRES: p < Q.
  virtual std::string MoveRecord(uint32_t p) = 0;
  // Records it (empty: none). REQUIRES: p < Q.
  virtual void SetMoveRecord(uint32_t p, std::string_view record) = 0;
};

}  // namespace geokv::replication
