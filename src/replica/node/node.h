// Node: one geokv node: its partitions in storage, its place in the topology,
// and the answers to client requests.
//
// Data commands run as jobs of the storage engine (one writer thread, group
// commit): a command reads and mutates through a Partitions over the job's
// transaction, and its reply is released only after the transaction that holds
// its writes committed. Connection and server commands (PING, HELLO, CLIENT,
// CONFIG, QUIT, ...) are answered on the I/O thread.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "crdt/hlc.h"
#include "placement/peer_routes.h"
#include "placement/ring.h"
#include "replica/commands/access_control.h"
#include "replica/node/active_expiry.h"
#include "replica/node/forwarder.h"
#include "replica/node/hints.h"
#include "replica/node/memory_limit.h"
#include "replica/node/node_replication.h"
#include "replica/node/node_report.h"
#include "replica/node/node_stats.h"
#include "replica/node/quorum.h"
#include "replica/node/running_topology.h"
#include "replica/node/server.h"
#include "storage/engine.h"

namespace geokv::replica {

struct NodeOptions {
  std::string node_id;
};

class Node final : public Dispatcher, public ServerControl {
 public:
  // REQUIRES: node_id is a node of the table's topology; engine has the same
  // partition count as the topology. `table` is both the placement the node
  // serves and the topology it runs, until it adopts another (ApplyTopology).
  Node(placement::PlacementTable table, size_t node_index, storage::Engine& engine,
       boost::asio::io_context& io);
  // The forwarder fails its requests in flight as it goes: none of them is
  // kept as a hint then.
  ~Node() { stopping_ = true; }

  void Dispatch(ClientSession& client, Args args, Reply reply) override;

  // ServerControl (I/O thread).
  AccessControl& access() override { return access_; }
  std::vector<ConfigParam> ConfigParams() override;
  void Info(const std::string& sections, Reply reply) override;
  std::vector<ClientInfo> Clients() override;
  bool KillClient(uint64_t id) override;
  SlowLog* slowlog() override { return &stats_.slowlog; }
  LatencyMonitor* latency_monitor() override { return &stats_.latency; }

  // The Prometheus text of /metrics (metrics_text.h), passed to `done` on the
  // I/O thread. Call on the I/O thread.
  void Metrics(std::function<void(std::string)> done);
  const NodeStats& stats() const { return stats_; }
  void Wait(ClientSession& client, int64_t numdcs, int64_t timeout_ms, Reply reply) override;
  void WaitOwn(std::vector<uint32_t> partitions, int64_t numdcs, int64_t timeout_ms,
               Reply reply) override;
  void Watch(ClientSession& client, std::vector<std::string> keys, Reply reply) override;
  void AntiEntropyStatus(Reply reply) override;
  void RunAntiEntropy(std::optional<uint32_t> partition, Reply reply) override;
  void Rebuild(uint32_t partition, Reply reply) override;
  void Topology(std::optional<std::string> apply_text, Reply reply) override;
  void Members(Reply reply) override;
  void Moves(Reply reply) override;

  // Judges the topology file `text` like the one given at start-up, then
  // adopts it if it is of a higher epoch (RunningTopology): kept in the data
  // directory, run from then on, handed to the replication. Replies +OK
  // (adopted, or the file it already runs) or -ERR (invalid or refused:
  // logged and counted). `source` names the offer in messages and logs
  // ("GEOKV.TOPOLOGY APPLY", a path for SIGHUP, "peer <id>"). I/O thread.
  void ApplyTopology(std::string_view text, const std::string& source, Reply reply);
  // Where adopted topologies are kept (AdoptedTopologyPath); "" keeps none
  // (tests). Set once before serving.
  void set_data_dir(std::string dir) { data_dir_ = std::move(dir); }
  // How this node reaches its peers (placement/peer_routes.h), applied to
  // every topology it adopts. Set once before serving.
  void set_peer_routes(placement::PeerRoutes routes) { routes_ = std::move(routes); }
  const RunningTopology& running() const { return running_; }
  void Exec(ClientSession& client, std::vector<Args> queued, std::shared_ptr<WatchedKeys> watched,
            Reply reply) override;
  uint32_t PartitionDcs() const override { return quorum_.PartitionDcs(); }
  void Atoms(uint32_t partition, std::vector<std::string> keys, Reply reply) override {
    quorum_.Atoms(partition, std::move(keys), std::move(reply));
  }
  void Repair(uint32_t partition, std::string encoded, Reply reply) override {
    quorum_.Repair(partition, std::move(encoded), std::move(reply));
  }
  void Hint(uint32_t partition, std::string delta, std::optional<uint64_t> epoch,
            Reply reply) override;

  // Hinted handoff (hints.h): from now on a blind write at write level 1
  // whose forwarding fails is kept in `store` and handed off from there.
  // `incarnation` names this process's hint origin. Call once, on the I/O
  // thread, after set_replication.
  void EnableHints(std::unique_ptr<storage::HintStore> store, uint64_t incarnation);

