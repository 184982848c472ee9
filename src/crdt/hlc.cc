#include "crdt/hlc.h"

#include <chrono>

namespace geokv::crdt {

HybridClock::HybridClock(WallClock wall, uint64_t max_forward_ms)
    : wall_(std::move(wall)), max_forward_ms_(max_forward_ms) {}

uint64_t HybridClock::SystemWallClock() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

Hlc HybridClock::Now() {
  const uint64_t wall_ms = wall_();
  if (wall_ms > last_.physical_ms()) {
    last_ = Hlc::FromParts(wall_ms, 0);
  } else {
    // Same or earlier millisecond: count up. Past the logical counter's range
    // the physical part advances, which keeps order (and is harmless: only
    // 65,536 writes in one millisecond of one clock can cause it).
    last_ = Hlc{last_.value + 1};
  }
  return last_;
}

bool HybridClock::Update(Hlc seen) {
  if (seen.physical_ms() > wall_() + max_forward_ms_) return false;
  if (seen > last_) last_ = seen;
  return true;
}

}  // namespace geokv::crdt
