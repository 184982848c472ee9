// Topology: the cluster as a topology file describes it (docs/topology.md).
//
// The file format is a contract shared with other tools and tests; this module
// is its only reader. A Topology value exists only if the whole file passed
// validation, so holders may rely on these invariants without re-checking:
//   * partitions is a power of two in [1, kMaxPartitions];
//   * 1 <= replicas <= nodes().size(); 1 <= vnodes <= kMaxVnodes;
//   * every datacenter has a distinct, non-empty name and at least one node;
//   * node ids are distinct, and so are their replica ids (XXH64 of the id);
//   * no host:port appears twice among all client, repl, sync and metrics
//     endpoints of all nodes;
//   * 1 <= weight <= kMaxWeight, and the ring's token count (sum of weights
//     times vnodes) is at most kMaxRingTokens;
//   * either every node has a curve_public key or none has; each is the Z85
//     text of 32 bytes, and no two nodes share one.
// Nodes are kept in file order; a node's index is its position in nodes().
// Placement never depends on that order (the ring sorts by position and id).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace geokv::placement {

// Ring tokens per unit of weight when the file gives no cluster.vnodes. More
// tokens spread each node's share over more, shorter arcs, so shares come
// closer to their weight (docs/topology.md has measured figures); they cost
// 16 bytes each, and a cluster of more than kMaxRingTokens / 1024 = 1024 units
// of weight must name a smaller vnodes.
inline constexpr uint32_t kDefaultVnodes = 1024;
inline constexpr uint32_t kMaxVnodes = 4096;
inline constexpr uint32_t kMaxWeight = 1000;
inline constexpr uint64_t kMaxRingTokens = 1 << 20;
inline constexpr size_t kMaxNameBytes = 64;
// A topology file larger than this is rejected unread: real ones are a few
// hundred bytes per node.
inline constexpr size_t kMaxTopologyBytes = 16 << 20;
// At most this many ids in [cluster] forget.
inline constexpr size_t kMaxForgotten = 4096;

// A network endpoint as written in the file, and its parts.
struct Endpoint {
  std::string text;  // exactly as written: "host:port" or "tcp://host:port"
  std::string host;  // without brackets for an IPv6 literal
  uint16_t port = 0;
};

struct Node {
  std::string id;           // [A-Za-z0-9._-]{1,64}, unique in the topology
  uint64_t replica_id = 0;  // XXH64(id bytes, seed 0); the node's CRDT replica id
  std::string dc;           // name of its datacenter
  size_t dc_index = 0;      // index into Topology::datacenters()
  std::string rack;         // "" when the file gives none (all such nodes of a DC share it)
  uint32_t weight = 1;
  Endpoint client;                  // RESP, "host:port"
  Endpoint repl;                    // ZeroMQ PUB, "tcp://host:port"
  Endpoint sync;                    // ZeroMQ ROUTER, "tcp://host:port"
  std::optional<Endpoint> metrics;  // HTTP /metrics, "host:port"
  std::string curve_public;         // CURVE public key, Z85 (40 chars); "" without CURVE
  uint32_t line = 0;                // line of the node's table in the file
};

struct Datacenter {
  std::string name;
  std::vector<size_t> nodes;  // indices into Topology::nodes(), file order
};

// An immutable, validated topology. Thread-safe for concurrent reads.
class Topology {
 public:
  // Where it came from (a path, or a name such as "<embedded local-3dc.toml>").
  const std::string& source_name() const { return source_name_; }
  const std::string& cluster_name() const { return cluster_name_; }
  // Q: the fixed number of partitions (a power of two).
  uint32_t partitions() const { return partitions_; }
  // N: the copies of each partition.
  uint32_t replicas() const { return replicas_; }
  // V: ring tokens per unit of weight (kDefaultVnodes when the file omits it).
  uint32_t vnodes() const { return vnodes_; }
  // The file's [cluster] epoch (0 when it has none): a running cluster moves
  // only to a topology of a higher epoch (DESIGN.md "Membership change").
  uint64_t epoch() const { return epoch_; }
  // [cluster] forget: ids of nodes lost for good, none of them in nodes().
  // Moves stop waiting for them (a node that never came up to join, a
  // removed node that can never drain): whatever only they held is lost, by
  // the operator's decision (docs/operations.md "Forget a lost node").
  const std::vector<std::string>& forgotten() const { return forgotten_; }
  // The file's text exactly as parsed. Two topologies are the same when their
  // texts are equal, byte for byte (no canonical form: a reformatted file of
  // the same epoch is refused, so an operator bumps the epoch for any edit).
  const std::string& text() const { return text_; }
  // Every node, in file order.
  const std::vector<Node>& nodes() const { return nodes_; }
  // Every datacenter, in file order.
  const std::vector<Datacenter>& datacenters() const { return datacenters_; }

