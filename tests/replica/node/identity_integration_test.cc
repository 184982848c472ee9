// One identity, one process: a second live geokv-server started with a node id
// that a running process already has must not take that id's place or mix its
// dots in. Real processes on loopback.
//
// On one host the second process cannot even start on the same topology (the
// endpoints are taken). Across hosts it can, and peers may then reach both, as
// through a virtual IP or load balancer in front of the id's address. The
// second test builds that: the peers subscribe to dc1-a's address, where a
// ZeroMQ XSUB/XPUB bus forwards what BOTH dc1-a processes publish (each binds
// its own ports, as on its own host).
#include <signal.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <thread>
#include <zmq.hpp>

#include "common/subprocess.h"
#include "server_process.h"

namespace geokv::test {
namespace {

using namespace std::chrono_literals;
using replica::RespClient;
using replica::RespValue;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The integer after "name:" in an INFO text (-1 if absent).
int64_t InfoField(const std::string& info, const std::string& name) {
  const size_t at = info.find(name + ":");
  return at == std::string::npos ? -1 : std::stoll(info.substr(at + name.size() + 1));
}

TEST_CASE("Identity: a second process with a running node's id on the same host does not start",
          "[integration]") {
  TestCluster cluster(3, 1, 3, 16);
  for (size_t i = 0; i < 3; ++i) REQUIRE(cluster.Start(i).ok());
  const std::string log = cluster.dir() + "/intruder.log";
  const std::string out =
      RunCommand(std::string(GEOKV_SERVER_BIN) + " --topology " + cluster.topology_path() +
                 " --node " + cluster.nodes()[0].id + " --data " + cluster.dir() + "/intruder >" +
                 log + " 2>&1" + "; echo status=$?");
  INFO(ReadFile(log));
  CHECK(out == "status=1\n");
  CHECK(ReadFile(log).find("Address already in use") != std::string::npos);
  RespClient c = cluster.Client(0);
  CHECK(c.Command({"PING"})->str == "PONG");
}

struct Ports {
  uint16_t client, repl, sync;
};

// A 3-DC topology (one node each, N=3) where dc1-a has the given endpoints.
std::string Topology(const Ports& dc1, const Ports& dc2, const Ports& dc3) {
  std::string t = "[cluster]\nname = \"identity\"\npartitions = 16\nreplicas = 3\nvnodes = 16\n";
  const Ports* ports[] = {&dc1, &dc2, &dc3};
  for (int i = 0; i < 3; ++i) {
    const std::string n = std::to_string(i + 1);
    t += "\n[[datacenters]]\nname = \"dc" + n + "\"\n  [[datacenters.nodes]]\n  id = \"dc" + n +
         "-a\"\n  client = \"127.0.0.1:" + std::to_string(ports[i]->client) +
         "\"\n  repl = \"tcp://127.0.0.1:" + std::to_string(ports[i]->repl) +
         "\"\n  sync = \"tcp://127.0.0.1:" + std::to_string(ports[i]->sync) + "\"\n";
  }
  return t;
}

class Process {
 public:
  Process(const std::string& dir, const std::string& topology, const std::string& node,
          const std::string& name, uint16_t client_port)
      : log_(dir + "/" + name + ".log") {
    auto pid = Spawn({GEOKV_SERVER_BIN, "--topology", topology, "--node", node, "--data",
                      dir + "/" + name, "--down-after-ms", "500"},
                     log_);
    REQUIRE(pid.ok());
    pid_ = *pid;
    const Status s = replica::WaitUntilServing("127.0.0.1", client_port, pid_, 15'000);
    INFO(s.ToString() << "\n" << log());
    REQUIRE(s.ok());
  }
  ~Process() { Kill(); }
  void Kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = 0;
  }
  std::string log() const { return ReadFile(log_); }

