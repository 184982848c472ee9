// geokv-check end to end: it must pass a healthy cluster under every fault
// kind, and it must fail a deliberately broken one (a checker that cannot fail
// proves nothing).
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "seed.h"
#include "server_process.h"

namespace geokv::test {
namespace {

std::string Check(const TestCluster& cluster, const std::string& flags, int* status) {
  const std::string report = cluster.dir() + "/report";
  return RunCommand(std::string(GEOKV_CHECK_BIN) + " --topology " + cluster.topology_path() +
                        " --launch --report " + report + " " + flags + " 2>&1",
                    status);
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST_CASE("geokv-check: a healthy 3-DC cluster passes under kills, pauses, partitions and restores",
          "[integration]") {
  TestCluster cluster(3, 1, 3, 16);  // writes the topology; the checker starts the nodes
  int status = -1;
  const std::string out = Check(cluster,
                                "--duration 12s --faults kill,pause,partition,restore "
                                "--latency dc1-dc2=15ms,dc2-dc3=25ms "
                                "--seed " +
                                    std::to_string(TestSeed()),
                                &status);
  INFO(out);
  CHECK(status == 0);
  CHECK(out.find("PASS") != std::string::npos);
  const std::string json = ReadAll(cluster.dir() + "/report/history.json");
  CHECK(json.find("\"verdict\":\"PASS\"") != std::string::npos);
  CHECK(json.find("\"outcome\":\"ok\"") != std::string::npos);
  CHECK(json.find("\"token_values\":[") != std::string::npos);  // MVSETs record their token
  const std::string html = ReadAll(cluster.dir() + "/report/report.html");
  CHECK(html.find("<svg") != std::string::npos);
  CHECK(html.find("replication lag") != std::string::npos);
}

TEST_CASE("geokv-check: 5 DCs with N=3 pass under faults", "[integration]") {
  TestCluster cluster(5, 1, 3, 16);
  int status = -1;
  const std::string out = Check(
      cluster, "--duration 8s --faults kill,partition --seed " + std::to_string(TestSeed() + 1),
      &status);
  INFO(out);
  CHECK(status == 0);
  CHECK(out.find("PASS") != std::string::npos);
}

TEST_CASE("geokv-check: 5 DCs with N=3 pass while nodes join and leave and weights change",
          "[integration]") {
  // Every fault is a reconfiguration, in turn: a sixth DC's node joins, a
  // node leaves (it drains and exits by itself), a node's weight doubles.
  // Every replica of the final placement must end equal with no move left,
  // the removed node must have exited with status 0, and its acknowledged
  // writes must be in the final state.
  TestCluster cluster(5, 1, 3, 16);
  int status = -1;
  const std::string out =
      Check(cluster, "--duration 12s --faults reconfigure --seed " + std::to_string(TestSeed() + 2),
            &status);
  INFO(out);
  CHECK(status == 0);
  CHECK(out.find("PASS") != std::string::npos);
  CHECK(out.find(" 0 reconfigurations)") == std::string::npos);
  // "reconfigurations: W weight changes, A nodes added, R nodes removed"
  // (12 s hold three or more reconfigurations, in turn).
  int weights = 0, added = 0, removed = 0;
  const size_t line = out.find("reconfigurations: ");
  REQUIRE(line != std::string::npos);
  REQUIRE(std::sscanf(out.c_str() + line,
                      "reconfigurations: %d weight changes, %d nodes added, %d nodes removed",
                      &weights, &added, &removed) == 3);
  CHECK(added >= 1);
  CHECK(removed >= 1);
  const std::string json = ReadAll(cluster.dir() + "/report/history.json");
  CHECK(json.find("\"kind\":\"reconfigure\"") != std::string::npos);
  CHECK(json.find(" added (dc6), epoch 1") != std::string::npos);
  CHECK(json.find(" removed, epoch 2") != std::string::npos);
}

TEST_CASE("geokv-check: a store that loses deltas is reported broken", "[integration]") {
  TestCluster cluster(3, 1, 3, 16);
  int status = -1;
  const std::string out = Check(cluster,
                                "--duration 5s --faults none --converge-timeout 5s --seed 7 "
                                "--server-flag=--testing-drop-every-nth-batch=10",
                                &status);
  INFO(out);
  CHECK(status == 1);
  CHECK(out.find("FAIL") != std::string::npos);
  CHECK(out.find("replicas differ") != std::string::npos);
  CHECK(out.find("replay: ") != std::string::npos);
  CHECK(out.find("--seed 7") != std::string::npos);
}

TEST_CASE("geokv-check: a store that loses acknowledged SETs is reported broken", "[integration]") {
  // Every 10th SET a node would apply itself is acknowledged and dropped: the
  // replicas agree, so only the register rules can see it, and only where a
  // key's last SET is a dropped one: with 100 keys it misses every key with
  // odds of about 0.9^100 (at every 50th SET, 0.98^100 = 13%: a fresh-clone
  // CI run failed on it).
  TestCluster cluster(3, 1, 3, 16);
  int status = -1;
  const std::string out = Check(cluster,
                                "--duration 5s --keys 100 --faults none --seed 11 "
                                "--server-flag=--testing-drop-every-nth-set=10",
                                &status);
  INFO(out);
  CHECK(status == 1);
  CHECK(out.find("FAIL") != std::string::npos);
  CHECK(out.find("replicas differ") == std::string::npos);
  CHECK(out.find("  register:") != std::string::npos);
  CHECK((out.find("was lost") != std::string::npos ||
         out.find("register is missing") != std::string::npos));
}

TEST_CASE("geokv-check: a store that reuses dots after a restore is reported broken",
          "[integration]") {
  // Without the restart fence a node restored from an older copy numbers new
  // writes at dots its peers already hold; they drop them as duplicates. Later
  // writes of a key overwrite its reused dot and the damage heals by chance:
  // over a few keys in 2 of 5 runs, and over 200 keys in 2 of 6 once the
  // workload ran 33,000 operations in the 6 s; over 1,000 keys some key keeps
  // one (8 of 8 runs), but a fast-learning restart can leave just one key
  // damaged, and a CI run passed the broken store so. WAN latency delays the
  // peers' report that ends the node's reuse without slowing the clients:
  // 10 or more keys differ (4 of 4 runs).
  TestCluster cluster(3, 1, 3, 16);
  int status = -1;
  const std::string out = Check(cluster,
                                "--duration 6s --keys 1000 --faults restore --converge-timeout 5s "
                                "--latency dc1-dc2=80ms,dc1-dc3=80ms,dc2-dc3=80ms "
                                "--seed 5 "
                                "--server-flag=--testing-no-restart-fence",
                                &status);
  INFO(out);
  CHECK(status == 1);
  CHECK(out.find("(1 restores,") != std::string::npos);
  CHECK(out.find("FAIL") != std::string::npos);
  CHECK(out.find("replicas differ") != std::string::npos);
}

TEST_CASE(
    "geokv-check: a move whose old owner deletes before the new one caught up is reported "
    "broken",
    "[integration]") {
  // Anna's mistake (--testing-delete-before-caught-up): the old owner of a
  // moving partition deletes it at once. Seed 3's one reconfiguration (a
  // sixth DC's node joins) first cuts off a datacenter that gives a
  // partition up to it, before the APPLY: the writes that datacenter took
  // meanwhile reached nobody else, and it deletes them with the partition:
  // replicas differ, or agree without acknowledged writes (a healthy store
  // hands them over after the heal and passes this run). Anti-entropy could
  // repair some of it in time, so it is off.
  TestCluster cluster(5, 1, 3, 16);
  int status = -1;
  const std::string out = Check(cluster,
                                "--duration 6s --faults reconfigure --converge-timeout 5s "
                                "--seed 3 --server-flag=--testing-delete-before-caught-up "
                                "--server-flag=--aae-interval-ms=0",
                                &status);
  INFO(out);
  CHECK(status == 1);
  CHECK(out.find("FAIL") != std::string::npos);
  CHECK(out.find("(0 restores, 1 reconfigurations)") != std::string::npos);
  // Replicas differ, or (when every replica lost the same writes) the lost
  // acknowledged writes break the history's rules.
  CHECK((out.find("replicas differ") != std::string::npos ||
         out.find("acknowledged") != std::string::npos));
  CHECK(ReadAll(cluster.dir() + "/report/history.json").find(" cut off") != std::string::npos);
}

}  // namespace
}  // namespace geokv::test
