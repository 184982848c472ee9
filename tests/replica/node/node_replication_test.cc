// NodeReplication::Submit, the one wrapper of replication jobs, over a real
// storage engine (SQLite in a temporary directory) and without a transport:
// what a job leaves in storage and in the core when it succeeds or fails.
#include "replica/node/node_replication.h"

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>

#include "crdt/join.h"
#include "crdt/scalar.h"
#include "placement/default_topology.h"
#include "temp_dir.h"

namespace geokv::replica {
namespace {

// A node of the default topology (dc1-a, N = 3) with its engine and a
// replication that is never started (no sockets, no timer).
class Fixture {
 public:
  explicit Fixture(ReplicationSettings settings = Settings()) : table_(Topology()) {
    storage::Options options;
    options.path = dir_.File("geokv.db");
    options.partitions = table_.partitions();
    auto engine = storage::Engine::Open(options);
    REQUIRE(engine.ok());
    engine_ = std::move(*engine);
    replication_ = std::make_unique<NodeReplication>(table_, 0, *engine_, io_, settings);
    self_ = table_.topology().nodes()[0].replica_id;
    partition_ = table_.PartitionsOfNode(0).front();
  }
  ~Fixture() {
    replication_.reset();
    engine_.reset();
  }

  // Submits `body` through the wrapper (with or without the replication) and
  // waits for its done.
  Status Run(NodeReplication::Body body, bool replicated = true) {
    std::promise<Status> promise;
    auto result = promise.get_future();
    const Status submitted =
        NodeReplication::Submit(replicated ? replication_.get() : nullptr, *engine_,
                                std::move(body), [&](Status s) { promise.set_value(s); });
    if (!submitted.ok()) return submitted;
    return result.get();
  }

  // INCR k in the fixture's partition, as a command job does it.
  crdt::Delta Increment(NodeReplication::Job& job) {
    crdt::MutableState& state = job.txn().Partition(partition_);
    crdt::DeltaBuilder builder(state, self_);
    crdt::IncrementScalar(builder, crdt::ScalarRef{"k", std::nullopt}, 1);
    crdt::Delta delta = std::move(builder).Finish();
    crdt::ApplyDelta(state, delta);
    job.OnLocalDelta(partition_, delta);
    return delta;
  }

  // (applied seq of this node's own stream, own log entries) as committed.
  std::pair<uint64_t, size_t> Committed() {
    std::pair<uint64_t, size_t> out;
    REQUIRE(engine_
                ->Run([&](storage::Transaction& txn) {
                  out.first = txn.Applied(partition_, self_);
                  auto log = txn.ReadLog(partition_, self_, 0, size_t{1} << 20);
                  REQUIRE(log.ok());
                  out.second = log->size();
                  return Status::Ok();
                })
                .ok());
    return out;
  }

  // No peer runs here: a fenced core would (rightly) refuse these writes.
  static ReplicationSettings Settings() {
    ReplicationSettings settings;
    settings.fence_own_streams = false;
    return settings;
  }

 private:
  static placement::Topology Topology() {
    auto topology = placement::DefaultTopology();
    REQUIRE(topology.ok());
    return std::move(*topology);
  }

  placement::PlacementTable table_;
  test::TempDir dir_;  // removed after the destructor closed the engine
  boost::asio::io_context io_;
  std::unique_ptr<storage::Engine> engine_;
  std::unique_ptr<NodeReplication> replication_;
  crdt::ReplicaId self_ = 0;
  uint32_t partition_ = 0;
};

TEST_CASE("NodeReplication: a committed job logs its deltas and records the own seq", "[unit]") {
  Fixture f;
  uint64_t last = 0;
  REQUIRE(f.Run([&](NodeReplication::Job& job) {
             f.Increment(job);
             last = f.Increment(job).last;
           }).ok());
  CHECK(last == 2);
  CHECK(f.Committed() == std::make_pair(uint64_t{2}, size_t{2}));
}

TEST_CASE(
    "NodeReplication: a job that throws is rolled back and the core rebuilt before the next job",
    "[unit]") {
  Fixture f;
  REQUIRE(f.Run([&](NodeReplication::Job& job) { f.Increment(job); }).ok());
  const Status failed = f.Run([&](NodeReplication::Job& job) {
    f.Increment(job);  // seq 2, rolled back with the job
    throw std::runtime_error("a command failed");
  });
  CHECK_FALSE(failed.ok());
  CHECK(f.Committed() == std::make_pair(uint64_t{1}, size_t{1}));
  // The next delta takes seq 2 again. A core that kept the rolled-back one
  // would see its dots reused (and abort: OnLocalDelta asserts).
  uint64_t first = 0;
  REQUIRE(f.Run([&](NodeReplication::Job& job) { first = f.Increment(job).first; }).ok());
  CHECK(first == 2);
  CHECK(f.Committed() == std::make_pair(uint64_t{2}, size_t{2}));
}

TEST_CASE("NodeReplication: a job failed by the fault hook keeps no delta; its seq is taken again",
          "[unit]") {
  for (const bool throws : {false, true}) {
    INFO((throws ? "throw" : "storage error"));
    ReplicationSettings settings = Fixture::Settings();
    (throws ? settings.testing_throw_job_every : settings.testing_fail_job_every) = 2;
    Fixture f(settings);
    REQUIRE(f.Run([&](NodeReplication::Job& job) { f.Increment(job); }).ok());  // 1st: kept
    const Status failed = f.Run([&](NodeReplication::Job& job) {                // 2nd: fails
      f.Increment(job);
      f.Increment(job);
    });
    CHECK_FALSE(failed.ok());
    CHECK(f.Committed() == std::make_pair(uint64_t{1}, size_t{1}));
    // A job without a local delta does not count towards the hook.
    REQUIRE(f.Run([](NodeReplication::Job&) {}).ok());
    uint64_t first = 0;
    REQUIRE(f.Run([&](NodeReplication::Job& job) { first = f.Increment(job).first; }).ok());
    CHECK(first == 2);  // the rolled-back seqs 2..3 are issued again, to a delta that commits
    CHECK(f.Committed() == std::make_pair(uint64_t{2}, size_t{2}));
  }
}

TEST_CASE("NodeReplication: without replication, a job still logs its deltas", "[unit]") {
  Fixture f;
  REQUIRE(f.Run([&](NodeReplication::Job& job) { f.Increment(job); }, false).ok());
  // Logged; no core records the own seq.
  CHECK(f.Committed() == std::make_pair(uint64_t{0}, size_t{1}));
}

}  // namespace
}  // namespace geokv::replica
