// PartitionState: one partition replica of the Store, as a crdt::MutableState.
//
// Reads walk the partition's AtomTree in memory; writes go through the Store,
// which records redo, undo and dirty positions (store.h). It behaves exactly
// like crdt::MemoryState, the reference: Scan visits in (key, slot, field,
// origin, counter) order; a Scan of a key scope seeks to each slot of the mask,
// of a field scope to each (slot, field), so that looking at one member or
// field never walks the rest of a collection.
//
// After a storage error in the job (Store::failed) every method does nothing:
// scans visit nothing, Find finds nothing; the job is rolled back anyway.
// State thread only, during a job (or replay).
#pragma once

#include <cstdint>

#include "crdt/state.h"

namespace geokv::storage::internal {

class Store;

class PartitionState final : public crdt::MutableState {
 public:
  PartitionState(Store* store, uint32_t part) : store_(store), part_(part) {}

  const crdt::DotContext& Context() const override;
  void Scan(const crdt::Scope& scope, const crdt::AtomVisitor& visit) const override;
  bool Find(const crdt::Path& path, const crdt::Dot& dot, crdt::Atom* out) const override;
  void Put(const crdt::Path& path, const crdt::Atom& atom) override;
  void Erase(const crdt::Path& path, const crdt::Dot& dot) override;
  void JoinContext(const crdt::DotContext& dots) override;
  void ScanFrom(const crdt::AtomPosition& from, const crdt::AtomVisitor& visit) const override;

  class Scratch;  // partition_state.cc

 private:
  Store* store_;
  uint32_t part_;
  // Scratch's: what the outermost scan reads atoms into, and whether one runs.
  mutable bool scanning_ = false;
  mutable crdt::Path path_;
  mutable crdt::Atom atom_;
};

}  // namespace geokv::storage::internal
