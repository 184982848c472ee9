#include "crdt/chunk.h"

#include "common/assert.h"
#include "crdt/join.h"

namespace geokv::crdt {

namespace {

constexpr size_t kAtomOverheadBytes = 24;  // dot, first, slot, hlc, amount, framing

// Whether every dot of the atom (a folded counter's whole range) is in a or b.
bool CoveredByEither(const Atom& atom, const DotContext& a, const DotContext& b) {
  const ReplicaId origin = atom.dot.origin;
  uint64_t next = atom.first;
  while (next <= atom.dot.counter) {
    const uint64_t end = std::max(a.RunEnd(origin, next), b.RunEnd(origin, next));
    if (end < next) return false;
    if (end >= atom.dot.counter) return true;
    next = end + 1;
  }
  return true;
}

// Where a range that ends before `atom` ends: before the lowest dot the atom
// stands for. A folded counter (first < dot) stands for the dots first..dot of
// its origin at its path, and the receiver may still hold them as atoms that
// sort before it. A range ending between those atoms and the fold would show
// them to the receiver as removed at the sender, and it would erase them until
// the next range brings the fold: a local write in between would build its
// removal from that state and miss them.
AtomPosition RangeEndBefore(const Path& path, const Atom& atom) {
  return AtomPosition{path, Dot{atom.dot.origin, atom.first}};
}

// Whether two atoms belong to one (path, origin) group: the atoms a fold of
// that origin at that path may stand for.
bool SameGroup(const Path& a_path, const Atom& a, const Path& b_path, const Atom& b) {
  return a.dot.origin == b.dot.origin && a_path == b_path;
}

}  // namespace

size_t EstimateAtomBytes(const Path& path, const Atom& atom) {
  return kAtomOverheadBytes + path.key.size() + path.field.size() + atom.bytes.size();
}

ChunkRead ReadChunk(const MutableState& state, const AtomPosition& from, size_t atoms_max,
                    size_t bytes_max) {
  GEOKV_ASSERT(atoms_max >= 1);
  ChunkRead chunk;
  size_t bytes = 0;
  size_t key_start = 0;  // index of the first atom of the last key begun in the chunk
  state.ScanFrom(from, [&](const Path& path, const Atom& atom) {
    const size_t atom_bytes = EstimateAtomBytes(path, atom);
    const bool full =
        chunk.atoms.size() >= atoms_max || (!chunk.atoms.empty() && bytes + atom_bytes > bytes_max);
    if (full) {
      // Ends before this atom, or after the last key that ended in the chunk.
      if (path.key == chunk.atoms.back().first.key && key_start > 0) {
        chunk.to = RangeEndBefore(chunk.atoms[key_start].first, chunk.atoms[key_start].second);
        chunk.atoms.resize(key_start);
      } else {
        chunk.to = RangeEndBefore(path, atom);
      }
      return false;
    }
    if (!chunk.atoms.empty() && path.key != chunk.atoms.back().first.key) {
      key_start = chunk.atoms.size();
    }
    bytes += atom_bytes;
    chunk.atoms.emplace_back(path, atom);
    return true;
  });
  return chunk;
}

ChunkJoinResult JoinChunk(MutableState& state, const AtomPosition& from,
                          const std::optional<AtomPosition>& to, const AtomList& atoms,
                          const DotContext& chunk_context, const DotContext& first_context,
                          size_t local_atoms_max, bool restore,
                          const std::function<bool(ReplicaId)>& no_delta) {
  GEOKV_ASSERT(local_atoms_max >= 1);
  ChunkJoinResult result;
  result.reached = to;
  // The local atoms of the range, up to the bound; the range joined ends at
  // the first one beyond it. Never inside a (path, origin) group: the sender's
  // fold of that group, beyond the end, would stand for the group's atoms
  // before it, and this round would erase them (see RangeEndBefore). So a
  // group of unfolded counters is visited whole, past the bound if need be.
  AtomList local;
  state.ScanFrom(from, [&](const Path& path, const Atom& atom) {
    const AtomPosition at = PositionOf(path, atom);
    if (to && at >= *to) return false;
    if (local.size() >= local_atoms_max &&
        !SameGroup(local.back().first, local.back().second, path, atom)) {
      result.reached = at;
      return false;
    }
    local.emplace_back(path, atom);
    return true;
  });
  auto before_end = [&](const AtomPosition& at) { return !result.reached || at < *result.reached; };

  const DotContext& context = state.Context();
  std::vector<std::pair<Path, Dot>> doomed;
  AtomList put;
  size_t i = 0, j = 0;
  while (true) {
    const bool has_local = i < local.size();
    const bool has_theirs =
        j < atoms.size() && before_end(PositionOf(atoms[j].first, atoms[j].second));
    if (!has_local && !has_theirs) break;
    const auto& [path, atom] = has_theirs ? atoms[j] : local[i];
    const AtomPosition theirs = has_theirs ? PositionOf(path, atom) : AtomPosition{};
    const AtomPosition ours =
        has_local ? PositionOf(local[i].first, local[i].second) : AtomPosition{};
    if (has_local && has_theirs && ours == theirs) {
      // Held on both sides: join the payloads (a fold covering more wins).
      const Atom& kept = restore ? atom : JoinSameDot(local[i].second, atom);
      if (kept != local[i].second) put.emplace_back(path, kept);
      ++i;
      ++j;
    } else if (has_local && (!has_theirs || ours < theirs)) {
      // Ours only: removed at the sender if it had seen the dot.
      if (chunk_context.Contains(local[i].second.dot)) {
        doomed.emplace_back(local[i].first, local[i].second.dot);
      }
      ++i;
    } else {
      // Theirs only: seen here and not held means removed here; else add it
      // if the dots it stands for will be in the context when the transfer
      // ends (else its delta brings it), or if no delta brings it.
      const bool unseen_hint = no_delta && atom.first == atom.dot.counter &&
                               no_delta(atom.dot.origin) && !context.Contains(atom.dot);
      if (restore) {
        // Seen here (lost), or to be seen when the transfer ends (a node
        // filling a partition it held before; Rebuild's first context is
        // empty).
        if (unseen_hint || CoveredByEither(atom, first_context, context)) {
          put.emplace_back(path, atom);
        }
      } else if (!context.Contains(atom.dot)) {
        if (unseen_hint || CoveredByEither(atom, first_context, context)) {
          put.emplace_back(path, atom);
        } else if (atom.first != atom.dot.counter) {
          return ChunkJoinResult{ChunkJoinResult::Outcome::kRestart, to, 0, 0};
        }
      }
      ++j;
    }
  }
  // A folded counter of the chunk stands for the atoms of its origin at its
  // path that it covers: those still here go, also from ranges joined before
  // (the sender may have folded them after it sent that range).
  for (const auto& [path, atom] : atoms) {
    if (atom.first == atom.dot.counter || !before_end(PositionOf(path, atom))) continue;
    const Scope scope = HasField(path.slot) ? Scope::Field(path.key, Bit(path.slot), path.field)
                                            : Scope::Key(path.key, Bit(path.slot));
    state.Scan(scope, [&](const Path& at, const Atom& mine) {
      if (mine.dot.origin == atom.dot.origin && mine.dot.counter < atom.dot.counter &&
          mine.first >= atom.first) {
        doomed.emplace_back(at, mine.dot);
      }
      return true;
    });
  }
  for (const auto& [path, dot] : doomed) state.Erase(path, dot);
  // An atom added is seen: its dot goes into the context now, so that the
  // replica stays a valid state (and may serve a transfer itself). Not a
  // folded counter's whole range while the context lacks part of it: other
  // paths' atoms with dots in that range may be in ranges still to come,
  // which a seen dot would keep out; such a fold waits for the first context.
  DotContext seen;
  for (const auto& [path, atom] : put) {
    state.Put(path, atom);
    if (atom.first == atom.dot.counter) {
      seen.Insert(atom.dot);
    } else if (!context.ContainsRange(atom.dot.origin, atom.first, atom.dot.counter)) {
      result.unseen_folds = true;
    }
  }
  state.JoinContext(seen);
  result.erased = doomed.size();
  result.added = put.size();
  return result;
}

size_t DropSettledAdditions(const MutableState& state, const AtomPosition& joined_until,
                            const DotContext& first_context, Delta* delta) {
  size_t dropped = 0;
  std::vector<Addition> kept;
  kept.reserve(delta->additions.size());
  for (Addition& add : delta->additions) {
    Atom present;
    const bool settled = PositionOf(add.path, add.atom) < joined_until &&
                         first_context.Contains(add.atom.dot) &&
                         !state.Find(add.path, add.atom.dot, &present);
    if (settled) {
      ++dropped;
    } else {
      kept.push_back(std::move(add));
    }
  }
  delta->additions = std::move(kept);
  return dropped;
}

}  // namespace geokv::crdt
