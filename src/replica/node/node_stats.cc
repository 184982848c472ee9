#include "replica/node/node_stats.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "common/assert.h"

namespace geokv::replica {

NodeStats::NodeStats() {
  for (size_t i = 0; i < AllCommands().size(); ++i) {
    commands_.push_back(std::make_unique<CommandCounters>());
  }
}

CommandCounters& NodeStats::command(const CommandSpec& spec) {
  const auto index = static_cast<size_t>(&spec - AllCommands().data());
  GEOKV_ASSERT(index < commands_.size());
  return *commands_[index];
}

void NodeStats::CountError(std::string_view reply) {
  errors_total_.fetch_add(1, std::memory_order_relaxed);
  if (!reply.empty() && (reply[0] == '-' || reply[0] == '!')) reply.remove_prefix(1);
  const size_t end = reply.find_first_of(" \r\n");
  std::string code(reply.substr(0, std::min<size_t>(end, 64)));
  std::lock_guard lock(errors_mu_);
  auto it = errors_.find(code);
  if (it != errors_.end()) {
    ++it->second;
  } else if (errors_.size() < kErrorCodesMax) {
    errors_.emplace(std::move(code), 1);
  }
}

std::map<std::string, uint64_t> NodeStats::Errors() const {
  std::lock_guard lock(errors_mu_);
  return errors_;
}

void NodeStats::SampleOps(uint64_t commands_total, int64_t now_ms) {
  std::lock_guard lock(ops_mu_);
  if (ops_samples_.size() < kOpsSamples) {
    ops_samples_.push_back({commands_total, now_ms});
  } else {
    ops_samples_[ops_next_] = {commands_total, now_ms};
  }
  ops_next_ = (ops_next_ + 1) % kOpsSamples;
}

double NodeStats::OpsPerSecond() const {
  std::lock_guard lock(ops_mu_);
  if (ops_samples_.size() < 2) return 0;
  // The oldest sample is the one to be overwritten next (once the ring is full).
  const OpsSample& oldest =
      ops_samples_.size() < kOpsSamples ? ops_samples_.front() : ops_samples_[ops_next_];
  const OpsSample& newest = ops_samples_[(ops_next_ + kOpsSamples - 1) % kOpsSamples];
  if (newest.ms <= oldest.ms) return 0;
  return static_cast<double>(newest.commands - oldest.commands) * 1000.0 /
         static_cast<double>(newest.ms - oldest.ms);
}

MemoryUsage ReadMemoryUsage() {
  MemoryUsage m;
  const auto page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  std::ifstream statm("/proc/self/statm");
  uint64_t size_pages = 0, resident_pages = 0;
  if (statm >> size_pages >> resident_pages) m.rss_bytes = resident_pages * page;
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) {
      std::istringstream fields(line.substr(6));
      uint64_t kb = 0;
      if (fields >> kb) m.peak_rss_bytes = kb * 1024;
    }
  }
  if (m.peak_rss_bytes < m.rss_bytes) m.peak_rss_bytes = m.rss_bytes;
  return m;
}

}  // namespace geokv::replica
