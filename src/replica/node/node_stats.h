// NodeStats: the counters a node keeps for INFO and /metrics that the server
// (ServerStats), the storage engine (EngineStats) and the replication core
// (replication::Stats) do not: per command, per error code, hits and misses,
// and the slow log and latency monitor.
//
// Everything here is counted on the thread that finishes a command (the I/O
// thread, or the storage writer for a data command's reply) with relaxed
// atomics, so counting costs a few uncontended increments per command; the
// error table, the slow log and the latency monitor take a mutex, and only
// when there is an error or a slow command to record.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/histogram.h"
#include "replica/commands/command.h"
#include "replica/commands/latency_monitor.h"
#include "replica/commands/slowlog.h"

namespace geokv::replica {

// One command's figures (Redis's cmdstat_<name>).
struct CommandCounters {
  std::atomic<uint64_t> calls{0};     // ran (with or without an error reply)
  std::atomic<uint64_t> usec{0};      // dispatch to reply, summed
  std::atomic<uint64_t> rejected{0};  // refused before running (arity)
  std::atomic<uint64_t> failed{0};    // ran and replied with an error
  Histogram seconds = Histogram::Seconds();
};

class NodeStats {
 public:
  // Distinct error codes kept at most (Redis keeps 128; later codes count
  // only in errors_total()).
  static constexpr size_t kErrorCodesMax = 128;

  NodeStats();

  // The counters of a row of the command table. Thread-safe.
  CommandCounters& command(const CommandSpec& spec);
  const CommandCounters& command(size_t index) const { return *commands_[index]; }

  // Counts an error reply by its code (the first word: ERR, WRONGTYPE, ...).
  // Thread-safe.
  void CountError(std::string_view reply);
  // Error code -> replies, and every error reply. Thread-safe.
  std::map<std::string, uint64_t> Errors() const;
  uint64_t errors_total() const { return errors_total_.load(std::memory_order_relaxed); }

  std::atomic<uint64_t> keyspace_hits{0};
  std::atomic<uint64_t> keyspace_misses{0};
  std::atomic<uint64_t> expired_keys{0};  // removed by active expiry
  std::atomic<uint64_t> unknown_commands{0};
  // Consistency levels (quorum.h): requests above level 1 that met their
  // level or got -NOQUORUM; read repairs this node sent as a reader (one per
  // replica and partition that lacked something, its own included), and the
  // atoms repairs added to this node's replicas.
  std::atomic<uint64_t> quorum_reads{0};
  std::atomic<uint64_t> quorum_writes{0};
  std::atomic<uint64_t> noquorum_reads{0};
  std::atomic<uint64_t> noquorum_writes{0};
  std::atomic<uint64_t> read_repairs{0};
  std::atomic<uint64_t> read_repair_atoms{0};

  SlowLog slowlog;
  LatencyMonitor latency;

  // instantaneous_ops_per_sec as Redis computes it: the mean rate over the
  // last kOpsSamples samples of the total command count, one taken every
  // ~100 ms by the node. Thread-safe.
  static constexpr size_t kOpsSamples = 16;
  void SampleOps(uint64_t commands_total, int64_t now_ms);
  double OpsPerSecond() const;

 private:
  struct OpsSample {
    uint64_t commands = 0;
    int64_t ms = 0;
  };
  mutable std::mutex ops_mu_;
  std::vector<OpsSample> ops_samples_;  // ring of kOpsSamples; guarded by ops_mu_
  size_t ops_next_ = 0;                 // guarded by ops_mu_

  std::vector<std::unique_ptr<CommandCounters>> commands_;  // AllCommands() order
  std::atomic<uint64_t> errors_total_{0};
  mutable std::mutex errors_mu_;
  std::map<std::string, uint64_t> errors_;  // guarded by errors_mu_
};

// The process's memory: the resident set from /proc/self (zeros where it
// cannot be read), and the allocator's figure that --maxmemory is checked
// against (memory_limit.h; set by the node, not by ReadMemoryUsage).
struct MemoryUsage {
  uint64_t rss_bytes = 0;        // resident now (statm)
  uint64_t peak_rss_bytes = 0;   // resident at most so far (VmHWM)
  uint64_t used_bytes = 0;       // allocated, at the latest sample
  uint64_t used_peak_bytes = 0;  // allocated, the largest sample so far
  uint64_t max_bytes = 0;        // --maxmemory; 0 = no limit
  uint64_t sample_us = 0;        // how long the latest sample of used_bytes took
};
MemoryUsage ReadMemoryUsage();

}  // namespace geokv::replica
