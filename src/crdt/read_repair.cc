#include "crdt/read_repair.h"

#include <algorithm>

#include "common/assert.h"

namespace geokv::crdt {

namespace {

// Whether any dot of origin in [first, last] is in `dots`.
bool ContainsAny(const DotContext& dots, ReplicaId origin, uint64_t first, uint64_t last) {
  auto it = dots.by_origin().find(origin);
  if (it == dots.by_origin().end()) return false;
  const DotContext::Intervals& intervals = it->second;
  // The interval with the greatest begin <= last overlaps iff it ends at or
  // after first (intervals are disjoint and sorted).
  auto after = intervals.upper_bound(last);
  if (after == intervals.begin()) return false;
  return std::prev(after)->second >= first;
}

bool Unseen(const DotContext& seen, const Atom& atom) {
  return !ContainsAny(seen, atom.dot.origin, atom.first, atom.dot.counter);
}

}  // namespace

Result<Snapshot> KeySnapshot(const StateView& state, const std::vector<std::string>& keys,
                             const KeySnapshotLimits& limits) {
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  Snapshot snap;
  snap.context = state.Context();
  size_t bytes = 0;
  bool over = false;
  for (const std::string& key : sorted) {
    state.Scan(Scope::Key(key), [&](const Path& path, const Atom& atom) {
      bytes += path.key.size() + path.field.size() + atom.bytes.size();
      if (snap.atoms.size() >= limits.atoms_max || bytes > limits.bytes_max) {
        over = true;
        return false;
      }
      snap.atoms.emplace_back(path, atom);
      return true;
    });
    if (over) {
      return Status::Invalid("key '" + key.substr(0, 128) +
                             "' is too large for a quorum read (over " +
                             std::to_string(limits.atoms_max) + " atoms or " +
                             std::to_string(limits.bytes_max >> 20) + " MiB); read it at READ 1");
    }
  }
  return snap;
}

Snapshot RepairFor(const Snapshot& joined, const DotContext& seen, ReplicaId target) {
  Snapshot repair;
  for (const auto& [path, atom] : joined.atoms) {
    if (atom.dot.origin == target || !Unseen(seen, atom)) continue;
    repair.atoms.emplace_back(path, atom);
    repair.context.InsertRange(atom.dot.origin, atom.first, atom.dot.counter);
  }
  return repair;
}

Status CheckRepair(const Snapshot& repair) {
  DotContext dots;
  for (const auto& [path, atom] : repair.atoms) {
    if (atom.first < 1 || atom.first > atom.dot.counter) {
      return Status::Invalid("an atom's dots are not 1 <= first <= counter");
    }
    if (ContainsAny(dots, atom.dot.origin, atom.first, atom.dot.counter)) {
      return Status::Invalid("two atoms name the same dot");
    }
    dots.InsertRange(atom.dot.origin, atom.first, atom.dot.counter);
  }
  if (!(dots == repair.context)) {
    return Status::Invalid("the context is not exactly the atoms' dots");
  }
  return Status::Ok();
}

size_t ApplyRepair(MutableState& state, const Snapshot& repair, ReplicaId self) {
  DotContext added;
  size_t count = 0;
  for (const auto& [path, atom] : repair.atoms) {
    GEOKV_ASSERT(atom.first >= 1);
    GEOKV_ASSERT(atom.first <= atom.dot.counter);
    Atom present;
    if (state.Find(path, atom.dot, &present)) {
      const Atom& kept = JoinSameDot(present, atom);
      if (&kept != &present) state.Put(path, kept);
    } else if (atom.dot.origin != self && Unseen(state.Context(), atom)) {
      state.Put(path, atom);
      added.InsertRange(atom.dot.origin, atom.first, atom.dot.counter);
      ++count;
    }
  }
  // Only now: CheckRepair made the atoms' dots disjoint, so no atom above
  // could have been taken for seen because of another one's.
  state.JoinContext(added);
  return count;
}

}  // namespace geokv::crdt
