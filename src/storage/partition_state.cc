#include "storage/partition_state.h"

#include <string>

#include "storage/store.h"

namespace geokv::storage::internal {

namespace {

using crdt::Atom;
using crdt::Path;
using crdt::Scope;
using crdt::Slot;

}  // namespace

// The Path and Atom a scan reads each atom into: the state's own, whose
// strings keep their capacity from scan to scan (a key longer than the 15
// bytes std::string holds inline would otherwise cost an allocation per
// scan, and a write makes several), or fresh ones for a scan that a visitor
// started inside another (which still uses the state's).
class PartitionState::Scratch {
 public:
  explicit Scratch(const PartitionState& state)
      : state_(state), outer_(!state.scanning_) {
    state_.scanning_ = true;
  }
  ~Scratch() {
    if (!outer_) return;
    state_.scanning_ = false;
    // A big value read once is not kept for the partition's lifetime.
    for (std::string* buffer : {&state_.path_.key, &state_.path_.field, &state_.atom_.bytes}) {
      if (buffer->capacity() > kKeepBytesMax) std::string().swap(*buffer);
    }
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  Path& path() { return outer_ ? state_.path_ : path_; }
  Atom& atom() { return outer_ ? state_.atom_ : atom_; }

 private:
  static constexpr size_t kKeepBytesMax = 4096;
  const PartitionState& state_;
  const bool outer_;
  Path path_;
  Atom atom_;
};

namespace {

// Visits atoms from `it` while `more(rec)`; false once the visitor stopped.
template <typename More>
bool VisitRun(const PartitionState& state, const AtomTree& tree, AtomTree::const_iterator it,
              More&& more, const crdt::AtomVisitor& visit) {
  PartitionState::Scratch scratch(state);
  Path& path = scratch.path();
  Atom& atom = scratch.atom();
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
      VisitRun(*this, tree, tree.begin(), [](const AtomRec&) { return true; }, visit);
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
      auto it = tree.LowerBoundInKey(AtomKey{scope.key, static_cast<Slot>(slot), "", crdt::Dot{}});
      Scratch scratch(*this);
      Path& path = scratch.path();
      Atom& atom = scratch.atom();
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
            *this, tree, tree.LowerBoundInKey(from),
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
  VisitRun(*this, tree, tree.LowerBound(AtomKey::Of(from.path, from.dot)),
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
