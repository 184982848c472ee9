#include "report.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

namespace geokv::check {

namespace {

std::string Json(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string Html(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else
      out += c;
  }
  return out;
}

// An SVG timeline: ops/s per DC (lines), faults (bands), heal and convergence.
std::string Timeline(const RunSummary& s, const std::vector<Op>& history) {
  const uint64_t end =
      std::max<uint64_t>({s.workload_end_ms,
                          s.converged_ms > 0 ? static_cast<uint64_t>(s.converged_ms) : 0, s.heal_ms,
                          1}) +
      500;
  const uint64_t bucket = std::max<uint64_t>(250, end / 200);
  std::map<std::string, std::vector<uint64_t>> rate;  // dc -> ops per bucket
  for (const auto& dc : s.datacenters) rate[dc].assign(end / bucket + 1, 0);
  uint64_t peak = 1;
  for (const Op& op : history) {
    auto& v = rate[op.dc];
    if (v.empty()) v.assign(end / bucket + 1, 0);
    const size_t b = std::min<size_t>(op.end_ms / bucket, v.size() - 1);
    peak = std::max(peak, ++v[b]);
  }
  const double width = 960, height = 260, left = 50, top = 20, plot_h = 200;
  auto x = [&](uint64_t ms) { return left + (width - left - 10) * static_cast<double>(ms) / end; };
  auto y = [&](uint64_t n) { return top + plot_h - plot_h * static_cast<double>(n) / peak; };
  static const char* kColors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                  "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};
  std::ostringstream svg;
  svg << "<svg xmlns='http://www.w3.org/2000/svg' width='" << width << "' height='" << height + 180
      << "' font-family='sans-serif' font-size='11'>";
  for (const FaultWindow& f : s.faults) {
    const char* color = f.kind == "kill"          ? "#f4cccc"
                        : f.kind == "restore"     ? "#cfe2f3"
                        : f.kind == "pause"       ? "#fff2cc"
                        : f.kind == "reconfigure" ? "#d9ead3"
                                                  : "#d9d2e9";
    svg << "<rect x='" << x(f.start_ms) << "' y='" << top << "' width='"
        << std::max(1.0, x(f.end_ms) - x(f.start_ms)) << "' height='" << plot_h << "' fill='"
        << color << "'><title>" << Html(f.kind + " " + f.target) << "</title></rect>";
    svg << "<text x='" << x(f.start_ms) + 2 << "' y='" << top + 12 << "'>"
        << Html(f.kind + " " + f.target) << "</text>";
  }
  svg << "<line x1='" << left << "' y1='" << top + plot_h << "' x2='" << width - 10 << "' y2='"
      << top + plot_h << "' stroke='black'/>";
  svg << "<text x='4' y='" << top + 10 << "'>" << peak * 1000 / bucket << "/s</text>";
  size_t c = 0;
  for (const auto& [dc, v] : rate) {
    svg << "<polyline fill='none' stroke-width='1.5' stroke='" << kColors[c % 8] << "' points='";
    for (size_t b = 0; b < v.size(); ++b) svg << x(b * bucket) << "," << y(v[b]) << " ";
    svg << "'/><text x='" << left + 80 * c << "' y='" << top + plot_h + 28 << "' fill='"
        << kColors[c % 8] << "'>" << Html(dc) << " ops/s</text>";
    ++c;
  }
  auto marker = [&](uint64_t ms, const char* label, const char* color, double label_y) {
    svg << "<line x1='" << x(ms) << "' y1='" << top << "' x2='" << x(ms) << "' y2='" << top + plot_h
        << "' stroke='" << color << "' stroke-dasharray='4'/><text x='" << x(ms) - 3 << "' y='"
        << label_y << "' text-anchor='end' fill='" << color << "'>" << label << "</text>";
  };
  // A second panel: replication lag per node.
  uint64_t lag_peak = 1;
  for (const auto& [node, samples] : s.lag) {
    for (const auto& [t, lag] : samples) lag_peak = std::max(lag_peak, lag);
  }
  const double lag_top = top + plot_h + 55, lag_h = 100;
  svg << "<text x='4' y='" << lag_top + 10 << "'>lag " << lag_peak << " ms</text><line x1='" << left
      << "' y1='" << lag_top + lag_h << "' x2='" << width - 10 << "' y2='" << lag_top + lag_h
      << "' stroke='black'/>";
  size_t n = 0;
  for (const auto& [node, samples] : s.lag) {
    svg << "<polyline fill='none' stroke-width='1' stroke='" << kColors[(n + 4) % 8]
        << "' points='";
    for (const auto& [t, lag] : samples) {
      svg << x(t) << "," << lag_top + lag_h - lag_h * static_cast<double>(lag) / lag_peak << " ";
    }
    svg << "'/><text x='" << left + 120 * n << "' y='" << lag_top + lag_h + 14 << "' fill='"
        << kColors[(n + 4) % 8] << "'>" << Html(node) << " replication lag</text>";
    ++n;
  }
  marker(s.heal_ms, "healed", "#444", top + 24);
  if (s.converged_ms >= 0) {
    marker(static_cast<uint64_t>(s.converged_ms), "converged", "#2ca02c", top + 38);
  }
  svg << "<text x='" << width - 10 << "' y='" << top + plot_h + 14 << "' text-anchor='end'>"
      << end / 1000.0 << " s</text></svg>";
  return svg.str();
}

}  // namespace

bool WriteReport(const std::string& dir, const RunSummary& s, const std::vector<Op>& history) {
  {
    std::ofstream json(dir + "/history.json");
    json << "{\"seed\":" << s.seed << ",\"command\":" << Json(s.command)
         << ",\"topology\":" << Json(s.topology)
         << ",\"verdict\":" << (s.pass ? "\"PASS\"" : "\"FAIL\"")
         << ",\"workload_end_ms\":" << s.workload_end_ms << ",\"heal_ms\":" << s.heal_ms
         << ",\"converged_ms\":" << s.converged_ms << ",\"faults\":[";
    for (size_t i = 0; i < s.faults.size(); ++i) {
      const auto& f = s.faults[i];
      json << (i ? "," : "") << "{\"kind\":" << Json(f.kind) << ",\"target\":" << Json(f.target)
           << ",\"start_ms\":" << f.start_ms << ",\"end_ms\":" << f.end_ms << "}";
    }
    json << "],\"divergence\":[";
    for (size_t i = 0; i < s.divergence.size(); ++i)
      json << (i ? "," : "") << Json(s.divergence[i]);
    json << "],\"violations\":[";
    for (size_t i = 0; i < s.violations.size(); ++i) {
      json << (i ? "," : "") << "{\"key\":" << Json(s.violations[i].key)
           << ",\"what\":" << Json(s.violations[i].what) << "}";
    }
    json << "],\"ops\":[";
    for (size_t i = 0; i < history.size(); ++i) {
      const Op& op = history[i];
      json << (i ? ",\n" : "\n") << "{\"op\":" << Json(OpKindName(op.kind))
           << ",\"dc\":" << Json(op.dc) << ",\"node\":" << Json(op.node)
           << ",\"key\":" << Json(op.key);
      if (!op.field.empty()) json << ",\"field\":" << Json(op.field);
      if (!op.value.empty()) json << ",\"value\":" << Json(op.value);
      if (op.amount != 0) json << ",\"amount\":" << op.amount;
      if (op.with_token) {
        json << ",\"token_values\":[";
        for (size_t t = 0; t < op.token_values.size(); ++t)
          json << (t ? "," : "") << Json(op.token_values[t]);
        json << "]";
      }
      json << ",\"start_ms\":" << op.start_ms << ",\"end_ms\":" << op.end_ms
           << ",\"outcome\":" << Json(OutcomeName(op.outcome)) << "}";
    }
    json << "]}\n";
    if (!json) return false;
  }
  std::ofstream html(dir + "/report.html");
  size_t ok = 0, unknown = 0, errors = 0;
  for (const Op& op : history) {
    (op.outcome == Outcome::kOk ? ok : op.outcome == Outcome::kUnknown ? unknown : errors)++;
  }
  html << "<!doctype html><html><head><meta charset='utf-8'><title>geokv-check "
       << (s.pass ? "PASS" : "FAIL") << "</title><style>body{font-family:sans-serif;margin:2em;"
       << "max-width:1000px}.pass{color:#2ca02c}.fail{color:#d62728}td,th{padding:2px 8px;"
       << "text-align:left}</style></head><body>";
  html << "<h1>geokv-check: <span class='" << (s.pass ? "pass'>PASS" : "fail'>FAIL")
       << "</span></h1><p><code>" << Html(s.command) << "</code></p>";
  html << "<table><tr><th>topology</th><td>" << Html(s.topology)
       << "</td></tr><tr><th>seed</th><td>" << s.seed << "</td></tr><tr><th>operations</th><td>"
       << history.size() << " (" << ok << " acknowledged, " << unknown << " unknown, " << errors
       << " refused)</td></tr>"
       << "<tr><th>faults</th><td>" << s.faults.size() << " ("
       << std::count_if(s.faults.begin(), s.faults.end(),
                        [](const FaultWindow& f) { return f.kind == "restore"; })
       << " restores, "
       << std::count_if(s.faults.begin(), s.faults.end(),
                        [](const FaultWindow& f) { return f.kind == "reconfigure"; })
       << " reconfigurations)</td></tr><tr><th>convergence</th><td>"
       << (s.converged_ms >= 0 ? std::to_string(s.converged_ms - static_cast<int64_t>(s.heal_ms)) +
                                     " ms after the heal"
                               : std::string("not reached"))
       << "</td></tr></table>";
  html << "<h2>Timeline</h2>" << Timeline(s, history);
  if (!s.divergence.empty()) {
    html << "<h2>Replicas that differ</h2><ul>";
    for (const auto& d : s.divergence) html << "<li>" << Html(d) << "</li>";
    html << "</ul>";
  }
  if (!s.violations.empty()) {
    html << "<h2>Violations</h2><ul>";
    for (const auto& v : s.violations)
      html << "<li><b>" << Html(v.key) << "</b>: " << Html(v.what) << "</li>";
    html << "</ul>";
  }
  html << "<h2>Faults</h2><table><tr><th>fault</th><th>target</th><th>from</th><th>to</th></tr>";
  for (const auto& f : s.faults) {
    html << "<tr><td>" << Html(f.kind) << "</td><td>" << Html(f.target) << "</td><td>" << f.start_ms
         << " ms</td><td>" << f.end_ms << " ms</td></tr>";
  }
  html << "</table></body></html>\n";
  return static_cast<bool>(html);
}

}  // namespace geokv::check
