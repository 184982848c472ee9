// The text of INFO: Redis's sections and field names where the meaning is the
// same (so that dashboards and redis_exporter read them), and geokv's own.
//
// Sections: server clients memory persistence stats replication cpu
// commandstats errorstats keyspace, and geokv's peers and partitions.
// `sections` is INFO's arguments, lower case, separated by spaces: "default"
// (every section but commandstats and partitions), "all" and "everything"
// (every section), or section names; an unknown name adds nothing, as in
// Redis. What differs from Redis is in docs/operations.md ("INFO").
#pragma once

#include <string>

#include "replica/node/node_report.h"

namespace geokv::replica {

// REQUIRES: report.table and report.stats are set.
std::string InfoText(const NodeReport& report, const std::string& sections);

}  // namespace geokv::replica
