// Real geokv-server processes for integration tests.
//
// A TestCluster writes a topology file with free loopback ports into a temp
// directory and starts geokv-server processes from the build (their stderr goes
// to <dir>/<node>.log, shown on failure). Processes are stopped (SIGTERM), or
// killed (SIGKILL), explicitly or when the cluster is destroyed.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <chrono>
#include <string>
#include <vector>

#include "common/status.h"
#include "replica/resp/resp_client.h"
#include "temp_dir.h"

namespace geokv::test {

// A TCP port on 127.0.0.1 that was free a moment ago, below the ephemeral
// range (so that outgoing connections cannot take it meanwhile), and reserved
// for this process (a lock file) so that tests running in parallel never pick
// it, even while the node using it is down for a restart.
uint16_t FreePort();

struct NodeSpec {
  std::string id;
  std::string dc;
  uint16_t client_port = 0;
  uint16_t repl_port = 0;
  uint16_t sync_port = 0;
  uint16_t metrics_port = 0;      // HTTP /metrics
  std::string curve_public;       // with UseCurve: its public key (Z85)
  std::string curve_secret_file;  // with UseCurve: its secret key file
};

class TestCluster {
 public:
  // A topology of `dcs` datacenters with `nodes_per_dc` nodes each, N replicas,
  // Q partitions, all on fresh loopback ports.
  TestCluster(int dcs, int nodes_per_dc, int replicas, int partitions = 16);
  ~TestCluster();

  const std::vector<NodeSpec>& nodes() const { return nodes_; }
  const std::string& topology_path() const { return topology_path_; }
  const std::string& dir() const { return dir_.path(); }

  // CURVE between the nodes: makes a key pair per node (secret key files in
  // dir()), rewrites the topology with every node's curve_public, and makes
  // Start pass each node its --curve-secret-file. Call before any Start.
  void UseCurve();

  // Starts node i (with extra flags) and waits until it accepts connections.
  // `launcher`, if given, is run instead, with the server's command line
  // appended: it must exec it in the same process (e.g. unshare ... sh -c
  // '...; exec "$@"' sh), so that signals reach the server.
  Status Start(size_t i, const std::vector<std::string>& extra_flags = {},
               const std::vector<std::string>& launcher = {});
  // Adds a node (fresh ports, and a key pair after UseCurve) to nodes()
  // without writing it into the topology file: a test that grows the
  // cluster writes the next epoch's file itself. Returns its index.
  size_t AddNode(const std::string& dc, const std::string& id);
  // Node i exited by itself and the caller reaped it (waitpid): not running.
  void Forget(size_t i) { pids_[i] = 0; }
  // The process id of node i (0: not running).
  pid_t pid(size_t i) const { return pids_[i]; }
  // SIGTERM and wait; returns the exit status (0 = clean).
  int Stop(size_t i);
  // SIGKILL and wait.
  void Kill(size_t i);
  // SIGSTOP / SIGCONT: the node keeps its sockets but processes nothing.
  void Pause(size_t i);
  void Resume(size_t i);
  bool running(size_t i) const { return pids_[i] > 0; }
  // The node's log, for failure messages.
  std::string Log(size_t i) const;

  // A connected client of node i.
  replica::RespClient Client(size_t i);

  // Whether, within `timeout`, every running node answers GEOKV.DIGEST and all nodes
  // holding a partition report the same digest for it (polled every 50 ms).
  bool Converged(std::chrono::milliseconds timeout);
  // Field `name` of node i's INFO `section` (0 if absent or unreadable).
  uint64_t InfoField(size_t i, const std::string& name, const std::string& section = "all");

 private:
  void WriteTopology();

  TempDir dir_;
  int partitions_ = 0;
  int replicas_ = 0;
  std::vector<NodeSpec> nodes_;
  std::vector<pid_t> pids_;
  std::string topology_path_;
};

// Runs a command line (sh -c) and returns its standard output; exit status in
// *status when given.
std::string RunCommand(const std::string& command, int* status = nullptr);

}  // namespace geokv::test
