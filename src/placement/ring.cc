#include "placement/ring.h"

#include <xxhash.h>

#include <algorithm>
#include <map>

#include "common/assert.h"
#include "placement/partitioner.h"

namespace geokv::placement {

namespace {

constexpr int kWaterFillRounds = 200;

// x[i] = clamp(lambda * weight[i], lo[i], hi[i]) with sum(x) == total, found by
// bisection on lambda (the sum is monotone in it).
// REQUIRES: sum(lo) <= total <= sum(hi), weights > 0, lo <= hi.
std::vector<double> WaterFill(double total, const std::vector<double>& weight,
                              const std::vector<double>& lo, const std::vector<double>& hi) {
  const size_t n = weight.size();
  GEOKV_ASSERT(lo.size() == n && hi.size() == n);
  auto fill = [&](double lambda) {
    std::vector<double> x(n);
    for (size_t i = 0; i < n; ++i) x[i] = std::clamp(lambda * weight[i], lo[i], hi[i]);
    return x;
  };
  auto sum = [](const std::vector<double>& x) {
    double s = 0;
    for (double v : x) s += v;
    return s;
  };
  double low = 0;
  double high = 0;
  for (size_t i = 0; i < n; ++i) {
    GEOKV_ASSERT(weight[i] > 0 && lo[i] <= hi[i]);
    high = std::max(high, hi[i] / weight[i]);
  }
  for (int round = 0; round < kWaterFillRounds; ++round) {
    const double mid = (low + high) / 2;
    (sum(fill(mid)) < total ? low : high) = mid;
  }
  return fill(high);
}

}  // namespace

uint64_t TokenPosition(std::string_view node_id, uint32_t index) {
  std::string text(node_id);
  text += '#';
  text += std::to_string(index);
  return XXH64(text.data(), text.size(), 0);
}

PlacementTable::PlacementTable(Topology topology) : topology_(std::move(topology)) {
  BuildRing();
  BuildRacks();
  Place();
  ComputeIdeals();
}

void PlacementTable::BuildRing() {
  const auto& nodes = topology_.nodes();
  for (uint32_t n = 0; n < nodes.size(); ++n) {
    const uint32_t count = nodes[n].weight * topology_.vnodes();
    for (uint32_t i = 0; i < count; ++i) tokens_.push_back({TokenPosition(nodes[n].id, i), n});
  }
  // Ties between nodes are broken by id, not index, so that the order of
  // nodes in the file never matters.
  std::sort(tokens_.begin(), tokens_.end(), [&](const Token& a, const Token& b) {
    if (a.position != b.position) return a.position < b.position;
    return nodes[a.node].id < nodes[b.node].id;
  });
  GEOKV_ASSERT(!tokens_.empty() && tokens_.size() <= kMaxRingTokens);
}

void PlacementTable::BuildRacks() {
  std::map<std::pair<size_t, std::string>, uint32_t> index;
  for (const Node& node : topology_.nodes()) {
    auto [it, inserted] = index.emplace(std::make_pair(node.dc_index, node.rack),
                                        static_cast<uint32_t>(racks_.size()));
    if (inserted) racks_.push_back(RackLoad{node.dc_index, node.rack, {}});
    rack_of_node_.push_back(it->second);
  }
}

void PlacementTable::Place() {
  const uint32_t q = topology_.partitions();
  const uint32_t n = topology_.replicas();
  const size_t node_count = topology_.nodes().size();
  const size_t dc_count = topology_.datacenters().size();
  const size_t rack_count = racks_.size();
  GEOKV_ASSERT(n >= 1 && n <= node_count);

  lists_.reserve(static_cast<size_t>(q) * n);
  partitions_of_node_.assign(node_count, {});
  // Counts, not flags: a datacenter may appear in a list many times over.
  std::vector<uint32_t> dc_used(dc_count), rack_used(rack_count);
  std::vector<char> node_used(node_count);
  std::vector<uint32_t> list;
  for (uint32_t p = 0; p < q; ++p) {
    const uint64_t position = PartitionPosition(p, q);
    const size_t start =
        std::lower_bound(tokens_.begin(), tokens_.end(), position,
                         [](const Token& t, uint64_t pos) { return t.position < pos; }) -
        tokens_.begin();
    list.clear();
    size_t dcs = 0, racks = 0;
    auto take = [&](uint32_t node) {
      list.push_back(node);
      node_used[node] = 1;
      if (!dc_used[topology_.nodes()[node].dc_index]++) ++dcs;
      if (!rack_used[rack_of_node_[node]]++) ++racks;
    };
    // One pass: a revolution from `start`, taking what `eligible` admits,
    // stopping early once `exhausted` says no token could qualify any more.
    auto pass = [&](auto eligible, auto exhausted) {
      for (size_t i = 0; i < tokens_.size() && list.size() < n && !exhausted(); ++i) {
        const uint32_t node = tokens_[(start + i) % tokens_.size()].node;
        if (eligible(node)) take(node);
      }
    };
    pass([&](uint32_t node) { return !dc_used[topology_.nodes()[node].dc_index]; },
         [&] { return dcs == dc_count; });
    pass([&](uint32_t node) { return !rack_used[rack_of_node_[node]]; },
         [&] { return racks == rack_count; });
    pass([&](uint32_t node) { return !node_used[node]; }, [] { return false; });
    GEOKV_ASSERT(list.size() == n);

    for (uint32_t node : list) {
      lists_.push_back(node);
      partitions_of_node_[node].push_back(p);
      node_used[node] = 0;
      dc_used[topology_.nodes()[node].dc_index] = 0;
      rack_used[rack_of_node_[node]] = 0;
    }
  }
}

void PlacementTable::ComputeIdeals() {
  const double q = topology_.partitions();
  const double n = topology_.replicas();
  const auto& dcs = topology_.datacenters();
  const auto& nodes = topology_.nodes();
  const double dc_count = static_cast<double>(dcs.size());
  const bool enough_dcs = dc_count >= n;

  std::vector<double> weight, lo, hi;
  for (const Datacenter& dc : dcs) {
    double w = 0;
    for (size_t i : dc.nodes) w += nodes[i].weight;
    weight.push_back(w);
    const double members = static_cast<double>(dc.nodes.size());
    lo.push_back(enough_dcs ? 0 : q);
    hi.push_back(enough_dcs ? q : q * std::min(members, n - dc_count + 1));
  }
  dc_ideal_ = WaterFill(q * n, weight, lo, hi);

  node_ideal_.assign(nodes.size(), 0);
  for (size_t d = 0; d < dcs.size(); ++d) {
    std::vector<double> w, l, h;
    for (size_t i : dcs[d].nodes) {
      w.push_back(nodes[i].weight);
      l.push_back(0);
      h.push_back(q);
    }
    const std::vector<double> share = WaterFill(dc_ideal_[d], w, l, h);
    for (size_t k = 0; k < dcs[d].nodes.size(); ++k) node_ideal_[dcs[d].nodes[k]] = share[k];
  }
  for (size_t i = 0; i < nodes.size(); ++i) racks_[rack_of_node_[i]].load.ideal += node_ideal_[i];
}

std::span<const uint32_t> PlacementTable::PreferenceList(uint32_t partition) const {
  GEOKV_ASSERT(partition < partitions());
  return std::span<const uint32_t>(lists_).subspan(static_cast<size_t>(partition) * replicas(),
                                                   replicas());
}

uint32_t PlacementTable::PartitionOfKey(std::string_view key) const {
  return placement::PartitionOfKey(key, partitions());
}

const std::vector<uint32_t>& PlacementTable::PartitionsOfNode(size_t node) const {
  GEOKV_ASSERT(node < partitions_of_node_.size());
  return partitions_of_node_[node];
}

BalanceReport PlacementTable::Balance() const {
  BalanceReport report;
  const auto& nodes = topology_.nodes();
  report.nodes.resize(nodes.size());
  report.datacenters.resize(topology_.datacenters().size());
  report.racks = racks_;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const uint64_t held = partitions_of_node_[i].size();
    report.nodes[i] = Load{held, node_ideal_[i]};
    report.datacenters[nodes[i].dc_index].replicas += held;
    report.racks[rack_of_node_[i]].load.replicas += held;
  }
  for (size_t d = 0; d < report.datacenters.size(); ++d) report.datacenters[d].ideal = dc_ideal_[d];
  for (const Load& l : report.nodes) {
    report.node_max_over_ideal = std::max(report.node_max_over_ideal, l.Ratio());
  }
  for (const Load& l : report.datacenters) {
    report.dc_max_over_ideal = std::max(report.dc_max_over_ideal, l.Ratio());
  }
  for (const RackLoad& r : report.racks) {
    report.rack_max_over_ideal = std::max(report.rack_max_over_ideal, r.load.Ratio());
  }
  return report;
}

