// KeyIndex: a hash index from a key to the first of its atoms in an AtomTree,
// so that the point lookups every command makes (the key's type, its register,
// the atom a delta replaces) start at the key instead of walking down a
// red-black tree of separately allocated blocks (about 17 levels at 100k
// atoms, each a dependent load).
//
// Open addressing with linear probing over one array of 8-byte slots: a slot
// holds the block's address (user-space addresses fit in 48 bits on x86-64
// and AArch64; asserted) and 16 bits of the key's hash, so that a probe
// rarely reads a block whose key differs. Deletion leaves a tombstone (a
// write drops a key's atoms and adds new ones: the key's entry goes and comes
// back at once, often into its own tombstone); tombstones go at the next
// rehash. Live and dead entries fill at most 3/4 of the slots, live ones at
// least 1/8 (else it shrinks): 11 to 64 bytes per key, about 20 measured
// (docs/benchmarks.md). Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace geokv::storage::internal {

class AtomRec;

class KeyIndex {
 public:
  static size_t Hash(std::string_view key);

  // The block stored for `key` (hash == Hash(key)), or null.
  AtomRec* Find(std::string_view key, size_t hash) const;
  // Stores `rec` for its key, replacing what was stored for that key if any.
  void Set(AtomRec* rec, size_t hash);
  // Removes the key's entry. REQUIRES: it is there.
  void Erase(std::string_view key, size_t hash);
  void Clear();

  size_t size() const { return size_; }

 private:
  static constexpr size_t kCapacityMin = 16;
  static constexpr size_t kNotFound = SIZE_MAX;
  // The slot of `key`'s entry or kNotFound; *free (if given) gets the first
  // empty or dead slot on its probe path, where the key would go.
  size_t Probe(std::string_view key, size_t hash, size_t* free) const;
  void Rehash(size_t capacity);

  std::vector<uint64_t> slots_;  // 0: empty; 1: dead; else tag << 48 | address
  size_t size_ = 0;
  size_t dead_ = 0;
};

}  // namespace geokv::storage::internal
