#include "placement/partitioner.h"

#include <xxhash.h>

#include <bit>

#include "common/assert.h"

namespace geokv::placement {

namespace {
// log2(partitions) for a valid partition count.
int PartitionBits(uint32_t partitions) {
  GEOKV_ASSERT(IsValidPartitionCount(partitions));
  return std::countr_zero(partitions);
}
}  // namespace

std::string_view HashTag(std::string_view key) {
  // As Redis's keyHashSlot: the first '{', then the first '}' after it.
  const size_t open = key.find('{');
  if (open == std::string_view::npos) return key;
  const size_t close = key.find('}', open + 1);
  if (close == std::string_view::npos || close == open + 1) return key;
  return key.substr(open + 1, close - open - 1);
}

uint64_t KeyHash(std::string_view key) {
  const std::string_view hashed = HashTag(key);
  return XXH64(hashed.data(), hashed.size(), 0);
}

bool IsValidPartitionCount(uint64_t partitions) {
  return partitions >= 1 && partitions <= kMaxPartitions && std::has_single_bit(partitions);
}

uint32_t PartitionOfHash(uint64_t hash, uint32_t partitions) {
  const int bits = PartitionBits(partitions);
  // A shift by 64 is undefined behaviour, hence the Q == 1 case.
  return bits == 0 ? 0 : static_cast<uint32_t>(hash >> (64 - bits));
}

uint32_t PartitionOfKey(std::string_view key, uint32_t partitions) {
  return PartitionOfHash(KeyHash(key), partitions);
}

uint64_t PartitionPosition(uint32_t partition, uint32_t partitions) {
  const int bits = PartitionBits(partitions);
  GEOKV_ASSERT(partition < partitions);
  return bits == 0 ? 0 : static_cast<uint64_t>(partition) << (64 - bits);
}

}  // namespace geokv::placement