  // The server whose limits CONFIG GET/SET show and change, and whose counters
  // INFO shows. Set once before serving.
  void set_server(Server* server) { server_ = server; }
  // The secret nodes authenticate to each other with (access_control.h): this
  // node accepts it for the peer user, and its forwarder presents it. Set
  // once before serving.
  void set_cluster_secret(const std::string& secret);
  // The replication of this node's partitions; without it (tests, N=1 tools)
  // deltas are only logged. Set once before serving.
  void set_replication(NodeReplication* replication) {
    replication_ = replication;
    quorum_.set_replication(replication);
  }
  // TESTING ONLY: a deliberately broken store that acknowledges every n-th SET
  // it would apply itself and never applies it (a silent loss of an
  // acknowledged write, for geokv-check's self-test). 0 = off. Set before serving.
  void set_testing_drop_every_nth_set(uint64_t n) { testing_drop_every_nth_set_ = n; }

  // --maxmemory and the used-memory figure (memory_limit.h): past the limit,
  // Dispatch refuses commands that may grow memory with -OOM. Its sampling is
  // started by the caller (MemoryLimit::Start), once, before serving.
  MemoryLimit& memory() { return memory_; }

  // Starts active expiry (active_expiry.h): one cycle per period, each a
  // storage job whose removals commit and replicate like any write. Call once,
  // on the I/O thread, after set_replication.
  void StartActiveExpiry(std::chrono::milliseconds period);

  // TESTING ONLY: the HLC's wall clock runs `offset_ms` off the system clock
  // (a node whose clock jumps back across a restart). Call before serving.
  void set_testing_clock_offset_ms(int64_t offset_ms);
  // The clock this node stamps its writes with (NodeReplication::set_clock).
  crdt::HybridClock* clock() { return &clock_; }

  const placement::Node& self() const { return table_->topology().nodes()[node_index_]; }
  // The placement the node started with (its node indices key WAIT's
  // forwarded writes). What it serves follows
  // the moves (Holds, NodeReplication::serving); the topology it runs is
  // running().
  const placement::PlacementTable& table() const { return *table_; }
  // Whether this node answers for `partition` now (NodeReplication::serving;
  // without replication, by the placement it started with).
  bool Holds(uint32_t partition) const { return View()->Serves(partition); }

 private:
  class TxnPartitions;
  // Data commands dispatched during one pass of the I/O loop run as one storage
  // job (one hand-off to the writer thread, one savepoint): FlushBatch is
  // posted when the first one arrives and runs after the pass.
  struct PendingCommand {
    std::function<void(CommandContext&)> run;  // one command, or a transaction
    Reply reply;
    std::shared_ptr<ClientWrites> writes;
    int protocol;  // of the client's connection
    // The partitions it may write (answered -TRYAGAIN while one of them is
    // fenced: ReplicationCore::FenceOwnStreams); empty for reads.
    std::vector<uint32_t> writes_to;
    ConsistencyLevel level;  // the client's, when queued
    // The partitions of its keys: answered -TRYAGAIN if one of them is no
    // longer served here when the job runs (handed over meanwhile).
    std::vector<uint32_t> reads_from = {};
  };
  // Routes a data command by its keys, then forwards it or queues it for
  // the next storage job.
  void DispatchData(const CommandSpec& spec, DataHandler handler, ClientSession& client, Args args,
                    Reply reply);
  void RunDataCommand(std::function<void(CommandContext&)> run, const ClientSession& client,
                      Reply reply, std::vector<uint32_t> writes_to = {},
                      std::vector<uint32_t> reads_from = {});
  // The partitions of a command's keys (per its key spec), in key order.
  std::vector<uint32_t> KeyPartitions(const CommandSpec& spec, const Args& args) const;
  // The partitions a data command may write: its keys' (key_partitions), or
  // every held one for a keyless write (FLUSHALL); none for a read.
  std::vector<uint32_t> WritesTo(const CommandSpec& spec,
                                 std::vector<uint32_t> key_partitions) const;
  // Inside MULTI: queues a data command whose keys this node holds; refuses
  // (and marks the transaction aborted) anything else.
  void Queue(const CommandSpec& spec, ClientSession& client, Args args, Reply reply);
  // Whether used memory over --maxmemory refuses this request (call only
  // when memory_.over()): Redis's rule, below.
  bool RefusedForMemory(const CommandSpec& spec, const ClientSession& client,
                        const Args& args) const;
  // Whether this node holds every key in `keys`.
  bool HoldsAll(const std::vector<std::string_view>& keys) const;
  // Where a request whose keys fall in `partitions` goes.
  struct Route {
    bool self = false;                      // served here
    const placement::Node* node = nullptr;  // else forwarded there
    size_t index = 0;                       // its index in known_nodes_
  };
  // This node if it serves them all now (NodeReplication::serving), else a
  // node that holds them all in the running topology or the one before it:
  // owners in both first (they serve throughout a move), then new owners,
  // then old ones; within each, live ones in this datacenter first, then
  // live ones elsewhere in preference order, then (all down) the first;
  // nullopt if no single node holds them all. `sticky` (a node id, or empty):
  // the node the connection's requests for these partitions went to last;
  // chosen over the others of its kind (both, new or old owner) while it is
  // up, so that the connection reads its own writes.
  std::optional<Route> RouteTo(const std::vector<uint32_t>& partitions,
                               std::string_view sticky = {}) const;
  // What this node serves: the replication's view, or without replication
  // the placement it started with.
  std::shared_ptr<const ServingView> View() const {
    return replication_ != nullptr ? replication_->serving() : static_view_;
  }
  void FlushBatch();
  // `reply` wrapped to count the command (NodeStats) and log it if slow.
  Reply Measured(const CommandSpec& spec, const ClientSession& client, const Args& args,
                 Reply reply);
  // Gathers a NodeReport (node_report.h) and passes it to `reply` on the I/O
  // thread: key counts and replication state are read in jobs first.
  void Report(std::function<void(NodeReport)> reply);
  // WAIT's part for the writes a connection forwarded to node `target`: asks
  // it (GEOKV.WAITOWN) and calls `part` with the count (0 if no answer).
  // A hintable write whose forwarding failed with `failure`: keeps it as a
  // hint (Hints::Keep, in a storage job) and replies on the I/O thread with
  // the handler's reply, or `failure` if it is no hint after all.
  void KeepHint(DataHandler handler, Args args, std::shared_ptr<ClientWrites> writes, int protocol,
                std::string failure, Reply reply);
  void AskWaitOwn(size_t target, const std::set<uint32_t>& partitions, int64_t numdcs,
                  int64_t timeout_ms, std::function<void(int64_t)> part);
  static constexpr int64_t kWaitForeverMs = int64_t{7} * 24 * 3600 * 1000;  // WAIT .. 0

