// Read repair (crdt/read_repair.h): a quorum read's join of key snapshots
// answers as the joined replicas would, and a repair adds what a replica
// missed without removing anything or harming convergence.
#include "crdt/read_repair.h"

#include <catch2/catch.hpp>

#include "crdt/codec.h"
#include "crdt/or_set.h"
#include "crdt/scalar.h"
#include "random_ops.h"
#include "seed.h"

namespace geokv::crdt {
namespace {

using test::TestReplica;

// Atoms of `state` as a list (for "nothing was removed" checks).
std::vector<std::pair<Path, Atom>> AtomsOf(const StateView& state) {
  return TakeSnapshot(state).atoms;
}

TEST_CASE("Read repair: joined key snapshots read as the joined replicas; repairs only add",
          "[property]") {
  const uint64_t seed = test::TestSeed();
  const int cases = test::CaseCount(300);
  for (int c = 0; c < cases; ++c) {
    INFO("GEOKV_SEED=" << seed << " case " << c);
    Prng rng(seed * 1'000'003 + c);
    std::vector<std::unique_ptr<TestReplica>> replicas;
    for (ReplicaId id = 1; id <= 3; ++id) replicas.push_back(std::make_unique<TestReplica>(id));
    TestReplica reference(999);
    struct Pending {
      size_t to;
      Delta delta;
    };
    std::vector<Pending> late;  // delivered only at the end
    const int steps = 10 + static_cast<int>(rng.Below(50));
    for (int s = 0; s < steps; ++s) {
      const size_t at = rng.Below(3);
      Delta d = test::RandomOperation(rng, *replicas[at]);
      reference.Receive(d);
      for (size_t to = 0; to < 3; ++to) {
        if (to == at) continue;
        if (rng.Below(2) == 0) {
          replicas[to]->Receive(d);
        } else {
          late.push_back({to, d});
        }
      }
    }
    // A quorum read of one key by replicas 0 and 1.
    const std::string key = test::Pick(rng, "k", 4);
    MemoryState joined;
    Snapshot snaps[2];
    for (size_t i = 0; i < 2; ++i) {
      auto snap = KeySnapshot(replicas[i]->state, {key});
      REQUIRE(snap.ok());
      snaps[i] = *snap;
      JoinState(joined, snaps[i]);
    }
    MemoryState whole = replicas[0]->state;  // the full replicas joined
    JoinState(whole, TakeSnapshot(replicas[1]->state));
    Snapshot joined_key = *KeySnapshot(joined, {key});
    Snapshot whole_key = *KeySnapshot(whole, {key});
    CHECK(joined_key.atoms == whole_key.atoms);

    // Repairs: each replica ends with every atom of the join it had not
    // seen, and loses none of its own.
    for (size_t i = 0; i < 2; ++i) {
      const Snapshot repair = RepairFor(TakeSnapshot(joined), snaps[i].context, replicas[i]->id);
      REQUIRE(CheckRepair(repair).ok());
      // Through the wire format, as GEOKV.REPAIR receives it.
      auto decoded = DecodeSnapshot(EncodeSnapshot(repair));
      REQUIRE(decoded.ok());
      const auto before = AtomsOf(replicas[i]->state);
      const size_t added = ApplyRepair(replicas[i]->state, *decoded, replicas[i]->id);
      CHECK(added == repair.atoms.size());
      const auto after = AtomsOf(replicas[i]->state);
      for (const auto& [path, atom] : before) {
        Atom kept;
        CHECK(replicas[i]->state.Find(path, atom.dot, &kept));
      }
      CHECK(after.size() == before.size() + added);
      // A second time adds nothing.
      CHECK(ApplyRepair(replicas[i]->state, *decoded, replicas[i]->id) == 0);
      for (const auto& [path, atom] : joined_key.atoms) {
        if (atom.dot.origin == replicas[i]->id) continue;
        CHECK(replicas[i]->state.Context().Contains(atom.dot));
      }
    }
    // Repaired replicas still converge to exactly the reference.
    for (const Pending& p : late) replicas[p.to]->Receive(p.delta);
    for (const auto& r : replicas) CHECK(test::Observe(r->state) == test::Observe(reference.state));
  }
}

TEST_CASE("Read repair: a replica's own dots are never repaired into it", "[unit]") {
  TestReplica a(1), b(2);
  Delta d = a.Mutate([&](DeltaBuilder& builder) { AddMember(builder, "s", "x"); });
  b.Receive(d);
  MemoryState restored;  // a's replica after a restore from before the write
  const Snapshot joined = TakeSnapshot(b.state);
  CHECK(RepairFor(joined, restored.Context(), a.id).atoms.empty());
  Snapshot forged = RepairFor(joined, restored.Context(), /*target=*/3);
  REQUIRE(forged.atoms.size() == 1);
  CHECK(ApplyRepair(restored, forged, a.id) == 0);
  CHECK(restored.Context().empty());
}

TEST_CASE("Read repair: a key snapshot over the limits is refused, naming the key", "[unit]") {
  TestReplica a(1);
  a.Mutate([&](DeltaBuilder& b) {
    for (int i = 0; i < 10; ++i) AddMember(b, "big", "m" + std::to_string(i));
    AddMember(b, "small", "m");
  });
  KeySnapshotLimits limits;
  limits.atoms_max = 5;
  auto big = KeySnapshot(a.state, {"big"}, limits);
  REQUIRE_FALSE(big.ok());
  CHECK(big.status().message().find("'big'") != std::string::npos);
  CHECK(KeySnapshot(a.state, {"small"}, limits).ok());
  limits = {};
  limits.bytes_max = 8;
  CHECK_FALSE(KeySnapshot(a.state, {"big"}, limits).ok());
}

TEST_CASE("Read repair: a repair whose context is not exactly its atoms' dots is refused",
          "[hostile]") {
  TestReplica a(1), b(2);
  b.Receive(a.Mutate([&](DeltaBuilder& builder) { AddMember(builder, "s", "x"); }));
  b.Receive(a.Mutate([&](DeltaBuilder& builder) { AddMember(builder, "s", "y"); }));
  Snapshot good = RepairFor(TakeSnapshot(b.state), DotContext{}, 3);
  REQUIRE(good.atoms.size() == 2);
  REQUIRE(CheckRepair(good).ok());

  Snapshot wider = good;  // would remove b's other atoms of origin 1 if joined as a state
  wider.context.InsertRange(1, 1, 100);
  CHECK_FALSE(CheckRepair(wider).ok());
  Snapshot narrower = good;
  narrower.context = DotContext{};
  CHECK_FALSE(CheckRepair(narrower).ok());
  Snapshot twice = good;  // two atoms with one dot
  twice.atoms[1].second.dot = twice.atoms[0].second.dot;
  twice.atoms[1].second.first = twice.atoms[0].second.first;
  twice.context = DotContext{};
  twice.context.Insert(twice.atoms[0].second.dot);
  CHECK_FALSE(CheckRepair(twice).ok());
  Snapshot backwards = good;
  backwards.atoms[0].second.first = backwards.atoms[0].second.dot.counter + 1;
  CHECK_FALSE(CheckRepair(backwards).ok());
  Snapshot zero = good;
  zero.atoms[0].second.first = 0;
  CHECK_FALSE(CheckRepair(zero).ok());
}

TEST_CASE("Read repair: mutated repair bytes are refused or, if taken, never remove an atom",
          "[hostile]") {
  const uint64_t seed = test::TestSeed();
  TestReplica a(1), b(2);
  for (int i = 0; i < 6; ++i) {
    b.Receive(a.Mutate([&](DeltaBuilder& builder) {
      AddMember(builder, "s", "m" + std::to_string(i));
      SetScalar(builder, ScalarRef{"k", std::nullopt}, a.clock.Now(), "v" + std::to_string(i));
    }));
  }
  const std::string good = EncodeSnapshot(RepairFor(TakeSnapshot(b.state), DotContext{}, 3));
  const int cases = test::CaseCount(2000);
  int taken = 0;
  for (int c = 0; c < cases; ++c) {
    INFO("GEOKV_SEED=" << seed << " case " << c);
    Prng rng(seed * 1'000'003 + c);
    std::string bytes = good;
    const int edits = 1 + static_cast<int>(rng.Below(4));
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng.Below(bytes.size());
      switch (rng.Below(3)) {
        case 0:
          bytes[at] = static_cast<char>(rng.Below(256));
          break;
        case 1:
          bytes.erase(at, 1 + rng.Below(3));
          break;
        default:
          bytes.insert(at, 1, static_cast<char>(rng.Below(256)));
      }
      if (bytes.empty()) bytes = "x";
    }
    auto decoded = DecodeSnapshot(bytes);
    if (!decoded.ok() || !CheckRepair(*decoded).ok()) continue;
    ++taken;
    TestReplica target(4);
    b.state.Scan(Scope::Partition(), [&](const Path& path, const Atom& atom) {
      if (atom.dot.counter % 2 == 0) target.state.Put(path, atom);  // a replica with some of it
      return true;
    });
    DotContext held;
    for (const auto& [path, atom] : AtomsOf(target.state)) held.Insert(atom.dot);
    target.state.JoinContext(held);
    const auto before = AtomsOf(target.state);
    ApplyRepair(target.state, *decoded, target.id);
    for (const auto& [path, atom] : before) {
      Atom kept;
      CHECK(target.state.Find(path, atom.dot, &kept));
    }
  }
  INFO("GEOKV_SEED=" << seed);
  CHECK(taken > 0);  // some mutations (of values) stay well-formed repairs
}

}  // namespace
}  // namespace geokv::crdt
