// MemoryLimit: the node's --maxmemory. Past the limit, commands that may grow
// memory (Redis's `denyoom` flag: kDenyOom in the command table) get Redis's
// -OOM error; reads, deletes, admin commands and replication from peers go on
// (DESIGN.md "Storage: memory first, SQLite durable").
//
// Used memory is what the allocator has handed out and not taken back (glibc:
// mallinfo2's uordblks + hblkhd), as Redis's used_memory is its allocator's
// tally, not the resident set: freed memory the allocator keeps for reuse does
// not count, so a DEL lets writes in again. It is sampled on a timer (every
// ~100 ms), never per command: mallinfo2 locks every malloc arena in turn and
// walks their free lists, which costs tens of microseconds and more as the heap
// fragments (more than a command), and it stalls the threads allocating
// meanwhile. The price: a burst can run up to one period past the limit before
// writes are refused.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

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
  // before the timer runs.
  explicit MemoryLimit(std::function<uint64_t()> allocated = AllocatedBytes);
  ~MemoryLimit();
  MemoryLimit(const MemoryLimit&) = delete;
  MemoryLimit& operator=(const MemoryLimit&) = delete;

  // Samples every `period` on `io` until destroyed. Call once.
  void Start(boost::asio::io_context& io, std::chrono::milliseconds period);
  // Reads the used-memory figure now (the timer calls it).
  void Sample();

  // The limit in bytes; 0 = none. Thread-safe.
  uint64_t max_bytes() const { return max_bytes_.load(std::memory_order_relaxed); }
  void set_max_bytes(uint64_t bytes) { max_bytes_.store(bytes, std::memory_order_relaxed); }
  // The latest sample, and the largest so far. Thread-safe.
  uint64_t used_bytes() const { return used_bytes_.load(std::memory_order_relaxed); }
  uint64_t peak_bytes() const { return peak_bytes_.load(std::memory_order_relaxed); }
  // Whether a limit is set and the latest sample is above it (Redis refuses
  // when used memory > maxmemory). Thread-safe; a couple of loads.
  bool over() const {
    const uint64_t max = max_bytes();
    return max > 0 && used_bytes() > max;
  }

 private:
  void Schedule();

  std::function<uint64_t()> allocated_;
  std::atomic<uint64_t> max_bytes_{0};
  std::atomic<uint64_t> used_bytes_{0};
  std::atomic<uint64_t> peak_bytes_{0};
  std::unique_ptr<boost::asio::steady_timer> timer_;  // the io_context's thread
  std::chrono::milliseconds period_{100};
};

}  // namespace geokv::replica
