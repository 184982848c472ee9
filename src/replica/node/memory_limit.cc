#include "replica/node/memory_limit.h"

#include <malloc.h>

#include <algorithm>
#include <charconv>
#include <string>
#include <utility>

#include "common/assert.h"

namespace geokv::replica {

uint64_t AllocatedBytes() {
  const struct mallinfo2 info = ::mallinfo2();
  return static_cast<uint64_t>(info.uordblks) + static_cast<uint64_t>(info.hblkhd);
}

std::optional<uint64_t> ParseMemoryBytes(std::string_view text) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 20) return std::nullopt;
  uint64_t number = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + digits, number);
  if (ec != std::errc() || end != text.data() + digits) return std::nullopt;
  std::string unit(text.substr(digits));
  for (char& c : unit) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  }
  uint64_t scale = 0;
  if (unit.empty() || unit == "b") {
    scale = 1;
  } else if (unit == "k") {
    scale = 1000;
  } else if (unit == "kb") {
    scale = 1024;
  } else if (unit == "m") {
    scale = 1000 * 1000;
  } else if (unit == "mb") {
    scale = 1024 * 1024;
  } else if (unit == "g") {
    scale = 1000 * 1000 * 1000;
  } else if (unit == "gb") {
    scale = uint64_t{1024} * 1024 * 1024;
  } else {
    return std::nullopt;
  }
  if (number > UINT64_MAX / scale) return std::nullopt;
  return number * scale;
}

MemoryLimit::MemoryLimit(std::function<uint64_t()> allocated) : allocated_(std::move(allocated)) {
  GEOKV_ASSERT(allocated_ != nullptr);
  Sample();
}

MemoryLimit::~MemoryLimit() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void MemoryLimit::set_source(std::function<uint64_t()> source) {
  GEOKV_ASSERT(source != nullptr);
  GEOKV_ASSERT(!thread_.joinable());
  allocated_ = std::move(source);
  Sample();
}

void MemoryLimit::Start(std::chrono::milliseconds period) {
  GEOKV_ASSERT(!thread_.joinable());
  GEOKV_ASSERT(period.count() > 0);
  thread_ = std::thread([this, period] { Run(period); });
}

void MemoryLimit::Sample() {
  const auto start = std::chrono::steady_clock::now();
  const uint64_t used = allocated_();
  const auto took = std::chrono::steady_clock::now() - start;
  used_bytes_.store(used, std::memory_order_relaxed);
  sample_us_.store(
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(took).count()),
      std::memory_order_relaxed);
  // One thread samples at a time (the constructor's, then the sampling
  // thread's): a plain compare is enough.
  if (used > peak_bytes_.load(std::memory_order_relaxed)) {
    peak_bytes_.store(used, std::memory_order_relaxed);
  }
}

void MemoryLimit::Run(std::chrono::milliseconds period) {
  std::unique_lock lock(mu_);
  for (;;) {
    const auto wait = std::max<std::chrono::microseconds>(
        period, std::chrono::microseconds(sample_us()) * kPeriodPerSampleTime);
    if (stop_cv_.wait_for(lock, wait, [this] { return stop_; })) return;
    lock.unlock();
    Sample();
    lock.lock();
  }
}

}  // namespace geokv::replica