Result<PlacementDiff> Diff(const PlacementTable& before, const PlacementTable& after) {
  if (before.partitions() != after.partitions()) {
    return Status::Invalid("partition counts differ (" + std::to_string(before.partitions()) +
                           " vs " + std::to_string(after.partitions()) +
                           "): every key would change partition; Q cannot change in place");
  }
  PlacementDiff diff;
  auto ids = [](const PlacementTable& table, uint32_t p) {
    std::vector<std::string> out;
    for (uint32_t node : table.PreferenceList(p)) out.push_back(table.topology().nodes()[node].id);
    return out;
  };
  for (uint32_t p = 0; p < after.partitions(); ++p) {
    PartitionChange change{p, ids(before, p), ids(after, p), 0};
    if (change.before == change.after) continue;
    for (const std::string& id : change.after) {
      if (std::find(change.before.begin(), change.before.end(), id) == change.before.end()) {
        ++change.moved;
      }
    }
    diff.moved_replicas += change.moved;
    diff.changes.push_back(std::move(change));
  }
  diff.total_replicas = static_cast<uint64_t>(after.partitions()) * after.replicas();
  diff.moved_fraction =
      static_cast<double>(diff.moved_replicas) / static_cast<double>(diff.total_replicas);

  std::map<std::string, double> growth;  // node id -> ideal after - ideal before
  const BalanceReport old_balance = before.Balance();
  const BalanceReport new_balance = after.Balance();
  for (size_t i = 0; i < before.topology().nodes().size(); ++i) {
    growth[before.topology().nodes()[i].id] -= old_balance.nodes[i].ideal;
  }
  for (size_t i = 0; i < after.topology().nodes().size(); ++i) {
    growth[after.topology().nodes()[i].id] += new_balance.nodes[i].ideal;
  }
  double gained = 0;
  for (const auto& [id, delta] : growth) gained += std::max(0.0, delta);
  diff.optimal_fraction = gained / static_cast<double>(diff.total_replicas);
  return diff;
}

}  // namespace geokv::placement
