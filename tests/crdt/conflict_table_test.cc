// Every row of DESIGN.md's conflict table at the CRDT level: two replicas A and
// B perform concurrent operations (neither has seen the other's), exchange
// deltas in both orders, and every replica shows the same, required result.
#include <algorithm>
#include <catch2/catch.hpp>
#include <vector>

#include "crdt/expiry.h"
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

using Step = std::function<void(DeltaBuilder&, TestReplica&)>;

// As below, with `before` made of several operations in sequence (each its own
// delta, so each observes the ones before it).
Outcome RunConcurrentlyAfter(const std::vector<Step>& before, const Step& at_a, const Step& at_b) {
  Outcome o;
  for (const Step& step : before) {
    Delta d = o.a.Mutate([&](DeltaBuilder& b) { step(b, o.a); });
    o.b.Receive(d);
    o.c.Receive(d);
  }
  Delta da = o.a.Mutate([&](DeltaBuilder& b) {
    if (at_a) at_a(b, o.a);
  });
  Delta db = o.b.Mutate([&](DeltaBuilder& b) {
    if (at_b) at_b(b, o.b);
  });
  o.a.Receive(db);
  o.b.Receive(da);
  o.c.Receive(db);
  o.c.Receive(da);
  REQUIRE(TakeSnapshot(o.a.state) == TakeSnapshot(o.b.state));
  REQUIRE(TakeSnapshot(o.a.state) == TakeSnapshot(o.c.state));
  return o;
}

