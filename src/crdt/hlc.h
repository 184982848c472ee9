// Hybrid logical clocks (Kulkarni et al. 2014).
//
// An Hlc is a 64-bit number: the top 48 bits are wall-clock milliseconds, the
// low 16 a logical counter. A clock that has seen a timestamp (Update) only
// issues greater ones, so a write that causally follows another carries a
// greater Hlc whatever the wall clocks say. Comparing (Hlc, ReplicaId) orders
// concurrent register writes the same way on every replica.
#pragma once

#include <cstdint>
#include <functional>

namespace geokv::crdt {

struct Hlc {
  static constexpr int kLogicalBits = 16;
  static constexpr uint64_t kLogicalMask = (uint64_t{1} << kLogicalBits) - 1;

  uint64_t value = 0;

  static Hlc FromParts(uint64_t physical_ms, uint64_t logical) {
    return Hlc{(physical_ms << kLogicalBits) | (logical & kLogicalMask)};
  }
  uint64_t physical_ms() const { return value >> kLogicalBits; }
  uint64_t logical() const { return value & kLogicalMask; }

  auto operator<=>(const Hlc&) const = default;
};

// Issues monotonically increasing Hlc timestamps. Not thread-safe: each
// partition owner or node keeps one and calls it from one thread.
class HybridClock {
 public:
  // Milliseconds since the Unix epoch; injectable so tests control time.
  using WallClock = std::function<uint64_t()>;

  // max_forward_ms: a timestamp from a peer further than this ahead of our wall
  // clock is not adopted (a peer with a broken clock must not drag every
  // replica's clock into the future).
  explicit HybridClock(WallClock wall = SystemWallClock, uint64_t max_forward_ms = 60'000);

  // A timestamp greater than every one issued or adopted before.
  Hlc Now();
  // Adopts a timestamp seen from a peer. Returns false (and adopts nothing)
  // when it lies more than max_forward_ms ahead of the wall clock.
  bool Update(Hlc seen);

  // Adopts `issued` as a timestamp this clock issued before, whatever the wall
  // clock says (no max_forward_ms bound): for the clock's own past, e.g. a
  // bound persisted before a restart, so that it never goes backwards.
  void Restore(Hlc issued) {
    if (issued > last_) last_ = issued;
  }

  Hlc last() const { return last_; }
  // The wall clock (with any offset the WallClock applies).
  uint64_t WallMs() const { return wall_(); }

  static uint64_t SystemWallClock();

 private:
  WallClock wall_;
  uint64_t max_forward_ms_;
  Hlc last_;
};

}  // namespace geokv::crdt
