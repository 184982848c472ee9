#include "crdt/join.h"

#include <algorithm>
#include <map>

#include "common/assert.h"

namespace geokv::crdt {

const Atom& JoinSameDot(const Atom& a, const Atom& b) {
  // Equal atoms, or a folded counter against (a fold of) fewer counters: the
  // lower `first` covers more. Ties on hostile input break on the payload.
  if (a.first != b.first) return a.first < b.first ? a : b;
  if (a.amount != b.amount) return a.amount > b.amount ? a : b;
  if (a.hlc != b.hlc) return a.hlc > b.hlc ? a : b;
  return a.bytes >= b.bytes ? a : b;
}

void ApplyDelta(MutableState& state, const Delta& delta) {
  GEOKV_ASSERT(delta.first >= 1 && delta.first <= delta.last);
  for (const Removal& removal : delta.removals) {
    std::vector<std::pair<Path, Dot>> doomed;
    state.Scan(removal.scope, [&](const Path& path, const Atom& atom) {
      if (removal.covered.Contains(atom.dot)) doomed.emplace_back(path, atom.dot);
      return true;
    });
    for (const auto& [path, dot] : doomed) state.Erase(path, dot);
    state.JoinContext(removal.covered);
  }
  for (const Addition& add : delta.additions) {
    Atom present;
    if (state.Find(add.path, add.atom.dot, &present)) {
      const Atom& kept = JoinSameDot(present, add.atom);
      if (&kept != &present) state.Put(add.path, kept);
    } else if (!state.Context().Contains(add.atom.dot)) {
      state.Put(add.path, add.atom);
    }
    // else: seen and no longer here, so removed (or folded): stays out.
  }
  DotContext own;
  own.InsertRange(delta.origin, delta.first, delta.last);
  state.JoinContext(own);
}

Snapshot TakeSnapshot(const StateView& state) {
  Snapshot snap;
  snap.context = state.Context();
  state.Scan(Scope::Partition(), [&](const Path& path, const Atom& atom) {
    snap.atoms.emplace_back(path, atom);
    return true;
  });
  return snap;
}

void JoinState(MutableState& state, const Snapshot& other) {
  // Index the other side's atoms by (path, dot) for the membership test.
  std::map<std::pair<const Path*, Dot>, const Atom*,
           bool (*)(const std::pair<const Path*, Dot>&, const std::pair<const Path*, Dot>&)>
      theirs([](const auto& a, const auto& b) {
        if (*a.first != *b.first) return *a.first < *b.first;
        return a.second < b.second;
      });
  for (const auto& [path, atom] : other.atoms)
    theirs.emplace(std::make_pair(&path, atom.dot), &atom);

  // Ours that they have seen but no longer hold: removed.
  std::vector<std::pair<Path, Dot>> doomed;
  state.Scan(Scope::Partition(), [&](const Path& path, const Atom& atom) {
    if (other.context.Contains(atom.dot) && !theirs.contains({&path, atom.dot})) {
      doomed.emplace_back(path, atom.dot);
    }
    return true;
  });
  for (const auto& [path, dot] : doomed) state.Erase(path, dot);

  // Theirs that we hold too (join payloads) or have not seen (add).
  for (const auto& [path, atom] : other.atoms) {
    Atom present;
    if (state.Find(path, atom.dot, &present)) {
      const Atom& kept = JoinSameDot(present, atom);
      if (&kept != &present) state.Put(path, kept);
    } else if (!state.Context().Contains(atom.dot)) {
      state.Put(path, atom);
    }
  }
  state.JoinContext(other.context);
}

}  // namespace geokv::crdt