Outcome RunConcurrently(const Step& before, const Step& at_a, const Step& at_b) {
  return RunConcurrentlyAfter(before ? std::vector<Step>{before} : std::vector<Step>{}, at_a, at_b);
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

// Expiry (DESIGN.md "Expiry (TTL)", crdt/expiry.h). Deadlines are absolute ms;
// the replicas' wall clocks read 1'000'000.

// SET k v without KEEPTTL, as the command does it.
void SetClearingTtl(DeltaBuilder& b, TestReplica& r, const char* key, const char* value) {
  ClaimKey(b, key, ValueType::kString);
  ClearExpiry(b, key);
  SetScalar(b, Str(key), r.clock.Now(), value, TtlEffect::kClear);
}

Step SetStep(const char* key, const char* value) {
  return [=](DeltaBuilder& b, TestReplica& r) { SetClearingTtl(b, r, key, value); };
}
Step ExpireStep(const char* key, int64_t deadline_ms) {
  return [=](DeltaBuilder& b, TestReplica&) { SetDeadline(b, key, deadline_ms); };
}

void CheckDeadlineEverywhere(Outcome& o, const char* key, std::optional<int64_t> expected) {
  for (auto* r : {&o.a, &o.b, &o.c}) {
    INFO("replica " << r->id);
    CHECK(Deadline(r->state, key) == expected);
  }
}

TEST_CASE("Conflict: EXPIRE 10 concurrent with EXPIRE 100 gives the later deadline", "[unit]") {
  auto o =
      RunConcurrently(SetStep("k", "x"), ExpireStep("k", 2'000'010), ExpireStep("k", 2'000'100));
  CheckDeadlineEverywhere(o, "k", 2'000'100);
  // Either order of the concurrent pair: the same (the later deadline at B).
  auto swapped =
      RunConcurrently(SetStep("k", "x"), ExpireStep("k", 2'000'100), ExpireStep("k", 2'000'010));
  CheckDeadlineEverywhere(swapped, "k", 2'000'100);
}

TEST_CASE("Conflict: PERSIST concurrent with EXPIRE leaves the key persistent", "[unit]") {
  auto o = RunConcurrentlyAfter({SetStep("k", "x"), ExpireStep("k", 2'000'000)},
                                ExpireStep("k", 3'000'000),
                                [](DeltaBuilder& b, TestReplica&) { CHECK(Persist(b, "k")); });
  CheckDeadlineEverywhere(o, "k", std::nullopt);
  // Nothing expired anywhere, even long after both deadlines.
  CHECK_FALSE(IsDead(o.c.state, "k", 9'000'000));
}

TEST_CASE("Conflict: SET without KEEPTTL concurrent with EXPIRE leaves the key persistent",
          "[unit]") {
  auto o = RunConcurrently(SetStep("k", "x"), ExpireStep("k", 2'000'000), SetStep("k", "b"));
  CheckDeadlineEverywhere(o, "k", std::nullopt);
  CHECK(ReadScalar(o.a.state, Str("k")).bytes == "b");
  // The same with a TTL before: B's SET removed the one it saw, A's new one
  // meets B's "none".
  auto with_ttl = RunConcurrentlyAfter({SetStep("k", "x"), ExpireStep("k", 1'500'000)},
                                       ExpireStep("k", 2'000'000), SetStep("k", "b"));
  CheckDeadlineEverywhere(with_ttl, "k", std::nullopt);
}

TEST_CASE("Expiry: a write that follows another replaces it", "[unit]") {
  // SET then EXPIRE: the EXPIRE observed (covers) the SET, the deadline applies.
  auto o = RunConcurrentlyAfter({SetStep("k", "x"), ExpireStep("k", 2'000'000)}, nullptr, nullptr);
  CheckDeadlineEverywhere(o, "k", 2'000'000);
  CHECK(IsExpired(o.a.state, "k", 2'000'001));
  CHECK_FALSE(IsExpired(o.a.state, "k", 2'000'000));  // expired once the clock is past it
  // EXPIRE then SET: persistent, and the SET added no expiry atom.
  auto s = RunConcurrentlyAfter({SetStep("k", "x"), ExpireStep("k", 2'000'000), SetStep("k", "y")},
                                nullptr, nullptr);
  CheckDeadlineEverywhere(s, "k", std::nullopt);
  size_t expiry_atoms = 0;
  s.a.state.Scan(Scope::Key("k", Bit(Slot::kExpiry)), [&](const Path&, const Atom&) {
    ++expiry_atoms;
    return true;
  });
  CHECK(expiry_atoms == 0);
  // EXPIRE 100 then EXPIRE 10: the later write wins even with an earlier deadline.
  auto e = RunConcurrentlyAfter(
      {SetStep("k", "x"), ExpireStep("k", 2'000'100), ExpireStep("k", 2'000'010)}, nullptr,
      nullptr);
  CheckDeadlineEverywhere(e, "k", 2'000'010);
}

TEST_CASE("Expiry: a key that never had a TTL pays no atom for it", "[unit]") {
  TestReplica a(1);
  for (int i = 0; i < 3; ++i) a.Mutate([&](DeltaBuilder& b) { SetClearingTtl(b, a, "k", "v"); });
  CHECK(a.state.AtomCount() == 1);  // the register only
  CHECK(Deadline(a.state, "k") == std::nullopt);
}

TEST_CASE("Conflict: writes that keep the TTL, concurrent with EXPIRE, keep its deadline",
          "[unit]") {
  // SET KEEPTTL (a register write without the flag), INCRBY, HSET, SADD write
  // no expiry: the concurrent deadline applies, as if they had come first.
  auto keep = RunConcurrently(SetStep("k", "x"), ExpireStep("k", 2'000'000),
                              [](DeltaBuilder& b, TestReplica& r) {
                                ClaimKey(b, "k", ValueType::kString);
                                SetScalar(b, Str("k"), r.clock.Now(), "y");
                              });
  CheckDeadlineEverywhere(keep, "k", 2'000'000);
  auto incr =
      RunConcurrently(SetStep("k", "1"), ExpireStep("k", 2'000'000),
                      [](DeltaBuilder& b, TestReplica&) { IncrementScalar(b, Str("k"), 2); });
  CheckDeadlineEverywhere(incr, "k", 2'000'000);
  auto hset = RunConcurrently(
      [](DeltaBuilder& b, TestReplica& r) { SetField(b, "h", "f", r.clock.Now(), "1"); },
      ExpireStep("h", 2'000'000),
      [](DeltaBuilder& b, TestReplica& r) { SetField(b, "h", "g", r.clock.Now(), "2"); });
  CheckDeadlineEverywhere(hset, "h", 2'000'000);
}

TEST_CASE("Conflict: HSET concurrent with the expiry's removal keeps the new field", "[unit]") {
  auto o = RunConcurrentlyAfter(
      {[](DeltaBuilder& b, TestReplica& r) { SetField(b, "h", "f", r.clock.Now(), "1"); },
       ExpireStep("h", 1'000'100)},
      [](DeltaBuilder& b, TestReplica&) { CHECK(RemoveIfDead(b, "h", 1'000'200)); },
      [](DeltaBuilder& b, TestReplica& r) { SetField(b, "h", "g", r.clock.Now(), "v"); });
  for (auto* r : {&o.a, &o.b, &o.c}) {
    INFO("replica " << r->id);
    LiveView live(r->state, 1'000'200);
    auto fields = ReadFields(live, "h");
    REQUIRE(fields.size() == 1);
    CHECK(fields[0].first == "g");
    CHECK(Deadline(r->state, "h") == std::nullopt);  // the removal took the deadline with it
  }
  // The removal is idempotent: issuing it again (anywhere) finds nothing dead.
  o.c.Mutate([](DeltaBuilder& b) { CHECK_FALSE(RemoveIfDead(b, "h", 1'000'300)); });
}

TEST_CASE("Expiry: an expired key is absent to every read through LiveView", "[unit]") {
  TestReplica a(1);
  a.Mutate([&](DeltaBuilder& b) { AddMember(b, "s", "m"); });
  a.Mutate([&](DeltaBuilder& b) { SetDeadline(b, "s", 1'000'050); });
  a.Mutate([&](DeltaBuilder& b) { SetClearingTtl(b, a, "t", "v"); });
  const LiveView before(a.state, 1'000'050), after(a.state, 1'000'051);
  CHECK(VisibleType(before, "s") == ValueType::kSet);
  CHECK(VisibleType(after, "s") == ValueType::kNone);
  CHECK(Members(after, "s").empty());
  CHECK(Keys(before) == std::vector<std::string>{"s", "t"});
  CHECK(Keys(after) == std::vector<std::string>{"t"});
  CHECK(ReadScalar(after, Str("t")).bytes == "v");
}

TEST_CASE("Conflict: DEL concurrent with EXPIRE leaves no key; a new key starts persistent",
          "[unit]") {
  auto o = RunConcurrently(SetStep("k", "x"), ExpireStep("k", 2'000'000),
                           [](DeltaBuilder& b, TestReplica&) { CHECK(DeleteKey(b, "k")); });
  const LiveView live(o.a.state, 1'000'000);
  CHECK(VisibleType(live, "k") == ValueType::kNone);
  CHECK(Keys(live).empty());
  CHECK(IsDead(o.a.state, "k", 1'000'000));  // only the EXPIRE's atom is left
  // A write to a dead key removes it first (the commands do), so the new hash
  // does not inherit the stale deadline.
  o.a.Mutate([&](DeltaBuilder& b) { CHECK(RemoveIfDead(b, "k", 1'000'000)); });
  o.a.Mutate([&](DeltaBuilder& b) { SetField(b, "k", "f", o.a.clock.Now(), "1"); });
  CHECK(Deadline(o.a.state, "k") == std::nullopt);
  CHECK(VisibleType(o.a.state, "k") == ValueType::kHash);
}

}  // namespace
}  // namespace geokv::crdt
