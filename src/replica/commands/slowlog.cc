#include "replica/commands/slowlog.h"

#include <algorithm>
#include <chrono>

#include "common/assert.h"

namespace geokv::replica {

std::vector<std::string> SlowLog::CutArgs(const Args& args) {
  std::vector<std::string> out;
  const size_t kept = std::min(args.size(), kArgsMax);
  out.reserve(kept);  // cut for every command while the slow log is on
  for (size_t i = 0; i < kept; ++i) {
    if (kept < args.size() && i == kept - 1) {
      out.push_back("... (" + std::to_string(args.size() - kept + 1) + " more arguments)");
    } else if (args[i].size() > kArgBytesMax) {
      out.push_back(args[i].substr(0, kArgBytesMax) + "... (" +
                    std::to_string(args[i].size() - kArgBytesMax) + " more bytes)");
    } else {
      out.push_back(args[i]);
    }
  }
  return out;
}

void SlowLog::Add(int64_t duration_us, std::vector<std::string> args, std::string client_address,
                  std::string client_name) {
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  std::lock_guard lock(mu_);
  entries_.push_front(SlowLogEntry{next_id_++, now, duration_us, std::move(args),
                                   std::move(client_address), std::move(client_name)});
  while (entries_.size() > static_cast<size_t>(max_len())) entries_.pop_back();
}

std::vector<SlowLogEntry> SlowLog::Latest(size_t count) const {
  std::lock_guard lock(mu_);
  const size_t n = std::min(count, entries_.size());
  return {entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(n)};
}

size_t SlowLog::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

void SlowLog::Reset() {
  std::lock_guard lock(mu_);
  entries_.clear();
}

void SlowLog::set_max_len(int64_t len) {
  GEOKV_ASSERT(len >= 0);
  GEOKV_ASSERT(len <= kEntriesMax);
  max_len_.store(len, std::memory_order_relaxed);
  std::lock_guard lock(mu_);
  while (entries_.size() > static_cast<size_t>(len)) entries_.pop_back();
}

}  // namespace geokv::replica
