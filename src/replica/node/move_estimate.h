// MoveBytesLeft: an estimate of the bytes this node's moves still have to
// move (GEOKV.MEMBERS bytes_left, here and at peers through heartbeats;
// GEOKV.MOVES per partition; INFO cluster's move_bytes_left, /metrics
// geokv_move_bytes_left), from key counts and a sampled size per key. The
// replication computes it with each ServingView it publishes (at most every
// 200 ms while moves go on), not per request or heartbeat.
//
// Per partition moving here (ServingView::moves), by this node's role in it:
//   - joining (a new owner filling itself): the keys it lacks, against the
//     mean key count of the partitions it serves (of those it holds while it
//     serves none), and never less than one key while the move lasts;
//   - leaving, draining, deleting (an old owner): every key it still holds
//     (its new owners fill from it; then it deletes them);
//   - staying (an owner before and after): nothing of its own to move.
// Keys are priced at the mean encoded size of up to kSampleKeysMax keys of
// its largest served partition (kUnsampledKeyBytes when it has none). The
// fill's own progress is not known here beyond the keys already arrived.
// No moves: none.
#pragma once

#include <cstdint>
#include <vector>

#include "replica/node/node_replication.h"
#include "storage/transaction.h"

namespace geokv::replica {

inline constexpr size_t kSampleKeysMax = 32;
inline constexpr uint64_t kUnsampledKeyBytes = 64;

// The estimate for each of view.moves, parallel to it (GEOKV.MOVES
// bytes_left); their sum is the node's. Reads key counts (and a few keys) of
// `view`'s partitions in `txn`. Writer thread, in a job.
std::vector<uint64_t> MoveBytesLeft(storage::Transaction& txn, const ServingView& view);

}  // namespace geokv::replica
