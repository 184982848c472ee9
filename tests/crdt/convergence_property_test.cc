// Seeded property tests of the CRDT algebra. Each case draws its own seed from
// the run's seed; a failure prints GEOKV_SEED and the case, and
// `GEOKV_SEED=<n> crdt_tests "[property]"` replays it.
#include <algorithm>
#include <catch2/catch.hpp>
#include <memory>
#include <vector>

#include "crdt/fold.h"
#include "crdt/join.h"
#include "random_ops.h"
#include "seed.h"

namespace geokv::crdt {
namespace {

using test::Observe;
using test::RandomOperation;
using test::TestReplica;

std::vector<std::unique_ptr<TestReplica>> MakeReplicas(int n) {
  std::vector<std::unique_ptr<TestReplica>> replicas;
  for (int i = 0; i < n; ++i) replicas.push_back(std::make_unique<TestReplica>(100 + i));
  return replicas;
}

MemoryState FromSnapshot(const Snapshot& snap) {
  MemoryState state;
  JoinState(state, snap);
  return state;
}

// A network that loses, duplicates and reorders: every delta is eventually
// delivered to every other replica at least once, in any order.
struct Message {
  size_t to;
  Delta delta;
};

TEST_CASE("CRDT: replicas receiving the same deltas in any order, twice or late, end equal",
          "[property]") {
  const uint64_t seed = test::TestSeed();
  const int cases = test::CaseCount(1000);
  for (int c = 0; c < cases; ++c) {
    INFO("GEOKV_SEED=" << seed << " case " << c);
    Prng rng(seed * 1'000'003 + c);
    const int n = 2 + static_cast<int>(rng.Below(3));
    auto replicas = MakeReplicas(n);
    TestReplica reference(999);  // applies every delta once, in creation order
    std::vector<Message> in_flight, dropped;

    const int steps = 20 + static_cast<int>(rng.Below(60));
    for (int s = 0; s < steps; ++s) {
      const uint64_t action = rng.Below(10);
      if (action < 5 || in_flight.empty()) {
        const size_t at = rng.Below(n);
        Delta d = RandomOperation(rng, *replicas[at]);
        reference.Receive(d);
        for (int to = 0; to < n; ++to) {
          if (static_cast<size_t>(to) != at) in_flight.push_back({static_cast<size_t>(to), d});
        }
      } else if (action < 8) {
        const size_t i = rng.Below(in_flight.size());
        replicas[in_flight[i].to]->Receive(in_flight[i].delta);
        if (rng.Chance(20)) continue;  // duplicate: stays in flight, arrives again
        in_flight.erase(in_flight.begin() + i);
      } else if (action < 9) {
        const size_t i = rng.Below(in_flight.size());
        dropped.push_back(std::move(in_flight[i]));
        in_flight.erase(in_flight.begin() + i);
      } else {
        // State transfer (anti-entropy) from one replica to another.
        const size_t from = rng.Below(n), to = rng.Below(n);
        JoinState(replicas[to]->state, TakeSnapshot(replicas[from]->state));
      }
    }
    // Heal: redeliver what was dropped, deliver the rest, in random order.
    for (auto& m : dropped) in_flight.push_back(std::move(m));
    while (!in_flight.empty()) {
      const size_t i = rng.Below(in_flight.size());
      replicas[in_flight[i].to]->Receive(in_flight[i].delta);
      in_flight.erase(in_flight.begin() + i);
    }
    const Snapshot expected = TakeSnapshot(reference.state);
    for (int i = 0; i < n; ++i) {
      INFO("replica " << i);
      REQUIRE(TakeSnapshot(replicas[i]->state) == expected);
    }
  }
}

TEST_CASE("CRDT: state join is commutative, associative and idempotent", "[property]") {
  const uint64_t seed = test::TestSeed();
  const int cases = test::CaseCount(1000);
  for (int c = 0; c < cases; ++c) {
    INFO("GEOKV_SEED=" << seed << " case " << c);
    Prng rng(seed * 7'000'001 + c);
    auto replicas = MakeReplicas(3);
    // Partially shared histories: each delta reaches each other replica with
    // probability one half.
    const int steps = 5 + static_cast<int>(rng.Below(40));
    for (int s = 0; s < steps; ++s) {
      const size_t at = rng.Below(3);
      Delta d = RandomOperation(rng, *replicas[at]);
      for (size_t to = 0; to < 3; ++to) {
        if (to != at && rng.Chance(50)) replicas[to]->Receive(d);
      }
    }
    const Snapshot a = TakeSnapshot(replicas[0]->state);
    const Snapshot b = TakeSnapshot(replicas[1]->state);
    const Snapshot cc = TakeSnapshot(replicas[2]->state);
    auto join = [](const Snapshot& x, const Snapshot& y) {
      MemoryState s = FromSnapshot(x);
      JoinState(s, y);
      return TakeSnapshot(s);
    };
    REQUIRE(join(a, b) == join(b, a));
    REQUIRE(join(join(a, b), cc) == join(a, join(b, cc)));
    REQUIRE(join(a, a) == a);
    REQUIRE(FromSnapshot(a).AtomCount() == a.atoms.size());
  }
}

TEST_CASE("CRDT: applying an operation's delta equals joining the state after it", "[property]") {
  const uint64_t seed = test::TestSeed();
  const int cases = test::CaseCount(1000);
  for (int c = 0; c < cases; ++c) {
    INFO("GEOKV_SEED=" << seed << " case " << c);
    Prng rng(seed * 3'000'017 + c);
    auto replicas = MakeReplicas(2);
    for (int s = 0; s < 30; ++s) {
      const size_t at = rng.Below(2);
      Delta d = RandomOperation(rng, *replicas[at]);
      if (rng.Chance(70)) replicas[1 - at]->Receive(d);
    }
    // A and B exchange state, then A performs one more operation.
    TestReplica& a = *replicas[0];
    JoinState(a.state, TakeSnapshot(replicas[1]->state));
    MemoryState b_by_delta = replicas[1]->state;
    JoinState(b_by_delta, TakeSnapshot(a.state));
    MemoryState b_by_join = b_by_delta;
    Delta d = RandomOperation(rng, a);
    ApplyDelta(b_by_delta, d);
    JoinState(b_by_join, TakeSnapshot(a.state));
    REQUIRE(TakeSnapshot(b_by_delta) == TakeSnapshot(b_by_join));
    REQUIRE(TakeSnapshot(b_by_delta) == TakeSnapshot(a.state));
  }
}

TEST_CASE("CRDT: folding stable counters changes no value and still converges", "[property]") {
  const uint64_t seed = test::TestSeed();
  const int cases = test::CaseCount(500);
  for (int c = 0; c < cases; ++c) {
    INFO("GEOKV_SEED=" << seed << " case " << c);
    Prng rng(seed * 5'000'011 + c);
    auto replicas = MakeReplicas(3);
    auto broadcast = [&](size_t at, const Delta& d) {
      for (size_t to = 0; to < replicas.size(); ++to) {
        if (to != at) replicas[to]->Receive(d);
      }
    };
    for (int round = 0; round < 3; ++round) {
      // Concurrent operations: each replica works alone for a while.
      std::vector<std::pair<size_t, Delta>> pending;
      for (int s = 0; s < 15; ++s) {
        const size_t at = rng.Below(3);
        pending.emplace_back(at, RandomOperation(rng, *replicas[at]));
      }
      for (const auto& [at, d] : pending) broadcast(at, d);
      // Quiescent: every replica has every dot, so everything is stable.
      StableVector stable;
      for (const auto& [origin, intervals] : replicas[0]->state.Context().by_origin()) {
        stable[origin] = replicas[0]->state.Context().Contiguous(origin);
      }
      const std::string before = Observe(replicas[0]->state);
      // Only some replicas fold, so folded and unfolded copies must meet.
      for (auto& r : replicas) {
        if (rng.Chance(60)) FoldStableCounters(r->state, Scope::Partition(), stable);
        REQUIRE(Observe(r->state) == before);
      }
      // State transfer between folded and unfolded replicas.
      const size_t from = rng.Below(3), to = rng.Below(3);
      JoinState(replicas[to]->state, TakeSnapshot(replicas[from]->state));
      REQUIRE(Observe(replicas[to]->state) == before);
    }
    // A last round without delivery in between, then all of it.
    std::vector<std::pair<size_t, Delta>> pending;
    for (int s = 0; s < 20; ++s) {
      const size_t at = rng.Below(3);
      pending.emplace_back(at, RandomOperation(rng, *replicas[at]));
    }
    for (const auto& [at, d] : pending) broadcast(at, d);
    const std::string expected = Observe(replicas[0]->state);
    for (auto& r : replicas) REQUIRE(Observe(r->state) == expected);
  }
}

}  // namespace
}  // namespace geokv::crdt
