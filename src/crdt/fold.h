// Folding causally stable counter increments.
//
// Counter increments stay separate atoms so that a DEL concurrent with an
// INCRBY removes exactly what the DEL observed (see scalar.h). Once a replica
// knows that every replica has seen an increment and every removal issued
// before that (it is causally stable), no future removal can observe only part
// of the increments before it, and the increments of one origin at one path can
// be folded into one atom: at the newest dot, amount = the sum, first = the
// lowest folded counter. The fold is a local rewrite that joins correctly with
// unfolded copies elsewhere (join.h keeps the atom that covers more), and a
// removal of a folded atom covers its whole range (DeltaBuilder::RemoveObserved).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "crdt/state.h"

namespace geokv::crdt {

// origin -> every counter of that origin up to this one is causally stable.
using StableVector = std::map<ReplicaId, uint64_t>;

// Folds, in every counter path within scope, the atoms of each origin whose
// dots are at or below stable[origin] into one atom. Returns how many atoms it
// removed. REQUIRES: `stable` holds only dots that are causally stable.
size_t FoldStableCounters(MutableState& state, const Scope& scope, const StableVector& stable);

// `atoms` (in scan order, e.g. one key's) with the atoms of each origin at
// each counter path folded into one, whatever their stability: what they
// will be once everything is stable and folded. Replicas that applied the
// same deltas but folded at different times (each folds by its own view of
// stability) hold different atoms and the same folded view, so anti-entropy
// compares keys by it and reports only real differences.
std::vector<std::pair<Path, Atom>> FoldedView(const std::vector<std::pair<Path, Atom>>& atoms);

}  // namespace geokv::crdt
