// Keys to partitions, and partitions to positions on the placement ring.
//
// Invariants (these are a wire-level contract: every node, every tool and every
// build must agree, so none of this may change without a data migration):
//   * KeyHash(key) = XXH64(HashTag(key) bytes, seed 0). XXH64 is specified
//     bit-for-bit and endian-independent, so the value is the same on every
//     machine.
//   * HashTag(key) is Redis Cluster's hash tag: if the key contains a '{' and,
//     after the first '{', a '}' with at least one byte between them, only the
//     bytes between that first '{' and the next '}' are hashed; otherwise the
//     whole key is. So `cart:{u42}` and `session:{u42}` share a partition.
//     (Keys without such a tag hash as they always did.)
//   * Q (the partition count) is a power of two, 1 <= Q <= kMaxPartitions.
//   * A key's partition is the top log2(Q) bits of its hash:
//       partition = KeyHash(key) >> (64 - log2(Q))        (0 when Q == 1)
//     so partition p holds exactly the hashes in the arc
//       [p * 2^64/Q, (p+1) * 2^64/Q)
//     of the 64-bit ring, and doubling Q would split every partition in two.
//   * Partition p's ring position is the start of its arc, p * 2^64/Q. The
//     positions are evenly spaced: each token arc of the ring receives a number
//     of partitions proportional to its length, give or take one, which keeps
//     the placement's balance as good as the tokens allow (hashed positions
//     would add sampling noise on top of the tokens' own).
#pragma once

#include <cstdint>
#include <string_view>

namespace geokv::placement {

// The largest partition count a topology may declare.
inline constexpr uint32_t kMaxPartitions = 65536;

// The part of `key` that is hashed: the bytes between the first '{' and the
// next '}' when there is at least one, else the whole key (Redis Cluster's
// rule, byte for byte). A view into `key`. Total; thread-safe.
std::string_view HashTag(std::string_view key);

// XXH64 of HashTag(key)'s bytes with seed 0. Total; thread-safe.
uint64_t KeyHash(std::string_view key);

// True if `partitions` is a power of two in [1, kMaxPartitions].
bool IsValidPartitionCount(uint64_t partitions);

// The partition that holds keys with this hash: the top log2(partitions) bits.
// REQUIRES: IsValidPartitionCount(partitions). Thread-safe.
uint32_t PartitionOfHash(uint64_t hash, uint32_t partitions);

// PartitionOfHash(KeyHash(key), partitions). This is the answer GEOKV.WHERE
// gives. REQUIRES: IsValidPartitionCount(partitions). Thread-safe.
uint32_t PartitionOfKey(std::string_view key, uint32_t partitions);

// Partition `partition`'s position on the ring: partition * 2^64/partitions, the
// smallest hash the partition holds. The preference-list walk starts here.
// REQUIRES: IsValidPartitionCount(partitions), partition < partitions.
// Thread-safe.
uint64_t PartitionPosition(uint32_t partition, uint32_t partitions);

}  // namespace geokv::placement
