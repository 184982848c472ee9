#include "storage/partition_state.h"

#include "storage/store.h"

namespace geokv::storage::internal {

namespace {

using crdt::Atom;
using crdt::Path;
using crdt::Scope;
using crdt::Slot;

// Visits atoms from `it` while `more(rec)`; false once the visitor stopped.
template <typename More>
bool VisitRun(const AtomTree& tree, AtomTree::const_iterator it, More&& more,
              const crdt::AtomVisitor& visit) {
  Path path;
  Atom atom;
  for (; it != tree.end() && more(*it); ++it) {
    it->Read(&path, &atom);
    if (!visit(path, atom)) return false;
  }
  return true;
}

}  // namespace

const crdt::DotContext& PartitionState::Context() const { return store_->part(part_).context; }

void PartitionState::Scan(const Scope& scope, const crdt::AtomVisitor& visit) const {
  if (store_->failed()) return;
  const AtomTree& tree = store_->part(part_).atoms;
  switch (scope.kind) {
    case Scope::Kind::kPartition:
      VisitRun(tree, tree.begin(), [](const AtomRec&) { return true; }, visit);
      return;
    case Scope::Kind::kKey: {
      // Walk the key's atoms from its first requested slot; an atom of a slot
      // not asked for seeks to the next one asked for, so that a scope that
      // names other slots than a big collection's never walks the collection.
      auto next_slot = [&](int from) {
        for (int s = from; s < crdt::kSlotCount; ++s) {
          if ((scope.slots & crdt::Bit(static_cast<Slot>(s))) != 0) return s;
        }
        return crdt::kSlotCount;
      };
      int slot = next_slot(0);
      if (slot == crdt::kSlotCount) return;
      auto it = tree.LowerBound(AtomKey{scope.key, static_cast<Slot>(slot), "", crdt::Dot{}});
      Path path;
      Atom atom;
      while (it != tree.end()) {
        const AtomKey k = it->Key();
        if (k.key != scope.key) return;
        const int at = static_cast<int>(k.slot);
        if ((scope.slots & crdt::Bit(k.slot)) == 0) {
          slot = next_slot(at + 1);
          if (slot == crdt::kSlotCount) return;
          it = tree.LowerBound(AtomKey{scope.key, static_cast<Slot>(slot), "", crdt::Dot{}});
          continue;
        }
        it->Read(&path, &atom);
        if (!visit(path, atom)) return;
        ++it;
      }
      return;
    }
    case Scope::Kind::kField:
      for (int s = 0; s < crdt::kSlotCount; ++s) {
        const Slot slot = static_cast<Slot>(s);
        if ((scope.slots & crdt::Bit(slot)) == 0 || !crdt::HasField(slot)) continue;
        const AtomKey from{scope.key, slot, scope.field, crdt::Dot{}};
        const bool more = VisitRun(
            tree, tree.LowerBound(from),
            [&](const AtomRec& rec) {
              const AtomKey k = rec.Key();
              return k.key == scope.key && k.slot == slot && k.field == scope.field;
            },
            visit);
        if (!more) return;
      }
      return;
  }
}

void PartitionState::ScanFrom(const crdt::AtomPosition& from,
                              const crdt::AtomVisitor& visit) const {
  if (store_->failed()) return;
  const AtomTree& tree = store_->part(part_).atoms;
  VisitRun(tree, tree.LowerBound(AtomKey::Of(from.path, from.dot)),
           [](const AtomRec&) { return true; }, visit);
}

bool PartitionState::Find(const Path& path, const crdt::Dot& dot, Atom* out) const {
  if (store_->failed()) return false;
  const AtomRec* rec = store_->part(part_).atoms.Find(AtomKey::Of(path, dot));
  if (rec == nullptr) return false;
  rec->ReadAtom(out);
  return true;
}

void PartitionState::Put(const Path& path, const Atom& atom) {
  if (store_->failed()) return;
  store_->Put(part_, path, atom);
}

void PartitionState::Erase(const Path& path, const crdt::Dot& dot) {
  if (store_->failed()) return;
  store_->Erase(part_, path, dot);
}

void PartitionState::JoinContext(const crdt::DotContext& dots) {
  if (store_->failed()) return;
  store_->JoinContext(part_, dots);
}

}  // namespace geokv::storage::internal
