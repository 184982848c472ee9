#include "crdt/delta.h"

#include "common/assert.h"

namespace geokv::crdt {

bool Scope::Matches(const Path& p) const {
  switch (kind) {
    case Kind::kPartition:
      return true;
    case Kind::kKey:
      return p.key == key && (slots & Bit(p.slot)) != 0;
    case Kind::kField:
      return p.key == key && (slots & Bit(p.slot)) != 0 && p.field == field;
  }
  return false;
}

DeltaBuilder::DeltaBuilder(const StateView& state, ReplicaId self) : state_(state), self_(self) {
  delta_.origin = self;
  delta_.first = state.Context().Max(self) + 1;
  delta_.last = delta_.first - 1;  // no dot taken yet
}

size_t DeltaBuilder::RemoveObserved(const Scope& scope) {
  Removal removal{scope, {}};
  size_t atoms = 0;
  if (scope.kind == Scope::Kind::kPartition) {
    removal.covered = state_.Context();
  } else {
    state_.Scan(scope, [&](const Path&, const Atom& atom) {
      removal.covered.InsertRange(atom.dot.origin, atom.first, atom.dot.counter);
      ++atoms;
      return true;
    });
  }
  if (!removal.covered.empty()) delta_.removals.push_back(std::move(removal));
  return atoms;
}

void DeltaBuilder::RemoveDots(const Scope& scope, const DotContext& dots) {
  GEOKV_ASSERT(scope.kind != Scope::Kind::kPartition);
  if (!dots.empty()) delta_.removals.push_back(Removal{scope, dots});
}

Dot DeltaBuilder::Add(Path path, Atom atom) {
  GEOKV_ASSERT(HasField(path.slot) || path.field.empty());
  atom.dot = Dot{self_, ++delta_.last};
  atom.first = atom.dot.counter;
  delta_.additions.push_back(Addition{std::move(path), std::move(atom)});
  return delta_.additions.back().atom.dot;
}

bool DeltaBuilder::empty() const { return delta_.removals.empty() && delta_.additions.empty(); }

Delta DeltaBuilder::Finish() && {
  if (delta_.last < delta_.first) delta_.last = delta_.first;
  return std::move(delta_);
}

}  // namespace geokv::crdt
