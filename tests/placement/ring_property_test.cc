// Seeded property tests of the placement walk over random topologies.
#include <algorithm>
#include <catch2/catch.hpp>
#include <iterator>
#include <map>
#include <set>
#include <string>

#include "placement/ring.h"
#include "seed.h"
#include "topology_text.h"

namespace geokv::placement {
namespace {

using testutil::ClusterSpec;
using testutil::MustParse;
using testutil::NodeSpec;

// A random cluster: 1-6 datacenters of 1-4 nodes, racks in some DCs, weights
// 1-3, small vnodes (so token gaps are wide and odd walks happen), any Q up to
// 256 and any N the node count allows.
ClusterSpec RandomCluster(Prng& rng) {
  ClusterSpec spec;
  const int dcs = static_cast<int>(rng.Between(1, 6));
  size_t serial = 0;
  for (int d = 0; d < dcs; ++d) {
    const bool racks = rng.Chance(50);
    const int nodes = static_cast<int>(rng.Between(1, 4));
    for (int i = 0; i < nodes; ++i) {
      NodeSpec node{testutil::RandomId(rng, serial++), "dc" + std::to_string(d), "", 1};
      if (racks) node.rack = "r" + std::to_string(rng.Between(1, 3));
      if (rng.Chance(30)) node.weight = static_cast<uint32_t>(rng.Between(2, 3));
      spec.nodes.push_back(node);
    }
  }
  spec.partitions = uint32_t{1} << rng.Below(9);
  spec.replicas = static_cast<uint32_t>(rng.Between(1, std::min<int64_t>(6, spec.nodes.size())));
  spec.vnodes = static_cast<uint32_t>(rng.Between(1, 24));
  return spec;
}

std::vector<std::string> Ids(const PlacementTable& table, uint32_t p) {
  std::vector<std::string> ids;
  for (uint32_t n : table.PreferenceList(p)) ids.push_back(table.topology().nodes()[n].id);
  return ids;
}

TEST_CASE("Placement: N distinct DCs whenever there are at least N, else every DC and racks",
          "[property]") {
  const uint64_t seed = ::geokv::test::TestSeed();
  Prng rng(seed);
  const int cases = ::geokv::test::CaseCount(1000);
  for (int c = 0; c < cases; ++c) {
    const ClusterSpec spec = RandomCluster(rng);
    const PlacementTable table(MustParse(spec));
    const Topology& t = table.topology();
    const size_t dcs = t.datacenters().size();
    std::set<std::pair<size_t, std::string>> all_racks;
    for (const Node& n : t.nodes()) all_racks.insert({n.dc_index, n.rack});
    for (uint32_t p = 0; p < table.partitions(); ++p) {
      std::set<uint32_t> nodes;
      std::set<size_t> list_dcs;
      std::set<std::pair<size_t, std::string>> racks;
      for (uint32_t n : table.PreferenceList(p)) {
        nodes.insert(n);
        list_dcs.insert(t.nodes()[n].dc_index);
        racks.insert({t.nodes()[n].dc_index, t.nodes()[n].rack});
      }
      INFO("GEOKV_SEED=" << seed << " case " << c << " partition " << p << "\n" << ToToml(spec));
      REQUIRE(nodes.size() == spec.replicas);
      if (dcs >= spec.replicas) {
        REQUIRE(list_dcs.size() == spec.replicas);
      } else {
        REQUIRE(list_dcs.size() == dcs);
        REQUIRE(racks.size() == std::min<size_t>(spec.replicas, all_racks.size()));
      }
    }
  }
}

TEST_CASE("Placement: the order of nodes and datacenters in the file does not matter",
          "[property]") {
  const uint64_t seed = ::geokv::test::TestSeed();
  Prng rng(seed);
  const int cases = ::geokv::test::CaseCount(200);
  for (int c = 0; c < cases; ++c) {
    const ClusterSpec spec = RandomCluster(rng);
    ClusterSpec shuffled = spec;
    for (size_t i = shuffled.nodes.size(); i > 1; --i) {
      std::swap(shuffled.nodes[i - 1], shuffled.nodes[rng.Below(i)]);
    }
    const PlacementTable a(MustParse(spec));
    const PlacementTable b(MustParse(shuffled));
    for (uint32_t p = 0; p < a.partitions(); ++p) {
      INFO("GEOKV_SEED=" << seed << " case " << c << " partition " << p);
      REQUIRE(Ids(a, p) == Ids(b, p));
    }
  }
}

TEST_CASE("Placement: the list for N is a prefix of the list for N+1", "[property]") {
  const uint64_t seed = ::geokv::test::TestSeed();
  Prng rng(seed);
  const int cases = ::geokv::test::CaseCount(300);
  for (int c = 0; c < cases; ++c) {
    ClusterSpec spec = RandomCluster(rng);
    if (spec.replicas >= spec.nodes.size()) continue;
    const PlacementTable shorter(MustParse(spec));
    ++spec.replicas;
    const PlacementTable longer(MustParse(spec));
    for (uint32_t p = 0; p < shorter.partitions(); ++p) {
      std::vector<std::string> prefix = Ids(longer, p);
      prefix.pop_back();
      INFO("GEOKV_SEED=" << seed << " case " << c << " partition " << p);
      REQUIRE(Ids(shorter, p) == prefix);
    }
  }
}

// What removing one node changes, stated exactly (ring.h argues why):
//  * a partition whose list did not hold the node keeps its list, order and all;
//  * a partition whose list held it keeps its other N-1 members (possibly in a
//    different order) and gains exactly one node.
// So exactly the removed node's replicas move, one new owner each, whatever
// the numbers of datacenters and racks; the distinct-DC and rack rules force
// nothing more. Read backwards, the same holds for adding a node.
TEST_CASE("Placement: removing a node moves exactly its replicas and nothing else", "[property]") {
  const uint64_t seed = ::geokv::test::TestSeed();
  Prng rng(seed);
  const int cases = ::geokv::test::CaseCount(500);
  for (int c = 0; c < cases; ++c) {
    ClusterSpec before = RandomCluster(rng);
    if (before.nodes.size() < 2) continue;
    before.replicas = std::min<uint32_t>(before.replicas, before.nodes.size() - 1);
    ClusterSpec after = before;
    const size_t gone = rng.Below(after.nodes.size());
    const std::string gone_id = after.nodes[gone].id;
    after.nodes.erase(after.nodes.begin() + gone);
    const PlacementTable old_table(MustParse(before));
    const PlacementTable new_table(MustParse(after));

    for (uint32_t p = 0; p < old_table.partitions(); ++p) {
      const std::vector<std::string> old_ids = Ids(old_table, p);
      const std::vector<std::string> new_ids = Ids(new_table, p);
      INFO("GEOKV_SEED=" << seed << " case " << c << " partition " << p << " removed " << gone_id
                         << "\n"
                         << ToToml(before));
      if (std::find(old_ids.begin(), old_ids.end(), gone_id) == old_ids.end()) {
        REQUIRE(new_ids == old_ids);
        continue;
      }
      std::set<std::string> kept(old_ids.begin(), old_ids.end());
      kept.erase(gone_id);
      const std::set<std::string> now(new_ids.begin(), new_ids.end());
      REQUIRE(std::includes(now.begin(), now.end(), kept.begin(), kept.end()));
    }
    Result<PlacementDiff> diff = Diff(old_table, new_table);
    REQUIRE(diff.ok());
    INFO("GEOKV_SEED=" << seed << " case " << c);
    REQUIRE(diff->moved_replicas == old_table.PartitionsOfNode(gone).size());
  }
}

// Changing one node's weight adds or drops only its own tokens, so a list
// that changes swaps exactly one member, with that node on one side of the
// swap: it takes replicas from others (heavier) or hands its own over
// (lighter), and no other pair of nodes trades.
TEST_CASE("Placement: changing a node's weight swaps it in or out, one list member at a time",
          "[property]") {
  const uint64_t seed = ::geokv::test::TestSeed();
  Prng rng(seed);
  const int cases = ::geokv::test::CaseCount(500);
  for (int c = 0; c < cases; ++c) {
    const ClusterSpec before = RandomCluster(rng);
    ClusterSpec after = before;
    NodeSpec& changed = after.nodes[rng.Below(after.nodes.size())];
    changed.weight = changed.weight == 1 ? 2 : changed.weight + (rng.Chance(50) ? 1 : -1);
    const PlacementTable old_table(MustParse(before));
    const PlacementTable new_table(MustParse(after));
    for (uint32_t p = 0; p < old_table.partitions(); ++p) {
      const std::vector<std::string> old_ids = Ids(old_table, p);
      const std::vector<std::string> new_ids = Ids(new_table, p);
      const std::set<std::string> old_set(old_ids.begin(), old_ids.end());
      const std::set<std::string> new_set(new_ids.begin(), new_ids.end());
      std::vector<std::string> left, joined;
      std::set_difference(old_set.begin(), old_set.end(), new_set.begin(), new_set.end(),
                          std::back_inserter(left));
      std::set_difference(new_set.begin(), new_set.end(), old_set.begin(), old_set.end(),
                          std::back_inserter(joined));
      INFO("GEOKV_SEED=" << seed << " case " << c << " partition " << p << " reweighted "
                         << changed.id << "\n"
                         << ToToml(before));
      REQUIRE(left.size() == joined.size());
      REQUIRE(left.size() <= 1);
      if (!left.empty()) REQUIRE((left[0] == changed.id || joined[0] == changed.id));
    }
  }
}

// Adding one node of weight 1 to n equal nodes: the optimal fraction of
// replicas to move is 1/(n+1) when every node is its own datacenter or all
// share one; with several nodes per DC the optimum is what the node's DC
// share allows (PlacementDiff::optimal_fraction). Either way the walk moves at
// most 1.5x the optimum.
TEST_CASE("Placement: adding a node moves at most 1.5x the optimal fraction", "[property]") {
  const uint64_t seed = ::geokv::test::TestSeed();
  Prng rng(seed);
  const int cases = ::geokv::test::CaseCount(150);
  for (int c = 0; c < cases; ++c) {
    const int shape = c % 3;  // 0: a DC per node, 1: one DC with racks, 2: three DCs
    const int n = static_cast<int>(rng.Between(3, 12));
    ClusterSpec before{.partitions = 1024, .replicas = 3, .vnodes = std::nullopt, .nodes = {}};
    auto dc_of = [&](int i) {
      if (shape == 0) return "dc" + std::to_string(i);
      if (shape == 1) return std::string("dc0");
      return "dc" + std::to_string(i % 3);
    };
    auto rack_of = [&](int i) { return shape == 1 ? "r" + std::to_string(i % 4) : ""; };
    for (int i = 0; i < n; ++i)
      before.nodes.push_back({testutil::RandomId(rng, i), dc_of(i), rack_of(i), 1});
    ClusterSpec after = before;
    const int added = shape == 2 ? static_cast<int>(rng.Below(3)) : n;
    after.nodes.push_back({testutil::RandomId(rng, n), dc_of(added), rack_of(n), 1});

    Result<PlacementDiff> diff =
        Diff(PlacementTable(MustParse(before)), PlacementTable(MustParse(after)));
    REQUIRE(diff.ok());
    INFO("GEOKV_SEED=" << seed << " case " << c << " shape " << shape << " n=" << n << " moved "
                       << diff->moved_fraction << " optimal " << diff->optimal_fraction);
    if (shape != 2) REQUIRE(diff->optimal_fraction == Approx(1.0 / (n + 1)));
    REQUIRE(diff->moved_fraction <= 1.5 * diff->optimal_fraction);
  }
}

}  // namespace
}  // namespace geokv::placement
