#include "replica/replication/merkle_tree.h"

#include <xxhash.h>

#include <cstring>
#include <memory>
#include <string>

#include "common/assert.h"

namespace geokv::replication {

namespace {

// Distinct from the partition hash's seed 0 (placement/partitioner.h).
constexpr uint64_t kLeafSeed = 0x6161652d6c656166;  // "aae-leaf"
constexpr uint64_t kAtomSeed = 0x6161652d61746f6d;  // "aae-atom"

// Writes the bytes AtomHash hashes into a buffer sized in advance.
class HashInput {
 public:
  explicit HashInput(char* at) : at_(at) {}
  void U64(uint64_t v) {
    for (int i = 0; i < 8; ++i) *at_++ = static_cast<char>(v >> (8 * i));
  }
  // Length-prefixed, so that no two different atoms serialize alike.
  void Bytes(std::string_view s) {
    U64(s.size());
    std::memcpy(at_, s.data(), s.size());
    at_ += s.size();
  }
  const char* at() const { return at_; }

 private:
  char* at_;
};

// AtomHash's input fits on the stack up to this size (a write's atom with a
// value of a couple of hundred bytes); bigger ones take an allocation.
constexpr size_t kHashInputStackBytes = 256;

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
  // The fields of ShippedAtom(path.slot, shipped_or_not), read in place (a
  // copy of the atom would copy its value): every write toggles an atom.
  uint64_t hlc = 0;
  int64_t amount = 0;
  std::string_view value;
  switch (path.slot) {
    case crdt::Slot::kRegister:
    case crdt::Slot::kFieldRegister:
      hlc = shipped_or_not.hlc.value;
      amount = shipped_or_not.amount;
      value = shipped_or_not.bytes;
      break;
    case crdt::Slot::kCounter:
    case crdt::Slot::kFieldCounter:
    case crdt::Slot::kExpiry:
      amount = shipped_or_not.amount;
      value = shipped_or_not.bytes;
      break;
    case crdt::Slot::kMultiValue:
      value = shipped_or_not.bytes;
      break;
    case crdt::Slot::kMember:
      break;
  }
  const size_t size = 9 * sizeof(uint64_t) + path.key.size() + path.field.size() + value.size();
  char stack[kHashInputStackBytes];
  std::unique_ptr<char[]> heap;
  if (size > sizeof(stack)) heap = std::make_unique_for_overwrite<char[]>(size);
  char* const begin = heap != nullptr ? heap.get() : stack;
  HashInput in(begin);
  in.Bytes(path.key);
  in.U64(static_cast<uint64_t>(path.slot));
  in.Bytes(path.field);
  in.U64(shipped_or_not.dot.origin);
  in.U64(shipped_or_not.dot.counter);
  in.U64(shipped_or_not.first);
  in.U64(hlc);
  in.U64(static_cast<uint64_t>(amount));
  in.Bytes(value);
  GEOKV_ASSERT(in.at() == begin + size);
  return XXH3_64bits_withSeed(begin, size, kAtomSeed);
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
