// NodeReplication: the replication core of one node, driven over storage jobs
// and the ZeroMQ transport.
//
// The core (replication/core.h) is a socket-free state machine. Here it lives
// on the storage writer thread, and every job that touches it — command jobs
// with their local deltas, inbound peer messages, ticks, WAIT, INFO — goes
// through one wrapper, Submit, which owns the core's contract with its caller:
// the core works over the job's transaction, so its effects on the node's
// replicas commit together with the progress it records; it is marked stale
// (rebuilt from storage before the next job uses it) when the job fails or
// throws, or the commit fails; and its outgoing messages are sent only after
// a successful commit (a delta published before its commit could be lost by a
// crash and its dots reused). Inputs reach it as jobs:
//   - local deltas: from the command jobs that commit them (Job::OnLocalDelta);
//   - peer messages: the transport signals, a job takes a bounded batch;
//   - time: a timer on the I/O thread submits a tick job every few ms.
// WAIT waiters are registered and answered from those jobs too.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>  // before Boost.Asio (see server.h)
#include <vector>

#include "crdt/hlc.h"
#include "placement/ring.h"
#include "replica/node/topology_spread.h"
#include "replica/replication/core.h"
#include "replica/transport/transport.h"
#include "storage/engine.h"

namespace geokv::replica {

struct ReplicationSettings {
  replication::Options core;
  int send_high_water_mark = 100'000;
  int receive_high_water_mark = 100'000;
  size_t inbound_queue_max = 100'000;
  uint64_t tick_interval_ms = 5;
  size_t max_waiters = 10'000;  // WAIT calls blocked at once
  // TESTING ONLY: drop every n-th delta batch received and never repair the
  // gap. A deliberately broken store, so that geokv-check's own tests can show
  // that it reports divergence. 0 = off.
  uint64_t testing_drop_every_nth_batch = 0;
  // TESTING ONLY: every n-th job that produced a local delta fails after its
  // body ran, as if a statement had hit a storage error (fail) or the body had
  // thrown (throw): the fault hook of the tests that prove a failed job
  // publishes nothing and leaves no seq behind. 0 = off; throw wins if both.
  uint64_t testing_fail_job_every = 0;
  uint64_t testing_throw_job_every = 0;
  // The node's anti-entropy trees, kept by the storage engine's observer
  // (storage::Options::atom_observer): the core rebuilds and compares them.
  // Null: no anti-entropy. Not owned.
  replication::AaeTrees* aae_trees = nullptr;
  // Fence own streams at start until peers report them (ReplicationCore::
  // FenceOwnStreams). Off only in tests that drive jobs with no peer running.
  bool fence_own_streams = true;
  // CURVE on the replication channels (Transport): this node's key pair, Z85.
  // Both set exactly when the topology has curve_public keys (Start fails
  // otherwise); peers' keys and the keys admitted come from the topology.
  std::string curve_public_key;
  std::string curve_secret_key;
  // Asking peers for the epoch they run (topology_spread.h).
  TopologySpreadOptions topology_spread;
  // A node that joins a running cluster (a fresh data directory given a
  // topology of epoch > 0): the placement before it joined. The core starts
  // holding nothing of it and moves to the node's topology at once, filling
  // its partitions from their old owners (ReplicationCore::Reconfigure).
  // Null: the store's own placement (a first start, or a restart).
  std::shared_ptr<const placement::PlacementTable> join_from;
  // A restarted node (not joining): the placement before the one it starts
  // with (TopologyBefore), whose nodes it stays connected to until its moves
  // end, as it was before the restart: a move may still wait on a node only
  // that placement names (a removed node draining to it). Null: none.
  std::shared_ptr<const placement::PlacementTable> also_connect;
  // A partition moving here for longer than this is a stalled move: logged
  // (with the nodes it waits for) once per this period, and counted
  // (MovesStalled). 0: never.
  uint64_t move_stall_warn_ms = 600'000;
};

// What this node serves, as the replication core says (ReplicationCore::
// Serving, Holds, Moves, Drained): published by the writer thread after the
// jobs that may change it, read by the I/O thread per request as one atomic
// snapshot.
struct ServingView {
  uint64_t epoch = 0;                  // the placement in force here (ReplicationCore::Epoch)
  std::vector<uint8_t> holds;          // [p]: a replica of p is here (serving or not)
  std::vector<uint8_t> serving;        // [p]: this node answers reads and writes of p
  std::vector<uint32_t> serving_list;  // the p with serving[p], ascending
  std::vector<replication::MoveStatus> moves;  // every partition moving here
  // EstimateMoves (move_estimate.h) of each of `moves`, parallel to it, and
  // their sum (0: no moves).
  std::vector<uint64_t> move_bytes_left;
  uint64_t move_bytes_left_total = 0;
  // MoveEstimates::partition_bytes, sent in heartbeats (0: no moves).
  uint64_t partition_bytes = 0;
  // The node id of every node `moves` names.
  std::map<crdt::ReplicaId, std::string> node_ids;
  bool drained = false;  // ReplicationCore::Drained, in the latest adopted epoch
  bool Serves(uint32_t p) const { return p < serving.size() && serving[p] != 0; }
};

// The name GEOKV.MOVES, INFO and /metrics give a move's role ("joining",
// "leaving", "draining", "deleting", "staying").
const char* MoveRoleName(replication::MoveStatus::Role role);
inline constexpr size_t kMoveRoles = 5;  // MoveStatus::Role's values are 0 .. kMoveRoles - 1

// What INFO replication and /metrics show of the replication.
struct ReplicationSnapshot {
  struct Peer {
    std::string id;  // node id
    std::string dc;  // datacenter name
    bool up = true;
    std::optional<uint64_t> lag_ms;  // replication::PeerStatus
    uint64_t pending_deltas = 0;
  };
  std::vector<Peer> peers;  // the core's order
  replication::Stats stats;
  uint64_t malformed_messages = 0;  // undecodable, or not from their sender
  uint64_t hlc_refused = 0;         // peers' HLCs too far ahead to adopt (set_clock)
  std::optional<TransportStats> transport;
};

class NodeReplication {
 public:
  using Reply = std::function<void(std::string resp)>;
  // A write a client made: (partition, this node's seq of its delta).
  using Write = std::pair<uint32_t, uint64_t>;