  // The placement served (table()); node_index_ is self's index in it.
  std::shared_ptr<const placement::PlacementTable> table_;
  size_t node_index_;
  RunningTopology running_;
  std::string data_dir_;
  placement::PeerRoutes routes_;
  storage::Engine& engine_;
  boost::asio::io_context& io_;
  Server* server_ = nullptr;
  NodeReplication* replication_ = nullptr;
  uint64_t testing_drop_every_nth_set_ = 0;  // I/O thread
  uint64_t testing_sets_seen_ = 0;           // I/O thread
  std::vector<PendingCommand> batch_;        // I/O thread only
  bool stopping_ = false;  // set in ~Node, read as forwarder_ (below) fails what it holds
  Forwarder forwarder_;    // I/O thread only
  AccessControl access_;                     // I/O thread only
  static constexpr size_t kMaxBatch = 1024;
  static constexpr size_t kTransactionCommandsMax = 100'000;
  static constexpr size_t kTransactionBytesMax = size_t{64} << 20;
  std::shared_ptr<const ServingView> static_view_;  // View() without replication
  // The topology run before the running one (the start one until the first
  // change): routing prefers nodes that hold a partition in both. I/O thread.
  std::shared_ptr<const placement::PlacementTable> previous_;
  // Every node of every topology run since the start: those of table()
  // first, at their indices there, then those later topologies added. The
  // keys of ClientWrites::forwarded (WAIT), stable across changes. I/O thread.
  std::vector<placement::Node> known_nodes_;
  // Used on the writer thread only. Never goes backwards across a restart:
  // every job that stamps an HLC stores it in the meta table (kHlcLastMeta),
  // committed with the writes it stamps, and the first stamp after a start
  // restores the clock from it. (Storing a bound ahead of use would cost fewer
  // writes but move a restarted node's clock into the future, so that its
  // writes would beat later ones elsewhere: last-writer-wins by a clock that
  // runs ahead is not what users expect.)
  crdt::HybridClock clock_;
  bool clock_restored_ = false;
  static constexpr const char* kHlcLastMeta = "hlc_last";
  // CONFIG SET's Redis encoding tunables: kept and shown, used for nothing.
  struct EncodingTunables {
    size_t hash_entries = 128;
    size_t hash_value = 64;
    size_t set_intset_entries = 512;
  } tunables_;  // I/O thread
  void ScheduleActiveExpiry();
  ActiveExpiry active_expiry_;                               // writer thread only
  std::unique_ptr<boost::asio::steady_timer> expiry_timer_;  // I/O thread only
  std::chrono::milliseconds expiry_period_{100};
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  int64_t started_unix_s_;
  std::string run_id_;
  NodeStats stats_;
  MemoryLimit memory_;
  Quorum quorum_;  // I/O thread (AwaitWrites: any)
  std::unique_ptr<Hints> hints_;  // null: no hinted handoff
};

}  // namespace geokv::replica
