// Local (single-replica) behaviour of each type, as Redis users expect it, and
// the properties that keep deltas small.
#include <catch2/catch.hpp>

#include "crdt/codec.h"
#include "crdt/fold.h"
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

const ScalarRef kK{"k", std::nullopt};

TEST_CASE("Scalar: INCR works on integer strings and refuses text and overflow", "[unit]") {
  TestReplica r(1);
  r.Mutate([&](DeltaBuilder& b) { SetScalar(b, kK, r.clock.Now(), "10"); });
  int64_t next = 0;
  CHECK(IncrementedValue(ReadScalar(r.state, kK), 1, &next) == IncrementError::kNone);
  CHECK(next == 11);
  r.Mutate([&](DeltaBuilder& b) { IncrementScalar(b, kK, 1); });
  CHECK(ReadScalar(r.state, kK).ToBytes() == "11");

  r.Mutate([&](DeltaBuilder& b) { SetScalar(b, kK, r.clock.Now(), "abc"); });
  CHECK(ReadScalar(r.state, kK).bytes == "abc");  // SET removed the increment
  CHECK(IncrementedValue(ReadScalar(r.state, kK), 1, &next) == IncrementError::kNotInteger);

  r.Mutate([&](DeltaBuilder& b) { SetScalar(b, kK, r.clock.Now(), std::to_string(INT64_MAX)); });
  CHECK(IncrementedValue(ReadScalar(r.state, kK), 1, &next) == IncrementError::kOverflow);
  CHECK(IncrementedValue(ReadScalar(r.state, kK), -1, &next) == IncrementError::kNone);
  CHECK(IncrementedValue(ScalarValue{}, -5, &next) == IncrementError::kNone);
  CHECK(next == -5);
}

TEST_CASE("Scalar: integers parse as Redis parses them", "[unit]") {
  CHECK(ParseInt64("0") == 0);
  CHECK(ParseInt64("-12") == -12);
  CHECK(ParseInt64("9223372036854775807") == INT64_MAX);
  CHECK(ParseInt64("-9223372036854775808") == INT64_MIN);
  for (const char* bad : {"", "-", "01", "-0", "+1", " 1", "1 ", "1.0", "9223372036854775808",
                          "abc", "123456789012345678901"}) {
    INFO(bad);
    CHECK_FALSE(ParseInt64(bad).has_value());
  }
}

TEST_CASE("Scalar: concurrent increments past int64 clamp the same way everywhere", "[unit]") {
  TestReplica a(1), b(2);
  Delta da = a.Mutate([&](DeltaBuilder& bb) { IncrementScalar(bb, kK, INT64_MAX); });
  Delta db = b.Mutate([&](DeltaBuilder& bb) { IncrementScalar(bb, kK, INT64_MAX); });
  a.Receive(db);
  b.Receive(da);
  CHECK(ReadScalar(a.state, kK).integer == INT64_MAX);
  CHECK(ReadScalar(b.state, kK).integer == INT64_MAX);
}

TEST_CASE("Set: members, cardinality and removal", "[unit]") {
  TestReplica r(1);
  r.Mutate([&](DeltaBuilder& b) {
    AddMember(b, "s", "b");
    AddMember(b, "s", "a");
  });
  r.Mutate([&](DeltaBuilder& b) { AddMember(b, "s", "a"); });  // re-add refreshes the dot
  CHECK(Members(r.state, "s") == std::vector<std::string>{"a", "b"});
  CHECK(Cardinality(r.state, "s") == 2);
  CHECK(r.state.AtomCount() == 2);  // the re-add replaced the old atom
  bool removed = false;
  r.Mutate([&](DeltaBuilder& b) { removed = RemoveMember(b, "s", "a"); });
  CHECK(removed);
  r.Mutate([&](DeltaBuilder& b) { removed = RemoveMember(b, "s", "zz"); });
  CHECK_FALSE(removed);
  CHECK(Members(r.state, "s") == std::vector<std::string>{"b"});
  CHECK(VisibleType(r.state, "s") == ValueType::kSet);
  CHECK(VisibleType(r.state, "nope") == ValueType::kNone);
}

