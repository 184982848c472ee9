#include "crdt/memory_state.h"

namespace geokv::crdt {

void MemoryState::Scan(const Scope& scope, const AtomVisitor& visit) const {
  auto visit_path = [&](const Path& path, const std::map<Dot, Atom>& atoms) {
    for (const auto& [dot, atom] : atoms) {
      if (!visit(path, atom)) return false;
    }
    return true;
  };
  switch (scope.kind) {
    case Scope::Kind::kPartition:
      for (const auto& [path, atoms] : atoms_) {
        if (!visit_path(path, atoms)) return;
      }
      return;
    case Scope::Kind::kKey:
      // Seek to each requested slot: a scope that names other slots than a big
      // collection's must not walk the collection.
      for (int s = 0; s < kSlotCount; ++s) {
        const Slot slot = static_cast<Slot>(s);
        if ((scope.slots & Bit(slot)) == 0) continue;
        for (auto it = atoms_.lower_bound(Path{scope.key, slot, ""});
             it != atoms_.end() && it->first.key == scope.key && it->first.slot == slot; ++it) {
          if (!visit_path(it->first, it->second)) return;
        }
      }
      return;
    case Scope::Kind::kField:
      for (int s = 0; s < kSlotCount; ++s) {
        const Slot slot = static_cast<Slot>(s);
        if ((scope.slots & Bit(slot)) == 0 || !HasField(slot)) continue;
        auto it = atoms_.find(Path{scope.key, slot, scope.field});
        if (it != atoms_.end() && !visit_path(it->first, it->second)) return;
      }
      return;
  }
}

void MemoryState::ScanFrom(const AtomPosition& from, const AtomVisitor& visit) const {
  for (auto it = atoms_.lower_bound(from.path); it != atoms_.end(); ++it) {
    auto a = it->first == from.path ? it->second.lower_bound(from.dot) : it->second.begin();
    for (; a != it->second.end(); ++a) {
      if (!visit(it->first, a->second)) return;
    }
  }
}

bool MemoryState::Find(const Path& path, const Dot& dot, Atom* out) const {
  auto p = atoms_.find(path);
  if (p == atoms_.end()) return false;
  auto a = p->second.find(dot);
  if (a == p->second.end()) return false;
  *out = a->second;
  return true;
}

void MemoryState::Put(const Path& path, const Atom& atom) { atoms_[path][atom.dot] = atom; }

void MemoryState::Erase(const Path& path, const Dot& dot) {
  auto p = atoms_.find(path);
  if (p == atoms_.end()) return;
  p->second.erase(dot);
  if (p->second.empty()) atoms_.erase(p);
}

size_t MemoryState::AtomCount() const {
  size_t n = 0;
  for (const auto& [path, atoms] : atoms_) n += atoms.size();
  return n;
}

}  // namespace geokv::crdt