  NodeReplication(const placement::PlacementTable& table, size_t node_index,
                  storage::Engine& engine, boost::asio::io_context& io,
                  ReplicationSettings settings);
  ~NodeReplication();

  // Builds the core from what storage committed, binds and connects the
  // transport and starts the tick timer.
  Status Start();
  // Stops the timer and the transport (call before the engine shuts down).
  void Stop();
  // Calls `ready` on the I/O thread once every peer sharing a partition has
  // reported how far it applied this node's own streams (or is down), or
  // after max_wait: the node opens its client port then, so that after a
  // restart clients rarely meet a fenced partition (ReplicationCore::
  // FenceOwnStreams). REQUIRES: Start() succeeded.
  void WhenOwnStreamsKnown(std::chrono::milliseconds max_wait, std::function<void()> ready);

  // What the body of a job sees: its transaction and, with replication, the
  // core over it. Valid during the body only; writer thread.
  class Job {
   public:
    storage::Transaction& txn() { return txn_; }
    // A local mutation's delta, already applied to txn().Partition(p) in this
    // job: logs it, and with replication queues it to be published after the
    // commit (see ReplicationCore::OnLocalDelta, which also folds counters
    // where this node is p's only replica).
    void OnLocalDelta(uint32_t p, const crdt::Delta& delta);
    // Whether local writes to p may take new dots (ReplicationCore::OwnWritable).
    bool OwnWritable(uint32_t p) const { return core_ == nullptr || core_->OwnWritable(p); }
    // Whether this node answers for p now (ReplicationCore::Serving): a
    // request routed here while p was served may find it handed over.
    bool Serving(uint32_t p) const { return core_ == nullptr || core_->Serving(p); }
    // Whether a state transfer into p is under way (its record is stored):
    // p's state is then partly joined, so it is no source for a quorum read,
    // and atoms from outside the protocol (a read repair) could bring back
    // what the transfer removed.
    bool ReceivingTransfer(uint32_t p) { return !store_.TransferRecord(p).empty(); }

   private:
    friend class NodeReplication;
    Job(storage::Transaction& txn, replication::ReplicaStore& store,
        replication::ReplicationCore* core, uint64_t now_ms)
        : txn_(txn), store_(store), core_(core), now_ms_(now_ms) {}
    storage::Transaction& txn_;
    replication::ReplicaStore& store_;
    replication::ReplicationCore* core_;  // null: a node without replication
    uint64_t now_ms_;
    uint64_t local_deltas_ = 0;
  };
  using Body = std::function<void(Job&)>;
  using Done = std::function<void(Status)>;

