// Anti-entropy on real geokv-server processes (issue 15): a replica whose
// atoms were damaged behind its back (rows deleted or altered in its SQLite
// file while it was stopped, its causal context kept) is found by the Merkle
// tree exchange and repaired from the majority, without the healthy replicas
// changing; with two replicas there is no majority, so the difference is
// reported and nothing changes; GEOKV.REBUILD refills a replica from the
// others.
#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <thread>

#include "server_process.h"

namespace geokv::test {
namespace {

using namespace std::chrono_literals;
using replica::RespClient;
using replica::RespValue;
using Clock = std::chrono::steady_clock;

constexpr int kPartitions = 4;
constexpr int kStrings = 40;
constexpr int kSets = 10;

std::unique_ptr<TestCluster> StartCluster(int dcs, const std::vector<std::string>& flags) {
  auto cluster = std::make_unique<TestCluster>(dcs, 1, dcs, kPartitions);
  for (size_t i = 0; i < cluster->nodes().size(); ++i) {
    Status s = cluster->Start(i, flags);
    INFO(s.ToString());
    REQUIRE(s.ok());
  }
  return cluster;
}

std::string Digest(TestCluster& cluster, size_t i) {
  RespClient c = cluster.Client(i);
  auto r = c.Command({"GEOKV.DIGEST"});
  REQUIRE(r.ok());
  return r->ToString();
}

bool Converged(TestCluster& cluster, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  do {
    std::set<std::string> digests;
    for (size_t i = 0; i < cluster.nodes().size(); ++i) digests.insert(Digest(cluster, i));
    if (digests.size() == 1) return true;
    std::this_thread::sleep_for(50ms);
  } while (Clock::now() < deadline);
  return false;
}

uint64_t InfoField(TestCluster& cluster, size_t i, const std::string& name) {
  RespClient c = cluster.Client(i);
  const std::string info = c.Command({"INFO", "replication"})->str;
  const size_t at = info.find("\n" + name + ":");
  return at == std::string::npos ? 0 : std::stoull(info.substr(at + name.size() + 2));
}

// Waits until INFO field `name` of node i reaches `at_least`.
bool WaitField(TestCluster& cluster, size_t i, const std::string& name, uint64_t at_least,
               std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (InfoField(cluster, i, name) < at_least) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(50ms);
  }
  return true;
}

void Load(TestCluster& cluster) {
  RespClient c = cluster.Client(0);
  for (int i = 0; i < kStrings; ++i) {
    REQUIRE(c.Command({"SET", "str:" + std::to_string(i), "value" + std::to_string(i)})->str ==
            "OK");
  }
  for (int i = 0; i < kSets; ++i) {
    REQUIRE(c.Command({"SADD", "set:" + std::to_string(i), "m0", "m1", "m2", "m3"})->integer == 4);
  }
  REQUIRE(Converged(cluster, 20s));
}

// Runs SQL with one bound text parameter per `params` on node i's database,
// which must be stopped; returns the rows changed.
int Damage(TestCluster& cluster, size_t i, const std::string& sql,
           const std::vector<std::string>& params) {
  const std::string path = cluster.dir() + "/" + cluster.nodes()[i].id + "/geokv.db";
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  INFO(sql << ": " << sqlite3_errmsg(db));
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
  for (size_t k = 0; k < params.size(); ++k) {
    // Keys and fields are stored as BLOBs.
    sqlite3_bind_blob(stmt, static_cast<int>(k + 1), params[k].data(),
                      static_cast<int>(params[k].size()), SQLITE_TRANSIENT);
  }
  REQUIRE(sqlite3_step(stmt) == SQLITE_DONE);
  const int changed = sqlite3_changes(db);
  sqlite3_finalize(stmt);
  REQUIRE(sqlite3_close(db) == SQLITE_OK);
  return changed;
}

// Alters str:7's value and loses member m2 of set:3 on node i (stopped);
// keeps the causal context and the key counts.
void DamageNode(TestCluster& cluster, size_t i) {
  CHECK(Damage(cluster, i, "UPDATE atoms SET bytes = ?2 WHERE key = ?1",
               {"str:7", "not what was written"}) == 1);
  CHECK(Damage(cluster, i, "DELETE FROM atoms WHERE key = ?1 AND field = ?2", {"set:3", "m2"}) ==
        1);
}

std::string Get(TestCluster& cluster, size_t i, const std::string& key) {
  RespClient c = cluster.Client(i);
  return c.Command({"GET", key})->str;
}

int64_t IsMember(TestCluster& cluster, size_t i, const std::string& key, const std::string& m) {
  RespClient c = cluster.Client(i);
  return c.Command({"SISMEMBER", key, m})->integer;
}

TEST_CASE("AAE: a replica damaged behind its back is found and repaired from the majority",
          "[integration]") {
  auto cluster = StartCluster(3, {"--aae-interval-ms", "200"});
  Load(*cluster);
  const std::string healthy1 = Digest(*cluster, 0), healthy2 = Digest(*cluster, 1);
  REQUIRE(cluster->Stop(2) == 0);
  DamageNode(*cluster, 2);
  REQUIRE(cluster->Start(2, {"--aae-interval-ms", "200"}).ok());
  // The damage shows at dc3 until anti-entropy repairs it.
  const auto started = Clock::now();
  INFO(cluster->Log(2));
  REQUIRE(WaitField(*cluster, 2, "aae_repairs", 2, 30s));
  const auto repaired_after = Clock::now() - started;
  WARN("repaired "
       << std::chrono::duration_cast<std::chrono::milliseconds>(repaired_after).count()
       << " ms after dc3 served again");
  REQUIRE(Converged(*cluster, 10s));
  CHECK(Get(*cluster, 2, "str:7") == "value7");
  CHECK(IsMember(*cluster, 2, "set:3", "m2") == 1);
  CHECK(InfoField(*cluster, 2, "aae_divergent_keys") >= 2);
  // Healthy replicas reported it (they compared with dc3 too) and never changed.
  CHECK(InfoField(*cluster, 0, "aae_repairs") == 0);
  CHECK(InfoField(*cluster, 1, "aae_repairs") == 0);
  CHECK(Digest(*cluster, 0) == healthy1);
  CHECK(Digest(*cluster, 1) == healthy2);
  CHECK(cluster->Log(2).find("keys diverge") != std::string::npos);
  CHECK(cluster->Log(2).find("str:7") != std::string::npos);
  // Bounded: two comparisons per pair (200 ms for all of them) and the key round.
  CHECK(repaired_after < 15s);
  // Status names each (partition, peer) pair.
  RespClient c = cluster->Client(0);
  auto status = c.Command({"GEOKV.AAE", "STATUS"});
  REQUIRE(status.ok());
  CHECK(status->elements.size() == 2 * kPartitions);
  CHECK(c.Command({"GEOKV.AAE", "RUN"})->integer == 2 * kPartitions);
  CHECK(c.Command({"GEOKV.AAE", "RUN", "99"})->type == RespValue::Type::kError);
  CHECK(c.Command({"GEOKV.AAE", "BOGUS"})->type == RespValue::Type::kError);
}

TEST_CASE("AAE: two replicas that disagree are reported and left as they are", "[integration]") {
  auto cluster = StartCluster(2, {"--aae-interval-ms", "200"});
  Load(*cluster);
  const std::string healthy = Digest(*cluster, 0);
  REQUIRE(cluster->Stop(1) == 0);
  DamageNode(*cluster, 1);
  const std::string damaged_before = [&] {
    REQUIRE(cluster->Start(1, {"--aae-interval-ms", "200"}).ok());
    return Digest(*cluster, 1);
  }();
  INFO(cluster->Log(1));
  REQUIRE(WaitField(*cluster, 1, "aae_divergent_keys", 2, 30s));
  REQUIRE(WaitField(*cluster, 0, "aae_divergent_keys", 2, 30s));
  std::this_thread::sleep_for(1s);  // more rounds: still nothing changes
  CHECK(InfoField(*cluster, 0, "aae_repairs") == 0);
  CHECK(InfoField(*cluster, 1, "aae_repairs") == 0);
  CHECK(Digest(*cluster, 0) == healthy);
  CHECK(Digest(*cluster, 1) == damaged_before);
  CHECK(Get(*cluster, 1, "str:7") == "not what was written");
  CHECK(cluster->Log(0).find("no majority") != std::string::npos);
}

TEST_CASE("AAE: GEOKV.REBUILD refills a damaged replica from the others", "[integration]") {
  // Anti-entropy off: only the rebuild may repair.
  auto cluster = StartCluster(3, {"--aae-interval-ms", "0"});
  Load(*cluster);
  REQUIRE(cluster->Stop(2) == 0);
  DamageNode(*cluster, 2);
  REQUIRE(cluster->Start(2, {"--aae-interval-ms", "0"}).ok());
  RespClient c = cluster->Client(2);
  CHECK(Get(*cluster, 2, "str:7") == "not what was written");
  for (int p = 0; p < kPartitions; ++p) {
    CHECK(c.Command({"GEOKV.REBUILD", std::to_string(p)})->str == "OK");
  }
  CHECK(c.Command({"GEOKV.REBUILD", "99"})->type == RespValue::Type::kError);
  INFO(cluster->Log(2));
  REQUIRE(Converged(*cluster, 20s));
  CHECK(Get(*cluster, 2, "str:7") == "value7");
  CHECK(IsMember(*cluster, 2, "set:3", "m2") == 1);
  for (size_t i = 0; i < 3; ++i) {
    RespClient n = cluster->Client(i);
    CHECK(n.Command({"DBSIZE"})->integer == kStrings + kSets);
  }
  CHECK(InfoField(*cluster, 2, "aae_rebuilds") == kPartitions);
  // Writes go on after it.
  CHECK(c.Command({"SET", "after", "rebuild"})->str == "OK");
}

}  // namespace
}  // namespace geokv::test