  // Whether the nodes carry CURVE keys (then all of them do).
  bool curve() const { return !nodes_.empty() && !nodes_[0].curve_public.empty(); }

  // The index of the node with this id, or nullopt.
  std::optional<size_t> FindNode(std::string_view id) const;

 private:
  friend class TopologyParser;
  friend class PeerRoutes;  // replaces peers' endpoints, nothing else
  Topology() = default;

  std::string source_name_;
  std::string cluster_name_;
  uint32_t partitions_ = 0;
  uint32_t replicas_ = 0;
  uint32_t vnodes_ = 0;
  uint64_t epoch_ = 0;
  std::string text_;
  std::vector<Node> nodes_;
  std::vector<Datacenter> datacenters_;
  std::vector<std::string> forgotten_;
};

// Parses and validates topology TOML. `source_name` is used in messages only.
// Returns the topology, or Status::Invalid whose message lists every problem
// found, one per line, in file order, each as
//     <source_name>:<line>: <key path>: <what is wrong>
// e.g. "topology/x.toml:12: datacenters[0].nodes[1].weight: must be a positive
// integer (got 0)". A TOML syntax error is reported alone, with the key path
// "syntax". A missing top-level key is reported at line 1. At most 50
// problems are listed; a last line with the key path "document" says how many
// more there are. Text longer than kMaxTopologyBytes is rejected unparsed
// ("<source_name>:1: document: larger than the 16777216-byte limit").
// Thread-safe.
Result<Topology> ParseTopology(std::string_view text, std::string_view source_name);

// Reads the file at `path` (a little past kMaxTopologyBytes at most, so that
// ParseTopology reports an oversized one). Returns Status::Io (message
// "<path>: <reason>") when it cannot be read or is a directory.
// Thread-safe.
Result<std::string> ReadTopologyText(const std::string& path);

// Reads the file at `path` and parses it, with `path` as the source name.
// Returns Status::Io (message "<path>: <reason>") when it cannot be read or is
// a directory.
// Thread-safe.
Result<Topology> LoadTopologyFile(const std::string& path);

// A node's CRDT replica id: XXH64 of its id's bytes, seed 0 (Node::replica_id).
// Thread-safe.
uint64_t ReplicaIdOf(std::string_view node_id);

// Whether `name` is a valid node, datacenter or rack name: 1 to
// kMaxNameBytes characters of [A-Za-z0-9._-]. Thread-safe.
bool IsValidName(std::string_view name);

// Parses an endpoint "host:port", or "tcp://host:port" when `tcp` is true.
// host is a DNS name ([A-Za-z0-9-] labels joined by dots), a dotted IPv4
// address or a bracketed IPv6 literal; port is decimal in [1, 65535].
// Returns nullopt when the text does not have that shape. Thread-safe.
std::optional<Endpoint> ParseEndpoint(std::string_view text, bool tcp);

// Whether `text` is a CURVE key as Z85: 40 characters of the Z85 alphabet
// whose 5-character groups each encode a 32-bit value. Thread-safe.
bool IsZ85Key(std::string_view text);

namespace detail {
// ParseTopology with the replica-id function replaced, so that tests can
// provoke the replica-id collision check (XXH64 collisions are not at hand).
Result<Topology> ParseTopologyWithIdHash(std::string_view text, std::string_view source_name,
                                         uint64_t (*replica_id_of)(std::string_view id));
}  // namespace detail

}  // namespace geokv::placement