TEST_CASE("Hash: HSET, HINCRBY on top, HDEL, and the field list", "[unit]") {
  TestReplica r(1);
  r.Mutate([&](DeltaBuilder& b) { SetField(b, "h", "n", r.clock.Now(), "5"); });
  r.Mutate([&](DeltaBuilder& b) { IncrementField(b, "h", "n", 2); });
  r.Mutate([&](DeltaBuilder& b) { SetField(b, "h", "name", r.clock.Now(), "x"); });
  CHECK(ReadField(r.state, "h", "n").integer == 7);
  auto fields = ReadFields(r.state, "h");
  REQUIRE(fields.size() == 2);
  CHECK(fields[0].first == "n");
  CHECK(fields[1].second.bytes == "x");
  bool removed = false;
  r.Mutate([&](DeltaBuilder& b) { removed = DeleteField(b, "h", "n"); });
  CHECK(removed);
  CHECK_FALSE(ReadField(r.state, "h", "n").present());
  CHECK(VisibleType(r.state, "h") == ValueType::kHash);
}

TEST_CASE("MV register: a forged token removes nothing outside the key", "[unit]") {
  TestReplica r(1);
  r.Mutate([&](DeltaBuilder& b) { AddMember(b, "other", "m"); });
  r.Mutate([&](DeltaBuilder& b) { MvSet(b, "k", "a", nullptr); });
  DotContext forged;
  forged.InsertRange(1, 1, 1000);  // every dot of replica 1, including the set's
  Delta d = r.Mutate([&](DeltaBuilder& b) { MvSet(b, "k", "b", &forged); });
  CHECK(MvGet(r.state, "k").values == std::vector<std::string>{"b"});
  CHECK(IsMember(r.state, "other", "m"));
  // The removal covers only the sibling the token really named.
  REQUIRE(d.removals.size() == 1);
  CHECK(d.removals[0].covered.IntervalCount() == 1);
  CHECK_FALSE(DecodeMvToken("zz").ok());
  CHECK_FALSE(DecodeMvToken("abc").ok());
}

TEST_CASE("FLUSH removes what the replica saw; concurrent writes survive", "[unit]") {
  TestReplica a(1), b(2);
  Delta w = a.Mutate([&](DeltaBuilder& bb) { SetScalar(bb, kK, a.clock.Now(), "x"); });
  b.Receive(w);
  Delta flush = a.Mutate([](DeltaBuilder& bb) { FlushPartition(bb); });
  Delta concurrent = b.Mutate([](DeltaBuilder& bb) { AddMember(bb, "s", "m"); });
  a.Receive(concurrent);
  b.Receive(flush);
  CHECK(Keys(a.state) == std::vector<std::string>{"s"});
  CHECK(TakeSnapshot(a.state) == TakeSnapshot(b.state));
}

TEST_CASE("Fold: a DEL concurrent with an INCRBY keeps only the increment, folded or not",
          "[unit]") {
  // k = 10 made of increments from two replicas; all stable, then folded at A
  // only. B deletes (observing unfolded atoms) while A increments by 3.
  TestReplica a(1), b(2);
  for (int i = 0; i < 3; ++i) {
    Delta da = a.Mutate([&](DeltaBuilder& bb) { IncrementScalar(bb, kK, 2); });
    b.Receive(da);
  }
  for (int i = 0; i < 2; ++i) {
    Delta db = b.Mutate([&](DeltaBuilder& bb) { IncrementScalar(bb, kK, 2); });
    a.Receive(db);
  }
  REQUIRE(ReadScalar(a.state, kK).integer == 10);
  StableVector stable{{1, a.state.Context().Contiguous(1)}, {2, a.state.Context().Contiguous(2)}};
  CHECK(FoldStableCounters(a.state, Scope::Partition(), stable) == 3);
  CHECK(a.state.AtomCount() == 2);
  CHECK(ReadScalar(a.state, kK).integer == 10);
  // A state transfer of the fold into an unfolded copy keeps the fold.
  MemoryState copy = b.state;
  JoinState(copy, TakeSnapshot(a.state));
  CHECK(ReadScalar(copy, kK).integer == 10);
  CHECK(copy.AtomCount() == 2);

  Delta del = b.Mutate([](DeltaBuilder& bb) { DeleteKey(bb, "k"); });
  Delta inc = a.Mutate([&](DeltaBuilder& bb) { IncrementScalar(bb, kK, 3); });
  a.Receive(del);
  b.Receive(inc);
  CHECK(ReadScalar(a.state, kK).integer == 3);
  CHECK(ReadScalar(b.state, kK).integer == 3);

  // And the other way round: the folding replica deletes.
  Delta del2 = a.Mutate([](DeltaBuilder& bb) { DeleteKey(bb, "k"); });
  b.Receive(del2);
  CHECK_FALSE(ReadScalar(b.state, kK).present());
  CHECK(TakeSnapshot(a.state) == TakeSnapshot(b.state));
}

