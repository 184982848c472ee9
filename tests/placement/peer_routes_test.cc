#include "placement/peer_routes.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <string>

#include "placement/ring.h"
#include "placement/topology.h"

namespace geokv::placement {
namespace {

constexpr std::string_view kTopology =
    "[cluster]\nname = \"t\"\npartitions = 8\nreplicas = 2\nepoch = 3\n"
    "[[datacenters]]\nname = \"dc1\"\n"
    "  [[datacenters.nodes]]\n  id = \"n1\"\n  client = \"127.0.0.1:7001\"\n"
    "  repl = \"tcp://127.0.0.1:7101\"\n  sync = \"tcp://127.0.0.1:7201\"\n"
    "[[datacenters]]\nname = \"dc2\"\n"
    "  [[datacenters.nodes]]\n  id = \"n2\"\n  client = \"127.0.0.1:7002\"\n"
    "  repl = \"tcp://127.0.0.1:7102\"\n  sync = \"tcp://127.0.0.1:7202\"\n";

// Routes to n1 and n2 (lines 1-5 and 6-10).
constexpr std::string_view kRoutes =
    "[[peers]]\n"                         //  1
    "id = \"n1\"\n"                       //  2
    "client = \"127.0.0.2:9001\"\n"       //  3
    "repl = \"tcp://127.0.0.2:9101\"\n"   //  4
    "sync = \"tcp://127.0.0.2:9201\"\n"   //  5
    "[[peers]]\n"                         //  6
    "id = \"n2\"\n"                       //  7
    "client = \"127.0.0.3:9002\"\n"       //  8
    "repl = \"tcp://127.0.0.3:9102\"\n"   //  9
    "sync = \"tcp://127.0.0.3:9202\"\n";  // 10

std::string Replaced(std::string_view from, std::string_view to) {
  std::string text(kRoutes);
  const size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

std::string ErrorOf(std::string_view text) {
  auto routes = ParsePeerRoutes(text, "r.toml");
  REQUIRE_FALSE(routes.ok());
  return routes.status().message();
}

TEST_CASE("peer routes replace other nodes' endpoints and nothing else", "[unit]") {
  auto routes = ParsePeerRoutes(kRoutes, "r.toml");
  REQUIRE(routes.ok());
  CHECK(routes->size() == 2);
  auto topology = ParseTopology(kTopology, "t.toml");
  REQUIRE(topology.ok());
  const PlacementTable plain(*topology);
  const Topology routed = routes->Apply(*topology, "n1");
  // n1 is the node itself: it binds its own endpoints as the file gives them.
  CHECK(routed.nodes()[0].client.text == "127.0.0.1:7001");
  CHECK(routed.nodes()[0].sync.text == "tcp://127.0.0.1:7201");
  CHECK(routed.nodes()[1].client.host == "127.0.0.3");
  CHECK(routed.nodes()[1].client.port == 9002);
  CHECK(routed.nodes()[1].repl.text == "tcp://127.0.0.3:9102");
  CHECK(routed.nodes()[1].sync.port == 9202);
  // The shared file is unchanged: nodes judge and spread it by its text.
  CHECK(routed.text() == topology->text());
  CHECK(routed.epoch() == 3);
  const PlacementTable table(routed);
  for (uint32_t p = 0; p < table.partitions(); ++p) {
    CHECK(std::vector<uint32_t>(table.PreferenceList(p).begin(), table.PreferenceList(p).end()) ==
          std::vector<uint32_t>(plain.PreferenceList(p).begin(), plain.PreferenceList(p).end()));
  }
}

TEST_CASE("no routes, or a route to a node not in the topology, change nothing", "[unit]") {
  auto topology = ParseTopology(kTopology, "t.toml");
  REQUIRE(topology.ok());
  CHECK(PeerRoutes().Apply(*topology, "n1").nodes()[1].client.text == "127.0.0.1:7002");
  auto routes = ParsePeerRoutes(Replaced("id = \"n2\"", "id = \"spare\""), "r.toml");
  REQUIRE(routes.ok());
  CHECK(routes->Find("spare") != nullptr);
  CHECK(routes->Apply(*topology, "n1").nodes()[1].client.text == "127.0.0.1:7002");
  auto empty = ParsePeerRoutes("# nothing routed\n", "r.toml");
  REQUIRE(empty.ok());
  CHECK(empty->empty());
}

TEST_CASE("a broken routes file is refused with each problem and its line", "[unit]") {
  CHECK(ErrorOf(Replaced("client = \"127.0.0.3:9002\"", "client = \"tcp://127.0.0.3:9002\"")) ==
        "r.toml:8: peers[1].client: must be \"host:port\"");
  CHECK(ErrorOf(Replaced("repl = \"tcp://127.0.0.2:9101\"", "repl = \"127.0.0.2:9101\"")) ==
        "r.toml:4: peers[0].repl: must be \"tcp://host:port\"");
  CHECK(ErrorOf(Replaced("id = \"n2\"", "id = \"n1\"")) ==
        "r.toml:7: peers[1].id: node n1 has a route already");
  CHECK(ErrorOf(Replaced("id = \"n2\"", "id = \"bad id\""))
            .find("r.toml:7: peers[1].id: must be a node id") == 0);
  CHECK(ErrorOf(Replaced("127.0.0.3:9202", "127.0.0.2:9201")) ==
        "r.toml:10: peers[1].sync: endpoint tcp://127.0.0.2:9201 given twice");
  CHECK(ErrorOf(Replaced("sync = \"tcp://127.0.0.3:9202\"\n", "colour = 1\n")) ==
        "r.toml:6: peers[1].sync: missing\nr.toml:10: peers[1].colour: unknown key");
  CHECK(ErrorOf("peers = 3\n") == "r.toml:1: peers: must be an array of tables ([[peers]])");
  CHECK(ErrorOf("[[peers]\n").find("r.toml:1: syntax: ") == 0);
  CHECK(ErrorOf("routes = []\n") == "r.toml:1: routes: unknown key");
  CHECK(ErrorOf(std::string(kMaxPeerRoutesBytes + 1, '#')) ==
        "r.toml:1: document: larger than the 1048576-byte limit");
  CHECK(LoadPeerRoutesFile("/nonexistent/routes.toml").status().code() == Status::Code::kIo);
  // At most 50 problems listed, whatever the file holds (a bounded message).
  std::string many;
  for (int i = 0; i < 40; ++i) many += "[[peers]]\nid = \"p" + std::to_string(i) + "\"\n";
  const std::string message = ErrorOf(many);
  CHECK(std::count(message.begin(), message.end(), '\n') == 50);
  CHECK(message.ends_with(": document: 70 more problems not shown"));
}

}  // namespace
}  // namespace geokv::placement
