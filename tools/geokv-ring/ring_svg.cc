#include "ring_svg.h"

#include <cmath>
#include <cstdio>
#include <numbers>
#include <sstream>
#include <vector>

#include "placement/partitioner.h"

namespace geokv::tools {

using placement::PlacementTable;
using placement::Topology;

namespace {

constexpr double kWidth = 1100;
constexpr double kHeight = 800;
constexpr double kCenterX = 400;
constexpr double kCenterY = 420;
constexpr double kRingRadius = 300;
constexpr double kTickLength = 22;
constexpr double kBandWidth = 14;
constexpr double kBandGap = 2;
constexpr size_t kMaxBands = 6;
constexpr size_t kMaxLabels = 32;
constexpr size_t kMaxLegendRows = 40;
constexpr double kLegendX = 780;
// Beyond this many tokens the picture draws every k-th one (in ring order),
// which keeps the file small and the colour mix the same.
constexpr size_t kMaxDrawnTokens = 20000;
// Likewise for partitions: beyond this many, each band segment stands for k
// consecutive partitions and shows the first one's datacenters.
constexpr uint32_t kMaxDrawnPartitions = 2048;

// Tableau 10, then hues spaced by the golden angle for larger clusters.
std::string DcColour(size_t dc) {
  static const char* const kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                         "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  constexpr size_t kPaletteSize = sizeof kPalette / sizeof kPalette[0];
  if (dc < kPaletteSize) return kPalette[dc];
  char buf[48];
  std::snprintf(buf, sizeof buf, "hsl(%.0f,65%%,50%%)", std::fmod(dc * 137.508, 360.0));
  return buf;
}

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Ring position -> angle in radians, 0 at the top, clockwise.
double Angle(uint64_t position) {
  return static_cast<double>(position) / 18446744073709551616.0 * 2 * std::numbers::pi;
}

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

double X(double angle, double r) { return kCenterX + r * std::sin(angle); }
double Y(double angle, double r) { return kCenterY - r * std::cos(angle); }

void Line(std::ostream& out, double angle, double r0, double r1, const std::string& colour,
          double width) {
  out << "<line x1=\"" << Num(X(angle, r0)) << "\" y1=\"" << Num(Y(angle, r0)) << "\" x2=\""
      << Num(X(angle, r1)) << "\" y2=\"" << Num(Y(angle, r1)) << "\" stroke=\"" << colour
      << "\" stroke-width=\"" << Num(width) << "\"/>\n";
}

// An arc of radius r from angle a0 clockwise to a1, as a stroked band.
void Arc(std::ostream& out, double a0, double a1, double r, const std::string& colour) {
  if (a1 - a0 >= 2 * std::numbers::pi - 1e-9) {
    out << "<circle cx=\"" << Num(kCenterX) << "\" cy=\"" << Num(kCenterY) << "\" r=\"" << Num(r)
        << "\" fill=\"none\" stroke=\"" << colour << "\" stroke-width=\"" << Num(kBandWidth)
        << "\"/>\n";
    return;
  }
  const int large = (a1 - a0) > std::numbers::pi ? 1 : 0;
  out << "<path d=\"M " << Num(X(a0, r)) << " " << Num(Y(a0, r)) << " A " << Num(r) << " " << Num(r)
      << " 0 " << large << " 1 " << Num(X(a1, r)) << " " << Num(Y(a1, r))
      << "\" fill=\"none\" stroke=\"" << colour << "\" stroke-width=\"" << Num(kBandWidth)
      << "\"/>\n";
}

void Text(std::ostream& out, double x, double y, const std::string& text, int size,
          const std::string& anchor = "start", const std::string& weight = "normal") {
  out << "<text x=\"" << Num(x) << "\" y=\"" << Num(y) << "\" font-size=\"" << size
      << "\" text-anchor=\"" << anchor << "\" font-weight=\"" << weight << "\">" << Escape(text)
      << "</text>\n";
}

}  // namespace

std::string RenderRingSvg(const PlacementTable& table) {
  const Topology& t = table.topology();
  const uint32_t q = table.partitions();
  const size_t bands = std::min<size_t>(table.replicas(), kMaxBands);
  std::ostringstream out;
  out << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth << "\" height=\"" << kHeight
      << "\" viewBox=\"0 0 " << kWidth << " " << kHeight << "\" font-family=\"sans-serif\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  Text(out, 20, 32, "geokv ring: " + t.cluster_name() + " (" + t.source_name() + ")", 20, "start",
       "bold");
  Text(out, 20, 56,
       "Q=" + std::to_string(q) + " partitions, N=" + std::to_string(table.replicas()) +
           " replicas, V=" + std::to_string(t.vnodes()) + ", " +
           std::to_string(table.tokens().size()) + " tokens" +
           ((q + kMaxDrawnPartitions - 1) / kMaxDrawnPartitions > 1
                ? "; bands show 1 in " +
                      std::to_string((q + kMaxDrawnPartitions - 1) / kMaxDrawnPartitions) +
                      " partitions"
                : ""),
       14);

