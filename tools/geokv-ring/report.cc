#include "report.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <iterator>
#include <string>
#include <vector>

#include "placement/partitioner.h"

namespace geokv::tools {

using placement::BalanceReport;
using placement::Load;
using placement::Node;
using placement::PlacementDiff;
using placement::PlacementTable;
using placement::Topology;

namespace {

constexpr auto kJsonFlags =
    toml::format_flags::indentation | toml::format_flags::relaxed_float_precision;

std::string Hex64(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%016" PRIx64, v);
  return buf;
}

std::string Fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string Pad(std::string s, size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

std::string PadLeft(const std::string& s, size_t width) {
  return s.size() < width ? std::string(width - s.size(), ' ') + s : s;
}

// "dc1/r1", or "dc1" for a node that names no rack.
std::string Place(const std::string& dc, const std::string& rack) {
  return rack.empty() ? dc : dc + "/" + rack;
}

std::string Place(const Node& node) { return Place(node.dc, node.rack); }

void WriteHeader(std::ostream& out, const PlacementTable& table) {
  const Topology& t = table.topology();
  out << "topology " << t.source_name() << " (cluster " << t.cluster_name() << ")\n"
      << "  Q=" << t.partitions() << " partitions, N=" << t.replicas()
      << " replicas, V=" << t.vnodes() << " tokens per unit of weight; " << t.nodes().size()
      << " nodes in " << t.datacenters().size() << " datacenters, " << table.tokens().size()
      << " tokens\n";
}

void WriteLoadRow(std::ostream& out, const std::string& name, const std::string& where,
                  const Load& load) {
  out << "  " << Pad(name, 20) << Pad(where, 20) << PadLeft(std::to_string(load.replicas), 8)
      << PadLeft(Fixed(load.ideal, 1), 10) << PadLeft(Fixed(load.Ratio(), 3), 8) << "\n";
}

toml::table LoadJson(const Load& load) {
  return toml::table{{"replicas", static_cast<int64_t>(load.replicas)},
                     {"ideal", load.ideal},
                     {"ratio", load.Ratio()}};
}

toml::table NodeJson(const Node& node) {
  return toml::table{{"id", node.id}, {"dc", node.dc}, {"rack", node.rack}};
}

toml::array ListJson(const PlacementTable& table, uint32_t partition) {
  toml::array nodes;
  for (uint32_t n : table.PreferenceList(partition)) {
    nodes.push_back(NodeJson(table.topology().nodes()[n]));
  }
  return nodes;
}

toml::table TopologyJson(const PlacementTable& table) {
  const Topology& t = table.topology();
  return toml::table{{"source", t.source_name()},
                     {"cluster", t.cluster_name()},
                     {"partitions", static_cast<int64_t>(t.partitions())},
                     {"replicas", static_cast<int64_t>(t.replicas())},
                     {"vnodes", static_cast<int64_t>(t.vnodes())},
                     {"tokens", static_cast<int64_t>(table.tokens().size())}};
}

toml::table BalanceJson(const PlacementTable& table) {
  const Topology& t = table.topology();
  const BalanceReport balance = table.Balance();
  toml::array nodes, dcs, racks;
  for (size_t i = 0; i < t.nodes().size(); ++i) {
    toml::table row = NodeJson(t.nodes()[i]);
    row.insert("weight", static_cast<int64_t>(t.nodes()[i].weight));
    row.insert("load", LoadJson(balance.nodes[i]));
    nodes.push_back(std::move(row));
  }
  for (size_t d = 0; d < t.datacenters().size(); ++d) {
    dcs.push_back(
        toml::table{{"name", t.datacenters()[d].name}, {"load", LoadJson(balance.datacenters[d])}});
  }
  for (const placement::RackLoad& r : balance.racks) {
    racks.push_back(toml::table{
        {"dc", t.datacenters()[r.dc_index].name}, {"rack", r.rack}, {"load", LoadJson(r.load)}});
  }
  return toml::table{{"nodes", std::move(nodes)},
                     {"datacenters", std::move(dcs)},
                     {"racks", std::move(racks)},
                     {"node_max_over_ideal", balance.node_max_over_ideal},
                     {"dc_max_over_ideal", balance.dc_max_over_ideal},
                     {"rack_max_over_ideal", balance.rack_max_over_ideal}};
}

}  // namespace

void WriteTableText(std::ostream& out, const PlacementTable& table) {
  const Topology& t = table.topology();
  WriteHeader(out, table);
  out << "\npartition  position            preference list (node dc/rack)\n";
  for (uint32_t p = 0; p < table.partitions(); ++p) {
    out << PadLeft(std::to_string(p), 9) << "  "
        << Hex64(placement::PartitionPosition(p, table.partitions())) << " ";
    for (uint32_t n : table.PreferenceList(p)) {
      out << " " << t.nodes()[n].id << " (" << Place(t.nodes()[n]) << ")";
    }
    out << "\n";
  }

  const BalanceReport balance = table.Balance();
  const std::string columns = "replicas     ideal   ratio\n";
  out << "\n" << Pad("per node", 42) << columns;
  for (size_t i = 0; i < t.nodes().size(); ++i) {
    const Node& n = t.nodes()[i];
    WriteLoadRow(out, n.id, Place(n) + " w=" + std::to_string(n.weight), balance.nodes[i]);
  }
  out << "\n" << Pad("per datacenter", 42) << columns;
  for (size_t d = 0; d < t.datacenters().size(); ++d) {
    const auto& dc = t.datacenters()[d];
    WriteLoadRow(out, dc.name,
                 std::to_string(dc.nodes.size()) + (dc.nodes.size() == 1 ? " node" : " nodes"),
                 balance.datacenters[d]);
  }
  out << "\n" << Pad("per rack", 42) << columns;
  for (const placement::RackLoad& r : balance.racks) {
    WriteLoadRow(out, Place(t.datacenters()[r.dc_index].name, r.rack), "", r.load);
  }
  out << "\nbalance (max replicas / ideal): node " << Fixed(balance.node_max_over_ideal, 3)
      << ", datacenter " << Fixed(balance.dc_max_over_ideal, 3) << ", rack "
      << Fixed(balance.rack_max_over_ideal, 3) << "\n";
}

void WriteTableJson(std::ostream& out, const PlacementTable& table) {
  toml::array rows;
  for (uint32_t p = 0; p < table.partitions(); ++p) {
    rows.push_back(
        toml::table{{"partition", static_cast<int64_t>(p)},
                    {"position", Hex64(placement::PartitionPosition(p, table.partitions()))},
                    {"nodes", ListJson(table, p)}});
  }
  toml::table doc{{"topology", TopologyJson(table)},
                  {"table", std::move(rows)},
                  {"balance", BalanceJson(table)}};
  out << toml::json_formatter{doc, kJsonFlags} << "\n";
}

void WriteKeyText(std::ostream& out, const PlacementTable& table, std::string_view key) {
  const uint64_t hash = placement::KeyHash(key);
  const uint32_t p = table.PartitionOfKey(key);
  out << "key \"" << key << "\": hash " << Hex64(hash) << ", partition " << p << " of "
      << table.partitions() << "\n";
  int rank = 1;
  for (uint32_t n : table.PreferenceList(p)) {
    const Node& node = table.topology().nodes()[n];
    out << "  " << rank++ << ". " << Pad(node.id, 20) << Pad(Place(node), 20) << node.client.text
        << "\n";
  }
}

void WriteKeyJson(std::ostream& out, const PlacementTable& table, std::string_view key) {
  const uint32_t p = table.PartitionOfKey(key);
  toml::array nodes;
  for (uint32_t n : table.PreferenceList(p)) {
    const Node& node = table.topology().nodes()[n];
    toml::table row = NodeJson(node);
    row.insert("client", node.client.text);
    nodes.push_back(std::move(row));
  }
  toml::table doc{{"topology", TopologyJson(table)},
                  {"key", std::string(key)},
                  {"hash", Hex64(placement::KeyHash(key))},
                  {"partition", static_cast<int64_t>(p)},
                  {"nodes", std::move(nodes)}};
  out << toml::json_formatter{doc, kJsonFlags} << "\n";
}

namespace {

// The ids in `a` that are not in `b`, in a's order.
std::vector<std::string> Missing(const std::vector<std::string>& a,
                                 const std::vector<std::string>& b) {
  std::vector<std::string> out;
  for (const auto& id : a) {
    if (std::find(b.begin(), b.end(), id) == b.end()) out.push_back(id);
  }
  return out;
}

std::string Joined(const std::vector<std::string>& ids) {
  std::string out;
  for (const auto& id : ids) out += (out.empty() ? "" : ",") + id;
  return out;
}

// "1.5 MiB": a byte count for people.
std::string Bytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(units)) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? std::to_string(bytes) + " B" : Fixed(v, 1) + " " + units[u];
}

}  // namespace