 private:
  std::string log_;
  pid_t pid_ = 0;
};

std::string Info(uint16_t port) {
  RespClient c;
  if (!c.Connect("127.0.0.1", port).ok()) return "";
  auto r = c.Command({"INFO", "replication"});
  return r.ok() ? r->str : "";
}

std::string Digests(uint16_t port) {
  RespClient c;
  if (!c.Connect("127.0.0.1", port).ok()) return "";
  auto r = c.Command({"GEOKV.DIGEST"});
  return r.ok() ? r->ToString() : "";
}

TEST_CASE(
    "Identity: peers reaching two live processes with one id keep the first and refuse "
    "the second",
    "[integration]") {
  TempDir dir;
  const Ports real{FreePort(), FreePort(), FreePort()};
  const Ports intruder{FreePort(), FreePort(), FreePort()};
  const Ports dc2{FreePort(), FreePort(), FreePort()};
  const Ports dc3{FreePort(), FreePort(), FreePort()};
  const uint16_t bus_port = FreePort();
  // The peers' view: dc1-a publishes at the bus, answers catch-up at the real
  // process's ROUTER. Each dc1-a process: its own ports.
  const std::string peers_topology = dir.path() + "/peers.toml";
  const std::string real_topology = dir.path() + "/real.toml";
  const std::string intruder_topology = dir.path() + "/intruder.toml";
  std::ofstream(peers_topology) << Topology({real.client, bus_port, real.sync}, dc2, dc3);
  std::ofstream(real_topology) << Topology(real, dc2, dc3);
  std::ofstream(intruder_topology) << Topology(intruder, dc2, dc3);

  zmq::context_t ctx;
  std::thread bus([&] {
    zmq::socket_t in(ctx, zmq::socket_type::xsub), out(ctx, zmq::socket_type::xpub);
    in.set(zmq::sockopt::linger, 0);
    out.set(zmq::sockopt::linger, 0);
    in.connect("tcp://127.0.0.1:" + std::to_string(real.repl));
    in.connect("tcp://127.0.0.1:" + std::to_string(intruder.repl));
    out.bind("tcp://127.0.0.1:" + std::to_string(bus_port));
    try {
      zmq::proxy(in, out);
    } catch (const zmq::error_t&) {  // the context was shut down
    }
  });
  struct StopBus {
    zmq::context_t& ctx;
    std::thread& bus;
    ~StopBus() {
      ctx.shutdown();
      bus.join();
    }
  } stop_bus{ctx, bus};

  Process p2(dir.path(), peers_topology, "dc2-a", "dc2-a", dc2.client);
  Process p3(dir.path(), peers_topology, "dc3-a", "dc3-a", dc3.client);
  Process p1(dir.path(), real_topology, "dc1-a", "dc1-a", real.client);
  RespClient dc1;
  REQUIRE(dc1.Connect("127.0.0.1", real.client).ok());
  for (int i = 0; i < 100; ++i) {
    REQUIRE(dc1.Command({"SET", "a:" + std::to_string(i), "1"})->str == "OK");
  }
  REQUIRE(dc1.Command({"WAIT", "2", "5000"})->integer == 2);

  Process second(dir.path(), intruder_topology, "dc1-a", "intruder", intruder.client);
  RespClient other;
  REQUIRE(other.Connect("127.0.0.1", intruder.client).ok());
  // Both live for a while: writes at the real dc1-a go on; the second takes
  // writes too if it accepts any.
  std::vector<std::string> taken_by_second;
  for (int i = 0; i < 100; ++i) {
    REQUIRE(dc1.Command({"SET", "b:" + std::to_string(i), "2"})->str == "OK");
    auto r = other.Command({"SET", "x:" + std::to_string(i), "3"});
    if (r.ok() && r->str == "OK") taken_by_second.push_back("x:" + std::to_string(i));
    std::this_thread::sleep_for(15ms);
  }
  REQUIRE(dc1.Command({"WAIT", "2", "5000"})->integer == 2);
  const std::string info2 = Info(dc2.client), info3 = Info(dc3.client);
  const std::string log2 = p2.log();
  second.Kill();
  INFO(info2 << "\n" << info3 << "\n" << log2 << "\n" << second.log());
  // Refused loudly, and the real process kept its identity.
  CHECK(InfoField(info2, "duplicate_identities") > 0);
  CHECK(InfoField(info3, "duplicate_identities") > 0);
  CHECK(InfoField(info2, "peer_restarts") == 0);
  CHECK(InfoField(info2, "stale_incarnations") == 0);
  CHECK(log2.find("two live processes claim node id dc1-a") != std::string::npos);
  // a:0..a:99 reach every partition, so the second process, fenced until it
  // has taken back dc1-a's stream (which it cannot: its catch-up requests go
  // nowhere), took no write.
  CHECK(taken_by_second.empty());

  // Every acknowledged write of the real dc1-a is everywhere, nothing of the
  // second process is, and the replicas agree.
  std::string d1, d2, d3;
  for (int t = 0; t < 200; ++t) {
    d1 = Digests(real.client), d2 = Digests(dc2.client), d3 = Digests(dc3.client);
    if (!d1.empty() && d1 == d2 && d2 == d3) break;
    std::this_thread::sleep_for(50ms);
  }
  CHECK(d1 == d2);
  CHECK(d2 == d3);
  for (uint16_t port : {real.client, dc2.client, dc3.client}) {
    RespClient c;
    REQUIRE(c.Connect("127.0.0.1", port).ok());
    CHECK(c.Command({"DBSIZE"})->integer == 200);
    CHECK(c.Command({"GET", "a:99"})->str == "1");
    CHECK(c.Command({"GET", "b:99"})->str == "2");
    for (int i = 0; i < 100; ++i) {
      CHECK(c.Command({"EXISTS", "x:" + std::to_string(i)})->integer == 0);
    }
  }
}

}  // namespace
}  // namespace geokv::test
