// A CRDT replica for tests: a MemoryState, a replica id and a clock the test
// drives, with helpers that mutate and return the delta to ship.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "crdt/delta.h"
#include "crdt/hlc.h"
#include "crdt/join.h"
#include "crdt/memory_state.h"

namespace geokv::test {

struct TestReplica {
  explicit TestReplica(crdt::ReplicaId replica_id)
      : id(replica_id), clock([w = wall_ms] { return *w; }) {}

  // Runs a mutator against this replica, applies the delta locally and returns
  // it for shipping (also when the mutator changed nothing).
  crdt::Delta Mutate(const std::function<void(crdt::DeltaBuilder&)>& mutator) {
    crdt::DeltaBuilder builder(state, id);
    mutator(builder);
    crdt::Delta delta = std::move(builder).Finish();
    crdt::ApplyDelta(state, delta);
    return delta;
  }

  void Receive(const crdt::Delta& delta) { crdt::ApplyDelta(state, delta); }

  crdt::ReplicaId id;
  // The wall clock the HLC reads, in ms; tests move it. Shared so that a copied
  // replica's clock still reads it.
  std::shared_ptr<uint64_t> wall_ms = std::make_shared<uint64_t>(1'000'000);
  crdt::HybridClock clock;
  crdt::MemoryState state;
};

}  // namespace geokv::test
