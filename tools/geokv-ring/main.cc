// geokv-ring: inspect how a topology file places partitions.
//
//   geokv-ring FILE                 partition table, load per node/DC/rack, balance
//   geokv-ring FILE --diff NEW      partitions that change owners, from which nodes to
//                                   which; moved vs optimal
//     [--bytes-per-partition N]     and the bytes each move copies (N per replica)
//   geokv-ring FILE --key KEY       a key's partition and preference list
//   geokv-ring FILE --svg OUT.svg   also draw the ring
//   --json                          any of the above as one JSON object on stdout
//
// Exit status: 0 on success; 1 when a topology file is unreadable or invalid
// (the validation messages go to stderr); CLI11's codes for bad usage.
#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>

#include "placement/ring.h"
#include "placement/topology.h"
#include "report.h"
#include "ring_svg.h"

namespace {

using geokv::placement::PlacementTable;

constexpr int kExitInvalid = 1;

std::optional<PlacementTable> Load(const std::string& path) {
  geokv::Result<geokv::placement::Topology> topology = geokv::placement::LoadTopologyFile(path);
  if (!topology.ok()) {
    std::cerr << topology.status().message() << "\n";
    return std::nullopt;
  }
  return PlacementTable(std::move(topology).value());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"geokv-ring: how a geokv topology file places partitions on nodes"};
  std::string file, diff_file, svg_file, key;
  bool json = false;
  uint64_t bytes_per_partition = 0;
  app.add_option("FILE", file, "topology file (TOML, see docs/topology.md)")->required();
  auto* diff_opt =
      app.add_option("--diff", diff_file, "a second topology: show what changes from FILE to it");
  auto* bytes_opt = app.add_option("--bytes-per-partition", bytes_per_partition,
                                   "with --diff: the bytes of one replica of one partition (e.g. "
                                   "a node's database size over its partitions), to estimate "
                                   "the bytes each move copies");
  bytes_opt->needs(diff_opt);
  auto* key_opt = app.add_option("--key", key, "show the partition and preference list of a key");
  auto* svg_opt = app.add_option("--svg", svg_file, "write a picture of the ring to this file");
  app.add_flag("--json", json, "print JSON instead of text");
  diff_opt->excludes(key_opt)->excludes(svg_opt);
  key_opt->excludes(svg_opt);
  CLI11_PARSE(app, argc, argv);

  std::optional<PlacementTable> table = Load(file);
  if (!table) return kExitInvalid;

  if (!diff_file.empty()) {
    std::optional<PlacementTable> after = Load(diff_file);
    if (!after) return kExitInvalid;
    geokv::Result<geokv::placement::PlacementDiff> diff = geokv::placement::Diff(*table, *after);
    if (!diff.ok()) {
      std::cerr << file << " -> " << diff_file << ": " << diff.status().message() << "\n";
      return kExitInvalid;
    }
    if (json) {
      geokv::tools::WriteDiffJson(std::cout, *table, *after, *diff, bytes_per_partition);
    } else {
      geokv::tools::WriteDiffText(std::cout, *table, *after, *diff, bytes_per_partition);
    }
    return 0;
  }
  if (!key_opt->empty()) {
    if (json) {
      geokv::tools::WriteKeyJson(std::cout, *table, key);
    } else {
      geokv::tools::WriteKeyText(std::cout, *table, key);
    }
    return 0;
  }
  if (!svg_file.empty()) {
    std::ofstream out(svg_file, std::ios::binary | std::ios::trunc);
    out << geokv::tools::RenderRingSvg(*table);
    out.close();
    if (!out) {
      std::cerr << svg_file << ": cannot write\n";
      return kExitInvalid;
    }
    std::cerr << "wrote " << svg_file << "\n";
  }
  if (json) {
    geokv::tools::WriteTableJson(std::cout, *table);
  } else {
    geokv::tools::WriteTableText(std::cout, *table);
  }
  return 0;
}
