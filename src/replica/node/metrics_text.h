// The Prometheus text exposition (format 0.0.4) of a node's figures, served at
// /metrics (metrics_http.h).
//
// Names follow Prometheus's conventions: a geokv_ prefix, base units last
// (_seconds, _bytes), counters end in _total, every family has # HELP and
// # TYPE. Labels: cmd (command table name), code (error code), peer and dc
// (replication peers), partition.
#pragma once

#include <string>

#include "replica/node/node_report.h"

namespace geokv::replica {

// REQUIRES: report.table and report.stats are set.
std::string MetricsText(const NodeReport& report);

// Escapes a label value (backslash, double quote, newline), as the format says.
std::string EscapeLabelValue(const std::string& value);

}  // namespace geokv::replica
