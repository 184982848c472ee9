// Partitions: what data commands run against.
//
// A command sees the partitions of this node through this interface: the state
// of the partition a key falls in, and a way to commit the delta of a mutation
// (apply it locally, log it, ship it). The node implements it over a storage
// transaction; tests implement it over in-memory states. All calls for one
// command happen on one thread, inside one transaction.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crdt/delta.h"
#include "crdt/hlc.h"
#include "crdt/state.h"

namespace geokv::replica {

class Partitions {
 public:
  virtual ~Partitions() = default;

  virtual uint32_t PartitionOf(std::string_view key) const = 0;
  // Whether this node holds a replica of the partition.
  virtual bool Holds(uint32_t partition) const = 0;
  // The partitions this node holds, ascending.
  virtual std::vector<uint32_t> HeldPartitions() const = 0;
  // Node ids holding the partition, in preference order.
  virtual std::vector<std::string> PreferenceList(uint32_t partition) const = 0;

  // REQUIRES: Holds(partition).
  virtual crdt::MutableState& State(uint32_t partition) = 0;
  // Applies a local mutation's delta to the partition, logs it and queues it
  // for replication. REQUIRES: the delta was built against State(partition).
  virtual void Commit(uint32_t partition, const crdt::Delta& delta) = 0;

  // Each key of the partition that holds at least one atom, in byte order,
  // until visit returns false.
  virtual void ForEachKey(uint32_t partition,
                          const std::function<bool(const std::string&)>& visit) = 0;

  // Up to max_keys keys of the partition that hold at least one atom, in byte
  // order, strictly after `after` (from the first if nullopt); empty at the end.
  // For walks that resume across jobs (active expiry). REQUIRES: max_keys >= 1.
  virtual std::vector<std::string> ScanKeys(uint32_t partition,
                                            const std::optional<std::string>& after,
                                            size_t max_keys) = 0;

  // Number of keys with at least one atom in the partition.
  virtual size_t KeyCount(uint32_t partition) = 0;

  virtual crdt::ReplicaId self() const = 0;
  // A fresh timestamp for a register write.
  virtual crdt::Hlc Now() = 0;
  // This node's wall clock in ms since the Unix epoch: the "now" that key
  // expiry is read and written at (crdt/expiry.h).
  virtual int64_t NowMs() = 0;
};

}  // namespace geokv::replica
