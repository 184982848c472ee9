#include "crdt/fold.h"

#include <optional>
#include <vector>

#include "common/assert.h"
#include "crdt/decimal.h"

namespace geokv::crdt {

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
    Atom folded = atoms.back();  // Scan order: the newest dot is last
    __int128 sum = 0;
    // Float increments (decimal.h) add up exactly; the fold keeps a decimal
    // part when any folded atom had one, so every replica folds the same
    // atoms to the same bytes.
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
    folded.bytes = decimal_sum ? decimal_sum->ToCanonical() : std::string();
    // Amounts of one origin were each within int64 and were accepted as
    // increments of a value within int64, but a long history could overflow:
    // fold only what fits.
    if (sum < INT64_MIN || sum > INT64_MAX) continue;
    folded.amount = static_cast<int64_t>(sum);
    for (size_t i = 0; i + 1 < atoms.size(); ++i) state.Erase(where.first, atoms[i].dot);
    state.Put(where.first, folded);
    removed += atoms.size() - 1;
  }
  return removed;
}

}  // namespace geokv::crdt
