#include "crdt/hlc.h"

#include <catch2/catch.hpp>

namespace geokv::crdt {
namespace {

TEST_CASE("HybridClock: timestamps increase even when the wall clock stalls or goes back",
          "[unit]") {
  uint64_t wall = 5000;
  HybridClock clock([&] { return wall; });
  const Hlc a = clock.Now();
  const Hlc b = clock.Now();
  CHECK(b > a);
  CHECK(b.physical_ms() == 5000);
  CHECK(b.logical() == 1);
  wall = 4000;  // the wall clock jumps back
  const Hlc c = clock.Now();
  CHECK(c > b);
  wall = 6000;
  const Hlc d = clock.Now();
  CHECK(d == Hlc::FromParts(6000, 0));
}

TEST_CASE("HybridClock: a write after seeing a peer's timestamp carries a greater one", "[unit]") {
  uint64_t wall = 1000;
  HybridClock clock([&] { return wall; });
  const Hlc remote = Hlc::FromParts(1500, 7);  // a peer whose clock is ahead
  CHECK(clock.Update(remote));
  CHECK(clock.Now() > remote);
}

TEST_CASE("HybridClock: a timestamp too far in the future is not adopted", "[unit]") {
  uint64_t wall = 1000;
  HybridClock clock([&] { return wall; }, /*max_forward_ms=*/100);
  CHECK_FALSE(clock.Update(Hlc::FromParts(5000, 0)));
  CHECK(clock.Now().physical_ms() == 1000);
}

TEST_CASE("HybridClock: a restored bound of its own past is kept whatever the wall clock says",
          "[unit]") {
  uint64_t wall = 1000;
  HybridClock clock([&] { return wall; }, /*max_forward_ms=*/100);
  const Hlc persisted = Hlc::FromParts(90'000, 0);  // far beyond max_forward_ms
  clock.Restore(persisted);
  CHECK(clock.Now() > persisted);
  clock.Restore(Hlc::FromParts(10, 0));  // an older bound changes nothing
  CHECK(clock.Now().physical_ms() == 90'000);
}

}  // namespace
}  // namespace geokv::crdt
