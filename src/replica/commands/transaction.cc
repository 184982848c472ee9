#include "replica/commands/transaction.h"

#include <xxhash.h>

#include "crdt/expiry.h"

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
  // As WATCH saw it (StateOf: expired keys absent), so a key that expired in
  // between aborts EXEC, and one already expired at WATCH does not (Redis 7.0).
  const int64_t now_ms = partitions.NowMs();
  for (const auto& [key, version] : keys_) {
    const crdt::LiveView live(partitions.State(partitions.PartitionOf(key)), now_ms);
    if (KeyVersion(live, key) != version) return false;
  }
  return true;
}

}  // namespace geokv::replica
