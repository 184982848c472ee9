// NodeReport: what INFO (info.h) and /metrics (metrics_text.h) show, gathered
// once per request: counters read from their owners, and the figures that
// live on the storage writer thread (key counts, replication) read in jobs.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "placement/ring.h"
#include "replica/node/hints.h"
#include "replica/node/node_replication.h"
#include "replica/node/node_stats.h"
#include "replica/node/server.h"
#include "storage/engine.h"

namespace geokv::replica {

// The topology the node runs (RunningTopology) and how its peers stand to it.
struct ClusterFigures {
  uint64_t epoch = 0;
  std::string source;  // where the running file came from (a path, APPLY, a peer)
  uint64_t nodes = 0;
  uint64_t datacenters = 0;
  bool self_in_topology = true;  // false: this node was removed and drains
  uint64_t peers_ahead = 0;      // peers last heard to run a higher epoch
  uint64_t adopted = 0;          // topologies adopted since start
  uint64_t refused = 0;          // offers refused since start (invalid, or not a higher epoch)
  uint64_t move_bytes_left = 0;  // MoveBytesLeft (move_estimate.h); 0 without moves
  // Partitions moving here (ServingView::moves), by MoveStatus::Role.
  std::array<uint64_t, kMoveRoles> moves_by_role = {};
  uint64_t moves_stalled = 0;  // NodeReplication::MovesStalled
};

struct NodeReport {
  const placement::PlacementTable* table = nullptr;
  size_t node_index = 0;
  const ServerStats* server = nullptr;  // null: no client port (tests)
  size_t max_clients = 0;
  const NodeStats* stats = nullptr;
  const storage::EngineStats* engine = nullptr;
  std::string data_path;                            // the database file
  std::vector<std::pair<uint32_t, uint64_t>> keys;  // held partition -> keys
  std::optional<ReplicationSnapshot> replication;   // null: none, or busy
  MemoryUsage memory;
  int64_t uptime_s = 0;
  int64_t started_unix_s = 0;
  double ops_per_sec = 0;
  std::string run_id;  // 40 hex digits, new per process (as Redis's)
  uint64_t hlc = 0;    // the latest HLC issued or adopted (0: none yet)
  ClusterFigures cluster;
  std::optional<HintFigures> hints;  // null: no hinted handoff

  const placement::Node& self() const { return table->topology().nodes()[node_index]; }
  uint64_t total_keys() const {
    uint64_t n = 0;
    for (const auto& [p, k] : keys) n += k;
    return n;
  }
};

}  // namespace geokv::replica
