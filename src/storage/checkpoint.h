// CheckpointSlice: what one checkpoint transaction writes, cut by the state
// thread (Store::NextSlice) and written by the commit thread (Committer).
// It holds copies, so memory may change while it is written.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "crdt/dot_context.h"
#include "crdt/state.h"

namespace geokv::storage::internal {

// A partition index that names none (a slice that writes only meta and
// deletes redo rows).
constexpr uint32_t kNoPartition = UINT32_MAX;

struct CheckpointSlice {
  struct AtomRow {
    crdt::Path path;
    crdt::Atom atom;       // its dot also for a deletion
    bool present = false;  // false: delete the row
  };
  struct LogRow {
    crdt::ReplicaId origin = 0;
    uint64_t first = 0, last = 0;
    std::string delta;
  };

  uint32_t part = kNoPartition;
  std::vector<AtomRow> rows;
  // The partition's last slice: its row, applied seqs, log and R_p too.
  bool final = false;
  std::string context;  // EncodeDotContext bytes
  uint64_t key_count = 0;
  uint64_t log_bytes = 0;
  uint64_t redo_through = 0;
  std::vector<std::pair<crdt::ReplicaId, uint64_t>> applied;
  std::vector<LogRow> log_rows;
  std::vector<std::pair<crdt::ReplicaId, uint64_t>> floors;  // drop log rows through these
  std::map<crdt::ReplicaId, uint64_t> moved_through;  // per origin, the last seq moved
  // Any slice: meta values changed since the last one, and R_meta.
  std::vector<std::pair<std::string, std::string>> meta;
  std::optional<uint64_t> meta_through;
  // Redo rows with id <= this are deleted (0: none).
  uint64_t redo_delete_through = 0;
};

}  // namespace geokv::storage::internal
