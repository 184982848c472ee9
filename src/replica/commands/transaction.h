// MULTI/EXEC/WATCH: what a connection's transaction holds, and how WATCH
// notices a change.
//
// A transaction runs on the node that holds every key it names, as one storage
// job: one savepoint, so it applies all or nothing, and no other command runs
// between its commands. Its deltas ship like any others, after the commit;
// deltas of one partition travel and apply together, so another datacenter
// sees all of a transaction whose keys share a partition (hash tags) or none.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "crdt/state.h"
#include "replica/commands/partitions.h"

namespace geokv::replica {

using Args = std::vector<std::string>;

// The version of a key: a hash of the dots of every atom it has. Any write to
// the key, here or replicated from another datacenter, changes it (a fold of
// stable counter dots can change it too, which aborts a transaction spuriously:
// WATCH allows that, as Redis's does on some writes that change nothing).
uint64_t KeyVersion(const crdt::StateView& state, const std::string& key);

// The keys a connection WATCHes and their versions when watched. Filled and
// read on the storage writer thread only (by WATCH's and EXEC's jobs, which
// run in order); the connection only holds or drops the pointer.
class WatchedKeys {
 public:
  void Add(std::string key, uint64_t version) { keys_.emplace_back(std::move(key), version); }
  // Whether no watched key changed. REQUIRES: every key is held.
  bool Unchanged(Partitions& partitions) const;

 private:
  std::vector<std::pair<std::string, uint64_t>> keys_;
};

// MULTI's state on a connection (I/O thread).
struct Transaction {
  bool active = false;   // between MULTI and EXEC/DISCARD
  bool aborted = false;  // a command was refused while queuing: EXEC aborts
  std::vector<Args> queued;
  size_t queued_bytes = 0;
};

}  // namespace geokv::replica
