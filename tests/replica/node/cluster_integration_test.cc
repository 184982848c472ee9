// Several real geokv-server processes on loopback: routing between them.
#include <catch2/catch.hpp>
#include <set>
#include <thread>

#include "server_process.h"

namespace geokv::test {
namespace {

using replica::RespClient;
using replica::RespValue;

// Node ids holding the key, per GEOKV.WHERE at node i.
std::vector<std::string> Holders(TestCluster& cluster, size_t i, const std::string& key) {
  RespClient c = cluster.Client(i);
  auto where = c.Command({"GEOKV.WHERE", key});
  REQUIRE(where.ok());
  REQUIRE(where->elements.size() == 2);
  std::vector<std::string> ids;
  for (const auto& e : where->elements[1].elements) ids.push_back(e.str);
  return ids;
}

// A key that `node` holds no replica of; *holders gets its replicas.
std::string KeyNotHeldBy(TestCluster& cluster, const std::string& node,
                         std::vector<std::string>* holders) {
  for (int k = 0;; ++k) {
    const std::string key = "k" + std::to_string(k);
    *holders = Holders(cluster, 0, key);
    if (std::find(holders->begin(), holders->end(), node) == holders->end()) return key;
  }
}

TEST_CASE("Cluster: with 5 DCs and N=3 a key lives on 3 nodes; the others forward to them",
          "[integration]") {
  TestCluster cluster(5, 1, 3, 16);
  for (size_t i = 0; i < 5; ++i) {
    Status s = cluster.Start(i);
    INFO(s.ToString());
    REQUIRE(s.ok());
  }
  int forwarded_keys = 0;
  for (int k = 0; k < 20; ++k) {
    const std::string key = "cart:" + std::to_string(k);
    const auto holders = Holders(cluster, 0, key);
    REQUIRE(holders.size() == 3);
    REQUIRE(std::set<std::string>(holders.begin(), holders.end()).size() == 3);
    for (size_t i = 1; i < 5; ++i) CHECK(Holders(cluster, i, key) == holders);  // same table
    // A node that holds no replica of the key serves it anyway.
    for (size_t i = 0; i < 5; ++i) {
      if (std::find(holders.begin(), holders.end(), cluster.nodes()[i].id) != holders.end()) {
        continue;
      }
      RespClient c = cluster.Client(i);
      REQUIRE(c.Command({"HINCRBY", key, "sku", "2"})->integer >= 2);
      auto value = c.Command({"HGET", key, "sku"});
      REQUIRE(value.ok());
      INFO("HGET " << key << " at " << cluster.nodes()[i].id << ": " << value->str);
      CHECK(value->type == replica::RespValue::Type::kBulk);
      ++forwarded_keys;
      break;
    }
  }
  CHECK(forwarded_keys == 20);  // with 5 nodes and N=3, every key has 2 non-holders
  // Keys held by no single node are refused, as in Redis Cluster.
  std::vector<std::string> mset = {"MSET"};
  for (int k = 0; k < 40; ++k) {
    mset.push_back("spread:" + std::to_string(k));
    mset.push_back("v");
  }
  RespClient c = cluster.Client(0);
  auto reply = c.Command(mset);
  REQUIRE(reply.ok());
  CHECK(reply->str == "CROSSSLOT Keys in request are not all held by one node");
}

TEST_CASE("Cluster: a forward to a node that is down answers an error, not silence",
          "[integration]") {
  TestCluster cluster(5, 1, 3, 16);
  for (size_t i = 0; i < 5; ++i) REQUIRE(cluster.Start(i).ok());
  // Find a key whose replicas exclude node 0, and stop them all.
  std::vector<std::string> holders;
  const std::string key = KeyNotHeldBy(cluster, "dc1-a", &holders);
  for (size_t i = 1; i < 5; ++i) {
    if (std::find(holders.begin(), holders.end(), cluster.nodes()[i].id) != holders.end()) {
      cluster.Kill(i);
    }
  }
  RespClient c = cluster.Client(0);
  auto reply = c.Command({"GET", key});
  REQUIRE(reply.ok());
  CHECK(reply->is_error());
  CHECK(reply->str.rfind("TRYAGAIN forwarding failed", 0) == 0);
  CHECK(c.Command({"PING"})->str == "PONG");
}

TEST_CASE("Cluster: forwarding skips a replica the failure detector reports down",
          "[integration]") {
  TestCluster cluster(5, 1, 3, 16);
  for (size_t i = 0; i < 5; ++i) REQUIRE(cluster.Start(i, {"--down-after-ms", "300"}).ok());
  std::vector<std::string> holders;
  const std::string key = KeyNotHeldBy(cluster, "dc1-a", &holders);
  RespClient c = cluster.Client(0);
  REQUIRE(c.Command({"SET", key, "v"})->str == "OK");
  REQUIRE(c.Command({"WAIT", "2", "2000"})->integer >= 0);  // let it reach every holder
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // Node 0 forwards to the first holder in preference order (no holder shares
  // its datacenter): kill that one.
  for (size_t i = 1; i < 5; ++i) {
    if (cluster.nodes()[i].id == holders[0]) cluster.Kill(i);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // > down-after
  auto reply = c.Command({"GET", key});
  REQUIRE(reply.ok());
  CHECK(reply->ToString() == "\"v\"");
}

// Node `at`'s view of node `id`: "up", "down", ... (GEOKV.MEMBERS state).
std::string StateSeenBy(TestCluster& cluster, size_t at, const std::string& id) {
  auto r = cluster.Client(at).Command({"GEOKV.MEMBERS"});
  if (!r.ok()) return "";
  for (const RespValue& m : r->elements) {
    if (m.elements.size() == 18 && m.elements[1].str == id) return m.elements[9].str;
  }
  return "";
}

// INFO commandstats' calls of `command` at node i.
uint64_t Calls(TestCluster& cluster, size_t i, const std::string& command) {
  auto r = cluster.Client(i).Command({"INFO", "commandstats"});
  if (!r.ok()) return 0;
  const std::string field = "cmdstat_" + command + ":calls=";
  const size_t at = r->str.find(field);
  return at == std::string::npos ? 0 : std::stoull(r->str.substr(at + field.size()));
}

TEST_CASE("Cluster: a connection's forwarded requests stay with one holder while it is up",
          "[integration]") {
  TestCluster cluster(5, 1, 3, 16);
  for (size_t i = 0; i < 5; ++i) REQUIRE(cluster.Start(i, {"--down-after-ms", "300"}).ok());
  std::vector<std::string> holders;
  const std::string key = KeyNotHeldBy(cluster, "dc1-a", &holders);
  auto index_of = [&](const std::string& id) {
    size_t i = 0;
    while (cluster.nodes()[i].id != id) ++i;
    return i;
  };
  const size_t first = index_of(holders[0]), second = index_of(holders[1]);
  auto wait_state = [&](const std::string& state) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (StateSeenBy(cluster, 0, holders[0]) != state &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    REQUIRE(StateSeenBy(cluster, 0, holders[0]) == state);
  };
  wait_state("up");
  // The preferred holder stops answering: node 0 forwards the write to the
  // next one. Then it answers again, before it can have the write.
  cluster.Pause(first);
  wait_state("down");
  RespClient c = cluster.Client(0);
  REQUIRE(c.Command({"HINCRBY", key, "f", "1"})->integer == 1);
  cluster.Resume(first);
  wait_state("up");
  // This connection's read goes where its write went, and reads it ...
  const uint64_t first_before = Calls(cluster, first, "hget");
  const uint64_t second_before = Calls(cluster, second, "hget");
  auto value = c.Command({"HGET", key, "f"});
  REQUIRE(value.ok());
  CHECK(value->str == "1");
  CHECK(Calls(cluster, second, "hget") == second_before + 1);
  CHECK(Calls(cluster, first, "hget") == first_before);
  // ... while a new connection's goes to the preferred holder, up again.
  REQUIRE(cluster.Client(0).Command({"HGET", key, "f"}).ok());
  CHECK(Calls(cluster, first, "hget") == first_before + 1);
  CHECK(Calls(cluster, second, "hget") == second_before + 1);
}

TEST_CASE("Cluster: a forwarded request is never forwarded again; RESP3 replies pass through",
          "[integration]") {
  TestCluster cluster(5, 1, 3, 16);
  for (size_t i = 0; i < 5; ++i) REQUIRE(cluster.Start(i).ok());
  std::vector<std::string> holders;
  const std::string key = KeyNotHeldBy(cluster, "dc1-a", &holders);
  // A connection that says it is another node's forwarding link gets an
  // error for a key node 0 does not hold, instead of a second hop.
  RespClient link = cluster.Client(0);
  REQUIRE(link.Command({"GEOKV.FORWARDER"})->str == "OK");
  auto refused = link.Command({"GET", key});
  REQUIRE(refused.ok());
  CHECK(refused->str.rfind("TRYAGAIN keys not held by the node a request was forwarded to", 0) ==
        0);
  // An ordinary client's request is forwarded, in the client's protocol.
  const std::string cli =
      "redis-cli --no-raw -3 -p " + std::to_string(cluster.nodes()[0].client_port);
  CHECK(RunCommand(cli + " HSET " + key + " f v 2>&1") == "(integer) 1\n");
  CHECK(RunCommand(cli + " HGETALL " + key + " 2>&1") == "1# \"f\" => \"v\"\n");
  CHECK(RunCommand(cli + " GET nokey:{" + key + "} 2>&1") == "(nil)\n");
}

}  // namespace
}  // namespace geokv::test
