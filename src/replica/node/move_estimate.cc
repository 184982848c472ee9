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

std::vector<uint64_t> MoveBytesLeft(storage::Transaction& txn, const ServingView& view) {
  if (view.moves.empty()) return {};
  // Served partitions (else held ones): their mean key count, and the largest.
  uint64_t keys = 0, count = 0, largest_keys = 0;
  std::optional<uint32_t> largest;
  for (int pass = 0; pass < 2 && count == 0; ++pass) {
    const std::vector<uint8_t>& which = pass == 0 ? view.serving : view.holds;
    for (uint32_t p = 0; p < which.size(); ++p) {
      if (!which[p]) continue;
      const uint64_t n = txn.KeyCount(p);
      keys += n;
      ++count;
      if (!largest || n > largest_keys) largest = p, largest_keys = n;
    }
  }
  const uint64_t mean_keys = count > 0 ? keys / count : 0;
  std::optional<uint64_t> key_bytes;
  if (largest) key_bytes = SampledKeyBytes(txn, *largest);
  using Role = replication::MoveStatus::Role;
  std::vector<uint64_t> out;
  for (const replication::MoveStatus& m : view.moves) {
    const uint64_t here = txn.KeyCount(m.partition);
    uint64_t left_keys = 0;
    switch (m.role) {
      case Role::kJoining:
        left_keys = std::max<uint64_t>(1, mean_keys > here ? mean_keys - here : 0);
        break;
      case Role::kLeaving:
      case Role::kDraining:
      case Role::kDeleting:
        left_keys = here;
        break;
      case Role::kStaying:
        break;
    }
    out.push_back(left_keys * key_bytes.value_or(kUnsampledKeyBytes));
  }
  return out;
}

}  // namespace geokv::replica
