// ClusterControl: runs every node of a topology on this machine for
// geokv-check, behind a WAN proxy, and injects process faults.
//
// Each node gets a topology file of its own: identical to the user's for
// placement (ids, datacenters, racks, weights, Q, N), with its own endpoints as
// written and every OTHER node's endpoints replaced by proxy ports
// (WanProxy), one per (connecting node, target node, endpoint). So all traffic
// between nodes — replication, catch-up and forwarded requests — crosses the
// proxy, which can delay it per datacenter pair and cut datacenters apart,
// while clients talk to each node directly. Node i's data is in dir/<id>, its
// backup (Backup) in dir/<id>.backup.db.
//
// The launched cluster starts at epoch 0 (a fresh cluster, whatever the user's
// file says); SetWeight, AddNode and RemoveNode derive the next epoch's files
// (a weight, or a node more or less, and the epoch change), and a node
// (re)started later runs the latest of them.
//
// Nodes that may join are made at Launch (spares): their ports and WAN
// proxy links exist from the start, so that adding one needs no new link.
// They are the nodes of a datacenter of their own (the first to join adds a
// datacenter, the second a node to it). A spare joins at most once, and a
// removed node never comes back: a node id that rejoined with a fresh store
// would number its writes at dots its peers already hold.
#pragma once

#include <sys/types.h>

#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "placement/topology.h"
#include "wan_proxy.h"

namespace geokv::check {

class ClusterControl {
 public:
  // server: the geokv-server binary; dir: where data, logs, the topology
  // and each node's peer routes go; extra_flags: passed to every server. curve (implied when
  // the topology has keys, whose secret keys the checker does not have):
  // Launch makes a key pair per node, secret key files in dir, and the nodes
  // replicate over CURVE (the WAN proxy forwards the encrypted bytes).
  // spares: how many nodes may join later (at most kSparesMax).
  ClusterControl(const placement::Topology& topology, std::string server, std::string dir,
                 std::vector<std::string> extra_flags, bool curve = false, size_t spares = 0);
  ~ClusterControl();
  static constexpr size_t kSparesMax = 2;

  // Makes the spares, starts the proxy and every node of the user's
  // topology; waits until each answers PING.
  Status Launch();
  // Every node that runs or may run: the topology's, then the spares (same
  // indices as every `node` argument here). REQUIRES: Launch succeeded.
  const placement::Topology& universe() const { return *universe_; }
  // Stops every node (SIGTERM, then SIGKILL after a grace period) and the proxy.
  void Shutdown();

  Status Start(size_t node);  // (re)start a node that is down
  void Kill(size_t node);     // SIGKILL
  void Pause(size_t node);    // SIGSTOP
  void Resume(size_t node);   // SIGCONT
  // A consistent copy of a node's database taken while it runs (SQLite's
  // VACUUM INTO: a snapshot of the WAL-mode database, no downtime); it
  // replaces the node's previous copy.
  Status Backup(size_t node);
  // Replaces the data of a node that is down with its last copy (Backup), as
  // an operator restoring a backup would. REQUIRES: !running(node).
  Status Restore(size_t node);
  bool has_backup(size_t node) const { return has_backup_[node]; }
  // Drops every node's backup: a database copied under an older topology is
  // not restored under a newer one (restoring it would set the node back to
  // an epoch and moves its peers left behind).
  void ForgetBackups() { has_backup_.assign(has_backup_.size(), false); }

  // The epoch of the latest topology files, and a node's weight in them.
  uint64_t epoch() const { return epoch_; }
  // Whether a node is in the latest epoch's topology. Thread-safe.
  bool member(size_t node) const;
  // The node a workload client of universe datacenter `dc` talks to: the
  // `index`-th member there (modulo), nullopt if it has none. Thread-safe.
  std::optional<size_t> ClientNode(size_t dc, size_t index) const;
  // Spares that never joined, in order.
  std::vector<size_t> UnusedSpares() const;
  // Nodes removed (RemoveNode), whether or not they exited yet.
  std::vector<size_t> Removed() const;
  // The next topology with spare `node` added (its weight 1), the topology
  // file rewritten. The caller starts it (Start: a fresh store given an
  // epoch > 0 joins) and tells the running nodes (Text(), as for
  // SetWeight). REQUIRES: node is an unused spare.
  Status AddNode(size_t node);
  // The next topology without `node`, the topology file rewritten (applied
  // at the node, it drains and exits by itself). REQUIRES: node is a member.
  Status RemoveNode(size_t node);
  // Collects removed nodes that exited (never blocks).
  void Reap();
  // A removed node's exit status once Reap saw it exit, else nullopt.
  std::optional<int> exit_status(size_t node) const { return exit_status_[node]; }
  uint32_t weight(size_t node) const { return weights_[node]; }
  // The next topology: `node` gets `weight`, the epoch goes up by one, and
  // the topology file is rewritten (Start runs it). Running nodes are
  // not told: the caller gives each its Text() with GEOKV.TOPOLOGY APPLY.
  // REQUIRES: Launch succeeded; 1 <= weight <= placement::kMaxWeight.
  Status SetWeight(size_t node, uint32_t weight);
  // The latest epoch's topology, as every node runs it (the same text for
  // all, as in a real cluster: nodes judge and spread topologies by their
  // text; each reaches the others through the proxy by its --peer-routes).
  const std::string& Text() const { return text_; }
  bool running(size_t node) const { return pids_[node] > 0; }
  bool paused(size_t node) const { return paused_[node]; }

  WanProxy& proxy() { return proxy_; }
  const std::string& log_path(size_t node) const { return logs_[node]; }

 private:
  // The latest epoch's topology text, from member_, weights_ and epoch_.
  std::string MakeText() const;
  // Node `self`'s --peer-routes file: every other node through its proxy ports.
  std::string RoutesText(size_t self) const;
  static Status WriteAtomically(const std::string& path, const std::string& text);
  Status NextEpoch();  // epoch_ + 1, the topology file rewritten
  // The user's topology and the spares, every endpoint direct (Launch).
  Result<placement::Topology> MakeUniverse();
  Status SpawnNode(size_t node);     // starts the process
  Status WaitServing(size_t node);   // until it answers PING (else kills it)

  const placement::Topology& topology_;  // the user's
  size_t spares_;
  std::optional<placement::Topology> universe_;
  std::string server_, dir_;
  std::vector<std::string> extra_flags_;
  WanProxy proxy_;
  std::vector<pid_t> pids_;
  std::vector<bool> paused_;
  std::vector<bool> has_backup_;
  std::string topology_path_;  // the latest epoch's, shared by every node
  std::vector<std::string> routes_, logs_;  // by node
  // ports_[target * n + self][kind]: the proxy port `self` uses to reach `target`.
  std::vector<std::vector<uint16_t>> ports_;
  std::vector<uint32_t> weights_;  // by node, in the latest epoch
  mutable std::mutex mu_;
  std::vector<bool> member_;   // by node, in the latest epoch; guarded by mu_
  std::vector<bool> removed_;  // by node: RemoveNode took it (never a member again)
  std::vector<std::optional<int>> exit_status_;
  std::vector<int> reservations_;  // lock files of the spares' ports (ReservedPort)
  uint64_t epoch_ = 0;
  std::string text_;  // topology_path_'s text
  bool curve_;
  std::vector<std::string> curve_public_, curve_secret_files_;  // by node, with curve_
};

}  // namespace geokv::check
