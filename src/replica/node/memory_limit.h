// MemoryLimit: the node's --maxmemory. Past the limit, commands that may grow
// memory (Redis's `denyoom` flag: kDenyOom in the command table) get Redis's
// -OOM error; reads, deletes, admin commands and replication from peers go on
// (DESIGN.md "Storage: memory first, SQLite durable").
//
// Used memory is what the allocator has handed out and not taken back, as
// Redis's used_memory is its allocator's tally, not the resident set: memory
// the allocator keeps for reuse after a free does not count. (SQLite's page
// cache keeps the pages it read, up to its size, whatever is deleted.)
// geokv-server counts it as it allocates (allocation_counter.h: operator new
// plus SQLite's own); the default source, for programs that do not link the
// counter, is glibc's mallinfo2 (uordblks + hblkhd).
//
// It is sampled on a thread of its own, every ~100 ms, never per command.
// Reading the counter is cheap, but mallinfo2 walks every free chunk of every
// arena under that arena's lock, so its cost grows with the heap's
// fragmentation (measured with glibc 2.36: 0.2 us with no free chunks, 100 ms
// with 47,000, 654 ms for a churned 1M-key hash map), far more than a command,
// and threads allocating in the arena wait meanwhile. On its own thread a
// slow source never holds up the I/O loop, and the period stretches to 100x
// the last sample's duration, so that sampling takes at most ~1% of a core.
// The price: a burst can run past the limit for one period before writes are
// refused.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>

namespace geokv::replica {

// Bytes the process's allocator has handed out and not taken back (glibc's
// mallinfo2: uordblks + hblkhd).
uint64_t AllocatedBytes();

// A memory size as Redis's configuration takes it: digits, then optionally a
// unit, case-insensitive: b; k = 1000, kb = 1024; m = 1000^2, mb = 1024^2;
// g = 1000^3, gb = 1024^3 ("100mb" = 104857600). nullopt for anything else
// (a sign, a fraction, an unknown unit, an overflow).
std::optional<uint64_t> ParseMemoryBytes(std::string_view text);

class MemoryLimit {
 public:
  // `allocated` gives the used-memory figure (AllocatedBytes by default; a
  // test passes its own). Samples it once at once, so that INFO has a figure
  // before sampling starts.
  explicit MemoryLimit(std::function<uint64_t()> allocated = AllocatedBytes);
  // Stops the sampling thread.
  ~MemoryLimit();
  MemoryLimit(const MemoryLimit&) = delete;
  MemoryLimit& operator=(const MemoryLimit&) = delete;

  // Takes the used-memory figure from `source` from now on (geokv-server:
  // allocation_counter.h's count, cheap whatever the heap). Call before Start.
  void set_source(std::function<uint64_t()> source);
  // Samples on a thread of its own every `period`, or 100x the duration of
  // the last sample when that is longer, until destroyed. Call once.
  void Start(std::chrono::milliseconds period);
  // Reads the used-memory figure now (the sampling thread calls it).
  void Sample();

  // The limit in bytes; 0 = none. Thread-safe.
  uint64_t max_bytes() const { return max_bytes_.load(std::memory_order_relaxed); }
  void set_max_bytes(uint64_t bytes) { max_bytes_.store(bytes, std::memory_order_relaxed); }
  // The latest sample, and the largest so far. Thread-safe.
  uint64_t used_bytes() const { return used_bytes_.load(std::memory_order_relaxed); }
  uint64_t peak_bytes() const { return peak_bytes_.load(std::memory_order_relaxed); }
  // How long the latest sample took, in microseconds. Thread-safe.
  uint64_t sample_us() const { return sample_us_.load(std::memory_order_relaxed); }
  // Whether a limit is set and the latest sample is above it (Redis refuses
  // when used memory > maxmemory). Thread-safe; a couple of loads.
  bool over() const {
    const uint64_t max = max_bytes();
    return max > 0 && used_bytes() > max;
  }

  // The sampling period stretches to this many times a sample's duration.
  static constexpr int kPeriodPerSampleTime = 100;

 private:
  void Run(std::chrono::milliseconds period);

  std::function<uint64_t()> allocated_;
  std::atomic<uint64_t> max_bytes_{0};
  std::atomic<uint64_t> used_bytes_{0};
  std::atomic<uint64_t> peak_bytes_{0};
  std::atomic<uint64_t> sample_us_{0};
  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace geokv::replica
