// CURVE between real geokv-server processes: a keyed cluster replicates, and
// a process posing as a node with a key of its own injects nothing and learns
// nothing. The same impostor without CURVE does both (the control: the test
// can fail).
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/subprocess.h"
#include "replica/transport/curve_keys.h"
#include "server_process.h"

namespace geokv::test {
namespace {

using namespace std::chrono_literals;
using replica::RespClient;

// GET key at node i ("" for nil or an error).
std::string Get(TestCluster& cluster, size_t i, const std::string& key) {
  RespClient c = cluster.Client(i);
  auto r = c.Command({"GET", key});
  return r.ok() && !r->is_error() ? r->str : "";
}

bool AppearsAt(TestCluster& cluster, size_t i, const std::string& key, const std::string& value,
               std::chrono::milliseconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  do {
    if (Get(cluster, i, key) == value) return true;
    std::this_thread::sleep_for(50ms);
  } while (std::chrono::steady_clock::now() < deadline);
  return false;
}

// A field of INFO replication at node i (-1 if absent).
int64_t InfoField(TestCluster& cluster, size_t i, const std::string& field) {
  RespClient c = cluster.Client(i);
  auto r = c.Command({"INFO", "replication"});
  if (!r.ok()) return -1;
  const size_t at = r->str.find(field + ":");
  if (at == std::string::npos) return -1;
  return std::stoll(r->str.substr(at + field.size() + 1));
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A process that stands in for node `i` (stopped first) on its addresses,
// with a fresh data directory and, when the cluster uses CURVE, a key pair
// of its own (it writes its own topology, giving node i its public key: the
// other nodes' keys are public). Writes intruder=forged through it, then
// reads `greeting` through it for 2 s (what it learnt from the cluster);
// stops it.
struct ImpostorRun {
  bool written = false;
  std::string greeting;  // "" if it never saw one
};
ImpostorRun RunImpostor(TestCluster& cluster, size_t i, bool curve) {
  const NodeSpec& node = cluster.nodes()[i];
  cluster.Stop(i);
  std::string topology = ReadFile(cluster.topology_path());
  std::vector<std::string> argv = {
      GEOKV_SERVER_BIN,  "--node", node.id, "--data", cluster.dir() + "/impostor",
      "--down-after-ms", "300"};
  if (curve) {
    auto keys = replica::GenerateCurveKeyPair();
    REQUIRE(keys.ok());
    const std::string key_file = cluster.dir() + "/impostor.key";
    REQUIRE(replica::WriteCurveSecretFile(key_file, keys->secret_key).ok());
    const size_t at = topology.find(node.curve_public);
    REQUIRE(at != std::string::npos);
    topology.replace(at, node.curve_public.size(), keys->public_key);
    argv.insert(argv.end(), {"--curve-secret-file", key_file});
  }
  const std::string topology_path = cluster.dir() + "/impostor.toml";
  std::ofstream(topology_path) << topology;
  argv.insert(argv.end(), {"--topology", topology_path});
  const std::string log = cluster.dir() + "/impostor.log";
  auto pid = Spawn(argv, log);
  REQUIRE(pid.ok());
  Status up = replica::WaitUntilServing("127.0.0.1", node.client_port, *pid, 10'000);
  INFO(ReadFile(log));
  REQUIRE(up.ok());
  ImpostorRun run;
  bool& written = run.written;
  RespClient c;
  REQUIRE(c.Connect("127.0.0.1", node.client_port).ok());
  // Its partitions are fenced until its peers report, or until they count
  // as down (3 x down_after_ms): -TRYAGAIN meanwhile.
  for (int attempt = 0; attempt < 100 && !written; ++attempt) {
    auto r = c.Command({"SET", "intruder", "forged"});
    written = r.ok() && !r->is_error();
    if (!written) std::this_thread::sleep_for(50ms);
  }
  // Long enough for a delta to cross loopback many times over, or for a
  // catch-up to bring the cluster's data.
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  while (run.greeting.empty() && std::chrono::steady_clock::now() < deadline) {
    auto r = c.Command({"GET", "greeting"});
    if (r.ok() && !r->is_error()) run.greeting = r->str;
    std::this_thread::sleep_for(50ms);
  }
  if (!run.greeting.empty()) std::this_thread::sleep_for(1s);  // its write's turn
  ::kill(*pid, SIGKILL);
  ::waitpid(*pid, nullptr, 0);
  return run;
}

TEST_CASE("CURVE: a keyed 3-DC cluster converges, and a node with a wrong key injects nothing",
          "[integration][hostile]") {
  TestCluster cluster(3, 1, 3);
  cluster.UseCurve();
  for (size_t i = 0; i < 3; ++i) REQUIRE(cluster.Start(i).ok());
  {
    RespClient c = cluster.Client(0);
    auto r = c.Command({"SET", "greeting", "hello"});
    REQUIRE(r.ok());
    REQUIRE(r->str == "OK");
  }
  CHECK(AppearsAt(cluster, 2, "greeting", "hello", 10s));
  CHECK(InfoField(cluster, 0, "repl_curve_refused") == 0);

  const ImpostorRun impostor = RunImpostor(cluster, 1, /*curve=*/true);
  REQUIRE(impostor.written);
  CHECK(impostor.greeting.empty());  // it learnt nothing either
  CHECK(Get(cluster, 0, "intruder").empty());
  CHECK(Get(cluster, 2, "intruder").empty());
  // Its SUB and DEALER knocked on dc1's PUB and ROUTER and were refused.
  CHECK(InfoField(cluster, 0, "repl_curve_refused") > 0);
  INFO(cluster.Log(0));
  // The cluster still replicates between the remaining nodes.
  {
    RespClient c = cluster.Client(2);
    auto r = c.Command({"SET", "after", "still"});
    REQUIRE(r.ok());
  }
  CHECK(AppearsAt(cluster, 0, "after", "still", 10s));
}

TEST_CASE("CURVE: without keys the same impostor's write does get in (the control)",
          "[integration]") {
  TestCluster cluster(3, 1, 3);
  for (size_t i = 0; i < 3; ++i) REQUIRE(cluster.Start(i).ok());
  {
    RespClient c = cluster.Client(0);
    REQUIRE(c.Command({"SET", "greeting", "hello"}).ok());
  }
  const ImpostorRun impostor = RunImpostor(cluster, 1, /*curve=*/false);
  REQUIRE(impostor.written);
  CHECK(impostor.greeting == "hello");
  CHECK(AppearsAt(cluster, 0, "intruder", "forged", 5s));
}

TEST_CASE("CURVE: a node refuses to start with a missing, loose or foreign secret key",
          "[integration]") {
  TestCluster cluster(3, 1, 3);
  cluster.UseCurve();
  const NodeSpec& node = cluster.nodes()[0];
  auto start_with = [&](const std::string& key_file) {
    std::vector<std::string> argv = {
        GEOKV_SERVER_BIN, "--topology", cluster.topology_path(),   "--node",
        node.id,          "--data",     cluster.dir() + "/refused"};
    std::string command;
    for (const auto& a : argv) command += a + " ";
    if (!key_file.empty()) command += "--curve-secret-file " + key_file + " ";
    int status = -1;
    const std::string out = RunCommand(command + "2>&1", &status);
    CHECK(status == 1);
    return out;
  };
  CHECK(start_with("").find("this node needs its secret key, --curve-secret-file") !=
        std::string::npos);
  CHECK(start_with(cluster.nodes()[1].curve_secret_file).find("gives node dc1-a the key") !=
        std::string::npos);
  REQUIRE(::chmod(node.curve_secret_file.c_str(), 0640) == 0);
  CHECK(start_with(node.curve_secret_file).find("mode 0640 lets others read the secret key") !=
        std::string::npos);
}

TEST_CASE("geokv-keygen: prints the topology line and writes a 0600 secret key file",
          "[integration]") {
  TempDir dir;
  const std::string file = dir.path() + "/node.key";
  int status = -1;
  const std::string out = RunCommand(std::string(GEOKV_KEYGEN_BIN) + " " + file, &status);
  REQUIRE(status == 0);
  const std::string prefix = "curve_public = \"";
  REQUIRE(out.size() == prefix.size() + replica::kCurveKeyZ85Chars + 2);
  CHECK(out.substr(0, prefix.size()) == prefix);
  CHECK(out.substr(out.size() - 2) == "\"\n");
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto keys = replica::LoadCurveSecretFile(file);
  REQUIRE(keys.ok());
  CHECK(out.substr(prefix.size(), replica::kCurveKeyZ85Chars) == keys->public_key);
  // Never overwrites a key.
  const std::string again =
      RunCommand(std::string(GEOKV_KEYGEN_BIN) + " " + file + " 2>&1", &status);
  CHECK(status == 1);
  CHECK(again.find("File exists") != std::string::npos);
}

}  // namespace
}  // namespace geokv::test
