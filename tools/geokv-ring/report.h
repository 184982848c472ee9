// geokv-ring's reports: the same facts as text for operators and as JSON for
// scripts. Every Write*Json function writes one JSON object (toml++'s JSON
// formatter does the escaping); the keys are documented in docs/topology.md.
#pragma once

#include <cstdint>
#include <ostream>
#include <string_view>

#include "placement/ring.h"

namespace geokv::tools {

// The partition table, the load per node, datacenter and rack, and the
// balance figures.
void WriteTableText(std::ostream& out, const placement::PlacementTable& table);
void WriteTableJson(std::ostream& out, const placement::PlacementTable& table);

// A key's hash, partition and preference list (GEOKV.WHERE's answer).
void WriteKeyText(std::ostream& out, const placement::PlacementTable& table, std::string_view key);
void WriteKeyJson(std::ostream& out, const placement::PlacementTable& table, std::string_view key);

// The partitions whose preference lists differ, from which nodes to which
// each moves, and the fraction of replicas moved next to the optimal
// fraction. With bytes_per_partition > 0 (one replica of one partition, as
// the operator estimates it), also the bytes each move copies and their sum.
void WriteDiffText(std::ostream& out, const placement::PlacementTable& before,
                   const placement::PlacementTable& after, const placement::PlacementDiff& diff,
                   uint64_t bytes_per_partition = 0);
void WriteDiffJson(std::ostream& out, const placement::PlacementTable& before,
                   const placement::PlacementTable& after, const placement::PlacementDiff& diff,
                   uint64_t bytes_per_partition = 0);

}  // namespace geokv::tools
