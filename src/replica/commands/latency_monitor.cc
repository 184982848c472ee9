#include "replica/commands/latency_monitor.h"

#include <algorithm>
#include <chrono>
#include <utility>

namespace geokv::replica {

void LatencyMonitor::Add(const std::string& event, int64_t ms) {
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  std::lock_guard lock(mu_);
  Event& e = events_[event];
  // One sample per second, as Redis: a second spike in the same second keeps
  // the larger.
  if (!e.samples.empty() && e.samples.back().unix_time_s == now) {
    e.samples.back().ms = std::max(e.samples.back().ms, ms);
  } else {
    e.samples.push_back({now, ms});
    if (e.samples.size() > kHistoryMax) e.samples.pop_front();
  }
  e.max_ms = std::max(e.max_ms, ms);
}

std::vector<LatencyMonitor::Latest> LatencyMonitor::LatestSamples() const {
  std::lock_guard lock(mu_);
  std::vector<Latest> out;
  for (const auto& [name, e] : events_) {
    if (e.samples.empty()) continue;
    out.push_back({name, e.samples.back().unix_time_s, e.samples.back().ms, e.max_ms});
  }
  return out;
}

std::vector<LatencyMonitor::Sample> LatencyMonitor::History(const std::string& event) const {
  std::lock_guard lock(mu_);
  auto it = events_.find(event);
  if (it == events_.end()) return {};
  return {it->second.samples.begin(), it->second.samples.end()};
}

size_t LatencyMonitor::Reset(const std::vector<std::string>& events) {
  std::lock_guard lock(mu_);
  if (events.empty()) return std::exchange(events_, {}).size();
  size_t reset = 0;
  for (const std::string& name : events) reset += events_.erase(name);
  return reset;
}

}  // namespace geokv::replica
