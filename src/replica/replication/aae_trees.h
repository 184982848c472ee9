// AaeTrees: a node's anti-entropy trees (merkle_tree.h), one per partition it
// holds, kept by the storage engine's AtomObserver hook and rebuilt by
// scanning where the hook cannot tell what changed.
//
// A tree is either built (it equals the tree of the partition's atoms) or
// being built: a scan from the start of the partition's atom order has
// reached `cursor`, and the tree holds exactly the atoms before it. Changes
// told by the observer before the cursor are applied, the others left to the
// scan, so writes may go on during a rebuild. Every tree starts unbuilt (the
// observer is not told of the atoms present at Open); PartitionReset (a
// rolled-back job, a reload) unbuilds it again. Rebuild scans in slices of a
// bounded number of atoms, in the jobs of the caller (the replication core's
// ticks).
//
// Writer thread only (observer calls and Rebuild both run in storage jobs).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "crdt/state.h"
#include "replica/replication/merkle_tree.h"
#include "storage/atom_observer.h"

namespace geokv::replication {

class AaeTrees final : public storage::AtomObserver {
 public:
  // Unbuilt trees for the partitions in `held` (each < partitions); changes
  // to other partitions are ignored.
  AaeTrees(uint32_t partitions, const std::vector<uint32_t>& held);

  void AtomAdded(uint32_t partition, const crdt::Path& path, const crdt::Atom& atom) override;
  void AtomRemoved(uint32_t partition, const crdt::Path& path, const crdt::Atom& atom) override;
  void PartitionReset(uint32_t partition) override;

  // Scans on with the unbuilt trees, lowest partition first, visiting at most
  // atoms_max atoms in all; `partition(p)` is p's replica in the current job.
  // Returns the atoms visited. REQUIRES: atoms_max >= 1.
  size_t Rebuild(const std::function<const crdt::MutableState&(uint32_t)>& partition,
                 size_t atoms_max);

  // p's tree if it is built, else null (not held, or being built).
  const MerkleTree* Built(uint32_t p) const;
  // Whether every held tree is built.
  bool AllBuilt() const;
  // Trees built whole so far (the first build of each included).
  uint64_t builds() const { return builds_; }

 private:
  struct Entry {
    bool held = false;
    bool built = false;
    crdt::AtomPosition cursor;  // while unbuilt: the tree holds the atoms before it
    MerkleTree tree;
  };
  void Changed(uint32_t p, const crdt::Path& path, const crdt::Atom& atom);

  std::vector<Entry> entries_;  // by partition; a tree only where held
  uint64_t builds_ = 0;
};

}  // namespace geokv::replication
