// MemoryState: a partition replica held in memory.
//
// The reference implementation of MutableState: tests, simulations and the
// property checks use it, and the SQLite store must behave exactly like it.
// Not thread-safe.
#pragma once

#include <map>

#include "crdt/state.h"

namespace geokv::crdt {

class MemoryState final : public MutableState {
 public:
  const DotContext& Context() const override { return context_; }
  void Scan(const Scope& scope, const AtomVisitor& visit) const override;
  bool Find(const Path& path, const Dot& dot, Atom* out) const override;
  void Put(const Path& path, const Atom& atom) override;
  void Erase(const Path& path, const Dot& dot) override;
  void JoinContext(const DotContext& dots) override { context_.Join(dots); }
  void ScanFrom(const AtomPosition& from, const AtomVisitor& visit) const override;

  // Number of atoms (all paths).
  size_t AtomCount() const;

 private:
  std::map<Path, std::map<Dot, Atom>> atoms_;  // no empty inner maps
  DotContext context_;
};

}  // namespace geokv::crdt
