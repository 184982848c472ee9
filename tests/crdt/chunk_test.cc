// State transfer chunks (crdt/chunk.h): reading ranges of the atom order, and
// joining a state range by range equals joining it whole.
#include "crdt/chunk.h"

#include <catch2/catch.hpp>

#include "crdt/join.h"
#include "crdt/or_set.h"
#include "random_ops.h"
#include "seed.h"

namespace geokv::crdt {
namespace {

using test::TestReplica;

TEST_CASE("Chunk: ScanFrom visits exactly the atoms at or after a position, in order", "[unit]") {
  MemoryState state;
  DeltaBuilder b(state, 1);
  for (const char* key : {"a", "b", "c"}) {
    for (int i = 0; i < 3; ++i) AddMember(b, key, "m" + std::to_string(i));
  }
  ApplyDelta(state, std::move(b).Finish());
  AtomList all;
  state.Scan(Scope::Partition(), [&](const Path& p, const Atom& a) {
    all.emplace_back(p, a);
    return true;
  });
  REQUIRE(all.size() == 9);
  for (size_t k = 0; k < all.size(); ++k) {
    AtomList from;
    state.ScanFrom(PositionOf(all[k].first, all[k].second), [&](const Path& p, const Atom& a) {
      from.emplace_back(p, a);
      return true;
    });
    CHECK(from == AtomList(all.begin() + static_cast<std::ptrdiff_t>(k), all.end()));
  }
}

TEST_CASE("Chunk: a range ends after a key that ended in it, never inside a key that fits",
          "[unit]") {
  MemoryState state;
  DeltaBuilder b(state, 1);
  AddMember(b, "a", "x");
  for (int i = 0; i < 3; ++i) AddMember(b, "b", "m" + std::to_string(i));
  for (int i = 0; i < 9; ++i) AddMember(b, "c", "m" + std::to_string(i));
  ApplyDelta(state, std::move(b).Finish());
  ChunkRead first = ReadChunk(state, AtomPosition{}, 3, 1 << 20);
  CHECK(first.atoms.size() == 1);  // "a" only: "b" would not fit whole
  REQUIRE(first.to);
  CHECK(first.to->path.key == "b");
  ChunkRead second = ReadChunk(state, *first.to, 3, 1 << 20);
  CHECK(second.atoms.size() == 3);  // "b" whole
  ChunkRead third = ReadChunk(state, *second.to, 3, 1 << 20);
  CHECK(third.atoms.size() == 3);  // "c" is bigger than a chunk: split
  CHECK(third.atoms.back().first.key == "c");
  ChunkRead by_bytes = ReadChunk(state, AtomPosition{}, 100, 1);
  CHECK(by_bytes.atoms.size() == 1);  // at least one atom, whatever the byte limit
}

TEST_CASE("Chunk: an atom no delta brings is joined with its dot whatever the first context holds",
          "[unit]") {
  // A hint's atom (hinted handoff: its origin is no stream) that the sender
  // took after the first chunk: no delta will bring it, so the range brings
  // it; other origins' atoms beyond the first context wait for their deltas.
  constexpr ReplicaId kHintOrigin = 0x5151, kStream = 7;
  MemoryState sender;
  for (ReplicaId origin : {kHintOrigin, kStream}) {
    DeltaBuilder b(sender, origin);
    AddMember(b, "k", "m" + std::to_string(origin));
    ApplyDelta(sender, std::move(b).Finish());
  }
  const DotContext first;  // the first chunk was read before both
  ChunkRead chunk = ReadChunk(sender, AtomPosition{}, 16, 1 << 20);
  REQUIRE(chunk.atoms.size() == 2);
  auto no_delta = [&](ReplicaId origin) { return origin == kHintOrigin; };
  for (bool restore : {false, true}) {
    MemoryState receiver;
    JoinChunk(receiver, AtomPosition{}, chunk.to, chunk.atoms, sender.Context(), first, 16,
              restore, no_delta);
    CHECK(receiver.Context().Contains(Dot{kHintOrigin, 1}));
    CHECK_FALSE(receiver.Context().Contains(Dot{kStream, 1}));
    CHECK(Members(receiver, "k") == std::vector<std::string>{"m20817"});

    MemoryState without;  // no origin named: the hint waits for a delta that never comes
    JoinChunk(without, AtomPosition{}, chunk.to, chunk.atoms, sender.Context(), first, 16, restore);
    CHECK(Members(without, "k").empty());
  }
  // Seen here and not held: removed here (a removal arrived first), not added.
  MemoryState removed;
  DotContext seen;
  seen.Insert(Dot{kHintOrigin, 1});
  removed.JoinContext(seen);
  JoinChunk(removed, AtomPosition{}, chunk.to, chunk.atoms, sender.Context(), first, 16, false,
            no_delta);
  CHECK(Members(removed, "k").empty());
}

TEST_CASE("Chunk: joining a state range by range, then its context, equals joining it whole",
          "[property]") {
  const uint64_t seed = test::TestSeed();
  for (int c = 0; c < test::CaseCount(300); ++c) {
    INFO("GEOKV_SEED=" << seed << " case " << c);
    Prng rng(seed + c);
    // Two replicas that share some history and then diverge.
    TestReplica a(1), b(2);
    for (int i = 0; i < 30; ++i) {
      TestReplica& writer = rng.Chance(50) ? a : b;
      TestReplica& other = &writer == &a ? b : a;
      Delta d = test::RandomOperation(rng, writer);
      if (rng.Chance(40)) other.Receive(d);
    }
    MemoryState whole = b.state;
    JoinState(whole, TakeSnapshot(a.state));

    MemoryState chunked = b.state;
    const DotContext first = a.state.Context();
    const size_t atoms_max = 1 + rng.Below(4);
    AtomPosition cursor;
    for (int steps = 0; steps < 10'000; ++steps) {
      ChunkRead chunk = ReadChunk(a.state, cursor, atoms_max, 1 << 20);
      ChunkJoinResult r = JoinChunk(chunked, cursor, chunk.to, chunk.atoms, a.state.Context(),
                                    first, 1 + rng.Below(4));
      REQUIRE(r.outcome == ChunkJoinResult::Outcome::kJoined);
      if (!r.reached) break;
      cursor = *r.reached;
    }
    chunked.JoinContext(first);
    CHECK(test::Observe(chunked) == test::Observe(whole));
    CHECK(chunked.Context() == whole.Context());
    CHECK(TakeSnapshot(chunked) == TakeSnapshot(whole));
  }
}

}  // namespace
}  // namespace geokv::crdt
