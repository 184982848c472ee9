#include "replica/replication/aae_trees.h"

#include "common/assert.h"

namespace geokv::replication {

AaeTrees::AaeTrees(uint32_t partitions, const std::vector<uint32_t>& held) {
  entries_.resize(partitions);
  for (uint32_t p : held) {
    GEOKV_ASSERT(p < partitions);
    entries_[p].held = true;
  }
}

void AaeTrees::Changed(uint32_t p, const crdt::Path& path, const crdt::Atom& atom) {
  if (p >= entries_.size() || !entries_[p].held) return;
  Entry& e = entries_[p];
  // Before the cursor the scan has passed: the tree must follow. At or after
  // it: the scan will see the atom as it is then.
  if (e.built || crdt::AtomPosition{path, atom.dot} < e.cursor) e.tree.Toggle(path, atom);
}

void AaeTrees::AtomAdded(uint32_t p, const crdt::Path& path, const crdt::Atom& atom) {
  Changed(p, path, atom);
}

void AaeTrees::AtomRemoved(uint32_t p, const crdt::Path& path, const crdt::Atom& atom) {
  Changed(p, path, atom);
}

void AaeTrees::PartitionReset(uint32_t p) {
  if (p >= entries_.size() || !entries_[p].held) return;
  Entry& e = entries_[p];
  e.built = false;
  e.cursor = crdt::AtomPosition{};
  e.tree.Clear();
}

size_t AaeTrees::Rebuild(const std::function<const crdt::MutableState&(uint32_t)>& partition,
                         size_t atoms_max) {
  GEOKV_ASSERT(atoms_max >= 1);
  size_t visited = 0;
  for (uint32_t p = 0; p < entries_.size() && visited < atoms_max; ++p) {
    Entry& e = entries_[p];
    if (!e.held || e.built) continue;
    bool stopped = false;
    // A copy: the scan may read its bounds while the visitor moves the cursor.
    const crdt::AtomPosition from = e.cursor;
    partition(p).ScanFrom(from, [&](const crdt::Path& path, const crdt::Atom& atom) {
      if (visited >= atoms_max) {
        stopped = true;
        return false;
      }
      ++visited;
      e.tree.Toggle(path, atom);
      // Right after this atom: no position lies between (path, origin,
      // counter) and (path, origin, counter + 1).
      e.cursor = crdt::AtomPosition{path, crdt::Dot{atom.dot.origin, atom.dot.counter + 1}};
      return true;
    });
    if (!stopped) {
      e.built = true;
      ++builds_;
    }
  }
  return visited;
}

const MerkleTree* AaeTrees::Built(uint32_t p) const {
  if (p >= entries_.size() || !entries_[p].held || !entries_[p].built) return nullptr;
  return &entries_[p].tree;
}

bool AaeTrees::AllBuilt() const {
  for (const Entry& e : entries_) {
    if (e.held && !e.built) return false;
  }
  return true;
}

}  // namespace geokv::replication