  // Runs `body` as a storage job with the core (rebuilt first if a failed job
  // left it stale) over the job's transaction. Marks the core stale if the
  // transaction failed or the body threw (the exception then fails the job,
  // as Engine::Job says). The job takes the core's outgoing messages when it
  // ends (jobs of later groups run while its group commits: each job's
  // messages must wait for its own commit); in `done`, on the state thread,
  // it sends them if the job committed and the core is not stale (else marks
  // it stale), then calls the caller's `done` with the job's status.
  // kAfterRun (a batch of reads): the `done` may come before the commit of
  // earlier jobs, so such a job takes and sends nothing; what it queued goes
  // with the next job's messages.
  // Returns Busy, and calls nothing, when the engine refuses the job.
  // `replication` null (a node without replication: tests, tools): the same
  // job without a core, whose local deltas are only logged.
  static Status Submit(NodeReplication* replication, storage::Engine& engine, Body body, Done done,
                       storage::Completion completion = storage::Completion::kAfterCommit);

  // WAIT numdcs timeout_ms for a client whose writes are `writes` (I/O thread).
  void Wait(std::vector<Write> writes, int64_t numdcs, int64_t timeout_ms, Reply reply);
  // The same for everything this node wrote so far in `partitions` (those it
  // holds): GEOKV.WAITOWN, for a node that forwarded a client's writes here.
  void WaitOwn(std::vector<uint32_t> partitions, int64_t numdcs, int64_t timeout_ms, Reply reply);
  // Whether the failure detector considers the node up: readable from any
  // thread; this node, and a node the replication does not know (yet), count
  // as up. By replica id, not topology index: indices change between
  // topologies.
  bool IsUp(crdt::ReplicaId node) const {
    const std::shared_ptr<UpMap> up = node_up_.load();
    auto it = up->find(node);
    return it == up->end() || it->second.load();
  }
  // What this node serves now (never null after Start). Thread-safe.
  std::shared_ptr<const ServingView> serving() const { return serving_.load(); }
  // Whether this node, absent from the latest topology it adopted, handed
  // every partition it held to their new owners: it may exit. Thread-safe.
  bool Removed() const { return removed_.load(); }

  // The clock the node stamps its writes with: every received delta's latest
  // HLC is adopted (HybridClock::Update), so a write that follows what this
  // node saw of a peer orders after it whatever the wall clocks say. An HLC
  // further ahead of the wall clock than the clock's max_forward_ms is not
  // adopted (counted in INFO as hlc_refused): a peer with a broken clock must
  // not drag every replica into the future. Set once before Start; the clock
  // is then used on the writer thread only.
  void set_clock(crdt::HybridClock* clock) { clock_ = clock; }

  // GEOKV.AAE STATUS: [[partition, peer node id, ms since the last
  // comparison (-1: never), result], ...] (ReplicationCore::AntiEntropyStatus).
  void AntiEntropyStatus(Reply reply);
  // GEOKV.AAE RUN [partition]: queues an exchange with each peer of the
  // partition (every held one without); replies with how many were queued.
  void RunAntiEntropy(std::optional<uint32_t> partition, Reply reply);
  // GEOKV.REBUILD partition: ReplicationCore::Rebuild; +OK once begun.
  void Rebuild(uint32_t partition, Reply reply);
  // GEOKV.HINT partition delta [epoch]: decodes the hint (its keys must fall
  // in `partition`) and joins it in a job (ReplicationCore::ApplyHint, with
  // the keeper's epoch): +OK after the commit, or for a hint already here;
  // -TRYAGAIN while the partition is not served here or this node runs
  // another epoch; -ERR hint refused for a malformed one (counted in
  // Stats::hints_refused). I/O thread.
  void ApplyHint(uint32_t partition, std::string encoded, std::optional<uint64_t> epoch,
                 Reply reply);
  // This process's incarnation (Membership::incarnation: its start time in ms).
  uint64_t incarnation() const { return incarnation_; }