void WriteDiffText(std::ostream& out, const PlacementTable& before, const PlacementTable& after,
                   const PlacementDiff& diff, uint64_t bytes_per_partition) {
  out << "before: ";
  WriteHeader(out, before);
  out << "after:  ";
  WriteHeader(out, after);
  out << "\n"
      << diff.changes.size() << " of " << after.partitions()
      << " partitions change their preference list";
  size_t reordered = 0;
  for (const auto& c : diff.changes) reordered += c.moved == 0;
  if (reordered > 0) out << " (" << reordered << " only in order)";
  out << "\n";
  for (const auto& c : diff.changes) {
    out << PadLeft(std::to_string(c.partition), 9) << ": ";
    for (const auto& id : c.before) out << id << " ";
    out << "->";
    for (const auto& id : c.after) out << " " << id;
    out << "  (" << c.moved << " moved";
    if (c.moved > 0) {
      out << ": " << Joined(Missing(c.before, c.after)) << " -> "
          << Joined(Missing(c.after, c.before));
    }
    if (bytes_per_partition > 0 && c.moved > 0)
      out << ", ~" << Bytes(c.moved * bytes_per_partition);
    out << ")\n";
  }
  out << "\nmoved replicas: " << diff.moved_replicas << " of " << diff.total_replicas << " ("
      << Fixed(100 * diff.moved_fraction, 2) << "%); optimal "
      << Fixed(100 * diff.optimal_fraction, 2) << "%";
  if (diff.optimal_fraction > 0) {
    out << "; moved/optimal " << Fixed(diff.moved_fraction / diff.optimal_fraction, 3);
  }
  out << "\n";
  if (bytes_per_partition > 0) {
    out << "estimated bytes to copy: " << diff.moved_replicas * bytes_per_partition << " ("
        << Bytes(diff.moved_replicas * bytes_per_partition) << ", " << bytes_per_partition
        << " bytes per partition replica)\n";
  }
}

