// PartitionState: one partition replica on SQLite, as a crdt::MutableState.
//
// Atoms are rows of the `atoms` table (schema.cc); the causal context is the
// Store's in-memory cache of the partition's row, written back at commit. It
// must behave exactly like crdt::MemoryState, the reference:
// - Scan visits in (key, slot, field, origin, counter) order, which is the
//   primary key's order (uint64 columns are stored order-preserving);
// - a Scan of a key scope runs one indexed range query per run of adjacent
//   slots in the mask, of a field scope one point query per slot, so that
//   looking at one member or field never walks the rest of a collection.
// It also keeps the partition's key count: Put of an atom into a key without
// atoms adds one, Erase of a key's last atom subtracts one.
//
// After a storage error (Store::failed) every method does nothing: scans
// visit nothing, Find finds nothing; the job is rolled back anyway.
// Writer thread only, during a job.
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

 private:
  // Whether `key` holds any atom.
  bool KeyExists(const std::string& key) const;

  Store* store_;
  uint32_t part_;
};

}  // namespace geokv::storage::internal
