// MemoryReplicaStore: a ReplicaStore held in memory, for the simulation and
// tests.
//
// It behaves like storage::Transaction: per partition a crdt::MemoryState, a
// map of applied seqs and a delta log with the same retention rule (the log of
// a partition is bounded in bytes — encoded delta + kLogEntryOverheadBytes per
// entry — and the oldest entries go first; the entry just appended always
// stays) and the same "log truncated" answer. Every call takes effect at once:
// there are no transactions, so "committed" means "done".
//
// Invariant: per (partition, origin) the log holds entries in ascending,
// non-overlapping seq order, all above floor (the highest seq ever dropped).
// Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "crdt/memory_state.h"
#include "replica/replication/replica_store.h"

namespace geokv::replication {

class MemoryReplicaStore final : public ReplicaStore {
 public:
  // The per-entry overhead counted towards the log bound (as in storage).
  static constexpr size_t kLogEntryOverheadBytes = 32;

  // REQUIRES: partitions >= 1; log_max_bytes_per_partition >= 1.
  MemoryReplicaStore(uint32_t partitions, size_t log_max_bytes_per_partition);

  crdt::MutableState& Partition(uint32_t p) override;
  uint64_t Applied(uint32_t p, crdt::ReplicaId origin) override;
  void SetApplied(uint32_t p, crdt::ReplicaId origin, uint64_t seq) override;
  void AppendLog(uint32_t p, const crdt::Delta& delta, std::string_view encoded) override;
  Result<std::vector<crdt::Delta>> ReadLog(uint32_t p, crdt::ReplicaId origin, uint64_t after,
                                           size_t max_bytes) override;
  void TruncateLog(uint32_t p, crdt::ReplicaId origin, uint64_t through) override;
  std::string TransferRecord(uint32_t p) override { return At(p).transfer; }
  void SetTransferRecord(uint32_t p, std::string_view record) override {
    At(p).transfer = std::string(record);
  }
  std::string MoveRecord(uint32_t p) override { return At(p).move; }
  void SetMoveRecord(uint32_t p, std::string_view record) override {
    At(p).move = std::string(record);
  }

  // For tests: the MemoryState itself (e.g. to run mutators on it).
  crdt::MemoryState& State(uint32_t p);
  // For tests: the log entries of (p, origin), oldest first.
  std::vector<crdt::Delta> LogEntries(uint32_t p, crdt::ReplicaId origin) const;
  // For tests: the highest seq of (p, origin) ever dropped from the log.
  uint64_t LogFloor(uint32_t p, crdt::ReplicaId origin) const;
  uint32_t partitions() const { return static_cast<uint32_t>(parts_.size()); }

 private:
  struct Entry {
    crdt::Delta delta;
    size_t bytes = 0;  // encoded size
  };
  struct Log {
    std::deque<Entry> entries;
    uint64_t floor = 0;
    uint64_t last = 0;  // highest seq appended
  };
  struct Part {
    crdt::MemoryState state;
    std::map<crdt::ReplicaId, uint64_t> applied;
    std::map<crdt::ReplicaId, Log> logs;
    size_t log_bytes = 0;
    std::string transfer;
    std::string move;
  };

  Part& At(uint32_t p);
  void DropFront(Part& part, Log& log);

  std::vector<Part> parts_;
  size_t log_max_bytes_;
};

}  // namespace geokv::replication
