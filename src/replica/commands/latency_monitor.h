// LatencyMonitor: Redis's LATENCY: per event, the latest spikes at or above
// latency-monitor-threshold (ms; 0, the default, records nothing).
//
// geokv records one event, "command": a command whose dispatch-to-reply time
// (see slowlog.h) reached the threshold.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace geokv::replica {

class LatencyMonitor {
 public:
  static constexpr size_t kHistoryMax = 160;  // samples kept per event (as Redis)

  struct Sample {
    int64_t unix_time_s = 0;
    int64_t ms = 0;
  };
  struct Latest {
    std::string event;
    int64_t unix_time_s = 0;  // of the latest sample
    int64_t latest_ms = 0;
    int64_t max_ms = 0;  // over every sample since the last reset
  };

  // Whether a duration of `ms` is recorded. Thread-safe, one relaxed load.
  bool Wants(int64_t ms) const {
    const int64_t t = threshold_ms_.load(std::memory_order_relaxed);
    return t > 0 && ms >= t;
  }
  // Thread-safe.
  void Add(const std::string& event, int64_t ms);
  std::vector<Latest> LatestSamples() const;
  std::vector<Sample> History(const std::string& event) const;
  // Forgets the events named (all if `events` is empty); returns how many
  // existed.
  size_t Reset(const std::vector<std::string>& events);

  int64_t threshold_ms() const { return threshold_ms_.load(std::memory_order_relaxed); }
  void set_threshold_ms(int64_t ms) { threshold_ms_.store(ms, std::memory_order_relaxed); }

 private:
  struct Event {
    std::deque<Sample> samples;  // oldest first
    int64_t max_ms = 0;
  };
  std::atomic<int64_t> threshold_ms_{0};
  mutable std::mutex mu_;
  std::map<std::string, Event> events_;  // guarded by mu_
};

}  // namespace geokv::replica