TEST_CASE("Fold: the folded view of a replica that has not folded is the one that has",
          "[unit]") {
  TestReplica a(1), b(2);
  for (int i = 0; i < 3; ++i) {
    Delta da = a.Mutate([&](DeltaBuilder& bb) { IncrementScalar(bb, kK, 2); });
    b.Receive(da);
  }
  Delta db = b.Mutate([&](DeltaBuilder& bb) { IncrementScalar(bb, kK, 5); });
  a.Receive(db);
  Delta s = a.Mutate([&](DeltaBuilder& bb) { AddMember(bb, "s", "m"); });
  b.Receive(s);
  StableVector stable{{1, a.state.Context().Contiguous(1)}, {2, a.state.Context().Contiguous(2)}};
  REQUIRE(FoldStableCounters(a.state, Scope::Partition(), stable) == 2);
  const auto folded = TakeSnapshot(a.state).atoms;
  const auto unfolded = TakeSnapshot(b.state).atoms;
  REQUIRE(folded != unfolded);
  CHECK(FoldedView(unfolded) == folded);
  CHECK(FoldedView(folded) == folded);
  // A lost increment is still a difference.
  auto lost = unfolded;
  lost.erase(lost.begin());
  CHECK(FoldedView(lost) != folded);
}

TEST_CASE("Delta size does not grow with the collection", "[unit]") {
  auto delta_bytes = [](size_t size, const std::function<void(DeltaBuilder&, Hlc)>& op) {
    TestReplica r(1);
    // Both replicas have issued 100,000 dots before, so that their counters
    // encode in the same width: a delta carries dot counters, whose varint
    // width grows with the replica's history, not with the collection.
    DotContext history;
    history.InsertRange(r.id, 1, 100'000);
    r.state.JoinContext(history);
    r.Mutate([&](DeltaBuilder& b) {
      for (size_t i = 0; i < size; ++i) {
        AddMember(b, "s", "member:" + std::to_string(i));
        SetField(b, "h", "field:" + std::to_string(i), Hlc{1}, "v");
      }
    });
    return EncodeDelta(r.Mutate([&](DeltaBuilder& b) { op(b, r.clock.Now()); })).size();
  };
  const std::vector<std::pair<const char*, std::function<void(DeltaBuilder&, Hlc)>>> ops = {
      {"SADD", [](DeltaBuilder& b, Hlc) { AddMember(b, "s", "member:new"); }},
      {"SREM", [](DeltaBuilder& b, Hlc) { RemoveMember(b, "s", "member:0"); }},
      {"HINCRBY", [](DeltaBuilder& b, Hlc) { IncrementField(b, "h", "field:0", 1); }},
      {"HSET", [](DeltaBuilder& b, Hlc t) { SetField(b, "h", "field:0", t, "w"); }},
  };
  for (const auto& [name, op] : ops) {
    INFO(name);
    // SREM of member:0 in an empty set removes nothing, so compare 10 to 10,000.
    CHECK(delta_bytes(10, op) == delta_bytes(10'000, op));
  }
}

}  // namespace
}  // namespace geokv::crdt
