// Every row of DESIGN.md's conflict table at the CRDT level: two replicas A and
// B perform concurrent operations (neither has seen the other's), exchange
// deltas in both orders, and every replica shows the same, required result.
#include <algorithm>
#include <catch2/catch.hpp>

#include "crdt/join.h"
#include "crdt/key_type.h"
#include "crdt/mv_register.h"
#include "crdt/or_map.h"
#include "crdt/or_set.h"
#include "crdt/scalar.h"
#include "replica_harness.h"

namespace geokv::crdt {
namespace {

using test::TestReplica;

ScalarRef Str(const char* key) { return ScalarRef{key, std::nullopt}; }

// Three replicas share `before`; A and B run their operations concurrently; A
// and B exchange deltas, C receives B's then A's. Returns the three replicas.
struct Outcome {
  TestReplica a{1}, b{2}, c{3};
};

Outcome RunConcurrently(const std::function<void(DeltaBuilder&, TestReplica&)>& before,
                        const std::function<void(DeltaBuilder&, TestReplica&)>& at_a,
                        const std::function<void(DeltaBuilder&, TestReplica&)>& at_b) {
  Outcome o;
  if (before) {
    Delta d = o.a.Mutate([&](DeltaBuilder& b) { before(b, o.a); });
    o.b.Receive(d);
    o.c.Receive(d);
  }
  Delta da = o.a.Mutate([&](DeltaBuilder& b) { at_a(b, o.a); });
  Delta db = o.b.Mutate([&](DeltaBuilder& b) { at_b(b, o.b); });
  o.a.Receive(db);
  o.b.Receive(da);
  o.c.Receive(db);
  o.c.Receive(da);
  REQUIRE(TakeSnapshot(o.a.state) == TakeSnapshot(o.b.state));
  REQUIRE(TakeSnapshot(o.a.state) == TakeSnapshot(o.c.state));
  return o;
}

TEST_CASE("Conflict: concurrent SETs resolve to the greater (HLC, replica)", "[unit]") {
  auto o = RunConcurrently(
      nullptr, [](DeltaBuilder& b, TestReplica& r) { SetScalar(b, Str("k"), r.clock.Now(), "a"); },
      [](DeltaBuilder& b, TestReplica& r) {
        *r.wall_ms += 5;  // B's clock is ahead: B's write has the greater HLC
        SetScalar(b, Str("k"), r.clock.Now(), "b");
      });
  CHECK(ReadScalar(o.a.state, Str("k")).bytes == "b");

  // Equal HLCs: the greater replica id wins.
  auto tie = RunConcurrently(
      nullptr, [](DeltaBuilder& b, TestReplica& r) { SetScalar(b, Str("k"), r.clock.Now(), "a"); },
      [](DeltaBuilder& b, TestReplica& r) { SetScalar(b, Str("k"), r.clock.Now(), "b"); });
  CHECK(ReadScalar(tie.c.state, Str("k")).bytes == "b");  // B is replica 2 > 1
}

TEST_CASE("Conflict: SET wins over a concurrent DEL", "[unit]") {
  auto o = RunConcurrently(
      [](DeltaBuilder& b, TestReplica& r) { SetScalar(b, Str("k"), r.clock.Now(), "x"); },
      [](DeltaBuilder& b, TestReplica& r) { SetScalar(b, Str("k"), r.clock.Now(), "a"); },
      [](DeltaBuilder& b, TestReplica&) { CHECK(DeleteKey(b, "k")); });
  CHECK(ReadScalar(o.a.state, Str("k")).bytes == "a");
}

TEST_CASE("Conflict: concurrent float increments add up exactly, with DEL and text as for INCRBY",
          "[unit]") {
  const auto by = [](const char* text) { return *Decimal::Parse(text); };
  // 0.1 + 0.2 in binary floating point is 0.30000000000000004; exact sums give 0.3.
  auto o = RunConcurrently(
      nullptr,
      [&](DeltaBuilder& b, TestReplica&) { IncrementScalarDecimal(b, Str("k"), by("0.1")); },
      [&](DeltaBuilder& b, TestReplica&) { IncrementScalarDecimal(b, Str("k"), by("0.2")); });
  CHECK(ReadScalar(o.c.state, Str("k")).ToBytes() == "0.3");

  // DEL removes only the observed increments (no resurrection).
  auto del = RunConcurrently(
      [&](DeltaBuilder& b, TestReplica&) { IncrementScalarDecimal(b, Str("k"), by("10.5")); },
      [](DeltaBuilder& b, TestReplica&) { CHECK(DeleteKey(b, "k")); },
      [&](DeltaBuilder& b, TestReplica&) { IncrementScalarDecimal(b, Str("k"), by("2.25")); });
  CHECK(ReadScalar(del.a.state, Str("k")).ToBytes() == "2.25");

  // Text written concurrently hides the increments, as for INCRBY.
  auto text = RunConcurrently(
      nullptr,
      [](DeltaBuilder& b, TestReplica& r) { SetScalar(b, Str("k"), r.clock.Now(), "abc"); },
      [&](DeltaBuilder& b, TestReplica&) { IncrementScalarDecimal(b, Str("k"), by("1.5")); });
  CHECK(ReadScalar(text.b.state, Str("k")).ToBytes() == "abc");
}

TEST_CASE("Conflict: concurrent INCRBYs add up", "[unit]") {
  auto o = RunConcurrently(
      nullptr, [](DeltaBuilder& b, TestReplica&) { IncrementScalar(b, Str("k"), 5); },
      [](DeltaBuilder& b, TestReplica&) { IncrementScalar(b, Str("k"), 3); });
  auto v = ReadScalar(o.b.state, Str("k"));
  CHECK(v.kind == ScalarValue::Kind::kInteger);
  CHECK(v.integer == 8);
}

TEST_CASE("Conflict: DEL of a counter removes only what it observed", "[unit]") {
  auto o = RunConcurrently([](DeltaBuilder& b, TestReplica&) { IncrementScalar(b, Str("k"), 10); },
                           [](DeltaBuilder& b, TestReplica&) { CHECK(DeleteKey(b, "k")); },
                           [](DeltaBuilder& b, TestReplica&) { IncrementScalar(b, Str("k"), 3); });
  CHECK(ReadScalar(o.c.state, Str("k")).integer == 3);
}

TEST_CASE("Conflict: SADD wins over a concurrent SREM of the same member", "[unit]") {
  auto o = RunConcurrently([](DeltaBuilder& b, TestReplica&) { AddMember(b, "s", "x"); },
                           [](DeltaBuilder& b, TestReplica&) { CHECK(RemoveMember(b, "s", "x")); },
                           [](DeltaBuilder& b, TestReplica&) { AddMember(b, "s", "x"); });
  CHECK(IsMember(o.a.state, "s", "x"));
  CHECK(Cardinality(o.a.state, "s") == 1);
}

TEST_CASE("Conflict: HINCRBY concurrent with HDEL keeps only the increment", "[unit]") {
  auto o =
      RunConcurrently([](DeltaBuilder& b, TestReplica&) { IncrementField(b, "cart", "sku", 1); },
                      [](DeltaBuilder& b, TestReplica&) { CHECK(DeleteField(b, "cart", "sku")); },
                      [](DeltaBuilder& b, TestReplica&) { IncrementField(b, "cart", "sku", 2); });
  CHECK(ReadField(o.a.state, "cart", "sku").integer == 2);
}

TEST_CASE("Conflict: HSET concurrent with DEL of the hash keeps only the new field", "[unit]") {
  auto o = RunConcurrently(
      [](DeltaBuilder& b, TestReplica& r) { SetField(b, "h", "f", r.clock.Now(), "1"); },
      [](DeltaBuilder& b, TestReplica&) { CHECK(DeleteKey(b, "h")); },
      [](DeltaBuilder& b, TestReplica& r) { SetField(b, "h", "g", r.clock.Now(), "v"); });
  auto fields = ReadFields(o.b.state, "h");
  REQUIRE(fields.size() == 1);
  CHECK(fields[0].first == "g");
  CHECK(fields[0].second.bytes == "v");
}

TEST_CASE("Conflict: SET and SADD of one key resolve to the same type everywhere", "[unit]") {
  // The rule (key_space.h): hash > set > mvreg > string.
  auto o = RunConcurrently(
      nullptr, [](DeltaBuilder& b, TestReplica& r) { SetScalar(b, Str("k"), r.clock.Now(), "x"); },
      [](DeltaBuilder& b, TestReplica&) { AddMember(b, "k", "y"); });
  for (auto* r : {&o.a, &o.b, &o.c}) {
    CHECK(VisibleType(r->state, "k") == ValueType::kSet);
    CHECK(Members(r->state, "k") == std::vector<std::string>{"y"});
  }
  // A later write of the visible type removes the hidden string it observed.
  Delta d = o.a.Mutate([](DeltaBuilder& b) { AddMember(b, "k", "z"); });
  CHECK(ReadScalar(o.a.state, Str("k")).kind == ScalarValue::Kind::kAbsent);
  o.b.Receive(d);
  CHECK(TakeSnapshot(o.a.state) == TakeSnapshot(o.b.state));
}

TEST_CASE("Conflict: concurrent MVSETs are siblings; MVSET with the token resolves them",
          "[unit]") {
  auto o = RunConcurrently(
      nullptr, [](DeltaBuilder& b, TestReplica&) { MvSet(b, "k", "a", nullptr); },
      [](DeltaBuilder& b, TestReplica&) { MvSet(b, "k", "b", nullptr); });
  MvSiblings got = MvGet(o.a.state, "k");
  std::sort(got.values.begin(), got.values.end());
  CHECK(got.values == std::vector<std::string>{"a", "b"});

  // A resolves with the token while C concurrently writes another sibling.
  auto token = DecodeMvToken(EncodeMvToken(got.token));
  REQUIRE(token.ok());
  Delta resolve = o.a.Mutate([&](DeltaBuilder& b) { MvSet(b, "k", "c", &*token); });
  Delta concurrent = o.c.Mutate([](DeltaBuilder& b) { MvSet(b, "k", "d", nullptr); });
  CHECK(MvGet(o.a.state, "k").values == std::vector<std::string>{"c"});
  for (auto* r : {&o.a, &o.b, &o.c}) {
    r->Receive(resolve);
    r->Receive(concurrent);
  }
  for (auto* r : {&o.a, &o.b, &o.c}) {
    MvSiblings now = MvGet(r->state, "k");
    std::sort(now.values.begin(), now.values.end());
    CHECK(now.values == std::vector<std::string>{"c", "d"});  // the concurrent one survives
  }
}

}  // namespace
}  // namespace geokv::crdt
