// Delta: what one mutation changed, small enough to ship and log.
//
// A mutation at replica `origin` takes the dots first..last of that origin in
// the partition (at least one, even when it adds no atom: the dots double as the
// gap-free replication sequence). Its delta is
//   - removals: for a scope, the dots of every atom the mutation removes
//     ("observed remove": what the origin had seen there, nothing else);
//   - additions: new atoms, each with one of the mutation's dots.
// Applying a delta is a join restricted to the paths it names (see join.h), so
// its cost is proportional to the delta, not to the partition.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "crdt/state.h"

namespace geokv::crdt {

struct Removal {
  Scope scope;
  // Dots of the atoms removed. Joined into every receiver's context, so a
  // removal that arrives before the addition it removes still wins. Must hold
  // only dots of atoms in scope (or, for a partition scope, any dot seen).
  DotContext covered;

  bool operator==(const Removal&) const = default;
};

struct Addition {
  Path path;
  Atom atom;  // atom.dot.origin == the delta's origin; first <= counter <= last

  bool operator==(const Addition&) const = default;
};

struct Delta {
  ReplicaId origin = 0;
  uint64_t first = 0;  // dots first..last of origin, 1 <= first <= last
  uint64_t last = 0;
  std::vector<Removal> removals;
  std::vector<Addition> additions;

  bool operator==(const Delta&) const = default;
};

// Builds the delta of one mutation against the current state of the replica
// that performs it. Mutators (scalar.h, or_set.h, ...) call it; the caller then
// applies the finished delta locally (ApplyDelta) and ships it.
//
// The builder reads `state` but never writes it; `state` must outlive it and
// not change until Finish.
class DeltaBuilder {
 public:
  DeltaBuilder(const StateView& state, ReplicaId self);

  const StateView& state() const { return state_; }
  ReplicaId self() const { return self_; }

  // Observed-remove: covers every atom the state holds in scope (for a
  // partition scope: every dot in the context). Returns how many atoms it covered
  // (for a partition scope, 0).
  size_t RemoveObserved(const Scope& scope);
  // Removes exactly `dots` within scope (multi-value register tokens).
  // REQUIRES: every dot in `dots` that the state knows is an atom in scope.
  void RemoveDots(const Scope& scope, const DotContext& dots);
  // Adds an atom with the next dot of this mutation; `atom.dot` and `atom.first`
  // are filled in. Returns the dot.
  Dot Add(Path path, Atom atom);

  // True if the mutation neither removes nor adds anything (no need to log it).
  bool empty() const;
  // The delta; takes one dot for sequencing when nothing was added.
  Delta Finish() &&;

 private:
  const StateView& state_;
  ReplicaId self_;
  Delta delta_;
};

}  // namespace geokv::crdt
