// Quorum's GEOKV.ATOMS and GEOKV.REPAIR over a real storage engine (SQLite in
// a temporary directory), without sockets: what they answer, and that a
// partition receiving a state transfer is neither a source nor repaired.
#include "replica/node/quorum.h"

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <future>
#include <memory>
#include <string>

#include "crdt/codec.h"
#include "placement/default_topology.h"
#include "temp_dir.h"
#include "replica/node/forwarder.h"

namespace geokv::replica {
namespace {

// Node dc1-a of the default topology (N = 3): its engine and a Quorum with
// no replication; replies are awaited synchronously.
class Fixture {
 public:
  Fixture() : table_(Topology()), forwarder_(io_) {
    storage::Options options;
    options.path = dir_.File("geokv.db");
    options.partitions = table_.partitions();
    auto engine = storage::Engine::Open(options);
    REQUIRE(engine.ok());
    engine_ = std::move(*engine);
    quorum_ = std::make_unique<Quorum>(table_, 0, *engine_, io_, forwarder_, stats_, [] {});
  }
  ~Fixture() {
    quorum_.reset();
    engine_.reset();
  }

  std::string Atoms(uint32_t p, std::vector<std::string> keys) {
    return Await([&](Reply reply) { quorum_->Atoms(p, std::move(keys), std::move(reply)); });
  }
  std::string Repair(uint32_t p, std::string bytes) {
    return Await([&](Reply reply) { quorum_->Repair(p, std::move(bytes), std::move(reply)); });
  }
  // Stores or clears partition p's transfer record, as the core does while a
  // state transfer into p is under way (NodeReplication's meta key).
  void SetTransferRecord(uint32_t p, const std::string& record) {
    REQUIRE(engine_
                ->Run([&](storage::Transaction& txn) {
                  txn.SetMeta("replication.transfer." + std::to_string(p), record);
                  return Status::Ok();
                })
                .ok());
  }

  const placement::PlacementTable& table() const { return table_; }
  const NodeStats& stats() const { return stats_; }

 private:
  static placement::Topology Topology() {
    auto topology = placement::DefaultTopology();
    REQUIRE(topology.ok());
    return std::move(*topology);
  }
  static std::string Await(const std::function<void(Reply)>& call) {
    auto promise = std::make_shared<std::promise<std::string>>();
    auto result = promise->get_future();
    call([promise](std::string r) { promise->set_value(std::move(r)); });
    return result.get();
  }

  placement::PlacementTable table_;
  boost::asio::io_context io_;
  Forwarder forwarder_;
  NodeStats stats_;
  test::TempDir dir_;  // removed after the destructor closed the engine
  std::unique_ptr<storage::Engine> engine_;
  std::unique_ptr<Quorum> quorum_;
};

// A repair of one register atom of `key`, written at another replica.
std::string RegisterRepair(const std::string& key, uint64_t counter) {
  crdt::Snapshot repair;
  crdt::Atom atom;
  atom.dot = {/*origin=*/77, counter};
  atom.first = counter;
  atom.hlc = crdt::Hlc::FromParts(1'700'000'000'000, counter);
  atom.bytes = "v" + std::to_string(counter);
  repair.atoms.push_back({crdt::Path{key, crdt::Slot::kRegister, ""}, atom});
  repair.context.Insert(atom.dot);
  return crdt::EncodeSnapshot(repair);
}

TEST_CASE("Quorum: GEOKV.REPAIR joins once, and GEOKV.ATOMS shows it", "[unit]") {
  Fixture f;
  const uint32_t p = f.table().PartitionOfKey("k");
  CHECK(f.Repair(p, RegisterRepair("k", 1)) == ":1\r\n");
  CHECK(f.Repair(p, RegisterRepair("k", 1)) == ":0\r\n");
  CHECK(f.stats().read_repair_atoms.load() == 1);
  const std::string atoms = f.Atoms(p, {"k"});
  const auto body = BulkReply(atoms);
  REQUIRE(body);
  auto snapshot = crdt::DecodeSnapshot(*body);
  REQUIRE(snapshot.ok());
  REQUIRE(snapshot->atoms.size() == 1);
  CHECK(snapshot->atoms[0].second.bytes == "v1");
  CHECK(snapshot->context.Contains({77, 1}));
}

TEST_CASE("Quorum: a partition receiving a state transfer is no quorum source and takes no repair",
          "[unit]") {
  Fixture f;
  const uint32_t p = f.table().PartitionOfKey("k");
  f.SetTransferRecord(p, "under way");
  CHECK(f.Atoms(p, {"k"}).rfind("-TRYAGAIN", 0) == 0);
  CHECK(f.Repair(p, RegisterRepair("k", 1)).rfind("-TRYAGAIN", 0) == 0);
  f.SetTransferRecord(p, "");  // the transfer ended
  CHECK(BulkReply(f.Atoms(p, {"k"})).has_value());
  auto before = crdt::DecodeSnapshot(*BulkReply(f.Atoms(p, {"k"})));
  REQUIRE(before.ok());
  CHECK(before->atoms.empty());  // the refused repair left nothing
  CHECK(f.Repair(p, RegisterRepair("k", 1)) == ":1\r\n");
}

TEST_CASE("Quorum: GEOKV.ATOMS refuses a partition not held and keys outside the partition",
          "[unit]") {
  Fixture f;
  const uint32_t p = f.table().PartitionOfKey("k");
  CHECK(f.Atoms(f.table().partitions(), {"k"}).rfind("-ERR partition", 0) == 0);
  CHECK(f.Atoms((p + 1) % f.table().partitions(), {"k"}).find("is not in partition") !=
        std::string::npos);
  CHECK(f.Repair(f.table().partitions() + 7, RegisterRepair("k", 1)).rfind("-ERR partition", 0) ==
        0);
}

}  // namespace
}  // namespace geokv::replica
