// MerkleTree: anti-entropy's summary of one partition replica (Riak's Tictac
// AAE tree): fixed shape, kept up to date on every atom change instead of
// being rebuilt by reading the data.
//
//   root = XOR of the kAaeBranches branches
//   branch b = XOR of its kAaeLeavesPerBranch leaves (leaves b*32 .. b*32+31)
//   leaf i = XOR of AtomHash(path, atom) over the atoms whose key hashes to i
//            (LeafOfKey)
//
// XOR makes the tree order-free and incremental: adding an atom XORs its hash
// in, removing it XORs the same hash out, so a tree kept by the storage
// observer equals one rebuilt by a scan. AtomHash covers the whole atom (key,
// slot, field, dot, first, hlc, amount, bytes): equal trees at equal applied
// vectors mean equal states, and a lost atom, an atom too many or an altered
// payload changes its leaf. Two replicas compare root, then branches, then the
// leaves of the branches that differ: a few hundred bytes when nothing
// differs, whatever the partition's size.
//
// Pure: no I/O. Not thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "crdt/state.h"

namespace geokv::replication {

constexpr uint32_t kAaeBranches = 32;
constexpr uint32_t kAaeLeavesPerBranch = 32;
constexpr uint32_t kAaeLeaves = kAaeBranches * kAaeLeavesPerBranch;

using AaeBranchHashes = std::array<uint64_t, kAaeBranches>;
using AaeLeafHashes = std::array<uint64_t, kAaeLeavesPerBranch>;

// The leaf of a key: XXH3-64 of its bytes (seeded apart from the partition
// hash, so a partition's keys spread over every leaf), modulo kAaeLeaves.
// Stable across builds and machines.
uint32_t LeafOfKey(std::string_view key);

// The atom as replication ships it: the payload fields its slot does not
// carry (crdt/codec.h: a member's HLC, a counter's HLC, ...) zeroed, so that
// a stray value there, which no read and no peer ever sees, is no difference.
crdt::Atom ShippedAtom(crdt::Slot slot, const crdt::Atom& atom);

// XXH3-64 of the atom at `path` (the path and every field of ShippedAtom).
// Stable across builds and machines.
uint64_t AtomHash(const crdt::Path& path, const crdt::Atom& atom);

class MerkleTree {
 public:
  // The tree of an empty replica (every hash 0).
  MerkleTree();

  // XORs the atom's hash into its leaf, branch and root: adds an atom that is
  // not in the tree, removes one that is.
  void Toggle(const crdt::Path& path, const crdt::Atom& atom);
  // Back to the empty tree.
  void Clear();

  uint64_t Root() const { return root_; }
  const AaeBranchHashes& Branches() const { return branches_; }
  // The leaves of branch b. REQUIRES: b < kAaeBranches.
  AaeLeafHashes LeavesOf(uint32_t b) const;
  // REQUIRES: i < kAaeLeaves.
  uint64_t Leaf(uint32_t i) const;

  bool operator==(const MerkleTree&) const = default;

 private:
  std::vector<uint64_t> leaves_;  // kAaeLeaves
  AaeBranchHashes branches_{};
  uint64_t root_ = 0;
};

// The branches whose hashes differ, ascending.
std::vector<uint32_t> DifferingBranches(const AaeBranchHashes& a, const AaeBranchHashes& b);
// The leaves (numbered 0..kAaeLeaves-1) of branch b that differ between a's
// leaves and `theirs`, ascending. REQUIRES: b < kAaeBranches.
std::vector<uint32_t> DifferingLeaves(const MerkleTree& a, uint32_t b, const AaeLeafHashes& theirs);

}  // namespace geokv::replication
