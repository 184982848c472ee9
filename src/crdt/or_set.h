// Add-wins OR-set: the value of a set key.
//
// Each SADD of a member adds an atom with a fresh dot at (key, kMember, member)
// and removes the member's atoms it observed; SREM removes the observed atoms.
// A member is in the set while any atom of it remains, so an SADD concurrent
// with an SREM of the same member wins. Both cost one lookup, whatever the size
// of the set, and their deltas do not grow with it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "crdt/delta.h"
#include "crdt/state.h"

namespace geokv::crdt {

// SADD of one member (refreshes its dot even if present, so the add wins over
// a concurrent remove). Claims the key as a set.
void AddMember(DeltaBuilder& builder, std::string_view key, std::string_view member);
// SREM of one member. Returns whether it was present.
bool RemoveMember(DeltaBuilder& builder, std::string_view key, std::string_view member);

bool IsMember(const StateView& state, std::string_view key, std::string_view member);
// Members in byte order.
std::vector<std::string> Members(const StateView& state, std::string_view key);
size_t Cardinality(const StateView& state, std::string_view key);

}  // namespace geokv::crdt
