// Test helpers: topology TOML built from a compact description, so tests and
// property generators write clusters as data and still go through the parser.
#pragma once

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/prng.h"
#include "placement/topology.h"

namespace geokv::placement::testutil {

struct NodeSpec {
  std::string id;
  std::string dc;
  std::string rack;  // "" = no rack key in the file
  uint32_t weight = 1;
};

struct ClusterSpec {
  uint32_t partitions = 64;
  uint32_t replicas = 3;
  std::optional<uint32_t> vnodes;  // nullopt = no vnodes key (the default)
  std::vector<NodeSpec> nodes;     // datacenters appear in order of first use
};

// The TOML text of `spec`. Every node gets distinct loopback-style endpoints.
inline std::string ToToml(const ClusterSpec& spec) {
  std::string out = "[cluster]\nname = \"test\"\npartitions = " + std::to_string(spec.partitions) +
                    "\nreplicas = " + std::to_string(spec.replicas) + "\n";
  if (spec.vnodes) out += "vnodes = " + std::to_string(*spec.vnodes) + "\n";
  std::vector<std::string> dcs;
  for (const NodeSpec& n : spec.nodes) {
    if (std::find(dcs.begin(), dcs.end(), n.dc) == dcs.end()) dcs.push_back(n.dc);
  }
  uint32_t port = 1000;
  for (const std::string& dc : dcs) {
    out += "\n[[datacenters]]\nname = \"" + dc + "\"\n";
    for (const NodeSpec& n : spec.nodes) {
      if (n.dc != dc) continue;
      out += "[[datacenters.nodes]]\nid = \"" + n.id + "\"\n";
      if (!n.rack.empty()) out += "rack = \"" + n.rack + "\"\n";
      if (n.weight != 1) out += "weight = " + std::to_string(n.weight) + "\n";
      out += "client = \"10.0.0.1:" + std::to_string(port++) + "\"\n";
      out += "repl = \"tcp://10.0.0.1:" + std::to_string(port++) + "\"\n";
      out += "sync = \"tcp://10.0.0.1:" + std::to_string(port++) + "\"\n";
    }
  }
  return out;
}

// Parses text that the test knows to be valid; fails the test otherwise.
inline Topology MustParse(const std::string& text) {
  Result<Topology> topology = ParseTopology(text, "test.toml");
  INFO(text);
  REQUIRE(topology.ok());
  return std::move(topology).value();
}

inline Topology MustParse(const ClusterSpec& spec) { return MustParse(ToToml(spec)); }

// A random node id that ends in `serial`, so ids with distinct serials are
// distinct while their hashes (ring tokens) still vary from case to case.
inline std::string RandomId(Prng& rng, size_t serial) {
  std::string id;
  for (int i = 0; i < 6; ++i) id += static_cast<char>('a' + rng.Below(26));
  return id + "-" + std::to_string(serial);
}

}  // namespace geokv::placement::testutil
