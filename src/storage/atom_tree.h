// AtomTree: a partition's atoms in memory, ordered as crdt::MemoryState orders
// them — (key, slot, field, origin, counter) — in a compact form.
//
// Each atom is one heap block (AtomRec): an intrusive red-black tree hook
// (three pointers, the colour folded into one), the lengths, and then the
// key, the field, the dot and the payload packed as bytes (varints for the
// payload numbers). A small string key costs one allocation of about 100
// bytes, against ~250 for std::map<Path, std::map<Dot, Atom>>. Blocks are
// owned by whoever holds them: the tree while linked, an undo log once
// unlinked (so a rolled-back erase relinks the very same block).
//
// A hash index (KeyIndex) points at each key's first atom: lookups within
// a key (LowerBound, Find, Insert, Remove: what commands and deltas do) start
// there and step along the key's atoms, and descend the tree only for a key
// it does not hold or past kWalkMax steps (a big collection). Its size is the
// count of keys holding at least one atom (O(1) DBSIZE). Not thread-safe.
#pragma once

#include <boost/intrusive/set.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "crdt/state.h"
#include "storage/key_index.h"

namespace geokv::storage::internal {

// A position in the order, as views (a lookup key; nothing is copied).
struct AtomKey {
  std::string_view key;
  crdt::Slot slot = crdt::Slot::kRegister;
  std::string_view field;
  crdt::Dot dot;

  static AtomKey Of(const crdt::Path& path, const crdt::Dot& dot) {
    return AtomKey{path.key, path.slot, path.field, dot};
  }
};

// Three-way comparison in MemoryState's order.
int CompareAtomKeys(const AtomKey& a, const AtomKey& b);

class AtomRec {
 public:
  using Hook = boost::intrusive::set_member_hook<boost::intrusive::optimize_size<true>>;

  // A new unlinked block holding (path, atom), from operator new. Never
  // returns null (throws std::bad_alloc as new does).
  static AtomRec* Make(const crdt::Path& path, const crdt::Atom& atom);
  static void Free(AtomRec* rec) noexcept;

  AtomKey Key() const;
  std::string_view key() const { return {data(), key_len_}; }
  // Fills *path and *atom (reusing their capacity).
  void Read(crdt::Path* path, crdt::Atom* atom) const;
  void ReadAtom(crdt::Atom* atom) const;
  // Checkpoint bookkeeping, not part of the atom: set when the atom entered
  // the tree since the last checkpoint took the partition's changes (a new
  // block is dirty), cleared when one takes it.
  bool dirty() const { return dirty_; }
  void set_dirty(bool dirty) const { dirty_ = dirty; }

  Hook hook;

 private:
  AtomRec() = default;
  const char* data() const { return reinterpret_cast<const char*>(this + 1); }
  char* data() { return reinterpret_cast<char*>(this + 1); }

  uint32_t key_len_ = 0;
  uint32_t field_len_ = 0;
  uint32_t bytes_len_ = 0;
  uint8_t slot_ = 0;
  uint8_t varint_len_ = 0;  // the payload numbers after the dot
  mutable bool dirty_ = true;
  // then: key, field, origin (8), counter (8), varints, bytes
};

class AtomTree {
  struct Less {
    bool operator()(const AtomRec& a, const AtomRec& b) const {
      return CompareAtomKeys(a.Key(), b.Key()) < 0;
    }
  };
  using Set = boost::intrusive::set<
      AtomRec, boost::intrusive::member_hook<AtomRec, AtomRec::Hook, &AtomRec::hook>,
      boost::intrusive::compare<Less>, boost::intrusive::constant_time_size<true>>;

 public:
  using const_iterator = Set::const_iterator;

  AtomTree() = default;
  ~AtomTree() { Clear(); }
  AtomTree(const AtomTree&) = delete;
  AtomTree& operator=(const AtomTree&) = delete;

  // Frees every block.
  void Clear();

  const AtomRec* Find(const AtomKey& k) const;
  // Links `rec`; returns the block it displaced at the same position
  // (unlinked, now the caller's) or null.
  AtomRec* Insert(AtomRec* rec);
  // Unlinks the block at `k` and returns it (the caller's), or null.
  AtomRec* Remove(const AtomKey& k);
  // Unlinks `rec`, which is linked in this tree.
  void Unlink(AtomRec* rec);
  // Insert for a caller that brings atoms in order (loading): O(1) when `rec`
  // comes after every linked atom. Returns what it displaced, as Insert.
  AtomRec* Append(AtomRec* rec);

  // The first atom at or after `k`.
  const_iterator LowerBound(const AtomKey& k) const;
  // LowerBound(k) if k.key holds an atom, else end() (a lookup within a key
  // that holds nothing costs one hash probe, no descent).
  const_iterator LowerBoundInKey(const AtomKey& k) const;
  const_iterator begin() const { return set_.begin(); }
  const_iterator end() const { return set_.end(); }

  size_t atom_count() const { return set_.size(); }
  size_t key_count() const { return index_.size(); }

 private:
  // Steps along a key's atoms from its first before a lookup descends the
  // tree instead.
  static constexpr int kWalkMax = 4;
  struct KeyLess {
    bool operator()(const AtomKey& a, const AtomRec& b) const {
      return CompareAtomKeys(a, b.Key()) < 0;
    }
    bool operator()(const AtomRec& a, const AtomKey& b) const {
      return CompareAtomKeys(a.Key(), b) < 0;
    }
  };
  // LowerBound(k) from the key's first atom `first` (null: the key holds none).
  const_iterator LowerBoundFrom(const AtomRec* first, const AtomKey& k) const;

  Set set_;
  KeyIndex index_;
  // Where the key whose last atom was unlinked most recently would go again
  // (before `vacated_next_`, null: the end), while nothing else changed: a
  // write removes a key's atoms and then adds new ones, and the first of
  // those then needs no descent. Cleared by every other change.
  std::string vacated_key_;
  bool vacated_ = false;
  const AtomRec* vacated_next_ = nullptr;
};

}  // namespace geokv::storage::internal
