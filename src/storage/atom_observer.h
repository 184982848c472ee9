// AtomObserver: a hook that learns of every atom change in the partition
// replicas of an Engine, for structures derived from the atoms that must stay
// in step with them without rescanning (anti-entropy's Merkle trees,
// replica/replication/merkle_tree.h).
//
// Called on the state thread, inside the job that makes the change (or when
// the change is undone), so an observer needs no lock if it is used on that
// thread only. Must not throw and must not call back into storage.
#pragma once

#include <cstdint>

#include "crdt/state.h"

namespace geokv::storage {

// Told of every atom that enters or leaves a partition replica through a job
// (writer/state thread), including the undo of a rolled-back job; not of atoms
// already present at Open. PartitionReset(p) says p's atoms changed wholesale
// (reloaded after a failed commit): rebuild anything derived from them.
class AtomObserver {
 public:
  virtual ~AtomObserver() = default;
  virtual void AtomAdded(uint32_t partition, const crdt::Path& path, const crdt::Atom& atom) = 0;
  virtual void AtomRemoved(uint32_t partition, const crdt::Path& path, const crdt::Atom& atom) = 0;
  virtual void PartitionReset(uint32_t partition) = 0;
};

}  // namespace geokv::storage
