// The embedded default topology: topology/local-3dc.toml, compiled in.
//
// The text is copied from the file at configure time (CMake file(READ) into a
// generated source), and a test compares the two, so they cannot drift apart.
#pragma once

#include <string_view>

#include "common/status.h"
#include "placement/topology.h"

namespace geokv::placement {

// The exact bytes of topology/local-3dc.toml. Thread-safe; never dangles.
std::string_view DefaultTopologyText();

// The source name messages use for it: "<embedded topology/local-3dc.toml>".
std::string_view DefaultTopologySourceName();

// ParseTopology(DefaultTopologyText(), DefaultTopologySourceName()). The file
// is validated by the tests, so this succeeds in any tested build.
Result<Topology> DefaultTopology();

}  // namespace geokv::placement