  // Topology change (DESIGN.md "Membership change"). The node calls this on
  // the I/O thread once it adopted `next` (Node::ApplyTopology): peers are
  // told its epoch from then on; the transport connects to the nodes `next`
  // adds (and keeps those it drops until this node's moves ended); the core
  // moves to it (ReplicationCore::Reconfigure, in the next tick job), and
  // serving() follows the moves.
  void AdoptTopology(std::shared_ptr<const placement::PlacementTable> next);
  // Called on the I/O thread with the text of a topology file a peer offers
  // (it runs a higher epoch) and the peer's id; the node judges it like any
  // APPLY. Set once before Start.
  void set_topology_offer(std::function<void(std::string text, std::string peer)> offer) {
    topology_offer_ = std::move(offer);
  }
  // The epoch each peer was last heard to run, and how many run a higher one
  // than this node (TopologySpread). Thread-safe.
  std::map<std::string, uint64_t> PeerEpochs() const { return spread_->PeerEpochs(); }
  size_t PeersAhead() const { return spread_->PeersAhead(); }
  // Partitions moving here for longer than move_stall_warn_ms, as of the
  // last check (every second). Thread-safe.
  uint64_t MovesStalled() const { return moves_stalled_.load(std::memory_order_relaxed); }
  // What each node last heard from said its moves still have to move
  // (ReplicationCore::PeerMoveBytesLeft; 0: none), by node id, refreshed
  // every 250 ms. Thread-safe.
  std::map<std::string, uint64_t> PeerMoveBytesLeft() const {
    std::lock_guard lock(peer_bytes_mu_);
    return peer_move_bytes_left_;
  }
  // The clock the core runs on (MoveStatus::started_ms): ms since this
  // object was built, steady. Thread-safe.
  uint64_t NowMs() const;

  // The replication state INFO and /metrics show, read in a job: `reply` gets
  // it on the writer thread, or nullopt if the engine refused the job.
  void Snapshot(std::function<void(std::optional<ReplicationSnapshot>)> reply);

 private:
  class TxnStore;
  struct Waiter {
    std::vector<Write> writes;
    uint32_t numdcs;
    uint64_t deadline_ms;  // 0: none
    Reply reply;
  };
  static constexpr size_t kInboundPerJobMax = 256;  // peer messages one inbound job takes

  // The testing fault hook (ReplicationSettings::testing_*_job_every).
  void InjectFault(const Job& job);
  // Adopts the latest HLC of the deltas a peer's message carries (see
  // set_clock). Writer thread.
  void AdoptClock(const replication::Message& message);
  // The core, built first from what storage committed if there is none yet or
  // a failed job left it stale (its queued messages are dropped with it: they
  // may describe writes that were rolled back). Writer thread.
  replication::ReplicationCore& Core(replication::ReplicaStore& store);
  void ScheduleInbound();  // transport thread
  void ScheduleTick();     // I/O thread
  // Answers the WAIT waiters that are satisfied or timed out. Writer thread.
  void CheckWaiters(const replication::ReplicationCore& core, uint64_t now_ms);
  void AddWaiter(Job& job, std::vector<Write> writes, int64_t numdcs, int64_t timeout_ms,
                 Reply reply);
  void Send(std::vector<replication::Outgoing> out);  // writer thread
  using UpMap = std::map<crdt::ReplicaId, std::atomic<bool>>;
  // The membership of a placement, as the core takes it: DCs numbered by
  // name (DcNumber) so that numbers stay the same across topologies; this
  // node keeps its own DC when the placement drops it.
  replication::Membership MembershipOf(const placement::PlacementTable& table) const;
  // The core over `store`, built for `membership` (fenced, with the trees).
  void BuildCore(replication::ReplicaStore& store, const replication::Membership& membership);
  // Connects the transport, the topology spread and the failure detector's
  // map to every node that shares a partition with this one in any table of
  // connected_. I/O thread.
  void UpdatePeers();
  // Learns the ids of a table's nodes (writer thread).
  void LearnNodes(const placement::PlacementTable& table);
  // In a job: adopts a topology AdoptTopology left, publishes serving(), and
  // once this node's moves ended drops the tables of older epochs.
  void FollowMoves(Job& job);
  // Logs and counts moves older than move_stall_warn_ms (writer thread).
  void WatchStalls(const replication::ReplicationCore& core, uint64_t now_ms);
  // "dc1-a, dc2-b": the node ids of `ids` ("?" for one not known).
  std::string NamesOf(const std::vector<crdt::ReplicaId>& ids) const;
  // Publishes serving() from the core if it changed (or `force`), and while
  // moves go on at most every 200 ms for their progress, with the bytes they
  // have left, read in `txn` (which the core's heartbeats then carry).
  // Writer thread.
  void PublishServing(replication::ReplicationCore& core, storage::Transaction& txn,
                      uint64_t now_ms, bool force);
  bool FromItsSender(const InboundMessage& m, const replication::Message& message) const;
  // A topology request or reply (not the core's: topology_spread.h).
  // Writer thread (an inbound job).
  void OnTopologyMessage(const InboundMessage& m);
  // Asks the peers due (TopologySpread::Due) for their epoch. I/O thread.
  void AskTopology();

