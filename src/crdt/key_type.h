// The key space of a partition: an OR-map from key to a value of one of four
// types, with the rules that span types.
//
// Type of a key. Each type owns some slots (state.h). A write of type T first
// removes the atoms it observes in every other type's slots, so a write that
// causally follows another replaces it whatever its type. Concurrent writes of
// different types can leave atoms in several types' slots; then the key shows
// ONE type, by a fixed precedence that every replica applies the same way:
//
//     hash  >  set  >  mvreg  >  string
//
// The atoms of the hidden types stay (they are not lost: a DEL, or any later
// write to the key, removes what it observed of them). Reads and writes of the
// visible type behave as in Redis; commands of another type get WRONGTYPE.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "crdt/delta.h"
#include "crdt/state.h"

namespace geokv::crdt {

enum class ValueType : uint8_t { kNone, kString, kSet, kHash, kMvRegister };

// The slots a type's atoms live in.
SlotMask SlotsOf(ValueType type);

// Redis's TYPE reply: "none", "string", "set", "hash"; "mvreg" for geokv's
// multi-value registers.
const char* TypeName(ValueType type);

// The type the key shows (kNone if it holds no atom). Reads at most one atom
// per type.
ValueType VisibleType(const StateView& state, std::string_view key);

// A write of `type` claims the key: removes the observed atoms of every other
// type's slots. The expiry slot is no type's: it stays (expiry.h).
void ClaimKey(DeltaBuilder& builder, std::string_view key, ValueType type);

// DEL: removes every observed atom of the key, its expiry included. Returns
// whether it had any.
bool DeleteKey(DeltaBuilder& builder, std::string_view key);

// FLUSHDB/FLUSHALL, for one partition: removes every atom this replica has seen.
// Writes concurrent with it survive.
void FlushPartition(DeltaBuilder& builder);

// The keys that hold at least one atom, in order. Costs a pass over the state.
// (Over a LiveView: the keys a reader sees.)
std::vector<std::string> Keys(const StateView& state);

}  // namespace geokv::crdt
