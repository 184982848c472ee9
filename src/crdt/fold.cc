#include "crdt/fold.h"

#include <optional>
#include <vector>

#include "common/assert.h"
#include "crdt/decimal.h"

namespace geokv::crdt {
namespace {

// One origin's atoms at one counter path (scan order: the newest dot last),
// folded into one atom: at the newest dot, amount = the sum, first = the
// lowest folded counter. nullopt if the sum does not fit an int64: amounts of
// one origin were each within int64 and were accepted as increments of a
// value within int64, but a long history could overflow, so fold only what
// fits.
std::optional<Atom> FoldAtoms(const std::vector<Atom>& atoms) {
  Atom folded = atoms.back();
  __int128 sum = 0;
  // Float increments (decimal.h) add up exactly; the fold keeps a decimal
  // part when any folded atom had one, so every replica folds the same atoms
  // to the same bytes.
  std::optional<Decimal> decimal_sum;
  for (const Atom& atom : atoms) {
    sum += atom.amount;
    if (!atom.bytes.empty()) {
      auto increment = Decimal::ParseCanonical(atom.bytes);
      GEOKV_ASSERT(increment.has_value());
      decimal_sum = decimal_sum.value_or(Decimal()) + *increment;
    }
    if (atom.first < folded.first) folded.first = atom.first;
  }
  if (sum < INT64_MIN || sum > INT64_MAX) return std::nullopt;
  folded.bytes = decimal_sum ? decimal_sum->ToCanonical() : std::string();
  folded.amount = static_cast<int64_t>(sum);
  return folded;
}

}  // namespace

size_t FoldStableCounters(MutableState& state, const Scope& scope, const StableVector& stable) {
  // (path, origin) -> the stable atoms there, collected first: a Scan must not
  // see its own edits.
  std::map<std::pair<Path, ReplicaId>, std::vector<Atom>> groups;
  state.Scan(scope, [&](const Path& path, const Atom& atom) {
    if (!IsCounterSlot(path.slot)) return true;
    auto s = stable.find(atom.dot.origin);
    if (s != stable.end() && atom.dot.counter <= s->second) {
      groups[{path, atom.dot.origin}].push_back(atom);
    }
    return true;
  });
  size_t removed = 0;
  for (auto& [where, atoms] : groups) {
    if (atoms.size() < 2) continue;
    const std::optional<Atom> folded = FoldAtoms(atoms);
    if (!folded) continue;
    for (size_t i = 0; i + 1 < atoms.size(); ++i) state.Erase(where.first, atoms[i].dot);
    state.Put(where.first, *folded);
    removed += atoms.size() - 1;
  }
  return removed;
}

std::vector<std::pair<Path, Atom>> FoldedView(const std::vector<std::pair<Path, Atom>>& atoms) {
  std::vector<std::pair<Path, Atom>> out;
  out.reserve(atoms.size());
  for (size_t i = 0; i < atoms.size();) {
    const auto& [path, atom] = atoms[i];
    size_t end = i + 1;
    if (IsCounterSlot(path.slot)) {
      // Scan order keeps one origin's atoms at one path together.
      while (end < atoms.size() && atoms[end].first == path &&
             atoms[end].second.dot.origin == atom.dot.origin) {
        ++end;
      }
    }
    std::optional<Atom> folded;
    if (end - i > 1) {
      std::vector<Atom> group;
      for (size_t k = i; k < end; ++k) group.push_back(atoms[k].second);
      folded = FoldAtoms(group);
    }
    if (folded) {
      out.emplace_back(path, *folded);
    } else {
      for (size_t k = i; k < end; ++k) out.push_back(atoms[k]);
    }
    i = end;
  }
  return out;
}

}  // namespace geokv::crdt