  const placement::PlacementTable& table_;  // the one the node started with
  size_t node_index_;
  crdt::ReplicaId self_ = 0;
  uint64_t incarnation_ = 0;  // Membership::incarnation
  uint32_t self_dc_ = 0;      // DcNumber of this node's datacenter
  storage::Engine& engine_;
  boost::asio::io_context& io_;
  ReplicationSettings settings_;
  replication::Membership membership_;
  std::map<crdt::ReplicaId, std::string> node_id_of_;
  std::map<std::string, crdt::ReplicaId> replica_id_of_;

  std::map<uint32_t, std::string> dc_name_;  // writer thread: DcNumber -> name
  // Written by ticks. A map's keys are fixed (so that readers on any thread
  // need no lock): a topology change that adds nodes swaps in a new map.
  std::atomic<std::shared_ptr<UpMap>> node_up_;
  std::atomic<std::shared_ptr<const ServingView>> serving_;
  std::atomic<bool> removed_{false};
  mutable std::mutex peer_bytes_mu_;
  std::map<std::string, uint64_t> peer_move_bytes_left_;  // guarded by peer_bytes_mu_
  // The tables whose nodes the transport stays connected to: the latest
  // adopted last, and those before it while a move of this node is under
  // way (I/O thread).
  std::vector<std::shared_ptr<const placement::PlacementTable>> connected_;
  std::vector<TransportPeer> peers_;                  // I/O thread: UpdatePeers's
  std::map<std::string, std::string> curve_clients_;  // I/O thread: UpdatePeers's
  std::mutex adopt_mu_;
  // Adopted topologies not yet handed to the core, oldest first.
  std::vector<std::shared_ptr<const placement::PlacementTable>> to_adopt_;  // guarded by adopt_mu_
  std::atomic<uint64_t> latest_epoch_{0};    // the latest adopted topology's epoch
  std::atomic<bool> latest_has_self_{true};  // ... and whether it names this node
  std::atomic<bool> prune_posted_{false};
  uint64_t serving_published_ms_ = 0;                   // writer thread
  uint64_t epochs_noted_ms_ = 0;                        // writer thread
  uint64_t stalls_checked_ms_ = 0;                      // writer thread
  uint64_t exit_wait_warned_ms_ = 0;                    // writer thread
  std::map<uint32_t, uint64_t> stall_warned_ms_;        // writer thread: by partition
  std::atomic<uint64_t> moves_stalled_{0};
  std::unique_ptr<replication::ReplicationCore> core_;  // writer thread only
  bool stale_ = false;                                  // writer thread only
  std::vector<Waiter> waiters_;                         // writer thread only
  std::vector<InboundMessage> carried_;  // writer thread: taken, left for the next inbound job
  uint64_t malformed_messages_ = 0;                     // writer thread only
  std::atomic<uint64_t> hints_malformed_{0};            // GEOKV.HINT not decodable
  uint64_t batches_received_ = 0;                       // writer thread only
  uint64_t jobs_with_deltas_ = 0;                       // writer thread only
  crdt::HybridClock* clock_ = nullptr;                  // writer thread only
  uint64_t clock_refused_ = 0;                          // writer thread only
  std::unique_ptr<TopologySpread> spread_;              // thread-safe
  std::function<void(std::string, std::string)> topology_offer_;
  std::unique_ptr<Transport> transport_;
  std::mutex transport_mu_;  // guards transport_ against Stop()
  boost::asio::steady_timer tick_timer_;
  std::atomic<bool> inbound_scheduled_{false};
  std::atomic<bool> tick_scheduled_{false};
  std::atomic<bool> stopped_{false};
  // Never reuse a dot: true until every held partition's own stream is known
  // (cores built meanwhile are fenced); writer thread.
  bool own_fence_;  // from settings_.fence_own_streams
  std::atomic<bool> own_streams_known_{false};
  std::chrono::steady_clock::time_point epoch_ = std::chrono::steady_clock::now();
};

}  // namespace geokv::replica
