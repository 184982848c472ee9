// Dots: the unique names of updates.
//
// A dot (origin, counter) names one atom of CRDT state. Every replica (node)
// numbers the dots it creates in a partition 1, 2, 3, ... without gaps, so a
// (partition, origin) pair is also a replication sequence.
#pragma once

#include <compare>
#include <cstdint>

namespace geokv::crdt {

// The stable id of a replica (a node of the topology), a 64-bit hash of its
// textual node id. Also the last tie-breaker between concurrent writes.
using ReplicaId = uint64_t;

struct Dot {
  ReplicaId origin = 0;
  uint64_t counter = 0;  // >= 1 for a real dot

  auto operator<=>(const Dot&) const = default;
};

}  // namespace geokv::crdt
