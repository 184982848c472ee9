// WAIT across a WAN cut: geokv-check's proxy (ClusterControl) in front of
// every inter-node link, so that dc2 and dc3 are cut off while they keep
// running (the SIGSTOP tests in tests/replica/node freeze them instead).
#include <catch2/catch.hpp>
#include <chrono>

#include "cluster_control.h"
#include "placement/topology.h"
#include "server_process.h"

namespace geokv::check {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

TEST_CASE("WAIT: with dc2 and dc3 cut off, a pipelined write counts no DC until the heal",
          "[integration]") {
  test::TestCluster ports(3, 1, 3, 16);  // its topology file; ClusterControl runs the nodes
  auto topology = placement::LoadTopologyFile(ports.topology_path());
  REQUIRE(topology.ok());
  ClusterControl cluster(*topology, GEOKV_SERVER_BIN, ports.dir(), {});
  REQUIRE(cluster.Launch().ok());
  replica::RespClient dc1;
  REQUIRE(dc1.Connect("127.0.0.1", ports.nodes()[0].client_port).ok());
  REQUIRE(dc1.Command({"SET", "warm", "up"})->str == "OK");
  REQUIRE(dc1.Command({"WAIT", "2", "10000"})->integer == 2);

  cluster.proxy().Cut("dc2");
  cluster.proxy().Cut("dc3");
  const auto start = Clock::now();
  REQUIRE(dc1.SendRaw(replica::EncodeRequest({"SET", "k", "v"}) +
                      replica::EncodeRequest({"WAIT", "2", "500"}))
              .ok());
  auto set = dc1.ReadReply();
  auto waited = dc1.ReadReply();
  REQUIRE(set.ok());
  REQUIRE(waited.ok());
  CHECK(set->str == "OK");
  CHECK(waited->integer == 0);
  CHECK(Clock::now() - start >= 500ms);

  cluster.proxy().HealAll();
  CHECK(dc1.Command({"WAIT", "2", "15000"})->integer == 2);
  cluster.Shutdown();
}

}  // namespace
}  // namespace geokv::check
