// Encoding round trips, and hostile bytes fed to every decoder ([hostile]: also
// run under AddressSanitizer and UndefinedBehaviorSanitizer by make test).
#include "crdt/codec.h"

#include <catch2/catch.hpp>

#include "crdt/expiry.h"
#include "crdt/join.h"
#include "crdt/memory_state.h"
#include "random_ops.h"
#include "seed.h"

namespace geokv::crdt {
namespace {

using test::RandomOperation;
using test::TestReplica;

// Random deltas and a snapshot from a short random history.
struct Corpus {
  std::vector<Delta> deltas;
  Snapshot snapshot;
};

Corpus MakeCorpus(Prng& rng) {
  TestReplica a(0x1111), b(0xFFFF'FFFF'FFFF'FFFFull);
  Corpus corpus;
  for (int i = 0; i < 30; ++i) {
    TestReplica& at = rng.Chance(50) ? a : b;
    corpus.deltas.push_back(RandomOperation(rng, at));
    (&at == &a ? b : a).Receive(corpus.deltas.back());
  }
  corpus.snapshot = TakeSnapshot(a.state);
  return corpus;
}

TEST_CASE("Codec: deltas, snapshots and dot sets round-trip", "[unit]") {
  const uint64_t seed = test::TestSeed();
  for (int c = 0; c < test::CaseCount(200); ++c) {
    INFO("GEOKV_SEED=" << seed << " case " << c);
    Prng rng(seed + c);
    Corpus corpus = MakeCorpus(rng);
    for (const Delta& d : corpus.deltas) {
      auto decoded = DecodeDelta(EncodeDelta(d));
      REQUIRE(decoded.ok());
      REQUIRE(*decoded == d);
    }
    auto snap = DecodeSnapshot(EncodeSnapshot(corpus.snapshot));
    REQUIRE(snap.ok());
    REQUIRE(*snap == corpus.snapshot);
    auto dots = DecodeDotContext(EncodeDotContext(corpus.snapshot.context));
    REQUIRE(dots.ok());
    REQUIRE(*dots == corpus.snapshot.context);
  }
}

TEST_CASE("Codec: extreme values round-trip", "[unit]") {
  Delta d;
  d.origin = UINT64_MAX;
  d.first = UINT64_MAX - 2;
  d.last = UINT64_MAX;
  Atom counter;
  counter.dot = Dot{d.origin, UINT64_MAX - 1};
  counter.first = counter.dot.counter;
  counter.amount = INT64_MIN;
  d.additions.push_back({Path{std::string("\0key", 4), Slot::kCounter, ""}, counter});
  Atom reg;
  reg.dot = Dot{d.origin, UINT64_MAX};
  reg.first = reg.dot.counter;
  reg.hlc = Hlc{UINT64_MAX};
  reg.bytes = std::string(70'000, '\xff');
  d.additions.push_back({Path{"", Slot::kFieldRegister, std::string(1, '\0')}, reg});
  Removal r{Scope::Field("k", Bit(Slot::kMember), "m"), {}};
  r.covered.InsertRange(7, 1, UINT64_MAX);
  d.removals.push_back(r);
  auto decoded = DecodeDelta(EncodeDelta(d));
  REQUIRE(decoded.ok());
  CHECK(*decoded == d);
}

TEST_CASE("Codec: expiry atoms and TTL-clearing registers round-trip; bad ones are refused",
          "[unit]") {
  auto delta_with = [](Slot slot, const Atom& payload) {
    Delta d;
    d.origin = 9;
    d.first = d.last = 4;
    Atom atom = payload;
    atom.dot = Dot{9, 4};
    atom.first = 4;
    d.additions.push_back({Path{"k", slot, ""}, atom});
    return d;
  };
  DotContext covers;
  covers.Insert(Dot{3, 17});
  covers.InsertRange(UINT64_MAX, 1, UINT64_MAX);
  Atom expiry;
  expiry.amount = INT64_MAX;
  expiry.bytes = EncodeDotContext(covers);
  Atom none;  // kNoDeadline, no covers
  Atom flagged;
  flagged.hlc = Hlc{77};
  flagged.bytes = "v";
  flagged.amount = kClearsExpiry;
  for (const auto& [slot, atom] : {std::pair{Slot::kExpiry, expiry}, std::pair{Slot::kExpiry, none},
                                   std::pair{Slot::kRegister, flagged}}) {
    const Delta d = delta_with(slot, atom);
    auto decoded = DecodeDelta(EncodeDelta(d));
    REQUIRE(decoded.ok());
    CHECK(*decoded == d);
  }
  Atom bad_covers = expiry;
  bad_covers.bytes = "\x91";  // a truncated array, not a set of dots
  auto r = DecodeDelta(EncodeDelta(delta_with(Slot::kExpiry, bad_covers)));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("covers") != std::string::npos);
  Atom negative = expiry;
  negative.amount = -1;  // encodes as 2^64-1: beyond int64
  CHECK_FALSE(DecodeDelta(EncodeDelta(delta_with(Slot::kExpiry, negative))).ok());
  Atom unknown_flag = flagged;
  unknown_flag.amount = 2;
  CHECK_FALSE(DecodeDelta(EncodeDelta(delta_with(Slot::kRegister, unknown_flag))).ok());
  // Only a string register carries flags.
  CHECK_FALSE(DecodeDelta(EncodeDelta(delta_with(Slot::kFieldRegister, flagged))).ok());
}

TEST_CASE("Codec: malformed deltas are rejected with a reason", "[unit]") {
  Prng rng(1);
  TestReplica a(1);
  Delta good = RandomOperation(rng, a);
  SECTION("empty input") { CHECK_FALSE(DecodeDelta("").ok()); }
  SECTION("trailing bytes") {
    auto r = DecodeDelta(EncodeDelta(good) + "x");
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message().find("trailing") != std::string::npos);
  }
  SECTION("truncated") {
    const std::string bytes = EncodeDelta(good);
    for (size_t n = 0; n < bytes.size(); ++n) CHECK_FALSE(DecodeDelta(bytes.substr(0, n)).ok());
  }
  SECTION("dot outside the delta's range") {
    Delta bad = good;
    bad.additions.clear();
    Atom atom;
    atom.dot = Dot{bad.origin, bad.last + 1};
    atom.first = atom.dot.counter;
    bad.additions.push_back({Path{"k", Slot::kMember, "m"}, atom});
    auto r = DecodeDelta(EncodeDelta(bad));
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message().find("outside") != std::string::npos);
  }
  SECTION("field on a slot without fields") {
    Delta bad = good;
    bad.additions.clear();
    Atom atom;
    atom.dot = Dot{bad.origin, bad.first};
    atom.first = atom.dot.counter;
    bad.additions.push_back({Path{"k", Slot::kRegister, "f"}, atom});
    CHECK_FALSE(DecodeDelta(EncodeDelta(bad)).ok());
  }
  SECTION("a huge declared array is refused before allocation") {
    // 0xdd: array 32 with 2^32-1 elements, then nothing.
    CHECK_FALSE(DecodeDelta(std::string("\xdd\xff\xff\xff\xff", 5)).ok());
  }
  SECTION("a newer format version") {
    std::string bytes = EncodeDelta(good);
    REQUIRE(bytes[1] == 1);  // fixarray(6), then version 1
    bytes[1] = 2;
    auto r = DecodeDelta(bytes);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message().find("version") != std::string::npos);
  }
}

