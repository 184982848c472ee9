// The state model: a partition replica is a set of atoms plus a causal context.
//
// Every key's value is an embedded CRDT made of *atoms*. An atom is one dot with
// its payload, stored at a path (key, slot, field):
//
//   slot            field     payload          type     CRDT role
//   kRegister       ""        hlc, bytes,      string   LWW register (concurrent writes kept)
//                             amount (flags)            amount = kClearsExpiry: a SET that
//                                                       cleared the key's TTL (expiry.h)
//   kCounter        ""        amount, first    string   increments on top of the register
//   kMember         member    -                set      add-wins OR-set
//   kFieldRegister  field     hlc, bytes       hash     a field's register
//   kFieldCounter   field     amount, first    hash     a field's increments
//   kMultiValue     ""        bytes            mvreg    multi-value register siblings
//   kExpiry         ""        amount, bytes    (any)    the key's TTL: deadline ms or 0 =
//                                                       none; bytes = the register dots it
//                                                       covers (expiry.h)
//
// This is the delta-state OR-map of Almeida, Shoker and Baquero (2018) with all
// keys sharing the partition's causal context, flattened so that each atom can be
// one row in storage: adding to a collection of a million members touches one
// atom, never the whole collection.
//
// Invariants (the CRDT algebra relies on them):
// - each dot names at most one atom in the whole partition;
// - an atom's dot is in the context; a dot in the context with no atom was removed;
// - atom.first == atom.dot.counter except for folded counter atoms, which stand
//   for every counter atom of dot.origin at that path with counter in
//   [first, dot.counter] (see fold.h).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <tuple>

#include "crdt/dot.h"
#include "crdt/dot_context.h"
#include "crdt/hlc.h"

namespace geokv::crdt {

enum class Slot : uint8_t {
  kRegister = 0,
  kCounter = 1,
  kMember = 2,
  kFieldRegister = 3,
  kFieldCounter = 4,
  kMultiValue = 5,
  kExpiry = 6,
};
constexpr int kSlotCount = 7;
static_assert(static_cast<int>(Slot::kExpiry) + 1 == kSlotCount);

// A set of slots, one bit each.
using SlotMask = uint8_t;
constexpr SlotMask Bit(Slot s) { return static_cast<SlotMask>(1u << static_cast<int>(s)); }
constexpr SlotMask kAllSlots = (1u << kSlotCount) - 1;
// Slots whose atoms carry a field (member or hash field name).
constexpr SlotMask kFieldSlots =
    Bit(Slot::kMember) | Bit(Slot::kFieldRegister) | Bit(Slot::kFieldCounter);
constexpr bool IsValidSlot(uint64_t s) { return s < kSlotCount; }
constexpr bool HasField(Slot s) { return (Bit(s) & kFieldSlots) != 0; }
constexpr bool IsCounterSlot(Slot s) { return s == Slot::kCounter || s == Slot::kFieldCounter; }
constexpr bool IsRegisterSlot(Slot s) { return s == Slot::kRegister || s == Slot::kFieldRegister; }

// Where an atom lives. field is empty for slots without a field.
struct Path {
  std::string key;
  Slot slot = Slot::kRegister;
  std::string field;

  auto operator<=>(const Path& o) const {
    return std::tie(key, slot, field) <=> std::tie(o.key, o.slot, o.field);
  }
  bool operator==(const Path&) const = default;
};

// One dot and its payload; which payload fields mean something depends on the
// slot (see the table above), the others are zero/empty.
struct Atom {
  Dot dot;
  uint64_t first = 0;  // counters: lowest folded counter; otherwise dot.counter
  Hlc hlc;             // registers
  int64_t amount = 0;  // counters; expiry deadlines; string register flags
  std::string bytes;   // registers, multi-value registers; expiry: covered dots

  bool operator==(const Atom&) const = default;
};

// The part of a partition a removal applies to.
struct Scope {
  enum class Kind : uint8_t { kPartition = 0, kKey = 1, kField = 2 };

  Kind kind = Kind::kKey;
  std::string key;             // kKey, kField
  SlotMask slots = kAllSlots;  // kKey, kField
  std::string field;           // kField (then slots must be within kFieldSlots)

  static Scope Partition() { return Scope{Kind::kPartition, "", kAllSlots, ""}; }
  static Scope Key(std::string key, SlotMask slots = kAllSlots) {
    return Scope{Kind::kKey, std::move(key), slots, ""};
  }
  static Scope Field(std::string key, SlotMask slots, std::string field) {
    return Scope{Kind::kField, std::move(key), slots, std::move(field)};
  }

  bool Matches(const Path& p) const;
  bool operator==(const Scope&) const = default;
};

// A place in a partition's atom order (key, slot, field, origin, counter): the
// order of Scan, and of state transfer chunks (crdt/chunk.h). Every atom is at
// the position (path, dot); the default position, {"", kRegister, "", 0:0},
// comes before every atom.
struct AtomPosition {
  Path path;
  Dot dot;

  auto operator<=>(const AtomPosition& o) const {
    if (auto c = path <=> o.path; c != 0) return c;
    return dot <=> o.dot;
  }
  bool operator==(const AtomPosition&) const = default;
};

// Visits one atom; returns false to stop the scan.
using AtomVisitor = std::function<bool(const Path&, const Atom&)>;

// Read access to one partition replica. Implemented in memory (MemoryState) and
// on SQLite (storage). Implementations need not be thread-safe.
class StateView {
 public:
  virtual ~StateView() = default;
  // Every dot this replica has seen in the partition.
  virtual const DotContext& Context() const = 0;
  // Calls visit for each atom in scope, ordered by (key, slot, field, dot), until
  // it returns false. The cost is proportional to the atoms in scope (plus a
  // lookup), never to the whole partition unless the scope is the partition.
  virtual void Scan(const Scope& scope, const AtomVisitor& visit) const = 0;
};

// Write access: the primitive edits ApplyDelta and JoinState are made of.
class MutableState : public StateView {
 public:
  // The atom at (path, dot.origin, dot.counter), if any.
  virtual bool Find(const Path& path, const Dot& dot, Atom* out) const = 0;
  // Inserts or overwrites the atom with atom.dot at path.
  virtual void Put(const Path& path, const Atom& atom) = 0;
  // Removes the atom with that dot at path (no-op if absent).
  virtual void Erase(const Path& path, const Dot& dot) = 0;
  // Adds dots to the context.
  virtual void JoinContext(const DotContext& dots) = 0;
  // Calls visit for each atom at or after `from` (AtomPosition order), in that
  // order, until it returns false: one range scan (a seek, then the atoms
  // visited), whatever the size of the partition. For state transfer chunks.
  virtual void ScanFrom(const AtomPosition& from, const AtomVisitor& visit) const = 0;
};

}  // namespace geokv::crdt
