// The weighted vnode ring and the partition placement it yields.
//
// Scheme (docs/topology.md has the long form; every step is deterministic and
// independent of the order of nodes in the file):
//   * Tokens: node n places weight(n) * V tokens; token i (0-based) sits at
//     XXH64("<node id>#<i>", seed 0). Tokens are ordered by (position, node id).
//     Raising a node's weight adds tokens and keeps its old ones.
//   * Partition p's walk starts at PartitionPosition(p) (partitioner.h) and
//     visits tokens clockwise: the first token at or after that position, then
//     on, wrapping at 2^64, for at most one revolution per pass.
//   * Preference list of p, N = replicas: up to three passes, each from the
//     start position, each stopping as soon as the list has N nodes:
//       1. take a token's node if its datacenter is not in the list yet;
//       2. take it if its rack (a (datacenter, rack) pair) is not in the list yet;
//       3. take it if the node is not in the list yet.
//     So with at least N datacenters every list spans N distinct datacenters;
//     with fewer, it spans all of them, then as many racks as it can, and never
//     holds a node twice. The list is in the order nodes were taken.
//   * Removing a node X changes nothing but X's replicas. If X is not in p's
//     list, p's list is unchanged, order and all: every pass passed over X's
//     tokens, and dropping tokens a pass ignored changes none of its choices.
//     If X is in p's list, the other N-1 members stay and exactly one node
//     joins. (Each pass takes, among the groups it admits, the first-seen node
//     of the earliest-seen groups; removing X only moves its own group's first
//     sighting later, or removes the group. The argument is in
//     docs/topology.md; a property test checks the statement.) Adding a node
//     is the reverse, so it takes replicas only for itself.
//   * The passes make the same choices whatever N is; N only says when to
//     stop. So the list for N is a prefix of the list for N+1.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "placement/topology.h"

namespace geokv::placement {

struct Token {
  uint64_t position = 0;
  uint32_t node = 0;  // index into Topology::nodes()
};

// The ring position of token `index` of node `node_id`: XXH64("<id>#<index>").
// Thread-safe.
uint64_t TokenPosition(std::string_view node_id, uint32_t index);

// Replicas placed on one node, rack or datacenter, against its ideal share.
struct Load {
  uint64_t replicas = 0;
  // The weight-proportional share within the limits placement obeys (see
  // PlacementTable::Balance). May be fractional; 0 only for nothing to hold.
  double ideal = 0;
  // replicas / ideal; 0 when ideal is 0.
  double Ratio() const { return ideal > 0 ? static_cast<double>(replicas) / ideal : 0; }
};

struct RackLoad {
  size_t dc_index = 0;  // index into Topology::datacenters()
  std::string rack;     // "" for the nodes that name no rack
  Load load;
};

struct BalanceReport {
  std::vector<Load> nodes;        // indexed like Topology::nodes()
  std::vector<Load> datacenters;  // indexed like Topology::datacenters()
  std::vector<RackLoad> racks;    // in order of first appearance in the file
  // The largest Load::Ratio() of each list: 1.0 is perfect balance.
  double node_max_over_ideal = 0;
  double dc_max_over_ideal = 0;
  double rack_max_over_ideal = 0;
};

// The placement of every partition of a topology. Immutable once built;
// thread-safe for concurrent reads.
class PlacementTable {
 public:
  // Builds the ring and every preference list. Cost: O(T log T) for T tokens,
  // plus a walk per partition (short when there are at least N datacenters).
  explicit PlacementTable(Topology topology);

  const Topology& topology() const { return topology_; }
  uint32_t partitions() const { return topology_.partitions(); }
  uint32_t replicas() const { return topology_.replicas(); }

  // Every token, in ring order (by position, then node id).
  const std::vector<Token>& tokens() const { return tokens_; }

  // The N node indices (into topology().nodes()) that hold `partition`, in
  // preference order. The span lives as long as this table.
  // REQUIRES: partition < partitions().
  std::span<const uint32_t> PreferenceList(uint32_t partition) const;

  // The partition of `key` (partitioner.h's PartitionOfKey with this Q).
  uint32_t PartitionOfKey(std::string_view key) const;

  // The partitions whose preference list holds `node`, ascending.
  // REQUIRES: node < topology().nodes().size().
  const std::vector<uint32_t>& PartitionsOfNode(size_t node) const;

  // Replica counts per node, datacenter and rack against their ideal.
  // The ideal is weight-proportional within the limits the rules impose: a
  // node holds a partition at most once; with at least N datacenters each
  // datacenter holds one copy of a partition at most, and with fewer each holds
  // at least one and at most N - (datacenters - 1). Datacenters share Q*N by
  // their total weight within those limits ("water-filling"), and nodes share
  // their datacenter's ideal by weight, at most Q each. A rack's ideal is the
  // sum of its nodes'.
  BalanceReport Balance() const;

 private:
  void BuildRing();
  void BuildRacks();
  void Place();
  void ComputeIdeals();

  Topology topology_;
  std::vector<Token> tokens_;
  std::vector<uint32_t> rack_of_node_;  // node index -> index into racks_
  std::vector<RackLoad> racks_;         // ideal filled in, replicas zero
  std::vector<uint32_t> lists_;         // partition p's list at [p*N, (p+1)*N)
  std::vector<std::vector<uint32_t>> partitions_of_node_;
  std::vector<double> node_ideal_;
  std::vector<double> dc_ideal_;
};

// One partition whose preference list differs between two tables.
struct PartitionChange {
  uint32_t partition = 0;
  std::vector<std::string> before;  // node ids, preference order
  std::vector<std::string> after;
  // Nodes in `after` that are not in `before`: replicas a new owner must fetch.
  // 0 when only the order changed.
  uint32_t moved = 0;
};

struct PlacementDiff {
  std::vector<PartitionChange> changes;  // ascending partition
  uint64_t moved_replicas = 0;           // sum of PartitionChange::moved
  uint64_t total_replicas = 0;           // Q * N of the new table
  double moved_fraction = 0;             // moved_replicas / total_replicas
  // The least fraction any placement must move between these topologies:
  // the sum over node ids of the growth of their ideal share (Balance()),
  // over total_replicas. Adding one node of weight w to nodes of total weight
  // W, each in its own datacenter (or all in one), gives w / (W + w) while no
  // node or datacenter is held to its limit of Q replicas.
  double optimal_fraction = 0;
};

// What changes when the placement goes from `before` to `after`. Nodes are
// matched by id. Returns Status::Invalid if the partition counts differ (every
// key would change partition, which is not a placement change). Thread-safe.
Result<PlacementDiff> Diff(const PlacementTable& before, const PlacementTable& after);

}  // namespace geokv::placement
