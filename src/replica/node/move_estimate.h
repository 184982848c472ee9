// MoveEstimates: an estimate of the bytes this node's moves still have to
// move (GEOKV.MEMBERS bytes_left, here and at peers through heartbeats;
// GEOKV.MOVES per partition; INFO cluster's move_bytes_left, /metrics
// geokv_move_bytes_left), from key counts and a sampled size per key. The
// replication computes it with each ServingView it publishes (at most every
// 200 ms while moves go on), not per request or heartbeat.
//
// A partition's size here is its key count times the key size: the mean
// encoded size of up to kSampleKeysMax keys of its largest served partition
// (of its largest held one while it serves none; kUnsampledKeyBytes when it
// holds no key). Per partition moving here (ServingView::moves), by this
// node's role in it:
//   - joining (a new owner filling itself): what it lacks of a full
//     partition's size, and never less than one key while the move lasts. A
//     full partition is the peers' median partition_bytes (heartbeats: a
//     node that joins serves no partition to size one by), else the mean
//     size of the partitions this node serves;
//   - leaving, draining, deleting (an old owner): everything it still holds
//     there (its new owners fill from it; then it deletes it);
//   - staying (an owner before and after): nothing of its own to move.
// The fill's own progress is not known here beyond the keys already arrived.
// No moves: none.
#pragma once

#include <cstdint>
#include <vector>

#include "replica/node/node_replication.h"
#include "storage/transaction.h"

namespace geokv::replica {

inline constexpr size_t kSampleKeysMax = 32;
inline constexpr uint64_t kUnsampledKeyBytes = 64;

struct MoveEstimates {
  // The estimate for each of view.moves, parallel to it (GEOKV.MOVES
  // bytes_left), and their sum (the node's).
  std::vector<uint64_t> bytes_left;
  uint64_t bytes_left_total = 0;
  // The mean size of a partition this node serves (0: it serves none), for
  // its heartbeats (Heartbeat::partition_bytes): joiners size fills by it.
  uint64_t partition_bytes = 0;
};

// The estimates for `view`'s moves (all zero and empty without moves).
// `peer_partition_bytes` is ReplicationCore::PeerPartitionBytes (0: none
// heard). Reads key counts (and a few keys) of `view`'s partitions in `txn`.
// Writer thread, in a job.
MoveEstimates EstimateMoves(storage::Transaction& txn, const ServingView& view,
                            uint64_t peer_partition_bytes);

}  // namespace geokv::replica