void WriteDiffJson(std::ostream& out, const PlacementTable& before, const PlacementTable& after,
                   const PlacementDiff& diff, uint64_t bytes_per_partition) {
  auto array = [](const std::vector<std::string>& ids) {
    toml::array a;
    for (const auto& id : ids) a.push_back(id);
    return a;
  };
  toml::array changes;
  for (const auto& c : diff.changes) {
    changes.push_back(toml::table{{"partition", static_cast<int64_t>(c.partition)},
                                  {"before", array(c.before)},
                                  {"after", array(c.after)},
                                  {"moved", static_cast<int64_t>(c.moved)},
                                  {"from", array(Missing(c.before, c.after))},
                                  {"to", array(Missing(c.after, c.before))},
                                  {"bytes", static_cast<int64_t>(c.moved * bytes_per_partition)}});
  }
  toml::table doc{{"before", TopologyJson(before)},
                  {"after", TopologyJson(after)},
                  {"changes", std::move(changes)},
                  {"moved_replicas", static_cast<int64_t>(diff.moved_replicas)},
                  {"total_replicas", static_cast<int64_t>(diff.total_replicas)},
                  {"moved_fraction", diff.moved_fraction},
                  {"optimal_fraction", diff.optimal_fraction},
                  {"bytes_per_partition", static_cast<int64_t>(bytes_per_partition)},
                  {"moved_bytes", static_cast<int64_t>(diff.moved_replicas * bytes_per_partition)},
                  {"balance_after", BalanceJson(after)}};
  out << toml::json_formatter{doc, kJsonFlags} << "\n";
}

}  // namespace geokv::tools
