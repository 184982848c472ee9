#include "crdt/dot_context.h"

#include <catch2/catch.hpp>
#include <set>

#include "common/prng.h"
#include "seed.h"

namespace geokv::crdt {
namespace {

TEST_CASE("DotContext: intervals merge, and the version vector is the prefix from 1", "[unit]") {
  DotContext ctx;
  ctx.Insert({7, 3});
  CHECK(ctx.Contiguous(7) == 0);
  CHECK(ctx.Max(7) == 3);
  ctx.InsertRange(7, 1, 2);
  CHECK(ctx.Contiguous(7) == 3);
  CHECK(ctx.IntervalCount() == 1);
  ctx.Insert({7, 5});
  CHECK(ctx.IntervalCount() == 2);
  CHECK_FALSE(ctx.Contains({7, 4}));
  CHECK(ctx.ContainsRange(7, 1, 3));
  CHECK_FALSE(ctx.ContainsRange(7, 3, 5));
  ctx.Insert({7, 4});
  CHECK(ctx.IntervalCount() == 1);
  CHECK(ctx.Contiguous(7) == 5);
  CHECK(ctx.Max(8) == 0);
  ctx.InsertRange(9, UINT64_MAX - 1, UINT64_MAX);
  ctx.InsertRange(9, 5, UINT64_MAX - 2);
  CHECK(ctx.IntervalCount() == 2);
  CHECK(ctx.ContainsRange(9, 5, UINT64_MAX));
}

TEST_CASE("DotContext: behaves like a set of dots under random inserts and joins", "[property]") {
  const uint64_t seed = test::TestSeed();
  for (int c = 0; c < test::CaseCount(1000); ++c) {
    INFO("GEOKV_SEED=" << seed << " case " << c);
    Prng rng(seed * 11 + c);
    DotContext a, b;
    std::set<Dot> model_a, model_b;
    for (int i = 0; i < 40; ++i) {
      const ReplicaId origin = rng.Below(3);
      const uint64_t first = 1 + rng.Below(30);
      const uint64_t last = first + (rng.Chance(30) ? rng.Below(5) : 0);
      DotContext& ctx = rng.Chance(50) ? a : b;
      std::set<Dot>& model = &ctx == &a ? model_a : model_b;
      ctx.InsertRange(origin, first, last);
      for (uint64_t k = first; k <= last; ++k) model.insert({origin, k});
    }
    a.Join(b);
    model_a.insert(model_b.begin(), model_b.end());
    for (ReplicaId origin = 0; origin < 3; ++origin) {
      uint64_t contiguous = 0;
      while (model_a.contains({origin, contiguous + 1})) ++contiguous;
      REQUIRE(a.Contiguous(origin) == contiguous);
      for (uint64_t k = 1; k <= 40; ++k) {
        REQUIRE(a.Contains({origin, k}) == model_a.contains({origin, k}));
      }
    }
    // Intervals are canonical: disjoint and not adjacent.
    for (const auto& [origin, intervals] : a.by_origin()) {
      uint64_t previous_end = 0;
      for (const auto& [begin, end] : intervals) {
        REQUIRE(begin <= end);
        REQUIRE((previous_end == 0 || begin > previous_end + 1));
        previous_end = end;
      }
    }
  }
}

}  // namespace
}  // namespace geokv::crdt
