// Read repair: what a quorum read (docs/consistency.md) fetches, joins and
// ships back.
//
// A quorum read asks each replica it consults for a *key snapshot*: the atoms
// of the keys it reads, with the partition's whole causal context (the context
// is what tells the join which atoms that replica saw and removed). Joining
// the snapshots (JoinState into an empty MemoryState) gives the state the read
// answers from.
//
// A *repair* for one replica is the part of that join the replica has not
// seen: every atom none of whose dots its context holds, with exactly those
// atoms' dots as context. Joining a repair adds atoms and never removes one
// (its context covers only atoms it carries), so it is safe at any replica, at
// any time, in any order, twice. Removals are never repaired: they arrive by
// replication (or anti-entropy). A replica's own dots are never repaired
// into it either: a node that lacks its own dots lost them (a restore), and
// gets them back only through its own-stream recovery, which knows how far
// its stream got (DESIGN.md, "Never reuse a dot").
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "common/status.h"
#include "crdt/join.h"
#include "crdt/state.h"

namespace geokv::crdt {

// How much of one replica a quorum read may fetch: a bigger key is refused
// (read it at level 1), never fetched without bound.
struct KeySnapshotLimits {
  size_t atoms_max = size_t{1} << 20;
  size_t bytes_max = size_t{64} << 20;  // keys, fields and values summed
};

// The snapshot of `keys` in `state`: their atoms in (path, dot) order, with the
// state's whole context. Invalid, naming the key, when the atoms exceed
// `limits`.
[[nodiscard]] Result<Snapshot> KeySnapshot(const StateView& state,
                                           const std::vector<std::string>& keys,
                                           const KeySnapshotLimits& limits = {});

// The repair for replica `target`, whose context was `seen`: the atoms of
// `joined` none of whose dots `seen` holds and whose origin is not `target`,
// with their dots as context. No atoms: nothing to repair.
Snapshot RepairFor(const Snapshot& joined, const DotContext& seen, ReplicaId target);

// Whether `repair` is one (for bytes from the network): each atom's dots
// 1 <= first <= counter, no dot named by two atoms, and the context exactly
// the atoms' dots. Invalid with the reason otherwise.
[[nodiscard]] Status CheckRepair(const Snapshot& repair);

// Joins `repair` into `state`, the replica of node `self`: adds each atom
// none of whose dots the state has seen and whose origin is not `self`, with
// its dots; joins the payload of an atom the state holds; skips the rest
// (removed, folded, or own). Returns the atoms added.
// REQUIRES: CheckRepair(repair).ok().
size_t ApplyRepair(MutableState& state, const Snapshot& repair, ReplicaId self);

}  // namespace geokv::crdt
