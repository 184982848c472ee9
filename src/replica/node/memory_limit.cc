#include "replica/node/memory_limit.h"

#include <malloc.h>

#include <charconv>
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
  if (timer_) timer_->cancel();
}

void MemoryLimit::Start(boost::asio::io_context& io, std::chrono::milliseconds period) {
  GEOKV_ASSERT(timer_ == nullptr);
  GEOKV_ASSERT(period.count() > 0);
  period_ = period;
  timer_ = std::make_unique<boost::asio::steady_timer>(io);
  Schedule();
}

void MemoryLimit::Sample() {
  const uint64_t used = allocated_();
  used_bytes_.store(used, std::memory_order_relaxed);
  // Only the sampling thread raises the peak: a plain compare is enough.
  if (used > peak_bytes_.load(std::memory_order_relaxed)) {
    peak_bytes_.store(used, std::memory_order_relaxed);
  }
}

void MemoryLimit::Schedule() {
  timer_->expires_after(period_);
  timer_->async_wait([this](boost::system::error_code ec) {
    if (ec) return;  // cancelled: the limit is going away
    Sample();
    Schedule();
  });
}

}  // namespace geokv::replica
