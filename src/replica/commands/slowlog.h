// SlowLog: the commands that took longer than a threshold, as Redis's SLOWLOG
// keeps them.
//
// A command's duration here is from its dispatch to its reply: for a data
// command that includes the wait for its group commit (and fsync), which
// Redis, answering from memory, has no equivalent of. Arguments are kept as
// Redis keeps them: at most kArgsMax (the last one then says how many more),
// each cut at kArgBytesMax with "... (N more bytes)".
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "replica/commands/transaction.h"

namespace geokv::replica {

struct SlowLogEntry {
  uint64_t id = 0;
  int64_t unix_time_s = 0;
  int64_t duration_us = 0;
  std::vector<std::string> args;  // cut as the file comment says
  std::string client_address;
  std::string client_name;
};

class SlowLog {
 public:
  static constexpr size_t kArgsMax = 32;
  static constexpr size_t kArgBytesMax = 128;
  static constexpr int64_t kEntriesMax = 1'000'000;  // bound on slowlog-max-len

  // Whether a command that took duration_us is logged: the threshold is >= 0
  // and duration_us >= it. Thread-safe, cheap (one relaxed load).
  bool Wants(int64_t duration_us) const {
    const int64_t t = slower_than_us_.load(std::memory_order_relaxed);
    return t >= 0 && duration_us >= t;
  }
  // Arguments cut as the file comment says (call only when Wants()).
  static std::vector<std::string> CutArgs(const Args& args);
  // Adds an entry (args already cut), dropping the oldest beyond max_len.
  // Thread-safe.
  void Add(int64_t duration_us, std::vector<std::string> args, std::string client_address,
           std::string client_name);

  // The newest `count` entries, newest first. Thread-safe.
  std::vector<SlowLogEntry> Latest(size_t count) const;
  size_t size() const;
  void Reset();

  // slowlog-log-slower-than (us; -1: off, 0: every command) and
  // slowlog-max-len. Thread-safe.
  int64_t slower_than_us() const { return slower_than_us_.load(std::memory_order_relaxed); }
  void set_slower_than_us(int64_t us) { slower_than_us_.store(us, std::memory_order_relaxed); }
  int64_t max_len() const { return max_len_.load(std::memory_order_relaxed); }
  // REQUIRES: 0 <= len <= kEntriesMax.
  void set_max_len(int64_t len);

 private:
  std::atomic<int64_t> slower_than_us_{10'000};  // Redis's default
  std::atomic<int64_t> max_len_{128};            // Redis's default
  mutable std::mutex mu_;
  std::deque<SlowLogEntry> entries_;  // newest first; guarded by mu_
  uint64_t next_id_ = 0;              // guarded by mu_
};

}  // namespace geokv::replica
