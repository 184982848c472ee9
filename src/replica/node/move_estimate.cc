#include "replica/node/move_estimate.h"

#include <algorithm>

#include "crdt/codec.h"
#include "crdt/read_repair.h"

namespace geokv::replica {

namespace {

// The mean encoded bytes of a key of p (a sample of its first keys), or
// nullopt if p has none.
std::optional<uint64_t> SampledKeyBytes(storage::Transaction& txn, uint32_t p) {
  const std::vector<std::string> keys = txn.ScanKeys(p, std::nullopt, kSampleKeysMax);
  if (keys.empty()) return std::nullopt;
  auto with = crdt::KeySnapshot(txn.Partition(p), keys);
  auto without = crdt::KeySnapshot(txn.Partition(p), {});
  if (!with.ok() || !without.ok()) return std::nullopt;  // past a snapshot's limits
  const size_t bytes = crdt::EncodeSnapshot(*with).size() - crdt::EncodeSnapshot(*without).size();
  return std::max<uint64_t>(1, bytes / keys.size());
}

}  // namespace

MoveEstimates EstimateMoves(storage::Transaction& txn, const ServingView& view,
                            uint64_t peer_partition_bytes) {
  MoveEstimates out;
  if (view.moves.empty()) return out;
  // Served partitions (else held ones): their mean key count, and the largest.
  uint64_t keys = 0, count = 0, largest_keys = 0;
  std::optional<uint32_t> largest;
  bool serves = false;
  for (int pass = 0; pass < 2 && count == 0; ++pass) {
    const std::vector<uint8_t>& which = pass == 0 ? view.serving : view.holds;
    for (uint32_t p = 0; p < which.size(); ++p) {
      if (!which[p]) continue;
      const uint64_t n = txn.KeyCount(p);
      keys += n;
      ++count;
      serves = pass == 0;
      if (!largest || n > largest_keys) largest = p, largest_keys = n;
    }
  }
  const uint64_t mean_keys = count > 0 ? keys / count : 0;
  std::optional<uint64_t> sampled;
  if (largest) sampled = SampledKeyBytes(txn, *largest);
  const uint64_t key_bytes = sampled.value_or(kUnsampledKeyBytes);
  const uint64_t mean_bytes = mean_keys * key_bytes;
  if (serves) out.partition_bytes = mean_bytes;
  const uint64_t full = peer_partition_bytes != 0 ? peer_partition_bytes : mean_bytes;
  using Role = replication::MoveStatus::Role;
  for (const replication::MoveStatus& m : view.moves) {
    const uint64_t here = txn.KeyCount(m.partition) * key_bytes;
    uint64_t left = 0;
    switch (m.role) {
      case Role::kJoining:
        left = std::max(key_bytes, full > here ? full - here : 0);
        break;
      case Role::kLeaving:
      case Role::kDraining:
      case Role::kDeleting:
        left = here;
        break;
      case Role::kStaying:
        break;
    }
    out.bytes_left.push_back(left);
    out.bytes_left_total += left;
  }
  return out;
}

}  // namespace geokv::replica
