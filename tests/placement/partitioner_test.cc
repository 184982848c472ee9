#include "placement/partitioner.h"

#include <xxhash.h>

#include <bit>
#include <catch2/catch.hpp>
#include <string>

#include "common/prng.h"
#include "seed.h"

namespace geokv::placement {
namespace {

TEST_CASE("KeyHash: is XXH64 with seed 0, pinned to known values", "[unit]") {
  // The first two are XXH64's published test vectors; the others pin what
  // GEOKV.WHERE answers today. A change here remaps every stored key.
  CHECK(KeyHash("") == 0xef46db3751d8e999ULL);
  CHECK(KeyHash("a") == 0xd24ec4f1a98c6e5bULL);
  CHECK(KeyHash("user:42") == 0xdc1fea7da8d2d1c2ULL);
  CHECK(KeyHash("geokv") == 0x2f4a431aaca56823ULL);
  CHECK(PartitionOfKey("user:42", 64) == 55);
  CHECK(PartitionOfKey("geokv", 64) == 11);
}

TEST_CASE("KeyHash: hashes every byte, including NUL and high bytes", "[unit]") {
  const std::string with_nul("a\0b", 3);
  CHECK(KeyHash(with_nul) != KeyHash("a"));
  CHECK(KeyHash(with_nul) != KeyHash(std::string("a\0c", 3)));
  CHECK(KeyHash("\xff") != KeyHash("\xfe"));
}

TEST_CASE("HashTag: Redis Cluster's examples", "[unit]") {
  // The examples of the Redis Cluster specification ("Hash tags").
  CHECK(HashTag("{user1000}.following") == "user1000");
  CHECK(HashTag("{user1000}.followers") == "user1000");
  CHECK(HashTag("foo{}{bar}") == "foo{}{bar}");  // nothing between the first { and }
  CHECK(HashTag("foo{{bar}}zap") == "{bar");     // the first { up to the next }
  CHECK(HashTag("foo{bar}{zap}") == "bar");      // only the first tag counts
  // Edge cases of the same rule.
  CHECK(HashTag("") == "");
  CHECK(HashTag("plain") == "plain");
  CHECK(HashTag("{") == "{");
  CHECK(HashTag("}{") == "}{");
  CHECK(HashTag("a{b") == "a{b");
  CHECK(HashTag("a}b{c}") == "c");
  CHECK(HashTag("{}") == "{}");
  CHECK(HashTag("{x}") == "x");
  CHECK(HashTag(std::string_view("k{\0}", 4)) == std::string_view("\0", 1));
}

TEST_CASE("KeyHash: keys with the same hash tag share a partition", "[unit]") {
  CHECK(KeyHash("{user1000}.following") == KeyHash("user1000"));
  CHECK(KeyHash("{user1000}.following") == KeyHash("{user1000}.followers"));
  CHECK(KeyHash("cart:{u42}") == KeyHash("session:{u42}"));
  CHECK(KeyHash("foo{}{bar}") == XXH64("foo{}{bar}", 10, 0));
  CHECK(KeyHash("foo{{bar}}zap") == KeyHash("{bar"));
  CHECK(KeyHash("foo{bar}{zap}") == KeyHash("bar"));
  for (uint32_t q = 1; q <= kMaxPartitions; q *= 8) {
    CHECK(PartitionOfKey("cart:{u42}", q) == PartitionOfKey("session:{u42}", q));
  }
}

TEST_CASE("IsValidPartitionCount: powers of two from 1 to 65536", "[unit]") {
  for (uint64_t q = 1; q <= kMaxPartitions; q *= 2) CHECK(IsValidPartitionCount(q));
  CHECK_FALSE(IsValidPartitionCount(0));
  CHECK_FALSE(IsValidPartitionCount(3));
  CHECK_FALSE(IsValidPartitionCount(100));
  CHECK_FALSE(IsValidPartitionCount(kMaxPartitions * 2));
  CHECK_FALSE(IsValidPartitionCount(uint64_t{1} << 63));
}

TEST_CASE("PartitionOfHash: takes the top log2(Q) bits", "[unit]") {
  CHECK(PartitionOfHash(0xffffffffffffffffULL, 1) == 0);
  CHECK(PartitionOfHash(0x0000000000000000ULL, 64) == 0);
  CHECK(PartitionOfHash(0x03ffffffffffffffULL, 64) == 0);
  CHECK(PartitionOfHash(0x0400000000000000ULL, 64) == 1);
  CHECK(PartitionOfHash(0xfc00000000000000ULL, 64) == 63);
  CHECK(PartitionOfHash(0xffffffffffffffffULL, 65536) == 65535);
  CHECK(PartitionOfHash(0x8000000000000000ULL, 2) == 1);
}

TEST_CASE("PartitionPosition: evenly spaced, at the start of the partition's arc", "[unit]") {
  CHECK(PartitionPosition(0, 1) == 0);
  CHECK(PartitionPosition(1, 64) == 0x0400000000000000ULL);
  CHECK(PartitionPosition(63, 64) == 0xfc00000000000000ULL);
  for (uint32_t q = 1; q <= kMaxPartitions; q *= 4) {
    // The arc of each partition is [start, start + 2^64/Q).
    const uint64_t width_minus_one =
        q == 1 ? ~uint64_t{0} : (uint64_t{1} << (64 - std::countr_zero(q))) - 1;
    for (uint32_t p : {0u, q / 3, q - 1}) {
      const uint64_t start = PartitionPosition(p, q);
      INFO("Q=" << q << " p=" << p);
      CHECK(start == static_cast<uint64_t>((static_cast<unsigned __int128>(p) << 64) / q));
      CHECK(PartitionOfHash(start, q) == p);
      CHECK(PartitionOfHash(start + width_minus_one, q) == p);
    }
  }
}

TEST_CASE("PartitionOfKey: a key's hash lies in its partition's arc", "[property]") {
  const uint64_t seed = ::geokv::test::TestSeed();
  Prng rng(seed);
  const int cases = ::geokv::test::CaseCount(2000);
  for (int i = 0; i < cases; ++i) {
    std::string key;
    const int length = static_cast<int>(rng.Below(24));
    for (int k = 0; k < length; ++k) key += static_cast<char>(rng.Below(256));
    const uint32_t q = uint32_t{1} << rng.Below(17);
    const uint32_t p = PartitionOfKey(key, q);
    const uint64_t hash = KeyHash(key);
    INFO("GEOKV_SEED=" << seed << " case " << i << " Q=" << q);
    REQUIRE(p < q);
    REQUIRE(hash >= PartitionPosition(p, q));
    if (p + 1 < q) REQUIRE(hash < PartitionPosition(p + 1, q));
  }
}

}  // namespace
}  // namespace geokv::placement
