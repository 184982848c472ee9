// The engine's in-memory partition state against crdt::MemoryState, primitive by
// primitive: the same Put/Erase/JoinContext sequence on both, then every Scan
// scope, Find and the key index must answer the same, in the same order. The
// keys, fields, origins and counters are drawn from edge values (empty bytes,
// embedded NUL and 0xFF bytes, prefixes, values around 2^63) where a storage
// order can differ from std::string's or uint64's.
#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "common/prng.h"
#include "crdt/key_type.h"
#include "crdt/memory_state.h"
#include "crdt/or_map.h"
#include "crdt/or_set.h"
#include "seed.h"
#include "storage_test_util.h"

namespace geokv::storage {
namespace {

using crdt::Atom;
using crdt::Dot;
using crdt::MemoryState;
using crdt::MutableState;
using crdt::Path;
using crdt::Scope;
using crdt::Slot;

const std::vector<std::string> kBytes = {"",  "a",    std::string("a\0", 2), "a\xff", "ab",
                                         "b", "\xff", std::string("\0", 1),  "\x80x"};
const std::vector<uint64_t> kNumbers = {
    1, 2, 3, (uint64_t{1} << 63) - 1, uint64_t{1} << 63, (uint64_t{1} << 63) + 1, UINT64_MAX};

std::string PickBytes(Prng& rng) { return kBytes[rng.Below(kBytes.size())]; }
uint64_t PickNumber(Prng& rng) { return kNumbers[rng.Below(kNumbers.size())]; }

Path RandomPath(Prng& rng) {
  Path path;
  path.key = PickBytes(rng);
  path.slot = static_cast<Slot>(rng.Below(crdt::kSlotCount));
  if (crdt::HasField(path.slot)) path.field = PickBytes(rng);
  return path;
}

Atom RandomAtom(Prng& rng) {
  Atom atom;
  atom.dot = Dot{PickNumber(rng), PickNumber(rng)};
  atom.first = rng.Chance(80) ? atom.dot.counter : PickNumber(rng);
  atom.hlc.value = rng.Next();
  atom.amount = static_cast<int64_t>(rng.Next());
  if (rng.Chance(50)) atom.bytes = PickBytes(rng) + std::string(rng.Below(40), 'x');
  return atom;
}

Scope RandomScope(Prng& rng) {
  const uint64_t kind = rng.Below(10);
  if (kind == 0) return Scope::Partition();
  const auto slots = static_cast<crdt::SlotMask>(rng.Below(crdt::kAllSlots + 1));
  if (kind < 6) return Scope::Key(PickBytes(rng), slots);
  return Scope::Field(PickBytes(rng), slots & crdt::kFieldSlots, PickBytes(rng));
}

// The visit sequence of a scan, stopped after `limit` atoms.
std::vector<std::string> ScanOf(const crdt::StateView& state, const Scope& scope, size_t limit) {
  std::vector<std::string> seen;
  state.Scan(scope, [&](const Path& path, const Atom& atom) {
    seen.push_back(test::Describe(path, atom));
    return seen.size() < limit;
  });
  return seen;
}

// One batch of random primitive operations on both states; returns a
// description of the first difference, or "".
std::string RandomSteps(Prng& rng, Transaction& txn, MemoryState& model, int steps) {
  MutableState& sql = txn.Partition(1);
  std::vector<std::pair<Path, Dot>> known;
  for (int s = 0; s < steps; ++s) {
    const uint64_t op = rng.Below(100);
    if (op < 35) {
      const Path path = RandomPath(rng);
      const Atom atom = RandomAtom(rng);
      sql.Put(path, atom);
      model.Put(path, atom);
      known.emplace_back(path, atom.dot);
    } else if (op < 50) {
      Path path;
      Dot dot;
      if (!known.empty() && rng.Chance(80)) {
        std::tie(path, dot) = known[rng.Below(known.size())];
      } else {
        path = RandomPath(rng);
        dot = Dot{PickNumber(rng), PickNumber(rng)};
      }
      sql.Erase(path, dot);
      model.Erase(path, dot);
    } else if (op < 58) {
      crdt::DotContext dots;
      const uint64_t first = 1 + rng.Below(50);
      dots.InsertRange(PickNumber(rng), first, first + rng.Below(5));
      sql.JoinContext(dots);
      model.JoinContext(dots);
      if (!(sql.Context() == model.Context())) {
        return "context " + sql.Context().ToString() + " vs " + model.Context().ToString();
      }
    } else if (op < 88 && rng.Chance(30)) {
      // A range scan from a position (state transfer chunks): an atom's, or
      // any, with edge values in every column.
      crdt::AtomPosition from{RandomPath(rng), Dot{PickNumber(rng), PickNumber(rng)}};
      if (!known.empty() && rng.Chance(50))
        std::tie(from.path, from.dot) = known[rng.Below(known.size())];
      const size_t limit = rng.Chance(50) ? SIZE_MAX : 1 + rng.Below(4);
      auto scan_from = [&](const MutableState& state) {
        std::vector<std::string> seen;
        state.ScanFrom(from, [&](const Path& path, const Atom& atom) {
          seen.push_back(test::Describe(path, atom));
          return seen.size() < limit;
        });
        return seen;
      };
      if (scan_from(sql) != scan_from(model)) return "scan from '" + from.path.key + "'";
    } else if (op < 88) {
      const Scope scope = RandomScope(rng);
      const size_t limit = rng.Chance(70) ? SIZE_MAX : 1 + rng.Below(4);
      if (ScanOf(sql, scope, limit) != ScanOf(model, scope, limit)) {
        return "scan of scope kind " + std::to_string(static_cast<int>(scope.kind)) + " key '" +
               scope.key + "' slots " + std::to_string(scope.slots) + " field '" + scope.field +
               "'";
      }
    } else if (op < 91) {
      // The key count, also right after erases (it is settled lazily).
      const size_t keys = crdt::Keys(model).size();
      if (txn.KeyCount(1) != keys) {
        return "key count " + std::to_string(txn.KeyCount(1)) + " vs " + std::to_string(keys);
      }
    } else if (op < 96) {
      Path path;
      Dot dot;
      if (!known.empty() && rng.Chance(70)) {
        std::tie(path, dot) = known[rng.Below(known.size())];
      } else {
        path = RandomPath(rng);
        dot = Dot{PickNumber(rng), PickNumber(rng)};
      }
      Atom a, b;
      const bool in_sql = sql.Find(path, dot, &a);
      const bool in_model = model.Find(path, dot, &b);
      if (in_sql != in_model || (in_sql && !(a == b))) {
        return "find " + test::Describe(path, Atom{dot, 0, {}, 0, ""});
      }
    } else {
      // A visitor that scans again while the outer scan is open (the store
      // must not hand the same cached statement out twice).
      const Scope scope = RandomScope(rng);
      auto nested = [&](const crdt::StateView& state) {
        std::vector<std::string> seen;
        state.Scan(scope, [&](const Path& path, const Atom& atom) {
          seen.push_back(test::Describe(path, atom));
          for (auto& inner : ScanOf(state, Scope::Key(path.key), SIZE_MAX)) seen.push_back(inner);
          return true;
        });
        return seen;
      };
      if (nested(sql) != nested(model)) return "nested scan";
    }
  }
  return "";
}

TEST_CASE("PartitionState: every primitive answers like MemoryState, in the same order",
          "[property]") {
  const uint64_t seed = test::TestSeed();
  const int cases = test::CaseCount(12);
  test::TempDir dir;
  for (int c = 0; c < cases; ++c) {
    INFO("GEOKV_SEED=" << seed << " case " << c);
    Prng rng(seed * 2'000'003 + c);
    const Options options = test::TestOptions(dir.File("state" + std::to_string(c) + ".db"), 2);
    auto engine = test::OpenOrFail(options);
    MemoryState model;
    for (int batch = 0; batch < 6; ++batch) {
      std::string problem;
      test::RunOk(*engine, [&](Transaction& txn) { problem = RandomSteps(rng, txn, model, 120); });
      REQUIRE(problem == "");
      if (rng.Chance(30)) {
        engine.reset();
        engine = test::OpenOrFail(options);
      }
      REQUIRE(test::SnapshotOf(*engine, 1) == crdt::TakeSnapshot(model));
      const std::vector<std::string> keys = crdt::Keys(model);
      test::RunOk(*engine, [&](Transaction& txn) {
        CHECK(txn.KeyCount(1) == keys.size());
        CHECK(txn.KeyCount(0) == 0);
        CHECK(txn.ScanKeys(1, std::nullopt, 1000) == keys);
      });
    }
  }
}

TEST_CASE("PartitionState: after a clean shutdown the tables hold everything, the redo nothing",
          "[unit]") {
  // The atom tables are a complete picture of a stopped node (tools and the
  // anti-entropy damage test edit them): every atom is a row, no redo is left.
  test::TempDir dir;
  const std::string path = dir.File("clean.db");
  size_t atoms = 0;
  {
    auto engine = test::OpenOrFail(test::TestOptions(path, 2));
    for (int round = 0; round < 3; ++round) {
      test::RunOk(*engine, [&](Transaction& txn) {
        crdt::DeltaBuilder b(txn.Partition(round % 2), 1);
        for (int i = 0; i < 300; ++i) crdt::AddMember(b, "s" + std::to_string(i % 7), std::to_string(i + round));
        crdt::DeleteKey(b, "s3");
        crdt::ApplyDelta(txn.Partition(round % 2), std::move(b).Finish());
      });
    }
    test::RunOk(*engine, [&](Transaction& txn) {
      atoms = 0;
      for (uint32_t p = 0; p < 2; ++p) {
        txn.Partition(p).Scan(Scope::Partition(), [&](const Path&, const Atom&) {
          ++atoms;
          return true;
        });
      }
    });
    CHECK(test::QueryInt(path, "SELECT count(*) FROM redo") > 0);
  }
  CHECK(test::QueryInt(path, "SELECT count(*) FROM redo") == 0);
  CHECK(test::QueryInt(path, "SELECT count(*) FROM atoms") == static_cast<int64_t>(atoms));
}

TEST_CASE("PartitionState: reading one member or field of a big collection", "[unit]") {
  test::TempDir dir;
  auto engine = test::OpenOrFail(test::TestOptions(dir.File("big.db"), 1));
  test::RunOk(*engine, [&](Transaction& txn) {
    crdt::DeltaBuilder b(txn.Partition(0), 1);
    for (int i = 0; i < 5000; ++i) crdt::AddMember(b, "s", "m" + std::to_string(i));
    for (int i = 0; i < 5000; ++i) {
      crdt::SetField(b, "h", "f" + std::to_string(i), crdt::Hlc{1}, std::to_string(i));
    }
    crdt::ApplyDelta(txn.Partition(0), std::move(b).Finish());
  });
  test::RunOk(*engine, [&](Transaction& txn) {
    const MutableState& state = txn.Partition(0);
    CHECK(crdt::IsMember(state, "s", "m4321"));
    CHECK_FALSE(crdt::IsMember(state, "s", "m5000"));
    CHECK(crdt::ReadField(state, "h", "f4321").ToBytes() == "4321");
    CHECK(crdt::VisibleType(state, "s") == crdt::ValueType::kSet);
    CHECK(crdt::VisibleType(state, "h") == crdt::ValueType::kHash);
    CHECK(crdt::Cardinality(state, "s") == 5000);
    CHECK(txn.KeyCount(0) == 2);
  });
}

}  // namespace
}  // namespace geokv::storage
