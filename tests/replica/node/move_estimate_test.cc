// EstimateMoves over a real storage engine (SQLite in a temporary directory):
// what each role's partition is priced at, the partition size a node reports
// for its heartbeats, and that a joiner serving nothing prices its fills by
// its peers' partition size (with its own figures it would show one key per
// partition, however much is still to come).
#include "replica/node/move_estimate.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "crdt/join.h"
#include "storage/engine.h"
#include "temp_dir.h"

namespace geokv::replica {
namespace {

using Role = replication::MoveStatus::Role;
constexpr uint32_t kQ = 8;

class Fixture {
 public:
  Fixture() {
    storage::Options options;
    options.path = dir_.File("geokv.db");
    options.partitions = kQ;
    auto engine = storage::Engine::Open(options);
    REQUIRE(engine.ok());
    engine_ = std::move(*engine);
    view_.holds.assign(kQ, 0);
    view_.serving.assign(kQ, 0);
  }

  // Writes `keys` registers of 100-byte values into p.
  void Fill(uint32_t p, int keys) {
    REQUIRE(engine_
                ->Run([&](storage::Transaction& txn) {
                  crdt::Snapshot s;
                  for (int k = 0; k < keys; ++k) {
                    crdt::Atom atom;
                    atom.dot = {/*origin=*/77, ++counter_};
                    atom.first = atom.dot.counter;
                    atom.hlc = crdt::Hlc::FromParts(1'700'000'000'000, counter_);
                    atom.bytes = std::string(100, 'v');
                    s.atoms.push_back({crdt::Path{"p" + std::to_string(p) + ":" + std::to_string(k),
                                                  crdt::Slot::kRegister, ""},
                                       atom});
                    s.context.Insert(atom.dot);
                  }
                  crdt::JoinState(txn.Partition(p), s);
                  return Status::Ok();
                })
                .ok());
  }
  void Serve(uint32_t p) { view_.holds[p] = view_.serving[p] = 1; }
  void Move(uint32_t p, Role role) {
    view_.holds[p] = 1;
    view_.serving[p] = role == Role::kLeaving || role == Role::kStaying ? 1 : 0;
    replication::MoveStatus m;
    m.partition = p;
    m.role = role;
    view_.moves.push_back(m);
  }
  MoveEstimates Estimate(uint64_t peer_partition_bytes) {
    MoveEstimates out;
    REQUIRE(engine_
                ->Run([&](storage::Transaction& txn) {
                  out = EstimateMoves(txn, view_, peer_partition_bytes);
                  return Status::Ok();
                })
                .ok());
    uint64_t sum = 0;
    for (uint64_t b : out.bytes_left) sum += b;
    CHECK(out.bytes_left.size() == view_.moves.size());
    CHECK(out.bytes_left_total == sum);
    return out;
  }

 private:
  test::TempDir dir_;  // removed after the engine closed (declared first)
  std::unique_ptr<storage::Engine> engine_;
  ServingView view_;
  uint64_t counter_ = 0;
};

TEST_CASE("EstimateMoves: no moves, no estimate", "[unit]") {
  Fixture f;
  f.Fill(0, 10);
  f.Serve(0);
  const MoveEstimates e = f.Estimate(5000);
  CHECK(e.bytes_left.empty());
  CHECK(e.bytes_left_total == 0);
  CHECK(e.partition_bytes == 0);
}

TEST_CASE("EstimateMoves: each role's partitions, priced at a sampled key size", "[unit]") {
  Fixture f;
  f.Fill(0, 10);
  f.Serve(0);
  f.Fill(1, 2);
  f.Move(1, Role::kJoining);
  f.Move(2, Role::kJoining);
  f.Fill(3, 4);
  f.Move(3, Role::kLeaving);
  f.Fill(4, 3);
  f.Move(4, Role::kDraining);
  f.Fill(5, 5);
  f.Move(5, Role::kStaying);
  // Without peers' sizes: a full partition is the mean of those served here
  // (p0 and p3, p5: 19 keys / 3).
  const MoveEstimates own = f.Estimate(0);
  REQUIRE(own.partition_bytes % 6 == 0);
  const uint64_t key = own.partition_bytes / 6;
  INFO("a key: " << key << " bytes");
  CHECK(key > 100);  // its value and its dot, timestamp and path
  CHECK(key < 300);
  CHECK(own.bytes_left == std::vector<uint64_t>{4 * key, 6 * key, 4 * key, 3 * key, 0});
  // With them: the joiner's partitions lack what they hold of the peers' size.
  const MoveEstimates peers = f.Estimate(50 * key);
  CHECK(peers.partition_bytes == own.partition_bytes);  // its own report is its own
  CHECK(peers.bytes_left == std::vector<uint64_t>{48 * key, 50 * key, 4 * key, 3 * key, 0});
  // A partition fuller than the peers' size still lacks a key while it fills.
  CHECK(f.Estimate(key).bytes_left[0] == key);
}

TEST_CASE("EstimateMoves: a new node, serving nothing yet, prices its fills by its peers'",
          "[unit]") {
  Fixture f;
  f.Fill(1, 2);
  f.Move(1, Role::kJoining);
  f.Move(2, Role::kJoining);
  f.Move(3, Role::kJoining);
  // Its own figures: the mean of what it holds (2 keys / 3), one key each.
  const MoveEstimates own = f.Estimate(0);
  CHECK(own.partition_bytes == 0);  // nothing served: nothing to report
  const uint64_t key = own.bytes_left[1];
  CHECK(key > 100);
  CHECK(own.bytes_left == std::vector<uint64_t>{key, key, key});
  // Its peers' size: 10 KB a partition.
  const MoveEstimates peers = f.Estimate(10'000);
  CHECK(peers.partition_bytes == 0);
  CHECK(peers.bytes_left == std::vector<uint64_t>{10'000 - 2 * key, 10'000, 10'000});
}

}  // namespace
}  // namespace geokv::replica
