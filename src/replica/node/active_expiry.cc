#include "replica/node/active_expiry.h"

#include <vector>

#include "common/assert.h"
#include "crdt/delta.h"
#include "crdt/expiry.h"

namespace geokv::replica {

namespace {
// Expiry atoms, without reading the rest of the key.
bool HasExpiryAtoms(const crdt::StateView& state, const std::string& key) {
  bool any = false;
  state.Scan(crdt::Scope::Key(key, crdt::Bit(crdt::Slot::kExpiry)),
             [&](const crdt::Path&, const crdt::Atom&) {
               any = true;
               return false;
             });
  return any;
}
}  // namespace

bool ActiveExpiry::Round(Partitions& partitions, int64_t now_ms, ActiveExpiryStats* stats,
                         size_t* round_ttl, size_t* round_removed) {
  const std::vector<uint32_t> held = partitions.HeldPartitions();
  if (held.empty()) return false;
  size_t visits = 0;
  // Each partition is visited at most once per round, so the loop is bounded
  // even when every partition is empty.
  for (size_t hops = 0; hops <= held.size(); ++hops) {
    if (partition_index_ >= held.size()) {
      partition_index_ = 0;
      after_.reset();
    }
    const uint32_t p = held[partition_index_];
    const size_t want = limits_.visits_per_round_max - visits;
    const std::vector<std::string> keys = partitions.ScanKeys(p, after_, want);
    // The removals of one batch of keys go out as one delta (distinct keys:
    // each removal reads only its own key's atoms, which the others leave).
    crdt::DeltaBuilder builder(partitions.State(p), partitions.self());
    bool full = false;
    for (const std::string& key : keys) {
      ++visits;
      ++stats->visited;
      after_ = key;
      if (!HasExpiryAtoms(builder.state(), key)) continue;
      ++stats->with_ttl;
      ++*round_ttl;
      if (crdt::RemoveIfDead(builder, key, now_ms)) {
        ++stats->removed;
        ++*round_removed;
      }
      if (*round_ttl >= limits_.keys_per_round) {
        full = true;
        break;
      }
    }
    if (!builder.empty()) partitions.Commit(p, std::move(builder).Finish());
    if (full) return true;
    if (keys.size() < want) {  // the partition is done: on to the next
      ++partition_index_;
      after_.reset();
      if (partition_index_ >= held.size()) return false;
    }
    if (visits >= limits_.visits_per_round_max) return true;
  }
  return true;
}

ActiveExpiryStats ActiveExpiry::RunCycle(Partitions& partitions) {
  GEOKV_ASSERT(limits_.visits_per_round_max >= 1);
  const int64_t now_ms = partitions.NowMs();
  ActiveExpiryStats stats;
  while (stats.rounds < limits_.rounds_max) {
    ++stats.rounds;
    size_t ttl = 0, removed = 0;
    const bool more = Round(partitions, now_ms, &stats, &ttl, &removed);
    if (!more || ttl == 0) break;
    if (removed * 100 <= ttl * static_cast<size_t>(limits_.repeat_above_percent)) break;
  }
  return stats;
}

}  // namespace geokv::replica
