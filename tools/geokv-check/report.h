// The outputs of a geokv-check run: history.json (every operation, fault and
// finding, for tools) and report.html (a self-contained page with a timeline:
// operations per second per datacenter, fault windows, the heal and the
// moment every replica was equal again).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "history.h"

namespace geokv::check {

struct FaultWindow {
  std::string kind;    // kill, pause, partition, restore, reconfigure
  std::string target;  // node id or datacenter (reconfigure: "<id> weight 1->2, epoch 3")
  uint64_t start_ms = 0;
  uint64_t end_ms = 0;
};

struct RunSummary {
  uint64_t seed = 0;
  std::string command;  // the exact command line, for replay
  std::string topology;
  std::vector<std::string> datacenters;
  uint64_t workload_end_ms = 0;
  uint64_t heal_ms = 0;
  int64_t converged_ms = -1;  // -1: never within the bound
  std::vector<FaultWindow> faults;
  // Replication lag samples: node id -> (ms since start, worst lag to a peer in ms).
  std::map<std::string, std::vector<std::pair<uint64_t, uint64_t>>> lag;
  std::vector<std::string> divergence;  // per differing partition/key, plain words
  std::vector<Violation> violations;
  bool pass = false;
};

// Writes dir/history.json and dir/report.html. Returns false on I/O failure.
bool WriteReport(const std::string& dir, const RunSummary& summary, const std::vector<Op>& history);

}  // namespace geokv::check
