// Anti-entropy trees (merkle_tree.h, aae_trees.h): a tree kept by the storage
// observer through writes, folds, rollbacks and rebuilds equals one built by
// scanning, and a comparison finds exactly the leaves that differ.
#include "replica/replication/merkle_tree.h"

#include <catch2/catch.hpp>
#include <set>

#include "crdt/fold.h"
#include "random_ops.h"
#include "replica/replication/aae_trees.h"
#include "seed.h"
#include "storage_test_util.h"

namespace geokv::replication {
namespace {

MerkleTree TreeOf(const crdt::StateView& state) {
  MerkleTree tree;
  state.Scan(crdt::Scope::Partition(), [&](const crdt::Path& path, const crdt::Atom& atom) {
    tree.Toggle(path, atom);
    return true;
  });
  return tree;
}

TEST_CASE("MerkleTree: toggling an atom twice leaves the tree as it was", "[unit]") {
  MerkleTree tree;
  const crdt::Path path{"k", crdt::Slot::kRegister, ""};
  crdt::Atom atom;
  atom.dot = {7, 3};
  atom.first = 3;
  atom.bytes = "v";
  tree.Toggle(path, atom);
  CHECK(tree.Root() != 0);
  CHECK(tree.Leaf(LeafOfKey("k")) == tree.Root());
  CHECK(tree.Branches()[LeafOfKey("k") / kAaeLeavesPerBranch] == tree.Root());
  tree.Toggle(path, atom);
  CHECK(tree == MerkleTree());
}

TEST_CASE("MerkleTree: the hash covers the path, the dot and every payload field", "[unit]") {
  const crdt::Path path{"key", crdt::Slot::kFieldRegister, "f"};
  crdt::Atom atom;
  atom.dot = {1, 5};
  atom.first = 5;
  atom.hlc.value = 99;
  atom.amount = 4;
  atom.bytes = "payload";
  const uint64_t h = AtomHash(path, atom);
  auto differs = [&](crdt::Path p, crdt::Atom a) { return AtomHash(p, a) != h; };
  crdt::Path p = path;
  crdt::Atom a = atom;
  p.key = "kez";
  CHECK(differs(p, atom));
  p = path;
  p.slot = crdt::Slot::kFieldCounter;
  CHECK(differs(p, atom));
  p = path;
  p.field = "g";
  CHECK(differs(p, atom));
  a.dot.origin = 2;
  CHECK(differs(path, a));
  a = atom;
  a.dot.counter = 6;
  CHECK(differs(path, a));
  a = atom;
  a.first = 4;
  CHECK(differs(path, a));
  a = atom;
  a.hlc.value = 98;
  CHECK(differs(path, a));
  a = atom;
  a.amount = 5;
  CHECK(differs(path, a));
  a = atom;
  a.bytes = "payloae";
  CHECK(differs(path, a));
  // Fields the slot does not ship (a member's HLC or bytes) are no difference.
  const crdt::Path member{"key", crdt::Slot::kMember, "m"};
  a = atom;
  a.hlc.value = 1;
  a.bytes = "stray";
  CHECK(AtomHash(member, a) == AtomHash(member, atom));
  // Length-prefixed: moving a byte between key and field is another atom.
  CHECK(AtomHash(crdt::Path{"ab", crdt::Slot::kMember, "c"}, atom) !=
        AtomHash(crdt::Path{"a", crdt::Slot::kMember, "bc"}, atom));
}

TEST_CASE("MerkleTree: a comparison finds exactly the leaves of the keys that differ", "[unit]") {
  Prng rng(test::TestSeed());
  INFO("GEOKV_SEED=" << test::TestSeed());
  for (int round = 0; round < 50; ++round) {
    test::TestReplica r(1);
    for (int i = 0; i < 200; ++i) {
      r.Mutate([&](crdt::DeltaBuilder& b) {
        crdt::AddMember(b, "s" + std::to_string(rng.Below(40)), std::to_string(rng.Below(20)));
      });
    }
    std::vector<std::pair<crdt::Path, crdt::Atom>> atoms;
    r.state.Scan(crdt::Scope::Partition(), [&](const crdt::Path& p, const crdt::Atom& a) {
      atoms.emplace_back(p, a);
      return true;
    });
    const MerkleTree ours = TreeOf(r.state);
    MerkleTree theirs = ours;
    REQUIRE(DifferingBranches(ours.Branches(), theirs.Branches()).empty());
    // Damage a few atoms: one lost, one altered, one added.
    std::set<uint32_t> expected;
    const auto& lost = atoms[rng.Below(atoms.size())];
    theirs.Toggle(lost.first, lost.second);
    expected.insert(LeafOfKey(lost.first.key));
    const auto& altered = atoms[rng.Below(atoms.size())];
    if (&altered != &lost) {
      crdt::Atom changed = altered.second;
      changed.first -= 1;  // a member ships its dot and `first` only
      theirs.Toggle(altered.first, altered.second);
      theirs.Toggle(altered.first, changed);
      expected.insert(LeafOfKey(altered.first.key));
    }
    crdt::Atom extra;
    extra.dot = {9, 1};
    extra.first = 1;
    const std::string extra_key = "extra" + std::to_string(rng.Below(1000));
    theirs.Toggle(crdt::Path{extra_key, crdt::Slot::kRegister, ""}, extra);
    expected.insert(LeafOfKey(extra_key));

    std::set<uint32_t> found;
    for (uint32_t b : DifferingBranches(ours.Branches(), theirs.Branches())) {
      for (uint32_t leaf : DifferingLeaves(ours, b, theirs.LeavesOf(b))) found.insert(leaf);
    }
    CHECK(found == expected);
    CHECK(ours.Root() != theirs.Root());
  }
}

// Runs random mutations, folds, rolled-back jobs and rebuild slices against a
// real engine whose observer keeps the trees; at every check the tree of each
// partition equals the tree of a scan.
TEST_CASE("AaeTrees: trees kept by the storage observer equal trees rebuilt by a scan",
          "[property]") {
  const uint64_t seed = test::TestSeed();
  INFO("GEOKV_SEED=" << seed);
  Prng rng(seed);
  constexpr uint32_t kPartitions = 3;
  test::TempDir dir;
  AaeTrees trees(kPartitions, {0, 1, 2});
  storage::Options options = test::TestOptions(dir.File("db"), kPartitions);
  options.atom_observer = &trees;
  auto engine = test::OpenOrFail(options);
  std::vector<test::TestReplica> replicas;
  for (crdt::ReplicaId id = 1; id <= 3; ++id) replicas.emplace_back(id);

  auto rebuild = [&](size_t budget) {
    test::RunOk(*engine, [&](storage::Transaction& txn) {
      trees.Rebuild([&](uint32_t p) -> const crdt::MutableState& { return txn.Partition(p); },
                    budget);
    });
  };
  auto check = [&] {
    while (!trees.AllBuilt()) rebuild(1 + rng.Below(20));
    for (uint32_t p = 0; p < kPartitions; ++p) {
      MerkleTree scanned;
      test::RunOk(*engine, [&](storage::Transaction& txn) { scanned = TreeOf(txn.Partition(p)); });
      REQUIRE(trees.Built(p) != nullptr);
      INFO("partition " << p);
      CHECK(*trees.Built(p) == scanned);
    }
  };

  const int steps = test::CaseCount(600);
  for (int step = 0; step < steps; ++step) {
    const uint64_t what = rng.Below(100);
    const uint32_t p = static_cast<uint32_t>(rng.Below(kPartitions));
    if (what < 70) {
      // A delta from a random replica; sometimes a job that fails afterwards.
      test::TestReplica& r = replicas[rng.Below(replicas.size())];
      const crdt::Delta delta = test::RandomOperation(rng, r);
      const bool fail = rng.Below(8) == 0;
      const Status s = engine->Run([&](storage::Transaction& txn) {
        crdt::ApplyDelta(txn.Partition(p), delta);
        return fail ? Status::Invalid("rolled back on purpose") : Status::Ok();
      });
      REQUIRE(s.ok() == !fail);
    } else if (what < 80) {
      // A fold (replaces atoms: the observer hears of the overwritten one).
      crdt::StableVector stable{{1, 1u << 20}, {2, 1u << 20}, {3, 1u << 20}};
      test::RunOk(*engine, [&](storage::Transaction& txn) {
        crdt::FoldStableCounters(txn.Partition(p), crdt::Scope::Partition(), stable);
      });
    } else if (what < 95) {
      rebuild(1 + rng.Below(10));  // a slice, while writes go on
    } else {
      check();
    }
  }
  check();
  CHECK(trees.builds() >= kPartitions);
}

}  // namespace
}  // namespace geokv::replication
