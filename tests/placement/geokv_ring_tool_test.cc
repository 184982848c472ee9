// Runs the built geokv-ring binary: its JSON parses (checked with python3's
// json module, which install-deps provides) and says what the library says.
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "placement/ring.h"
#include "placement/topology.h"

namespace geokv::placement {
namespace {

struct Run {
  int exit_code = -1;
  std::string output;
};

// Runs a shell command, capturing stdout (and stderr when the command says 2>&1).
Run Shell(const std::string& command) {
  Run run;
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) run.output.append(buf, n);
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

std::string Ring() { return std::string("'") + GEOKV_RING_BINARY + "'"; }
std::string Shipped(const char* name) {
  return std::string("'") + GEOKV_SOURCE_DIR + "/topology/" + name + "'";
}

// A fresh directory for this process's files.
std::filesystem::path TempDir() {
  const auto dir =
      std::filesystem::temp_directory_path() / ("geokv-ring-test-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  return dir;
}

TEST_CASE("geokv-ring: --key --json gives the library's partition and preference list", "[unit]") {
  const Run run =
      Shell(Ring() + " " + Shipped("local-5dc.toml") +
            " --key user:42 --json | python3 -c 'import json,sys; d=json.load(sys.stdin); "
            "print(d[\"partition\"], \",\".join(n[\"id\"] for n in d[\"nodes\"]))'");
  REQUIRE(run.exit_code == 0);
  Result<Topology> t = LoadTopologyFile(std::string(GEOKV_SOURCE_DIR) + "/topology/local-5dc.toml");
  REQUIRE(t.ok());
  const PlacementTable table(std::move(t).value());
  const uint32_t p = table.PartitionOfKey("user:42");
  std::string expected = std::to_string(p) + " ";
  for (uint32_t n : table.PreferenceList(p)) {
    expected += table.topology().nodes()[n].id + (n == table.PreferenceList(p).back() ? "" : ",");
  }
  CHECK(run.output == expected + "\n");

  const Run text = Shell(Ring() + " " + Shipped("local-5dc.toml") + " --key user:42");
  REQUIRE(text.exit_code == 0);
  CHECK(text.output.find("partition " + std::to_string(p) + " of 64") != std::string::npos);
}

TEST_CASE("geokv-ring: table and diff JSON have the documented structure", "[unit]") {
  const Run table =
      Shell(Ring() + " " + Shipped("local-3dc-6node.toml") +
            " --json | python3 -c 'import json,sys; d=json.load(sys.stdin); t=d[\"table\"]; "
            "b=d[\"balance\"]; assert len(t)==64 and all(len(r[\"nodes\"])==3 for r in t); "
            "assert [r[\"partition\"] for r in t]==list(range(64)); "
            "assert len(b[\"nodes\"])==6 and len(b[\"datacenters\"])==3 and len(b[\"racks\"])==6; "
            "assert sum(n[\"load\"][\"replicas\"] for n in b[\"nodes\"])==192; "
            "assert b[\"node_max_over_ideal\"]>=1; print(\"ok\")'");
  CHECK(table.exit_code == 0);
  CHECK(table.output == "ok\n");

  const Run diff =
      Shell(Ring() + " " + Shipped("local-3dc.toml") + " --diff " + Shipped("local-5dc.toml") +
            " --json | python3 -c 'import json,sys; d=json.load(sys.stdin); "
            "assert d[\"moved_replicas\"]==sum(c[\"moved\"] for c in d[\"changes\"]); "
            "assert d[\"total_replicas\"]==192 and 0<d[\"moved_fraction\"]<=1; "
            "assert d[\"optimal_fraction\"]>0; print(\"ok\")'");
  CHECK(diff.exit_code == 0);
  CHECK(diff.output == "ok\n");
}

TEST_CASE("geokv-ring: --diff names each move's nodes and estimates its bytes", "[unit]") {
  // Every change's `from` are the nodes that leave its list, `to` those that
  // join it, as many as it moves; bytes are moved x the given size.
  const Run json =
      Shell(Ring() + " " + Shipped("local-3dc.toml") + " --diff " + Shipped("local-5dc.toml") +
            " --bytes-per-partition 1000 --json | python3 -c 'import json,sys; "
            "d=json.load(sys.stdin); cs=[c for c in d[\"changes\"] if c[\"moved\"]>0]; "
            "assert cs; "
            "assert all(len(c[\"from\"])==len(c[\"to\"])==c[\"moved\"] for c in cs); "
            "assert all(set(c[\"to\"])==set(c[\"after\"])-set(c[\"before\"]) for c in cs); "
            "assert all(set(c[\"from\"])==set(c[\"before\"])-set(c[\"after\"]) for c in cs); "
            "assert all(c[\"bytes\"]==1000*c[\"moved\"] for c in d[\"changes\"]); "
            "assert d[\"moved_bytes\"]==1000*d[\"moved_replicas\"]>0; print(\"ok\")'");
  CHECK(json.exit_code == 0);
  CHECK(json.output == "ok\n");

  const Run text = Shell(Ring() + " " + Shipped("local-3dc.toml") + " --diff " +
                         Shipped("local-5dc.toml") + " --bytes-per-partition 1048576");
  REQUIRE(text.exit_code == 0);
  INFO(text.output);
  CHECK(text.output.find(" moved: ") != std::string::npos);
  CHECK(text.output.find(", ~1.0 MiB)") != std::string::npos);
  CHECK(text.output.find("estimated bytes to copy: ") != std::string::npos);

  // The estimate is for a diff only.
  CHECK(Shell(Ring() + " " + Shipped("local-3dc.toml") + " --bytes-per-partition 5 2>/dev/null")
            .exit_code != 0);
}

TEST_CASE("geokv-ring: --svg writes an SVG picture", "[unit]") {
  const auto svg = TempDir() / "ring.svg";
  const Run run =
      Shell(Ring() + " " + Shipped("local-5dc.toml") + " --svg '" + svg.string() + "' 2>&1");
  REQUIRE(run.exit_code == 0);
  CHECK(run.output.find("balance (max replicas / ideal)") != std::string::npos);
  std::ifstream in(svg);
  std::stringstream text;
  text << in.rdbuf();
  CHECK(text.str().rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0) == 0);
  CHECK(text.str().find("dc5: 256 tokens") != std::string::npos);
  CHECK(text.str().find("</svg>\n") != std::string::npos);
  std::filesystem::remove_all(svg.parent_path());
}

TEST_CASE("geokv-ring: an invalid file exits 1 with the validation message", "[unit]") {
  const auto bad = TempDir() / "bad.toml";
  {
    std::ofstream out(bad);
    out << "[cluster]\nname = \"x\"\npartitions = 48\nreplicas = 1\n";
  }
  const Run run = Shell(Ring() + " '" + bad.string() + "' --json 2>&1");
  CHECK(run.exit_code == 1);
  CHECK(run.output == bad.string() + ":1: datacenters: required key is missing\n" + bad.string() +
                          ":3: cluster.partitions: must be a power of two in 1..65536 (got 48)\n");
  std::filesystem::remove_all(bad.parent_path());
}

}  // namespace
}  // namespace geokv::placement
