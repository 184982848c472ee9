// Active expiry against an in-memory key space: bounded work per cycle, dead
// keys removed through Commit (so they replicate), live ones untouched.
#include "replica/node/active_expiry.h"

#include <catch2/catch.hpp>

#include "../commands/memory_partitions.h"

namespace geokv::replica {
namespace {

using test::MemoryPartitions;
using test::RunData;

TEST_CASE("ActiveExpiry: removes expired keys in bounded rounds, leaves the rest", "[unit]") {
  MemoryPartitions ks;
  for (int i = 0; i < 300; ++i) {
    const std::string n = std::to_string(i);
    REQUIRE(RunData(ks, {"SET", "live:" + n, "v"}) == "+OK\r\n");
    REQUIRE(RunData(ks, {"SET", "ttl:" + n, "v", "PX", "100"}) == "+OK\r\n");
  }
  REQUIRE(RunData(ks, {"SET", "later", "v", "PX", "10000"}) == "+OK\r\n");
  ActiveExpiry expiry(ActiveExpiryLimits{.keys_per_round = 20,
                                         .visits_per_round_max = 50,
                                         .rounds_max = 4,
                                         .repeat_above_percent = 25});
  // Before the deadline: keys with a TTL are met, none removed, one round.
  ActiveExpiryStats before = expiry.RunCycle(ks);
  CHECK(before.removed == 0);
  CHECK(before.rounds == 1);
  CHECK(before.visited <= 50);

  ks.now_ms += 101;
  const int commits = ks.commits;
  size_t removed = 0;
  int cycles = 0;
  for (; cycles < 100 && removed < 300; ++cycles) {
    ActiveExpiryStats s = expiry.RunCycle(ks);
    CHECK(s.visited <= 4 * 50);  // bounded work per cycle
    CHECK(s.rounds <= 4);
    removed += s.removed;
  }
  CHECK(removed == 300);
  CHECK(ks.commits - commits > 0);
  CHECK(ks.commits - commits < 300);  // removals of a batch share one delta
  CHECK(RunData(ks, {"DBSIZE"}) == ":301\r\n");
  CHECK(RunData(ks, {"EXISTS", "later"}) == ":1\r\n");
  // Nothing left to do: a full pass removes nothing.
  for (int i = 0; i < 20; ++i) CHECK(expiry.RunCycle(ks).removed == 0);
}

TEST_CASE("ActiveExpiry: an empty key space ends the cycle at once", "[unit]") {
  MemoryPartitions ks;
  ActiveExpiry expiry;
  const ActiveExpiryStats s = expiry.RunCycle(ks);
  CHECK(s.visited == 0);
  CHECK(s.rounds == 1);
}

}  // namespace
}  // namespace geokv::replica
