// State transfer in chunks: a partition replica moves as a series of ranges
// of its atom order (AtomPosition: key, slot, field, origin, counter), so a
// partition of any size (a set of a million members spans many chunks) moves
// with bounded work and memory per step on both sides.
//
// The sender reads one range at a time (ReadChunk), each with its causal
// context at that moment; the receiver joins each range into its replica
// (JoinChunk) and, only once every range of the transfer is joined, the first
// chunk's context. docs/replication.md ("Streamed state transfer") gives the
// protocol and why this equals joining one snapshot; the rules per atom are
// JoinState's (join.h), restricted to the range:
//   - a local atom in the range whose dot the chunk's context holds but the
//     chunk lacks was removed at the sender: it goes;
//   - an atom of the chunk that the receiver lacks and has not seen is added
//     if its dots (a folded counter's whole range) are in the first chunk's
//     context or the receiver's (else it arrives later with its delta), or
//     if no delta brings it (a hint's: the caller's `no_delta` origins);
//   - the dot of each atom added joins the receiver's context (it is seen and
//     held); the rest of the first chunk's context only once every range is
//     joined (the caller does it).
// Pure functions over a MutableState; no I/O.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "crdt/delta.h"
#include "crdt/state.h"

namespace geokv::crdt {

using AtomList = std::vector<std::pair<Path, Atom>>;

// The position of an atom at `path`.
inline AtomPosition PositionOf(const Path& path, const Atom& atom) {
  return AtomPosition{path, atom.dot};
}

// A rough size in bytes of an atom on the wire (for chunk limits).
size_t EstimateAtomBytes(const Path& path, const Atom& atom);

struct ChunkRead {
  AtomList atoms;  // ascending, every one in [from, to)
  // Where the range ends (exclusive) and the next chunk starts; nullopt: at
  // the end of the partition (the last chunk).
  std::optional<AtomPosition> to;
};

// Reads the atoms from `from` on: at most atoms_max of them, and no more once
// their EstimateAtomBytes reach bytes_max (at least one, if there is any).
// Where the range has to end inside a key while an earlier key of the chunk
// ended, it ends after that earlier key instead, so that a key that fits in
// one chunk moves in one piece. A range ends before the lowest dot its next
// atom stands for (a folded counter's `first`), never between the atoms a
// fold stands for and the fold. One ScanFrom of at most atoms_max + 1 atoms.
// REQUIRES: atoms_max >= 1.
ChunkRead ReadChunk(const MutableState& state, const AtomPosition& from, size_t atoms_max,
                    size_t bytes_max);

struct ChunkJoinResult {
  enum class Outcome : uint8_t {
    kJoined,  // joined through `reached`
    // The chunk holds a folded counter whose range neither the first context
    // nor the receiver's holds (it was folded after the transfer began): the
    // transfer must start over with a first context that holds it (this
    // chunk's). Nothing was changed.
    kRestart,
  };
  Outcome outcome = Outcome::kJoined;
  // The range joined is [from, reached); nullopt: through the end of the
  // partition. Before the chunk's end when the receiver held more than
  // local_atoms_max atoms in the range (the next chunk starts there).
  std::optional<AtomPosition> reached;
  size_t erased = 0;
  size_t added = 0;
  // A folded counter was added whose range the receiver's context does not
  // hold yet (it waits for the first context): until then the replica is no
  // valid state to send.
  bool unseen_folds = false;
};

// Joins the chunk `atoms` of the sender's range [from, to) (to nullopt: to
// the end) into `state`, by the rules at the top of this file. Visits about
// local_atoms_max + 1 local atoms (beyond that it stops early, see `reached`),
// more only to finish a (path, origin) group: a range never ends among the
// local atoms a fold of the sender's could stand for.
// With `restore` (a rebuild of a damaged replica, GEOKV.REBUILD, or a node
// filling a partition it held before, replication/core_move.cc), an atom of
// the chunk whose dots the receiver has seen, or first_context holds, but
// that it does not hold is added (lost here, not removed: the caller makes
// sure the sender applied every removal the receiver applied), one the
// receiver holds with another payload takes the chunk's, and one neither has
// seen waits for its delta.
// With `no_delta`, an unfolded atom of the chunk whose origin it holds (a
// hinted handoff's, docs/replication.md) and whose dot the receiver has not
// seen is added whatever the first context holds: no delta would bring it
// (the sender took it after the first chunk), and a removal of it that the
// sender had applied then would have put its dot in the first context.
// REQUIRES: atoms ascending within [from, to); every atom's dots are in
// chunk_context; chunk_context includes first_context; local_atoms_max >= 1.
ChunkJoinResult JoinChunk(MutableState& state, const AtomPosition& from,
                          const std::optional<AtomPosition>& to, const AtomList& atoms,
                          const DotContext& chunk_context, const DotContext& first_context,
                          size_t local_atoms_max, bool restore = false,
                          const std::function<bool(ReplicaId)>& no_delta = {});

// For a delta joined while a transfer is under way: removes the additions
// that would bring back an atom the transfer has already settled, i.e. at a
// position before `joined_until` (the ranges joined so far), with a dot in
// the first chunk's context, and not held here. (The sender had seen that dot
// and did not hold the atom: removed, by a removal that may precede the
// transfer's applied vector and so never arrive again.) Returns how many it
// removed.
size_t DropSettledAdditions(const MutableState& state, const AtomPosition& joined_until,
                            const DotContext& first_context, Delta* delta);

}  // namespace geokv::crdt