// Feeds `bytes` to every decoder; whatever decodes must be safe to use.
void FeedEveryDecoder(const std::string& bytes) {
  if (auto d = DecodeDelta(bytes); d.ok()) {
    MemoryState state;
    ApplyDelta(state, *d);  // must not trip an assertion
    CHECK(DecodeDelta(EncodeDelta(*d)).ok());
  }
  if (auto s = DecodeSnapshot(bytes); s.ok()) {
    MemoryState state;
    JoinState(state, *s);
    CHECK(DecodeSnapshot(EncodeSnapshot(*s)).ok());
  }
  if (auto c = DecodeDotContext(bytes); c.ok()) {
    CHECK(DecodeDotContext(EncodeDotContext(*c)).ok());
  }
  (void)DecodeMvToken(bytes);
}

TEST_CASE("Codec: random and mutated bytes never crash a decoder", "[hostile]") {
  const uint64_t seed = test::TestSeed();
  const int cases = test::CaseCount(300);
  for (int c = 0; c < cases; ++c) {
    INFO("GEOKV_SEED=" << seed << " case " << c);
    Prng rng(seed ^ (0x5EED0000ull + c));
    // Pure noise.
    std::string noise(rng.Below(64), '\0');
    for (char& ch : noise) ch = static_cast<char>(rng.Below(256));
    FeedEveryDecoder(noise);
    // Valid encodings, mutated: flipped bytes, cut, spliced.
    Corpus corpus = MakeCorpus(rng);
    std::vector<std::string> valid = {EncodeSnapshot(corpus.snapshot),
                                      EncodeDotContext(corpus.snapshot.context)};
    for (const Delta& d : corpus.deltas) valid.push_back(EncodeDelta(d));
    for (const std::string& v : valid) {
      for (int m = 0; m < 8; ++m) {
        std::string bytes = v;
        switch (rng.Below(4)) {
          case 0:
            for (int k = 0; k < 3 && !bytes.empty(); ++k) {
              bytes[rng.Below(bytes.size())] = static_cast<char>(rng.Below(256));
            }
            break;
          case 1:
            bytes.resize(rng.Below(bytes.size() + 1));
            break;
          case 2:
            bytes.insert(rng.Below(bytes.size() + 1), 1, static_cast<char>(rng.Below(256)));
            break;
          default:
            bytes = bytes.substr(0, rng.Below(bytes.size() + 1)) +
                    valid[rng.Below(valid.size())].substr(rng.Below(8));
            break;
        }
        FeedEveryDecoder(bytes);
      }
    }
  }
}

}  // namespace
}  // namespace geokv::crdt
