// Key expiry on real geokv-server processes, three DCs on loopback: keys with a
// TTL expire at every DC (reads at once, active expiry removes them so DBSIZE
// drops and the replicas converge), and a write concurrent with the expiry
// survives everywhere (docs/crdt.md "Expiry (TTL)").
#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "server_process.h"

namespace geokv::test {
namespace {

using namespace std::chrono_literals;
using replica::RespClient;
using Clock = std::chrono::steady_clock;

std::unique_ptr<TestCluster> StartThreeDcs() {
  auto cluster = std::make_unique<TestCluster>(3, 1, 3, 16);
  for (size_t i = 0; i < cluster->nodes().size(); ++i) {
    const Status s = cluster->Start(i);
    INFO(s.ToString());
    REQUIRE(s.ok());
  }
  return cluster;
}

// Polls `args` at node i until its reply renders as `expected`; returns the
// last reply seen.
std::string Eventually(TestCluster& cluster, size_t i, const std::vector<std::string>& args,
                       const std::string& expected, std::chrono::milliseconds timeout = 5s) {
  RespClient c = cluster.Client(i);
  const auto deadline = Clock::now() + timeout;
  std::string last;
  do {
    auto r = c.Command(args);
    last = r.ok() ? r->ToString() : r.status().ToString();
    if (last == expected) break;
    std::this_thread::sleep_for(10ms);
  } while (Clock::now() < deadline);
  return last;
}


TEST_CASE("Expiry: keys with a TTL expire at every DC of a 3-DC cluster", "[integration]") {
  auto cluster = StartThreeDcs();
  RespClient dc1 = cluster->Client(0), dc2 = cluster->Client(1), dc3 = cluster->Client(2);
  REQUIRE(dc1.Command({"SET", "session", "s1", "PX", "1200"})->str == "OK");
  REQUIRE(dc2.Command({"SADD", "tags", "a", "b"})->integer == 2);
  REQUIRE(dc2.Command({"PEXPIRE", "tags", "1200"})->integer == 1);
  REQUIRE(dc3.Command({"HSET", "cart", "sku", "1"})->integer == 1);
  REQUIRE(dc3.Command({"EXPIRE", "cart", "1"})->integer == 1);
  REQUIRE(dc1.Command({"SET", "keep", "forever"})->str == "OK");
  const auto written = Clock::now();
  // Every DC sees the values and their TTLs before the deadline.
  for (size_t i = 0; i < 3; ++i) {
    INFO(cluster->nodes()[i].id);
    CHECK(Eventually(*cluster, i, {"EXISTS", "session", "tags", "cart", "keep"}, "(integer) 4",
                     800ms) == "(integer) 4");
    for (const char* key : {"session", "tags", "cart"}) {
      auto ttl = cluster->Client(i).Command({"PTTL", key});
      REQUIRE(ttl.ok());
      CHECK(ttl->integer > 0);
      CHECK(ttl->integer <= 1200);
    }
  }
  REQUIRE(Clock::now() - written < 1s);  // else the check above raced the deadline
  std::this_thread::sleep_for(1300ms - (Clock::now() - written));
  // Past every deadline: absent to reads at once, removed by active expiry.
  for (size_t i = 0; i < 3; ++i) {
    INFO(cluster->nodes()[i].id);
    RespClient c = cluster->Client(i);
    CHECK(c.Command({"EXISTS", "session", "tags", "cart", "keep"})->integer == 1);
    CHECK(c.Command({"GET", "session"})->type == replica::RespValue::Type::kNull);
    CHECK(c.Command({"TTL", "cart"})->integer == -2);
    CHECK(Eventually(*cluster, i, {"DBSIZE"}, "(integer) 1", 3s) == "(integer) 1");
  }
  CHECK(cluster->Converged(10s));
}

TEST_CASE("Expiry: a write concurrent with the expiry survives everywhere", "[integration]") {
  auto cluster = StartThreeDcs();
  RespClient dc1 = cluster->Client(0);
  REQUIRE(dc1.Command({"HSET", "h", "f", "1"})->integer == 1);
  REQUIRE(dc1.Command({"PEXPIRE", "h", "800"})->integer == 1);
  for (size_t i = 1; i < 3; ++i) {
    CHECK(Eventually(*cluster, i, {"HGETALL", "h"}, "[\"f\", \"1\"]", 700ms) == "[\"f\", \"1\"]");
  }
  // dc2 misses the expiry: paused past the deadline, while dc1 and dc3 remove
  // the key (their active expiry, replicated). Its client connection is made
  // before, so the write goes in as soon as it resumes, before or while the
  // removals reach it.
  RespClient dc2 = cluster->Client(1);
  cluster->Pause(1);
  for (size_t i : {0, 2}) {
    CHECK(Eventually(*cluster, i, {"DBSIZE"}, "(integer) 0", 3s) == "(integer) 0");
  }
  cluster->Resume(1);
  auto hset = dc2.Command({"HSET", "h", "g", "v"});
  REQUIRE(hset.ok());
  CHECK(hset->integer == 1);
  // The new field survives at every DC, and the key is persistent.
  CHECK(cluster->Converged(10s));
  for (size_t i = 0; i < 3; ++i) {
    INFO(cluster->nodes()[i].id);
    CHECK(Eventually(*cluster, i, {"HGETALL", "h"}, "[\"g\", \"v\"]") == "[\"g\", \"v\"]");
    CHECK(cluster->Client(i).Command({"TTL", "h"})->integer == -1);
  }
}

}  // namespace
}  // namespace geokv::test
