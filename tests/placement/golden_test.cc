// The full placement of topology/local-5dc.toml, pinned. Any change to the key
// hash, token positions, partition positions or the walk shows up here as a
// readable list of partitions that moved. If a change is intended (and the
// data migration it implies is planned), regenerate with
//   GEOKV_UPDATE_GOLDEN=1 build/tests/placement/placement_tests "[unit]"
// and commit tests/placement/golden/local-5dc.txt with the change.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "placement/ring.h"
#include "placement/topology.h"

namespace geokv::placement {
namespace {

constexpr size_t kMaxReportedDifferences = 20;

// One line per partition: "<partition>: <id> <id> <id>" in preference order.
std::vector<std::string> TableLines(const PlacementTable& table) {
  std::vector<std::string> lines;
  for (uint32_t p = 0; p < table.partitions(); ++p) {
    std::string line = std::to_string(p) + ":";
    for (uint32_t n : table.PreferenceList(p)) line += " " + table.topology().nodes()[n].id;
    lines.push_back(line);
  }
  return lines;
}

std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] != '#') lines.push_back(line);
  }
  return lines;
}

TEST_CASE("Golden: the placement of topology/local-5dc.toml is pinned", "[unit]") {
  const std::string source = std::string(GEOKV_SOURCE_DIR);
  const std::string golden_path = source + "/tests/placement/golden/local-5dc.txt";
  Result<Topology> topology = LoadTopologyFile(source + "/topology/local-5dc.toml");
  REQUIRE(topology.ok());
  const std::vector<std::string> actual = TableLines(PlacementTable(std::move(topology).value()));

  if (const char* update = std::getenv("GEOKV_UPDATE_GOLDEN"); update && *update == '1') {
    std::ofstream out(golden_path, std::ios::trunc);
    out << "# Placement of topology/local-5dc.toml: partition: preference list.\n"
        << "# Pinned by tests/placement/golden_test.cc; see there before editing.\n";
    for (const std::string& line : actual) out << line << "\n";
    REQUIRE(out.good());
    WARN("rewrote " << golden_path);
  }

  const std::vector<std::string> expected = ReadLines(golden_path);
  REQUIRE_FALSE(expected.empty());
  std::ostringstream diff;
  size_t differences = 0;
  for (size_t i = 0; i < std::max(expected.size(), actual.size()); ++i) {
    const std::string want = i < expected.size() ? expected[i] : "(none)";
    const std::string got = i < actual.size() ? actual[i] : "(none)";
    if (want == got) continue;
    if (++differences <= kMaxReportedDifferences) {
      diff << "  expected " << want << "\n       got " << got << "\n";
    }
  }
  if (differences > kMaxReportedDifferences) {
    diff << "  ... and " << differences - kMaxReportedDifferences << " more\n";
  }
  INFO(differences << " of " << expected.size() << " partitions differ from " << golden_path
                   << ":\n"
                   << diff.str());
  CHECK(differences == 0);
}

}  // namespace
}  // namespace geokv::placement