  // Partition bands: replica k of partition p on ring k (outermost = first).
  // Runs of one colour are drawn as one arc.
  const uint32_t partition_step = (q + kMaxDrawnPartitions - 1) / kMaxDrawnPartitions;
  for (size_t k = 0; k < bands; ++k) {
    const double r = kRingRadius - 10 - kBandWidth / 2 - k * (kBandWidth + kBandGap);
    uint32_t run_start = 0;
    for (uint32_t p = 0; p < q; p += partition_step) {
      const uint32_t next = p + partition_step;
      const size_t dc = t.nodes()[table.PreferenceList(p)[k]].dc_index;
      const bool run_ends = next >= q || t.nodes()[table.PreferenceList(next)[k]].dc_index != dc;
      if (!run_ends) continue;
      const double a0 = Angle(placement::PartitionPosition(run_start, q));
      const double a1 =
          next < q ? Angle(placement::PartitionPosition(next, q)) : 2 * std::numbers::pi;
      Arc(out, a0, a1, r, DcColour(dc));
      run_start = next;
    }
  }
  // Partition boundaries (each partition's position) and some labels.
  const double inner = kRingRadius - 10 - bands * (kBandWidth + kBandGap);
  const uint32_t label_step = std::max<uint32_t>(1, q / kMaxLabels);
  for (uint32_t p = 0; p < q; ++p) {
    const double a = Angle(placement::PartitionPosition(p, q));
    if (q <= 256 || p % label_step == 0) Line(out, a, inner, kRingRadius, "white", 1);
    if (p % label_step == 0) {
      const double mid = a + std::numbers::pi / q;
      out << "<text x=\"" << Num(X(mid, inner - 14)) << "\" y=\"" << Num(Y(mid, inner - 14) + 4)
          << "\" font-size=\"10\" text-anchor=\"middle\">" << p << "</text>\n";
    }
  }
  out << "<circle cx=\"" << Num(kCenterX) << "\" cy=\"" << Num(kCenterY) << "\" r=\""
      << Num(kRingRadius) << "\" fill=\"none\" stroke=\"#333\" stroke-width=\"1\"/>\n";
  // Tokens, coloured by datacenter.
  const size_t token_step = (table.tokens().size() + kMaxDrawnTokens - 1) / kMaxDrawnTokens;
  for (size_t i = 0; i < table.tokens().size(); i += token_step) {
    const placement::Token& token = table.tokens()[i];
    Line(out, Angle(token.position), kRingRadius + 2, kRingRadius + kTickLength,
         DcColour(t.nodes()[token.node].dc_index), 1);
  }
  Text(out, kCenterX, kCenterY - 8, "partition bands: replica 1 outside", 12, "middle");
  Text(out, kCenterX, kCenterY + 10,
       "to replica " + std::to_string(bands) + " inside" +
           (bands < table.replicas() ? " (of " + std::to_string(table.replicas()) + ")" : ""),
       12, "middle");
  Text(out, kCenterX, kCenterY + 28,
       token_step == 1 ? "ticks outside: tokens"
                       : "ticks outside: 1 in " + std::to_string(token_step) + " tokens",
       12, "middle");

  // Legend.
  const placement::BalanceReport balance = table.Balance();
  std::vector<size_t> tokens_of_node(t.nodes().size());
  for (const placement::Token& token : table.tokens()) ++tokens_of_node[token.node];
  // Nodes are listed only when every datacenter and node fits; datacenters
  // always come first, as many as fit.
  const bool list_nodes = t.datacenters().size() + t.nodes().size() <= kMaxLegendRows;
  double y = 100;
  Text(out, kLegendX, y,
       list_nodes ? "datacenter / node: tokens, replicas" : "datacenter: tokens, replicas", 13,
       "start", "bold");
  y += 22;
  const size_t shown_dcs = std::min(t.datacenters().size(), kMaxLegendRows);
  for (size_t d = 0; d < shown_dcs; ++d) {
    const auto& dc = t.datacenters()[d];
    size_t dc_tokens = 0;
    for (size_t n : dc.nodes) dc_tokens += tokens_of_node[n];
    out << "<rect x=\"" << Num(kLegendX) << "\" y=\"" << Num(y - 11) << "\" width=\"14\" "
        << "height=\"14\" fill=\"" << DcColour(d) << "\"/>\n";
    Text(out, kLegendX + 20, y,
         dc.name + ": " + std::to_string(dc_tokens) + " tokens, " +
             std::to_string(balance.datacenters[d].replicas) + " replicas" +
             (list_nodes ? "" : " (" + std::to_string(dc.nodes.size()) + " nodes)"),
         13);
    y += list_nodes ? 18 : 16;
    if (!list_nodes) continue;
    for (size_t n : dc.nodes) {
      const auto& node = t.nodes()[n];
      Text(out, kLegendX + 20, y,
           node.id + (node.rack.empty() ? "" : " (" + node.rack + ")") + ": " +
               std::to_string(tokens_of_node[n]) + ", " + std::to_string(balance.nodes[n].replicas),
           11);
      y += 15;
    }
    y += 6;
  }
  if (shown_dcs < t.datacenters().size()) {
    Text(out, kLegendX, y + 4,
         "... " + std::to_string(t.datacenters().size() - shown_dcs) + " more datacenters", 13);
  }
  out << "</svg>\n";
  return out.str();
}

}  // namespace geokv::tools
