// Hinted handoff on real processes: geokv-check's WAN proxy cuts the three
// datacenters holding a key's partition away from dc4 (forwarding from dc4
// crosses the proxy too), a client writes the key at dc4, and the write
// reaches every datacenter after the heal — also when dc4 is killed -9 and
// restarted in between.
#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "cluster_control.h"
#include "placement/ring.h"
#include "placement/topology.h"
#include "seed.h"
#include "server_process.h"

namespace geokv::check {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr size_t kDc4 = 3;  // node index (one node per DC)

// Keys whose partitions have no replica in dc4, and the DCs that hold them
// (the same three for every key returned: cutting those isolates them all).
struct Away {
  std::vector<std::string> keys;
  std::vector<std::string> dcs;
};
Away KeysAwayFromDc4(const placement::Topology& topology, size_t count) {
  placement::PlacementTable table(topology);
  Away away;
  for (int i = 0; away.keys.size() < count && i < 100'000; ++i) {
    const std::string key = "hinted:" + std::to_string(i);
    std::vector<std::string> dcs;
    for (uint32_t n : table.PreferenceList(table.PartitionOfKey(key))) {
      dcs.push_back(table.topology().nodes()[n].dc);
    }
    std::sort(dcs.begin(), dcs.end());
    if (std::find(dcs.begin(), dcs.end(), "dc4") != dcs.end()) continue;
    if (away.dcs.empty()) away.dcs = dcs;
    if (dcs == away.dcs) away.keys.push_back(key);
  }
  REQUIRE(away.keys.size() == count);
  return away;
}

// GET key at every node until each answers `value`, within 15 s.
void ExpectEverywhere(test::TestCluster& ports, const std::string& key, const std::string& value) {
  const auto deadline = Clock::now() + 15s;
  for (size_t i = 0; i < ports.nodes().size(); ++i) {
    INFO("node " << ports.nodes()[i].id << " key " << key);
    std::string got;
    while (Clock::now() < deadline) {
      replica::RespClient c;
      if (c.Connect("127.0.0.1", ports.nodes()[i].client_port).ok()) {
        auto r = c.Command({"GET", key});
        if (r.ok() && !r->is_error()) got = r->str;
        if (got == value) break;
      }
      std::this_thread::sleep_for(50ms);
    }
    CHECK(got == value);
  }
}

void ExpectNoHintsLeft(test::TestCluster& ports, size_t node) {
  const auto deadline = Clock::now() + 10s;
  while (Clock::now() < deadline && ports.InfoField(node, "hints_stored", "hints") != 0) {
    std::this_thread::sleep_for(50ms);
  }
  CHECK(ports.InfoField(node, "hints_stored", "hints") == 0);
}

TEST_CASE("Hinted handoff: a write at a DC cut off from the key's replicas arrives after the heal",
          "[integration]") {
  test::TestCluster ports(5, 1, 3, 16);
  auto topology = placement::LoadTopologyFile(ports.topology_path());
  REQUIRE(topology.ok());
  const Away away = KeysAwayFromDc4(*topology, 3);
  ClusterControl cluster(*topology, GEOKV_SERVER_BIN, ports.dir(), {"--hint-max-count", "2"});
  REQUIRE(cluster.Launch().ok());
  for (const std::string& dc : away.dcs) cluster.proxy().CutBetween(dc, "dc4");

  replica::RespClient dc4;
  REQUIRE(dc4.Connect("127.0.0.1", ports.nodes()[kDc4].client_port).ok());
  auto set = dc4.Command({"SET", away.keys[0], "v0"});
  REQUIRE(set.ok());
  CHECK(set->str == "OK");
  CHECK(dc4.Command({"WAIT", "1", "200"})->integer == 0);
  CHECK(ports.InfoField(kDc4, "hints_stored", "hints") == 1);
  // A read at dc4 would miss its own hinted write at a replica: refused
  // until the hint is handed off.
  auto get = dc4.Command({"GET", away.keys[0]});
  REQUIRE(get.ok());
  CHECK(get->str.starts_with("TRYAGAIN this node is handing writes"));
  // What needs the key's state is not hinted.
  auto incr = dc4.Command({"INCR", away.keys[1]});
  REQUIRE(incr.ok());
  CHECK(incr->str.starts_with("TRYAGAIN"));
  auto nx = dc4.Command({"SET", away.keys[1], "x", "NX"});
  REQUIRE(nx.ok());
  CHECK(nx->str.starts_with("TRYAGAIN"));
  // A SETEX is the second hint; then the store is full (--hint-max-count 2).
  CHECK(dc4.Command({"SETEX", away.keys[1], "1000", "v1"})->str == "OK");
  auto over = dc4.Command({"SET", away.keys[2], "v2"});
  REQUIRE(over.ok());
  CHECK(over->str.starts_with("TRYAGAIN"));
  CHECK(ports.InfoField(kDc4, "hints_over_limit", "hints") == 1);

  // Not at the replicas yet: what arrives after the heal is the hint.
  for (size_t i = 0; i < ports.nodes().size(); ++i) {
    if (i == kDc4) continue;
    replica::RespClient c;
    REQUIRE(c.Connect("127.0.0.1", ports.nodes()[i].client_port).ok());
    CHECK(c.Command({"GET", away.keys[0]})->type == replica::RespValue::Type::kNull);
  }

  cluster.proxy().HealAll();
  ExpectEverywhere(ports, away.keys[0], "v0");
  ExpectEverywhere(ports, away.keys[1], "v1");
  ExpectNoHintsLeft(ports, kDc4);
  CHECK(ports.InfoField(kDc4, "hints_handed_off", "hints") == 2);
  CHECK(dc4.Command({"WAIT", "2", "5000"})->integer >= 2);  // handed off: counted again
  cluster.Shutdown();
}

TEST_CASE("Hinted handoff: hints survive kill -9 of the node that kept them", "[integration]") {
  test::TestCluster ports(5, 1, 3, 16);
  auto topology = placement::LoadTopologyFile(ports.topology_path());
  REQUIRE(topology.ok());
  const Away away = KeysAwayFromDc4(*topology, 2);
  // Two keys of one partition (a hash tag): MSET keeps both hints or none.
  const std::string tagged_a = "{" + away.keys[1] + "}a", tagged_b = "{" + away.keys[1] + "}b";
  ClusterControl cluster(*topology, GEOKV_SERVER_BIN, ports.dir(), {});
  REQUIRE(cluster.Launch().ok());
  for (const std::string& dc : away.dcs) cluster.proxy().CutBetween(dc, "dc4");
  {
    replica::RespClient dc4;
    REQUIRE(dc4.Connect("127.0.0.1", ports.nodes()[kDc4].client_port).ok());
    CHECK(dc4.Command({"SET", away.keys[0], "durable"})->str == "OK");
    CHECK(dc4.Command({"MSET", tagged_a, "a", tagged_b, "b"})->str == "OK");
  }
  cluster.Kill(kDc4);
  REQUIRE(cluster.Start(kDc4).ok());
  CHECK(ports.InfoField(kDc4, "hints_stored", "hints") == 3);  // a hint per delta: per key
  cluster.proxy().HealAll();
  ExpectEverywhere(ports, away.keys[0], "durable");
  ExpectEverywhere(ports, tagged_a, "a");
  ExpectEverywhere(ports, tagged_b, "b");
  ExpectNoHintsLeft(ports, kDc4);
  cluster.Shutdown();
}

// On demand (hidden: `hint_cut_tests "[bench]"`): how fast a node keeps
// hints (each a synced SQLite commit) and hands them off after the heal.
TEST_CASE("Hinted handoff: keeping and handing off many hints", "[.bench]") {
  const size_t hints = test::CaseCount(2000);
  test::TestCluster ports(5, 1, 3, 16);
  auto topology = placement::LoadTopologyFile(ports.topology_path());
  REQUIRE(topology.ok());
  const Away away = KeysAwayFromDc4(*topology, hints);
  ClusterControl cluster(*topology, GEOKV_SERVER_BIN, ports.dir(), {});
  REQUIRE(cluster.Launch().ok());
  for (const std::string& dc : away.dcs) cluster.proxy().CutBetween(dc, "dc4");
  replica::RespClient dc4;
  REQUIRE(dc4.Connect("127.0.0.1", ports.nodes()[kDc4].client_port).ok());
  const auto kept_start = Clock::now();
  constexpr size_t kPipeline = 64;
  for (size_t i = 0; i < hints; i += kPipeline) {
    std::string batch;
    const size_t n = std::min(kPipeline, hints - i);
    for (size_t j = 0; j < n; ++j) {
      batch += replica::EncodeRequest({"SET", away.keys[i + j], "value-" + std::to_string(i + j)});
    }
    REQUIRE(dc4.SendRaw(batch).ok());
    for (size_t j = 0; j < n; ++j) REQUIRE(dc4.ReadReply()->str == "OK");
  }
  const double kept_s = std::chrono::duration<double>(Clock::now() - kept_start).count();
  REQUIRE(ports.InfoField(kDc4, "hints_stored", "hints") == hints);
  const auto heal = Clock::now();
  cluster.proxy().HealAll();
  while (ports.InfoField(kDc4, "hints_stored", "hints") != 0 && Clock::now() - heal < 300s) {
    std::this_thread::sleep_for(20ms);
  }
  const double drain_s = std::chrono::duration<double>(Clock::now() - heal).count();
  CHECK(ports.InfoField(kDc4, "hints_stored", "hints") == 0);
  WARN(hints << " hints kept in " << kept_s << " s (" << hints / kept_s << "/s, pipeline "
             << kPipeline << "); handed off to 3 replicas each in " << drain_s << " s after the heal ("
             << hints / drain_s << " hints/s)");
  ExpectEverywhere(ports, away.keys.back(), "value-" + std::to_string(hints - 1));
  cluster.Shutdown();
}

}  // namespace
}  // namespace geokv::check
