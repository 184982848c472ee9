#include "replica/commands/transaction.h"

#include <xxhash.h>

namespace geokv::replica {

uint64_t KeyVersion(const crdt::StateView& state, const std::string& key) {
  XXH64_state_t* h = XXH64_createState();
  XXH64_reset(h, 0);
  state.Scan(crdt::Scope::Key(key), [&](const crdt::Path&, const crdt::Atom& atom) {
    const uint64_t dot[3] = {atom.dot.origin, atom.dot.counter, atom.first};
    XXH64_update(h, dot, sizeof dot);
    return true;
  });
  const uint64_t version = XXH64_digest(h);
  XXH64_freeState(h);
  return version;
}

bool WatchedKeys::Unchanged(Partitions& partitions) const {
  for (const auto& [key, version] : keys_) {
    if (KeyVersion(partitions.State(partitions.PartitionOf(key)), key) != version) return false;
  }
  return true;
}

}  // namespace geokv::replica
