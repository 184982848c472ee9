#include "replica/replication/merkle_tree.h"

#include <xxhash.h>

#include <string>

#include "common/assert.h"

namespace geokv::replication {

namespace {

// Distinct from the partition hash's seed 0 (placement/partitioner.h).
constexpr uint64_t kLeafSeed = 0x6161652d6c656166;  // "aae-leaf"
constexpr uint64_t kAtomSeed = 0x6161652d61746f6d;  // "aae-atom"

void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}

// Length-prefixed, so that no two different atoms serialize alike.
void PutBytes(std::string& out, std::string_view s) {
  PutU64(out, s.size());
  out.append(s);
}

}  // namespace

uint32_t LeafOfKey(std::string_view key) {
  return static_cast<uint32_t>(XXH3_64bits_withSeed(key.data(), key.size(), kLeafSeed) %
                               kAaeLeaves);
}

crdt::Atom ShippedAtom(crdt::Slot slot, const crdt::Atom& atom) {
  crdt::Atom out;
  out.dot = atom.dot;
  out.first = atom.first;
  switch (slot) {
    case crdt::Slot::kRegister:
    case crdt::Slot::kFieldRegister:
      out.hlc = atom.hlc;
      out.bytes = atom.bytes;
      out.amount = atom.amount;
      break;
    case crdt::Slot::kCounter:
    case crdt::Slot::kFieldCounter:
    case crdt::Slot::kExpiry:
      out.amount = atom.amount;
      out.bytes = atom.bytes;
      break;
    case crdt::Slot::kMultiValue:
      out.bytes = atom.bytes;
      break;
    case crdt::Slot::kMember:
      break;
  }
  return out;
}

uint64_t AtomHash(const crdt::Path& path, const crdt::Atom& shipped_or_not) {
  const crdt::Atom atom = ShippedAtom(path.slot, shipped_or_not);
  std::string bytes;
  bytes.reserve(8 * 9 + path.key.size() + path.field.size() + atom.bytes.size());
  PutBytes(bytes, path.key);
  PutU64(bytes, static_cast<uint64_t>(path.slot));
  PutBytes(bytes, path.field);
  PutU64(bytes, atom.dot.origin);
  PutU64(bytes, atom.dot.counter);
  PutU64(bytes, atom.first);
  PutU64(bytes, atom.hlc.value);
  PutU64(bytes, static_cast<uint64_t>(atom.amount));
  PutBytes(bytes, atom.bytes);
  return XXH3_64bits_withSeed(bytes.data(), bytes.size(), kAtomSeed);
}

MerkleTree::MerkleTree() : leaves_(kAaeLeaves, 0) {}

void MerkleTree::Toggle(const crdt::Path& path, const crdt::Atom& atom) {
  const uint64_t h = AtomHash(path, atom);
  const uint32_t leaf = LeafOfKey(path.key);
  leaves_[leaf] ^= h;
  branches_[leaf / kAaeLeavesPerBranch] ^= h;
  root_ ^= h;
}

void MerkleTree::Clear() {
  std::fill(leaves_.begin(), leaves_.end(), 0);
  branches_.fill(0);
  root_ = 0;
}

AaeLeafHashes MerkleTree::LeavesOf(uint32_t b) const {
  GEOKV_ASSERT(b < kAaeBranches);
  AaeLeafHashes out;
  for (uint32_t i = 0; i < kAaeLeavesPerBranch; ++i) out[i] = leaves_[b * kAaeLeavesPerBranch + i];
  return out;
}

uint64_t MerkleTree::Leaf(uint32_t i) const {
  GEOKV_ASSERT(i < kAaeLeaves);
  return leaves_[i];
}

std::vector<uint32_t> DifferingBranches(const AaeBranchHashes& a, const AaeBranchHashes& b) {
  std::vector<uint32_t> out;
  for (uint32_t i = 0; i < kAaeBranches; ++i) {
    if (a[i] != b[i]) out.push_back(i);
  }
  return out;
}

std::vector<uint32_t> DifferingLeaves(const MerkleTree& a, uint32_t b,
                                      const AaeLeafHashes& theirs) {
  GEOKV_ASSERT(b < kAaeBranches);
  std::vector<uint32_t> out;
  for (uint32_t i = 0; i < kAaeLeavesPerBranch; ++i) {
    const uint32_t leaf = b * kAaeLeavesPerBranch + i;
    if (a.Leaf(leaf) != theirs[i]) out.push_back(leaf);
  }
  return out;
}

}  // namespace geokv::replication
