// Active expiry: removes keys whose TTL passed without waiting for a client to
// touch them (Redis's activeExpireCycle, adapted to geokv).
//
// Each cycle runs in one storage job at the node's wall clock. It walks the
// held partitions' keys from where the previous cycle stopped, in rounds: a
// round visits keys until it has met keys_per_round keys with expiry atoms (or
// visited visits_per_round_max keys), and removes the dead ones (crdt/expiry.h
// RemoveIfDead: an observed-remove, committed and replicated like a DEL, so a
// write concurrent with it survives; one delta per partition and round). As in Redis, the cycle runs another
// round while more than a quarter of the keys with a TTL it met were dead, up
// to rounds_max rounds: bounded work per cycle, and faster when many keys
// expire at once.
//
// Without an index of the keys that have a TTL, a walk of all keys finds them:
// a key space of K keys is covered in K / visits_per_round_max rounds at worst.
// Reads never wait for it (an expired key is absent to reads at once); it
// frees memory and makes DBSIZE exact again.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "replica/commands/partitions.h"

namespace geokv::replica {

struct ActiveExpiryLimits {
  size_t keys_per_round = 20;         // keys with a TTL examined per round (Redis: 20)
  size_t visits_per_round_max = 200;  // keys visited per round, with a TTL or not
  int rounds_max = 16;                // rounds per cycle
  // Another round runs while more than this percentage of the TTL keys met
  // were dead (Redis 7.0: 10 at its default effort; 25 in older versions).
  int repeat_above_percent = 25;
};

struct ActiveExpiryStats {
  size_t visited = 0;   // keys visited
  size_t with_ttl = 0;  // of which held expiry atoms
  size_t removed = 0;   // of which were dead and removed
  int rounds = 0;
};

// The walk's position, kept between cycles. Use from one thread (the storage
// writer's jobs).
class ActiveExpiry {
 public:
  explicit ActiveExpiry(ActiveExpiryLimits limits = {}) : limits_(limits) {}

  // One cycle over the held partitions of `partitions`, at its NowMs.
  ActiveExpiryStats RunCycle(Partitions& partitions);

 private:
  // One round; false when the walk wrapped around (every key seen once).
  bool Round(Partitions& partitions, int64_t now_ms, ActiveExpiryStats* stats, size_t* round_ttl,
             size_t* round_removed);

  ActiveExpiryLimits limits_;
  size_t partition_index_ = 0;        // into HeldPartitions()
  std::optional<std::string> after_;  // the last key visited in that partition
};

}  // namespace geokv::replica
