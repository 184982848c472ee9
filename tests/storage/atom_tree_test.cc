// AtomTree against a std::map of (key, slot, field, dot): random inserts,
// replacements, removals and in-order appends, then the order, every lookup
// (LowerBound, Find) at positions inside, between and after the keys, and the
// key count must agree. Some keys get far more atoms than the key index walks
// (AtomTree::kWalkMax), so that its tree fallback runs too.
#include "storage/atom_tree.h"

#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "common/prng.h"
#include "seed.h"

namespace geokv::storage::internal {
namespace {

using crdt::Atom;
using crdt::Dot;
using crdt::Path;
using crdt::Slot;

using Position = std::tuple<std::string, Slot, std::string, uint64_t, uint64_t>;

Position PositionOf(const Path& path, const Dot& dot) {
  return {path.key, path.slot, path.field, dot.origin, dot.counter};
}

struct Drawn {
  Path path;
  Atom atom;
};

Drawn Draw(Prng& rng) {
  Drawn d;
  // Few keys, one of them crowded; prefixes and NULs where byte order matters.
  static const std::vector<std::string> kKeys = {"",  "a", std::string("a\0", 2), "ab", "b",
                                                 "\xff", "big"};
  d.path.key = rng.Chance(40) ? "big" : kKeys[rng.Below(kKeys.size())];
  d.path.slot = static_cast<Slot>(rng.Below(crdt::kSlotCount));
  if (crdt::HasField(d.path.slot)) d.path.field = "f" + std::to_string(rng.Below(30));
  d.atom.dot = Dot{1 + rng.Below(3), 1 + rng.Below(40)};
  d.atom.first = d.atom.dot.counter;
  d.atom.hlc.value = rng.Next();
  d.atom.bytes = std::string(rng.Below(20), 'x');
  return d;
}

AtomKey KeyOf(const Position& p) {
  return AtomKey{std::get<0>(p), std::get<1>(p), std::get<2>(p), Dot{std::get<3>(p), std::get<4>(p)}};
}

Position PositionOf(const AtomRec& rec) {
  const AtomKey k = rec.Key();
  return {std::string(k.key), k.slot, std::string(k.field), k.dot.origin, k.dot.counter};
}

void CheckSame(const AtomTree& tree, const std::map<Position, uint64_t>& model, Prng& rng,
               uint64_t seed) {
  INFO("GEOKV_SEED=" << seed);
  REQUIRE(tree.atom_count() == model.size());
  std::map<std::string, int> keys;
  for (const auto& [p, hlc] : model) ++keys[std::get<0>(p)];
  REQUIRE(tree.key_count() == keys.size());
  auto it = tree.begin();
  for (const auto& [p, hlc] : model) {
    REQUIRE(it != tree.end());
    REQUIRE(PositionOf(*it) == p);
    Atom atom;
    it->ReadAtom(&atom);
    REQUIRE(atom.hlc.value == hlc);
    ++it;
  }
  REQUIRE(it == tree.end());
  for (int probe = 0; probe < 200; ++probe) {
    const Drawn d = Draw(rng);
    const Position p = PositionOf(d.path, d.atom.dot);
    auto want = model.lower_bound(p);
    auto got = tree.LowerBound(KeyOf(p));
    if (want == model.end()) {
      REQUIRE(got == tree.end());
    } else {
      REQUIRE(got != tree.end());
      REQUIRE(PositionOf(*got) == want->first);
    }
    // Within a key: the same, or the end for a key that holds nothing.
    const bool key_held = keys.contains(d.path.key);
    auto got_in_key = tree.LowerBoundInKey(KeyOf(p));
    REQUIRE(got_in_key == (key_held ? got : tree.end()));
    const AtomRec* found = tree.Find(KeyOf(p));
    REQUIRE((found != nullptr) == model.contains(p));
    // The first position of a slot (what key scans seek to).
    const Position slot_start{d.path.key, d.path.slot, "", 0, 0};
    auto want_slot = model.lower_bound(slot_start);
    auto got_slot = tree.LowerBound(KeyOf(slot_start));
    REQUIRE((want_slot == model.end()) == (got_slot == tree.end()));
    if (want_slot != model.end()) REQUIRE(PositionOf(*got_slot) == want_slot->first);
  }
}

TEST_CASE("AtomTree: order, lookups and key count match a sorted map under random changes",
          "[property]") {
  const uint64_t seed = test::TestSeed();
  Prng rng(seed);
  const int cases = test::CaseCount(20);
  for (int c = 0; c < cases; ++c) {
    AtomTree tree;
    std::map<Position, uint64_t> model;
    const int steps = 50 + static_cast<int>(rng.Below(600));
    for (int s = 0; s < steps; ++s) {
      const uint64_t op = rng.Below(10);
      const Drawn d = Draw(rng);
      const Position p = PositionOf(d.path, d.atom.dot);
      if (op < 5) {
        AtomRec* old = tree.Insert(AtomRec::Make(d.path, d.atom));
        INFO("GEOKV_SEED=" << seed);
        REQUIRE((old != nullptr) == model.contains(p));
        AtomRec::Free(old);
        model[p] = d.atom.hlc.value;
      } else if (op < 8) {
        AtomRec* old = tree.Remove(KeyOf(p));
        INFO("GEOKV_SEED=" << seed);
        REQUIRE((old != nullptr) == model.contains(p));
        AtomRec::Free(old);
        model.erase(p);
      } else if (op < 9 && !model.empty()) {
        // Unlink a linked block: the first of some key, or any.
        auto at = model.lower_bound(Position{d.path.key, Slot{}, "", 0, 0});
        if (at == model.end()) at = model.begin();
        auto* rec = const_cast<AtomRec*>(tree.Find(KeyOf(at->first)));
        REQUIRE(rec != nullptr);
        tree.Unlink(rec);
        AtomRec::Free(rec);
        model.erase(at);
      } else {
        // Append: in order past the end (loading), or not (falls back to Insert).
        AtomRec* old = tree.Append(AtomRec::Make(d.path, d.atom));
        INFO("GEOKV_SEED=" << seed);
        REQUIRE((old != nullptr) == model.contains(p));
        AtomRec::Free(old);
        model[p] = d.atom.hlc.value;
      }
    }
    CheckSame(tree, model, rng, seed);
  }
}

TEST_CASE("AtomTree: many keys, each dropped and added again as a write does", "[unit]") {
  // The key index's dead entries and rehashes: 20,000 keys, each write removing
  // a key's atoms and adding new ones, and half the keys deleted at the end.
  AtomTree tree;
  constexpr int kKeys = 20000;
  Atom atom;
  for (int i = 0; i < kKeys; ++i) {
    atom.dot = Dot{1, 1};
    tree.Append(AtomRec::Make(Path{"key:" + std::to_string(1000000 + i), Slot{}, ""}, atom));
  }
  REQUIRE(tree.key_count() == kKeys);
  for (int round = 2; round < 5; ++round) {
    for (int i = 0; i < kKeys; ++i) {
      const Path path{"key:" + std::to_string(1000000 + i), Slot{}, ""};
      AtomRec* old = tree.Remove(AtomKey::Of(path, Dot{1, static_cast<uint64_t>(round - 1)}));
      REQUIRE(old != nullptr);
      AtomRec::Free(old);
      atom.dot = Dot{1, static_cast<uint64_t>(round)};
      REQUIRE(tree.Insert(AtomRec::Make(path, atom)) == nullptr);
    }
    REQUIRE(tree.key_count() == kKeys);
  }
  for (int i = 0; i < kKeys; i += 2) {
    const Path path{"key:" + std::to_string(1000000 + i), Slot{}, ""};
    AtomRec::Free(tree.Remove(AtomKey::Of(path, Dot{1, 4})));
  }
  REQUIRE(tree.key_count() == kKeys / 2);
  REQUIRE(tree.atom_count() == kKeys / 2);
  for (int i = 0; i < kKeys; ++i) {
    const Path path{"key:" + std::to_string(1000000 + i), Slot{}, ""};
    REQUIRE((tree.Find(AtomKey::Of(path, Dot{1, 4})) != nullptr) == (i % 2 == 1));
  }
}

}  // namespace
}  // namespace geokv::storage::internal
