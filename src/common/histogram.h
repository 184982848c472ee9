// Histogram: counts of observations in fixed buckets, for Prometheus
// histograms and INFO's latency figures.
//
// Observe is wait-free (relaxed atomics: one bucket increment, a count and a
// sum), so hot paths on any thread may call it; Read gives a snapshot whose
// fields may be a few observations apart from each other, which a scrape
// tolerates (Prometheus rates smooth it out).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <vector>

#include "common/assert.h"

namespace geokv {

class Histogram {
 public:
  // `upper_bounds`: the buckets' inclusive upper bounds, strictly increasing;
  // an implicit last bucket (+Inf) takes the rest.
  explicit Histogram(std::initializer_list<double> upper_bounds)
      : bounds_(upper_bounds),
        counts_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {
    for (size_t i = 1; i < bounds_.size(); ++i) GEOKV_ASSERT(bounds_[i - 1] < bounds_[i]);
  }

  // Thread-safe.
  void Observe(double value) {
    size_t i = 0;
    while (i < bounds_.size() && value > bounds_[i]) ++i;
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(value, std::memory_order_relaxed);
  }

  struct Snapshot {
    std::vector<double> upper_bounds;
    std::vector<uint64_t> cumulative;  // per bound, observations <= it
    uint64_t count = 0;                // every observation (the +Inf bucket)
    double sum = 0;
  };
  // Thread-safe.
  Snapshot Read() const {
    Snapshot s;
    s.upper_bounds = bounds_;
    uint64_t running = 0;
    for (size_t i = 0; i < bounds_.size(); ++i) {
      running += counts_[i].load(std::memory_order_relaxed);
      s.cumulative.push_back(running);
    }
    s.count = running + counts_[bounds_.size()].load(std::memory_order_relaxed);
    s.sum = sum_.load(std::memory_order_relaxed);
    return s;
  }
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }

  // Buckets for durations in seconds, 50 us to 2.5 s.
  static Histogram Seconds() {
    return Histogram{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                     0.025,   0.05,   0.1,     0.25,   0.5,   1,      2.5};
  }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

}  // namespace geokv
