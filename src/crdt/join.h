// The joins: how replica states meet.
//
// ApplyDelta joins one delta into a replica (local mutations and replication);
// JoinState joins a whole state into a replica (state transfer, anti-entropy).
// Both are the delta-state CRDT join on dot stores: an atom survives unless the
// other side has seen its dot (context) and no longer holds it (removed). Both
// are commutative, associative and idempotent, so deltas may arrive in any
// order, late, or twice, and replicas that saw the same updates hold equal
// states.
#pragma once

#include <vector>

#include "crdt/delta.h"
#include "crdt/state.h"

namespace geokv::crdt {

// Applies `delta` to `state`. REQUIRES: delta is well formed (the decoder and
// DeltaBuilder guarantee it).
void ApplyDelta(MutableState& state, const Delta& delta);

// A full replica state as data: for state transfer and tests.
struct Snapshot {
  DotContext context;
  std::vector<std::pair<Path, Atom>> atoms;  // sorted by (path, dot)

  bool operator==(const Snapshot&) const = default;
};

// Reads every atom and the context of `state`.
Snapshot TakeSnapshot(const StateView& state);

// Joins `other` into `state`. Costs a pass over both states.
void JoinState(MutableState& state, const Snapshot& other);

// For two atoms with the same dot at the same path: the one a join keeps (a fold
// covering more counters wins; deterministic on any input).
const Atom& JoinSameDot(const Atom& a, const Atom& b);

}  // namespace geokv::crdt
