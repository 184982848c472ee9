// Deployment: what `cmake --install` puts in place, and the --config file the
// systemd unit passes to geokv-server.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "server_process.h"

namespace geokv::test {
namespace {

bool Executable(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & S_IXUSR);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST_CASE("Install: cmake --install puts the programs, the unit and the guide in place",
          "[integration]") {
  TempDir prefix;
  int status = -1;
  const std::string out =
      RunCommand(std::string(GEOKV_CMAKE) + " --install " GEOKV_BUILD_DIR " --prefix " +
                     prefix.path() + " 2>&1",
                 &status);
  INFO(out);
  REQUIRE(status == 0);
  for (const char* program : {"geokv-server", "geokv-ring", "geokv-check", "geokv-keygen"}) {
    INFO(program);
    CHECK(Executable(prefix.path() + "/bin/" + program));
  }
  CHECK(RunCommand(prefix.path() + "/bin/geokv-server --help").find("--topology") !=
        std::string::npos);
  const std::string unit = ReadFile(prefix.path() + "/lib/systemd/system/geokv@.service");
  REQUIRE(!unit.empty());
  // ExecStart names the binary where the configured prefix puts it, and the
  // node, data and config of the instance.
  CHECK(unit.find("ExecStart=" GEOKV_INSTALL_FULL_BINDIR
                  "/geokv-server --topology /etc/geokv/topology.toml --node %i --data "
                  "/var/lib/geokv/%i --config /etc/geokv/%i.conf\n") != std::string::npos);
  for (const char* line : {"NoNewPrivileges=yes", "ProtectSystem=strict",
                           "ReadWritePaths=/var/lib/geokv/%i", "StateDirectory=geokv/%i",
                           "LimitNOFILE=65536", "User=geokv", "WantedBy=multi-user.target"}) {
    INFO(line);
    CHECK(unit.find(std::string(line) + "\n") != std::string::npos);
  }
  CHECK(ReadFile(prefix.path() + "/share/doc/geokv/operations.md").find("systemctl") !=
        std::string::npos);
}

TEST_CASE("Install: geokv-server reads its options from a --config file", "[integration]") {
  TestCluster cluster(1, 1, 1);
  const std::string config = cluster.dir() + "/node.conf";
  std::ofstream(config) << "# options of dc1-a\nmaxclients = 77\nsynchronous = \"normal\"\n";
  REQUIRE(cluster.Start(0, {"--config", config}).ok());
  replica::RespClient c = cluster.Client(0);
  auto reply = c.Command({"CONFIG", "GET", "maxclients"});
  REQUIRE(reply.ok());
  REQUIRE(reply->elements.size() == 2);
  CHECK(reply->elements[1].str == "77");
  // A config file that is not there is an error at start, not a silent default.
  int status = 0;
  const std::string out = RunCommand(
      std::string(GEOKV_SERVER_BIN) + " --node dc1-a --config /nonexistent/geokv.conf 2>&1",
      &status);
  CHECK(status != 0);
  CHECK(out.find("nonexistent") != std::string::npos);
}

}  // namespace
}  // namespace geokv::test
