// The WAN proxy in front of a real geokv-server.
#include "wan_proxy.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "server_process.h"

namespace geokv::check {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

TEST_CASE("WanProxy: adds latency each way, cuts and heals", "[integration]") {
  test::TestCluster cluster(1, 1, 1);
  REQUIRE(cluster.Start(0).ok());
  WanProxy proxy;
  std::vector<WanLink> links = {{"dc2", "dc1", 0, "127.0.0.1", cluster.nodes()[0].client_port}};
  REQUIRE(proxy.Start(links).ok());
  const uint16_t port = links[0].listen_port;
  REQUIRE(port != 0);
  proxy.SetLatency("dc2", "dc1", 40);
  proxy.SetLatency("dc1", "dc2", 60);

  replica::RespClient c;
  REQUIRE(c.Connect("127.0.0.1", port).ok());
  REQUIRE(c.Command({"PING"})->str == "PONG");  // the relay connects on first use
  const auto start = Clock::now();
  REQUIRE(c.Command({"SET", "k", "v"})->str == "OK");
  const auto rtt = Clock::now() - start;
  CHECK(rtt >= 100ms);  // 40 there + 60 back
  CHECK(rtt < 1000ms);
  CHECK(proxy.bytes_relayed() > 0);

  proxy.Cut("dc1");
  c.set_timeout_ms(500);
  CHECK_FALSE(c.Command({"PING"}).ok());  // the connection was dropped
  replica::RespClient refused;
  refused.set_timeout_ms(300);
  // Connecting succeeds (the proxy listens) but the relay closes at once.
  if (refused.Connect("127.0.0.1", port).ok()) CHECK_FALSE(refused.Command({"PING"}).ok());

  proxy.Heal("dc1");
  replica::RespClient healed;
  REQUIRE(healed.Connect("127.0.0.1", port).ok());
  auto reply = healed.Command({"GET", "k"});
  REQUIRE(reply.ok());
  CHECK(reply->str == "v");
}

}  // namespace
}  // namespace geokv::check
