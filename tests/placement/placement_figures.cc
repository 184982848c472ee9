// The figures quoted in docs/topology.md, reproducible with
//   build/tests/placement/placement_tests "[.figures]"
// Hidden (the "." tag): it measures and prints, asserting nothing, and CTest
// does not run it. A fixed seed keeps the printed numbers stable.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <vector>

#include "placement/ring.h"
#include "topology_text.h"

namespace geokv::placement {
namespace {

using testutil::ClusterSpec;
using testutil::MustParse;

constexpr uint64_t kFiguresSeed = 20240613;
constexpr int kLayouts = 300;

struct Quantiles {
  double p50, p95, p99, max;
};

Quantiles Of(std::vector<double> x) {
  std::sort(x.begin(), x.end());
  const size_t n = x.size();
  return {x[n / 2], x[n * 95 / 100], x[n * 99 / 100], x.back()};
}

void Print(const char* what, uint32_t q, uint32_t v, const Quantiles& s) {
  std::printf("%-34s Q=%-5u V=%-5u p50 %.3f  p95 %.3f  p99 %.3f  max %.3f\n", what, q, v, s.p50,
              s.p95, s.p99, s.max);
}

TEST_CASE("Figures: balance and movement over random layouts", "[.figures]") {
  for (uint32_t q : {64u, 256u, 1024u, 4096u}) {
    for (uint32_t v : {16u, 64u, 256u, 1024u}) {
      Prng rng(kFiguresSeed);
      std::vector<double> six, weight, added;
      for (int layout = 0; layout < kLayouts; ++layout) {
        // Six equal nodes, two per DC, N = 3: max/ideal per node.
        ClusterSpec spec{.partitions = q, .replicas = 3, .vnodes = v, .nodes = {}};
        for (int i = 0; i < 6; ++i) {
          spec.nodes.push_back({testutil::RandomId(rng, i), "dc" + std::to_string(i / 2), "", 1});
        }
        six.push_back(PlacementTable(MustParse(spec)).Balance().node_max_over_ideal);
        // A weight-2 and a weight-1 node per DC: (w2 share) / (2 x w1 share).
        for (size_t i = 0; i < 6; i += 2) spec.nodes[i].weight = 2;
        const BalanceReport b = PlacementTable(MustParse(spec)).Balance();
        for (size_t i = 0; i < 6; i += 2) {
          weight.push_back(static_cast<double>(b.nodes[i].replicas) /
                           (2.0 * static_cast<double>(b.nodes[i + 1].replicas)));
        }
        // n = 3..12 nodes, one per DC, plus one: moved / optimal.
        const int n = static_cast<int>(rng.Between(3, 12));
        ClusterSpec before{.partitions = q, .replicas = 3, .vnodes = v, .nodes = {}};
        for (int i = 0; i < n; ++i) {
          before.nodes.push_back({testutil::RandomId(rng, i), "dc" + std::to_string(i), "", 1});
        }
        ClusterSpec after = before;
        after.nodes.push_back({testutil::RandomId(rng, n), "dc" + std::to_string(n), "", 1});
        Result<PlacementDiff> diff =
            Diff(PlacementTable(MustParse(before)), PlacementTable(MustParse(after)));
        added.push_back(diff->moved_fraction / diff->optimal_fraction);
      }
      Print("six nodes, node max/ideal", q, v, Of(six));
      // Report the deviation both ways for the weight ratio.
      for (double& r : weight) r = std::max(r, 1 / r);
      Print("weight 2 vs 1, max(r, 1/r)", q, v, Of(weight));
      Print("add a node, moved/optimal", q, v, Of(added));
    }
  }
}

}  // namespace
}  // namespace geokv::placement
