// ReplicationCore::ApplyHint: a hint (a blind write's delta built against an
// empty state under a process's own origin) joins a replica outside every
// stream; anything that is not such a hint is refused, whatever its bytes.
#include <catch2/catch.hpp>
#include <optional>

#include "common/prng.h"
#include "crdt/codec.h"
#include "crdt/expiry.h"
#include "crdt/key_type.h"
#include "crdt/memory_state.h"
#include "crdt/scalar.h"
#include "random_ops.h"
#include "replica/replication/core.h"
#include "replica/replication/memory_store.h"
#include "seed.h"

namespace geokv::replication {
namespace {

using crdt::ReplicaId;

constexpr ReplicaId kA = 0xA, kB = 0xB, kC = 0xC, kD = 0xD;  // kD holds nothing
constexpr ReplicaId kHint = 0x5151'5151'5151'5151;
constexpr uint32_t kP = 0;       // held by A, B, C
constexpr uint32_t kUnheld = 1;  // held by B, C, D: not by A

Membership MembershipOf(ReplicaId self) {
  Membership m;
  m.self = self;
  m.dc_of = {{kA, 0}, {kB, 1}, {kC, 2}, {kD, 3}};
  m.replicas = {{kA, kB, kC}, {kB, kC, kD}};
  return m;
}

struct Replica {
  explicit Replica(ReplicaId self)
      : store(2, size_t{1} << 20), core(MembershipOf(self), Options{}, store, 0) {}
  MemoryReplicaStore store;
  ReplicationCore core;
  std::string View(uint32_t p = kP) { return test::Observe(store.State(p)); }
};

// A SET key value as Hints::Keep builds it: against an empty state, with the
// origin's dots after `issued`.
crdt::Delta HintOf(const std::string& key, const std::string& value, uint64_t issued = 0,
                   ReplicaId origin = kHint) {
  crdt::MemoryState empty;
  if (issued > 0) {
    crdt::DotContext seen;
    seen.InsertRange(origin, 1, issued);
    empty.JoinContext(seen);
  }
  crdt::DeltaBuilder b(empty, origin);
  crdt::ClaimKey(b, key, crdt::ValueType::kString);
  crdt::ClearExpiry(b, key);
  crdt::SetScalar(b, crdt::ScalarRef{key, std::nullopt}, crdt::Hlc{1000 + issued}, value,
                  crdt::TtlEffect::kClear);
  return std::move(b).Finish();
}

std::string Value(Replica& r, const std::string& key) {
  return crdt::ReadScalar(r.store.State(kP), crdt::ScalarRef{key, std::nullopt}).ToBytes();
}

TEST_CASE("ApplyHint: a hint joins like a delta but moves no stream and ships nothing", "[unit]") {
  Replica a(kA);
  const crdt::Delta hint = HintOf("k", "v");
  REQUIRE(hint.removals.empty());
  CHECK(a.core.ApplyHint(a.store, kP, hint) == HintOutcome::kApplied);
  CHECK(Value(a, "k") == "v");
  CHECK(a.core.Applied(kP, kA) == 0);
  CHECK(a.core.Applied(kP, kHint) == 0);
  CHECK(a.store.ReadLog(kP, kHint, 0, size_t{1} << 20).value().empty());
  for (const Outgoing& o : a.core.TakeOutgoing(1)) {
    CHECK(o.kind != Outgoing::Kind::kPublishPartition);
  }
  // Handed off again (the acknowledgement was lost): nothing changes.
  const std::string before = a.View();
  CHECK(a.core.ApplyHint(a.store, kP, hint) == HintOutcome::kDuplicate);
  CHECK(a.View() == before);
  CHECK(a.core.stats().hints_applied == 1);
  CHECK(a.core.stats().hints_duplicate == 1);
}

TEST_CASE("ApplyHint: hints of one origin join in any order, and a later write wins by its HLC",
          "[unit]") {
  Replica a(kA), b(kB);
  const crdt::Delta first = HintOf("k", "one", 0), second = HintOf("k", "two", first.last);
  REQUIRE(second.first == first.last + 1);
  CHECK(a.core.ApplyHint(a.store, kP, first) == HintOutcome::kApplied);
  CHECK(a.core.ApplyHint(a.store, kP, second) == HintOutcome::kApplied);
  CHECK(b.core.ApplyHint(b.store, kP, second) == HintOutcome::kApplied);
  CHECK(b.core.ApplyHint(b.store, kP, first) == HintOutcome::kApplied);
  CHECK(Value(a, "k") == "two");
  CHECK(a.View() == b.View());
}

TEST_CASE("ApplyHint: a removal of the hint's dots that arrived first wins", "[unit]") {
  Replica a(kA), b(kB);
  const crdt::Delta hint = HintOf("k", "v");
  REQUIRE(a.core.ApplyHint(a.store, kP, hint) == HintOutcome::kApplied);
  // A deletes the key (its removal covers the hint's dots) and ships it to B
  // before B gets the hint.
  crdt::DeltaBuilder del(a.store.State(kP), kA);
  crdt::DeleteKey(del, "k");
  const crdt::Delta d = std::move(del).Finish();
  crdt::ApplyDelta(a.store.State(kP), d);
  a.core.OnLocalDelta(a.store, kP, d, 1);
  for (const Outgoing& o : a.core.TakeOutgoing(2)) {
    if (o.kind == Outgoing::Kind::kPublishPartition) b.core.OnMessage(b.store, o.message, 3);
  }
  REQUIRE(b.core.Applied(kP, kA) == d.last);
  CHECK(b.core.ApplyHint(b.store, kP, hint) == HintOutcome::kDuplicate);
  CHECK(Value(b, "k").empty());
  CHECK(a.View() == b.View());
}

TEST_CASE("ApplyHint: refuses what is not a hint, and leaves the replica as it was", "[hostile]") {
  Replica a(kA);
  const std::string empty_view = a.View();
  auto refused = [&](const crdt::Delta& d) {
    const uint64_t before = a.core.stats().hints_refused;
    const bool r = a.core.ApplyHint(a.store, kP, d) == HintOutcome::kRefused;
    CHECK(a.core.stats().hints_refused == before + 1);
    CHECK(a.View() == empty_view);
    return r;
  };
  // A node's id as origin (a replica of p, another node, this node).
  CHECK(refused(HintOf("k", "v", 0, kB)));
  CHECK(refused(HintOf("k", "v", 0, kD)));
  CHECK(refused(HintOf("k", "v", 0, kA)));
  // Removals: built against a state that held the key.
  {
    crdt::MemoryState held;
    crdt::ApplyDelta(held, HintOf("k", "old"));
    crdt::DeltaBuilder b(held, kHint);
    crdt::SetScalar(b, crdt::ScalarRef{"k", std::nullopt}, crdt::Hlc{5000}, "new");
    const crdt::Delta d = std::move(b).Finish();
    REQUIRE(!d.removals.empty());
    CHECK(refused(d));
  }
  crdt::Delta bad = HintOf("k", "v");
  bad.additions.clear();  // nothing added
  CHECK(refused(bad));
  bad = HintOf("k", "v");
  bad.last += 1;  // a dot with no atom
  CHECK(refused(bad));
  bad = HintOf("k", "v");
  bad.additions.front().path.slot = crdt::Slot::kMember;  // not a string write
  bad.additions.front().path.field = "m";
  CHECK(refused(bad));
  bad = HintOf("k", "v");
  bad.additions.front().atom.first = 0;  // a fold
  CHECK(refused(bad));
  bad = HintOf("k", "v");
  bad.origin = 0;
  CHECK(refused(bad));
}

TEST_CASE("ApplyHint: a partition not held here is not served: the sender asks again", "[unit]") {
  Replica a(kA);
  CHECK(a.core.ApplyHint(a.store, kUnheld, HintOf("k", "v")) == HintOutcome::kNotServing);
  CHECK(a.core.ApplyHint(a.store, 7, HintOf("k", "v")) == HintOutcome::kNotServing);
  CHECK(a.core.stats().hints_applied == 0);
}

TEST_CASE("ApplyHint: while the partition moves, a leaver refuses and an owner that stays takes it",
          "[unit]") {
  Membership next = MembershipOf(kA);
  next.epoch = 1;
  next.replicas[kP] = {kB, kC, kD};  // A leaves p, D joins
  Replica a(kA);
  REQUIRE(a.core.Reconfigure(a.store, next, 1).ok());
  REQUIRE(a.core.Serving(kP));  // a leaver serves until the joiner caught up
  // No owner of the keeper's placement: it may delete p before the joiner
  // has the hint.
  CHECK(a.core.ApplyHint(a.store, kP, HintOf("k", "v"), 1) == HintOutcome::kNotServing);
  CHECK(Value(a, "k").empty());

  // B stays: the joiner fills from it and takes the hint's atom with its dot
  // whenever B took it (JoinChunk's no_delta), so B need not wait.
  next.self = kB;
  Replica b(kB);
  REQUIRE(b.core.Reconfigure(b.store, next, 1).ok());
  CHECK(b.core.ApplyHint(b.store, kP, HintOf("k", "v"), 1) == HintOutcome::kApplied);
  CHECK(Value(b, "k") == "v");
}

TEST_CASE("ApplyHint: a keeper at another epoch than this node's asks again", "[unit]") {
  // An acknowledgement counts for the keeper's placement only: an owner at
  // another epoch may leave p, or fill it from an owner without the hint.
  Replica b(kB);
  CHECK(b.core.ApplyHint(b.store, kP, HintOf("k", "v"), 1) == HintOutcome::kNotServing);
  CHECK(Value(b, "k").empty());
  CHECK(b.core.ApplyHint(b.store, kP, HintOf("k", "v"), 0) == HintOutcome::kApplied);
  Membership next = MembershipOf(kB);
  next.epoch = 1;  // the same owners
  REQUIRE(b.core.Reconfigure(b.store, next, 1).ok());
  CHECK(b.core.ApplyHint(b.store, kP, HintOf("k2", "v", 1), 0) == HintOutcome::kNotServing);
  CHECK(b.core.ApplyHint(b.store, kP, HintOf("k2", "v", 1), 1) == HintOutcome::kApplied);
  // A keeper that does not say its epoch (an older build) is not asked.
  CHECK(b.core.ApplyHint(b.store, kP, HintOf("k3", "v", 2)) == HintOutcome::kApplied);
}

TEST_CASE("ApplyHint: random bytes and mutated hints never crash it", "[hostile]") {
  const uint64_t seed = test::TestSeed();
  const std::string good = crdt::EncodeDelta(HintOf("k", "v"));
  Replica a(kA);
  for (int c = 0; c < test::CaseCount(2000); ++c) {
    INFO("GEOKV_SEED=" << seed << " case " << c);
    Prng rng(seed + static_cast<uint64_t>(c));
    std::string bytes = good;
    const int flips = static_cast<int>(rng.Below(4)) + 1;
    for (int i = 0; i < flips; ++i) {
      bytes[rng.Below(bytes.size())] = static_cast<char>(rng.Below(256));
    }
    if (rng.Chance(10)) bytes.resize(rng.Below(bytes.size()));
    auto decoded = crdt::DecodeDelta(bytes);
    if (!decoded.ok()) continue;
    const HintOutcome outcome = a.core.ApplyHint(a.store, kP, *decoded);
    if (outcome == HintOutcome::kApplied) CHECK(decoded->removals.empty());
  }
}

}  // namespace
}  // namespace geokv::replication
