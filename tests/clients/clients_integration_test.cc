// Real client libraries against a real 3-DC cluster: the application code
// users write (tests/clients/*.py), run unchanged.
#include <catch2/catch.hpp>

#include "server_process.h"

namespace geokv::test {
namespace {

TEST_CASE("Clients: redis-py transactional pipelines and TTL sessions on a 3-DC cluster",
          "[integration]") {
  TestCluster cluster(3, 1, 3);
  for (size_t i = 0; i < 3; ++i) REQUIRE(cluster.Start(i).ok());
  std::string command = "/usr/bin/python3 " GEOKV_CLIENTS_DIR "/redis_py_client.py";
  for (const NodeSpec& node : cluster.nodes()) command += " " + std::to_string(node.client_port);
  int status = -1;
  const std::string out = RunCommand(command + " 2>&1", &status);
  INFO(out);
  CHECK(status == 0);
  CHECK(out.find("redis-py: all checks passed") != std::string::npos);
}

}  // namespace
}  // namespace geokv::test
