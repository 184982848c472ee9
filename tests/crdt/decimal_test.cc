// Exact decimals and the float increments built on them (INCRBYFLOAT,
// HINCRBYFLOAT): exact text, Redis's rounding when shown, and convergence to
// identical bytes whatever the delivery order and whichever dots were folded.
#include "crdt/decimal.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "common/prng.h"
#include "crdt/codec.h"
#include "crdt/fold.h"
#include "crdt/scalar.h"
#include "replica_harness.h"
#include "seed.h"

namespace geokv::crdt {
namespace {

std::string Canonical(std::string_view text) {
  auto d = Decimal::Parse(text);
  return d ? d->ToCanonical() : "(none)";
}

TEST_CASE("Decimal: parses Redis's plain float syntax into canonical text", "[unit]") {
  CHECK(Canonical("1.50") == "1.5");
  CHECK(Canonical("-0") == "0");
  CHECK(Canonical("+007.000") == "7");
  CHECK(Canonical(".5") == "0.5");
  CHECK(Canonical("5.") == "5");
  CHECK(Canonical("1e3") == "1000");
  CHECK(Canonical("1.5E-3") == "0.0015");
  CHECK(Canonical("-12.5e1") == "-125");
  CHECK(Canonical("0e999999999") == "0");
  CHECK(Canonical("1e-30") == "0." + std::string(29, '0') + "1");
  CHECK(Canonical("1e4000").size() == 4001);
  const std::vector<std::string> bad_texts = {
      "",       " 1", "1 ", "0x10", "inf",   "-inf", "nan",
      "1e",     "e5", ".",  "-",    "1.2.3", "1e+",  std::string("1\0", 2),
      "1e20000"};
  for (const std::string& bad : bad_texts) {
    INFO(bad);
    CHECK_FALSE(Decimal::Parse(bad).has_value());
  }
  CHECK(Decimal::ParseCanonical("1.5").has_value());
  CHECK_FALSE(Decimal::ParseCanonical("1.50").has_value());
  CHECK_FALSE(Decimal::ParseCanonical("-0").has_value());
  CHECK_FALSE(Decimal::ParseCanonical("01").has_value());
  // Clients' numbers are bounded; geokv's own exact sums may be longer.
  const std::string long_sum = "1" + std::string(20'000, '0') + ".5";
  CHECK_FALSE(Decimal::Parse(long_sum).has_value());
  REQUIRE(Decimal::ParseCanonical(long_sum).has_value());
  CHECK(Decimal::ParseCanonical(long_sum)->FormatHuman() == long_sum);
}

TEST_CASE("Decimal: adds exactly and prints as Redis prints long doubles", "[unit]") {
  const auto d = [](const char* text) { return *Decimal::Parse(text); };
  CHECK((d("0.1") + d("0.2")).ToCanonical() == "0.3");
  CHECK((d("1") - d("1.000000000000000000001")).ToCanonical() == "-0.000000000000000000001");
  CHECK((d("-5") + d("5")).ToCanonical() == "0");
  CHECK((d("999.999") + d("0.001")).ToCanonical() == "1000");
  CHECK((d("-2.5") + d("1")).ToCanonical() == "-1.5");
  // %.17Lf, trimmed; half to even at the 17th fraction digit.
  CHECK(d("0.123456789012345678").FormatHuman() == "0.12345678901234568");
  CHECK(d("0.000000000000000005").FormatHuman() == "0");
  CHECK(d("0.000000000000000015").FormatHuman() == "0.00000000000000002");
  CHECK(d("0.0000000000000000151").FormatHuman() == "0.00000000000000002");
  CHECK(d("-0.000000000000000001").FormatHuman() == "0");
  CHECK(d("9.999999999999999999").FormatHuman() == "10");
  CHECK(d("100000000000000000000").FormatHuman() == "100000000000000000000");
  CHECK(Decimal::FromInt64(INT64_MIN).ToCanonical() == "-9223372036854775808");
  CHECK(Decimal::FromInt64(INT64_MIN).ToInt64() == INT64_MIN);
  CHECK_FALSE(d("9223372036854775808").ToInt64().has_value());
  CHECK_FALSE(d("1.5").ToInt64().has_value());
}

TEST_CASE("Codec: a counter atom's decimal round-trips; a non-canonical one is refused", "[unit]") {
  test::TestReplica replica(7);
  const ScalarRef ref{"k", std::nullopt};
  const Delta delta = replica.Mutate(
      [&](DeltaBuilder& b) { IncrementScalarDecimal(b, ref, *Decimal::Parse("-0.25")); });
  auto decoded = DecodeDelta(EncodeDelta(delta));
  REQUIRE(decoded.ok());
  CHECK(*decoded == delta);
  auto snapshot = DecodeSnapshot(EncodeSnapshot(TakeSnapshot(replica.state)));
  REQUIRE(snapshot.ok());
  CHECK(*snapshot == TakeSnapshot(replica.state));

  Delta bad = delta;
  bad.additions[0].atom.bytes = "-0.250";
  CHECK_FALSE(DecodeDelta(EncodeDelta(bad)).ok());
}

// A random float increment: small, tiny, huge, or with many digits.
Decimal RandomIncrement(Prng& rng) {
  std::string text = rng.Chance(50) ? "-" : "";
  text += std::to_string(rng.Below(1000)) + "." + std::to_string(rng.Below(1'000'000'000));
  switch (rng.Below(4)) {
    case 0:
      text += "e-" + std::to_string(rng.Below(40));
      break;
    case 1:
      text += "e" + std::to_string(rng.Below(400));
      break;
    default:
      break;
  }
  return *Decimal::Parse(text);
}

TEST_CASE("Scalar: float increments converge to identical bytes in any order and any fold",
          "[property]") {
  const uint64_t seed = test::TestSeed();
  const int cases = test::CaseCount(300);
  const ScalarRef ref{"k", std::nullopt};
  for (int c = 0; c < cases; ++c) {
    INFO("GEOKV_SEED=" << seed << " case " << c);
    Prng rng(seed * 1'000'003 + c);
    const int writers = 2 + static_cast<int>(rng.Below(3));
    std::vector<test::TestReplica> origin;
    for (int i = 0; i < writers; ++i) origin.emplace_back(100 + i);
    // Each writer increments on its own (concurrently with the others).
    std::vector<Delta> deltas;
    Decimal expected;
    const int steps = 5 + static_cast<int>(rng.Below(30));
    for (int s = 0; s < steps; ++s) {
      test::TestReplica& at = origin[rng.Below(origin.size())];
      if (rng.Chance(20)) {
        const int64_t by = rng.Between(-1000, 1000);
        expected = expected + Decimal::FromInt64(by);
        deltas.push_back(at.Mutate([&](DeltaBuilder& b) { IncrementScalar(b, ref, by); }));
      } else {
        const Decimal by = RandomIncrement(rng);
        expected = expected + by;
        deltas.push_back(at.Mutate([&](DeltaBuilder& b) { IncrementScalarDecimal(b, ref, by); }));
      }
    }
    // Three receivers: each gets every delta in its own order (some twice)
    // and folds a random stable prefix of each origin's dots.
    std::vector<std::string> shown, exact, states;
    for (int r = 0; r < 3; ++r) {
      test::TestReplica receiver(900 + r);
      std::vector<Delta> order = deltas;
      for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.Below(i)]);
      if (rng.Chance(50)) order.push_back(order[rng.Below(order.size())]);
      for (const Delta& d : order) receiver.Receive(d);
      StableVector stable;
      for (const auto& writer : origin) stable[writer.id] = rng.Below(steps + 1);
      FoldStableCounters(receiver.state, ref.scope(), stable);
      const ScalarValue value = ReadScalar(receiver.state, ref);
      shown.push_back(value.ToBytes());
      exact.push_back(ExactScalar(receiver.state, ref)->ToCanonical());
    }
    CHECK(exact[0] == expected.ToCanonical());
    CHECK(exact[1] == exact[0]);
    CHECK(exact[2] == exact[0]);
    CHECK(shown[0] == expected.FormatHuman());
    CHECK(shown[1] == shown[0]);
    CHECK(shown[2] == shown[0]);
  }
}

}  // namespace
}  // namespace geokv::crdt
