// ReplicationCore: one node's replication protocol as a state machine with no
// sockets, threads or clocks inside.
//
// Inputs: local deltas (OnLocalDelta), peer messages (OnMessage) and timer ticks
// (OnTick), each with the current time. Outputs: messages to send, queued until
// the caller takes them (TakeOutgoing), and work on a ReplicaStore passed to
// each call. The same code runs over ZeroMQ and storage jobs in the node and
// over a seeded network and memory stores in the simulation
// (tests/replica/replication/).
//
// Protocol, per partition p this node holds and each origin O of p's replicas:
//   - O numbers its deltas in p by their dots (gap-free). O publishes them in
//     batches of contiguous deltas on p's topic and logs them.
//   - applied[p][O] is the seq through which O's deltas were applied here,
//     contiguously; it is persisted with the deltas (ReplicaStore::SetApplied)
//     and is never derived from the causal context, which may hold O's dots
//     learned from someone else's removal.
//   - A batch that starts beyond applied + 1 reveals a gap: it is buffered
//     (bounded) and, unless the gap fills within catchup_delay_ms, this node asks
//     O for "p, O, after applied" (when O is down: a live replica that reported
//     more of O; while O is up, such third-party reports are not acted on, as
//     O's own batch or heartbeat may just be slower to arrive). Requests are
//     retried with exponential backoff, at most catchup_max_outstanding at a
//     time. The origin answers from its log, or, when the log no longer
//     reaches back, with a state transfer: a snapshot of p and its applied
//     vector, which the receiver joins and then takes applied = max(own,
//     sender's) per origin. A tail gap (the last batch lost) is revealed by
//     heartbeats, which carry every node's applied vectors.
//   - Heartbeats (every heartbeat_interval_ms, and at most heartbeat_min_gap_ms
//     after applying something) drive failure detection (a peer is down after
//     down_after_ms of silence), replication lag, WAIT, log truncation (own log
//     through the minimum that every live replica reported) and causal
//     stability: stable[O] = min over p's replicas R of R's report of O, using
//     only reports that are "usable" (this node has applied R's own stream up
//     to what R reported for itself, so every removal R issued before the report
//     is here), which allows folding counters (crdt::FoldStableCounters): the
//     keys whose counters changed are remembered (bounded) and folded each
//     maintenance round, a bounded number per round.
//
// Invariants:
//   - applied[p][O] only grows, and every delta of O in p with seq <= applied
//     has been joined into the store's partition (directly or by a state
//     transfer that included it);
//   - for O == self, applied is the last seq this node originated in p, and the
//     log holds its deltas (minus what truncation and retention dropped);
//   - every queue and buffer has a limit (Options); what goes over it is dropped
//     and counted, and the protocol recovers it (catch-up, next heartbeat).
//
// Commit before send. Messages in the outbox describe changes made in the
// store during the calls that queued them (a heartbeat reports applied seqs, a
// batch carries deltas whose dots must never be reused). The caller takes the
// outbox only after the storage job(s) of those calls committed.
//
// Failed jobs. If a storage job in which the core was called fails (and rolls
// back), the core's memory no longer matches storage: the caller discards the
// core and its outbox and builds a new one from the store (the constructor),
// exactly as after a restart. Nothing else needs to survive a restart. This is
// needed for correctness, not tidiness: a core that kept an applied seq whose
// deltas were rolled back would never fetch them again, and one that kept a
// rolled-back local delta would see its dots reused (OnLocalDelta asserts).
// With group commit, a later job of the same group may run before the failed
// job's `done`: so mark the core stale in the failing job itself (when it is
// about to fail: an error return, or a store that recorded an error), and in
// `done` when the group's COMMIT failed; rebuild it, in the next job that uses
// it, before any other call.
//
// Not thread-safe: one thread (the storage writer thread, in the node) calls
// everything.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "crdt/delta.h"
#include "crdt/fold.h"
#include "replica/replication/messages.h"
#include "replica/replication/replica_store.h"

namespace geokv::replication {

// Who holds what: plain data taken from the placement table.
struct Membership {
  crdt::ReplicaId self = 0;
  // replicas[p]: the distinct nodes that hold partition p. Its size is Q.
  std::vector<std::vector<crdt::ReplicaId>> replicas;
  // The datacenter (any numbering) of self and of every node in `replicas`.
  std::map<crdt::ReplicaId, uint32_t> dc_of;
};

// Timings (ms) and limits. The defaults suit loopback and LAN-to-WAN clusters.
struct Options {
  uint64_t heartbeat_interval_ms = 100;    // full heartbeat at least this often
  uint64_t heartbeat_min_gap_ms = 2;       // partial heartbeats after applying, at most this often
  uint64_t down_after_ms = 1000;           // silence after which a peer counts as down
  uint64_t catchup_delay_ms = 5;           // a gap may fill by itself (reordering) this long
  uint64_t catchup_timeout_ms = 200;       // first retry of an unanswered catch-up request
  uint64_t catchup_timeout_max_ms = 5000;  // backoff doubles up to this
  size_t catchup_max_outstanding = 16;     // requests in flight, over all streams
  size_t catchup_reply_max_bytes = size_t{1} << 20;  // deltas per catch-up reply, in bytes
  // ... and in number (at most the receivers' MessageLimits::max_deltas_per_batch).
  size_t catchup_reply_max_deltas = 16384;
  size_t batch_max_deltas = 256;               // per published batch
  size_t batch_max_bytes = size_t{256} << 10;  // per published batch (estimated)
  size_t buffer_max_batches_per_stream = 64;   // out-of-order batches kept per stream
  size_t buffer_max_bytes = size_t{16} << 20;  // out-of-order batches kept in all
  size_t outbox_max_messages = 65536;          // between two TakeOutgoing calls
  size_t outbox_max_state_transfers = 4;       // snapshots between two TakeOutgoing calls
  size_t commit_times_per_partition = 1024;    // own seqs remembered for lag
  uint64_t maintenance_interval_ms = 100;      // folding and log truncation
  bool fold_counters = true;
  // Folding visits the keys whose counters changed (up to fold_keys_max per
  // partition are remembered; beyond that, or after a state transfer or a
  // restart, it folds whole partitions until what they held then is folded).
  size_t fold_keys_max = 4096;
  size_t fold_keys_per_maintenance = 1024;
  size_t fold_partitions_per_maintenance = 4;  // whole-partition folds
  bool truncate_logs = true;

  // Test only: apply every batch as if it were contiguous and never ask for
  // catch-up. Loses deltas under drops; exists to prove the simulation notices.
  bool testing_ignore_gaps = false;
  // Test only: use every report for stability, even one whose sender's own
  // stream has not been applied here yet (breaks the "usable report" rule).
  bool testing_use_unusable_reports = false;
};

// Where a message goes.
struct Outgoing {
  enum class Kind : uint8_t {
    kPublishPartition,  // to every subscriber of `partition`'s topic (its other replicas)
    kPublishHeartbeat,  // to every peer (the heartbeat topic)
    kSendRequest,       // a CatchUpRequest to node `to` (DEALER -> its ROUTER)
    kSendReply,         // a CatchUpReply to node `to`, which asked (ROUTER -> its DEALER)
  };
  Kind kind = Kind::kPublishHeartbeat;
  uint32_t partition = 0;  // kPublishPartition
  crdt::ReplicaId to = 0;  // kSendRequest, kSendReply
  Message message;
};

// What a peer looks like from here (INFO replication).
struct PeerStatus {
  crdt::ReplicaId id = 0;
  uint32_t dc = 0;
  bool up = true;
  uint64_t last_heard_ms = 0;
  // ms from the local commit of one of our deltas to this peer's report that it
  // applied it: the oldest delta newly acknowledged by its latest report that
  // acknowledged any (nullopt: none measured yet).
  std::optional<uint64_t> lag_ms;
  // Our deltas (seqs) it has not reported applying, over the partitions we share.
  uint64_t pending_deltas = 0;
  // Age of the oldest of those (0 if none, or if older than the commit-time ring).
  uint64_t oldest_pending_ms = 0;
};

// Counters for metrics and tests. Only ever grow.
struct Stats {
  uint64_t batches_published = 0;
  uint64_t batches_applied = 0;  // batches (live or catch-up) that advanced applied
  uint64_t deltas_applied = 0;
  uint64_t duplicates = 0;  // batches or snapshots with nothing new
  uint64_t gaps = 0;        // batches that started beyond applied + 1
  uint64_t catchup_requests = 0;
  uint64_t catchup_retries = 0;  // requests that timed out
  uint64_t log_replies = 0;      // catch-up answered from the log
  uint64_t state_transfers_sent = 0;
  uint64_t state_transfers_applied = 0;
  uint64_t up_to_date_replies = 0;
  uint64_t heartbeats_sent = 0;
  uint64_t rejected = 0;      // messages a peer had no business sending
  uint64_t dropped = 0;       // messages or buffered batches over a limit
  uint64_t store_errors = 0;  // log reads that failed (no reply sent)
  uint64_t folded_atoms = 0;
  uint64_t truncations = 0;
  uint64_t peers_down = 0;  // up -> down transitions
};

class ReplicationCore {
 public:
  // Builds the core of a node from what `store` committed: the applied seqs of
  // every (held partition, replica). Every peer starts as up, heard at now_ms.
  // Call it inside a storage job.
  // REQUIRES: membership is consistent (self and every replica have a dc; each
  // replica set is distinct); options' counts and intervals are >= 1.
  ReplicationCore(Membership membership, Options options, ReplicaStore& store, uint64_t now_ms);

  ReplicationCore(const ReplicationCore&) = delete;
  ReplicationCore& operator=(const ReplicationCore&) = delete;

  // A local mutation's delta: logs it (store.AppendLog), records applied (own
  // seq), remembers its commit time for lag, and queues it for publication
  // (batched with the partition's other pending deltas).
  // REQUIRES: called in the storage job that applied `delta` to
  // store.Partition(p) (the node's command job), right after ApplyDelta;
  // Holds(p); delta.origin == self; delta.first > Applied(p, self) (DeltaBuilder
  // guarantees it: it numbers after the context's highest own dot).
  void OnLocalDelta(ReplicaStore& store, uint32_t p, const crdt::Delta& delta, uint64_t now_ms);

  // A decoded message from a peer. Anything a peer had no business sending (a
  // partition this node does not hold or the sender does not, an origin that is
  // not a replica, this node's own id as origin or sender...) is counted in
  // stats().rejected and ignored. Any well-formed message (DecodeMessage) is
  // safe to pass.
  void OnMessage(ReplicaStore& store, const Message& message, uint64_t now_ms);

  // Timers: failure detection, heartbeats, catch-up requests and retries, and
  // (every maintenance_interval_ms) counter folding and log truncation. Call it
  // every few ms, and no later than NextTickMs().
  void OnTick(ReplicaStore& store, uint64_t now_ms);

  // The earliest time at which OnTick has something to do. Right after
  // OnTick(now_ms) it is later than now_ms.
  uint64_t NextTickMs() const;

  // Takes the queued messages, in order, after closing every pending batch and
  // adding a heartbeat if one is due. REQUIRES: the storage work of every call
  // that queued them has committed (see "Commit before send").
  std::vector<Outgoing> TakeOutgoing(uint64_t now_ms);

  // WAIT: how many datacenters other than this node's have applied every
  // write listed, where a write is (partition, this node's seq of the
  // write's delta, i.e. its Delta::last) and a datacenter has applied it when
  // one of its nodes reported applied >= seq for this node's stream in that
  // partition. (Different writes may be applied by different nodes of one
  // datacenter.) With no writes, counts every other datacenter holding a
  // replica of any partition this node holds. REQUIRES: Holds(p) for each.
  uint32_t DcsThatApplied(const std::vector<std::pair<uint32_t, uint64_t>>& writes) const;

  // Whether this node holds a replica of p.
  bool Holds(uint32_t p) const;
  // applied[p][origin] (0 for an origin that is not a replica of p).
  // REQUIRES: Holds(p).
  uint64_t Applied(uint32_t p, crdt::ReplicaId origin) const;
  // The causally stable vector of p now (what the next fold uses). A caller
  // may fold a hot key at once with crdt::FoldStableCounters(state,
  // Scope::Key(key), Stable(p)) rather than wait for the maintenance round.
  // REQUIRES: Holds(p).
  crdt::StableVector Stable(uint32_t p) const;
  // Every peer (a node sharing a partition with this one), ascending id.
  std::vector<PeerStatus> Peers(uint64_t now_ms) const;
  // True when nothing is left to do here: no pending batch or buffered batch,
  // no known gap or catch-up in flight, and every peer reported, for every
  // partition shared, exactly this node's applied vector. When it holds at
  // every node, every replica has applied the same deltas.
  bool Settled() const;

  const Stats& stats() const { return stats_; }
  const Membership& membership() const { return membership_; }

 private:
  struct Buffered {
    DeltaBatch batch;
    size_t bytes = 0;  // estimated
  };
  // One (held partition, replica) pair: origin's stream as received here.
  struct Stream {
    uint64_t applied = 0;
    uint64_t known_end = 0;     // the highest seq of origin seen in its batches or heartbeats
    uint64_t relayed_end = 0;   // the highest seq of origin other replicas reported applying
    uint64_t gap_since_ms = 0;  // when a gap (either end > applied) was first seen
    bool gap = false;
    std::map<uint64_t, Buffered> buffered;  // by first_seq; all start > applied + 1
    bool outstanding = false;               // a catch-up request in flight
    bool waiting_slot = false;              // wants one, but catchup_max_outstanding are in flight
    crdt::ReplicaId asked = 0;
    uint64_t deadline_ms = 0;
    uint64_t retry_at_ms = 0;
    uint32_t attempts = 0;
  };
  struct Held {
    uint32_t p = 0;
    std::vector<crdt::ReplicaId> replicas;  // ascending
    size_t self_index = 0;
    std::vector<Stream> streams;  // parallel to replicas
    std::vector<crdt::Delta> pending;
    size_t pending_bytes = 0;
    std::deque<std::pair<uint64_t, uint64_t>> commit_ms;  // (own seq, ms), ascending seq
    bool dirty = false;  // applied changed since the last heartbeat
    uint64_t truncated_through = 0;
    // Keys with counter increments not folded yet -> the highest counter dot
    // seen there per replica (parallel to replicas). At most fold_keys_max.
    std::map<std::string, std::vector<uint64_t>> fold_keys;
    std::string fold_key_cursor;  // where the next round of key folds starts
    // Fold the whole partition until stable reaches fold_all_until (set when
    // counters arrived that fold_keys does not name).
    bool fold_all = false;
    std::vector<uint64_t> fold_all_until;
    std::vector<uint64_t> folded_stable;  // the stable vector of the last whole fold
  };
  // A peer's reports for one shared partition, parallel to Held::replicas.
  struct Report {
    bool has_latest = false;
    std::vector<uint64_t> latest;
    bool has_usable = false;
    std::vector<uint64_t> usable;
  };
  struct Peer {
    crdt::ReplicaId id = 0;
    uint32_t dc = 0;
    bool up = true;
    uint64_t last_heard_ms = 0;
    std::map<uint32_t, Report> reports;  // every partition shared with us
    std::optional<uint64_t> lag_ms;
  };

  Held* HeldOf(uint32_t p);
  const Held* HeldOf(uint32_t p) const;
  // The index of id in h.replicas, or kNoIndex.
  static constexpr size_t kNoIndex = static_cast<size_t>(-1);
  static size_t IndexOf(const Held& h, crdt::ReplicaId id);
  Peer* PeerOf(crdt::ReplicaId id);
  void Touch(Peer& peer, uint64_t now_ms);

  void Emit(Outgoing out);
  void CloseBatch(Held& h);
  void CloseAllBatches();
  void EmitHeartbeat(bool full, uint64_t now_ms);

  void OnBatch(ReplicaStore& store, const DeltaBatch& batch, uint64_t now_ms);
  void OnHeartbeat(const Heartbeat& hb, uint64_t now_ms);
  void OnRequest(ReplicaStore& store, const CatchUpRequest& req, uint64_t now_ms);
  void OnReply(ReplicaStore& store, const CatchUpReply& reply, uint64_t now_ms);

  // Applies a batch of stream `index` of h (live or from catch-up).
  void ReceiveBatch(ReplicaStore& store, Held& h, size_t index, const DeltaBatch& batch,
                    uint64_t now_ms);
  void ApplyContiguous(ReplicaStore& store, Held& h, size_t index, const DeltaBatch& batch);
  void Buffer(Stream& s, const DeltaBatch& batch);
  void DrainBuffer(ReplicaStore& store, Held& h, size_t index);
  void AfterProgress(Held& h, size_t index, uint64_t now_ms);
  void UpdateGap(Stream& s, uint64_t now_ms);
  void PromoteReport(Held& h, Peer& peer);
  void RecordLag(Held& h, Peer& peer, uint64_t old_seq, uint64_t new_seq, uint64_t now_ms);

  // Whether stream `index` of h should be caught up now: the origin showed a
  // gap, or it is down and another replica reported more of it. (While the
  // origin is up, a third party's report is not acted on: the origin's own
  // batch or heartbeat may simply be slower to arrive.)
  bool WantsCatchUp(const Held& h, size_t index) const;
  // Gives freed request slots to the streams waiting for one.
  void WakeWaiting(uint64_t now_ms);
  void ScheduleCatchUp(Held& h, size_t index, uint64_t now_ms);
  std::optional<crdt::ReplicaId> CatchUpTarget(const Held& h, size_t index) const;
  uint64_t CatchUpTimeout(uint32_t attempts) const;
  // Fills `reply` as a state transfer of h; false if over the limit of the outbox.
  bool FillStateReply(ReplicaStore& store, const Held& h, CatchUpReply& reply);
  void ApplyState(ReplicaStore& store, Held& h, size_t index, const CatchUpReply& reply,
                  uint64_t now_ms);
  void BackOff(Stream& s, uint64_t now_ms);

  void Maintain(ReplicaStore& store, uint64_t now_ms);
  // Remembers the counter keys of a delta of stream `index` (just applied).
  void NoteCounters(Held& h, size_t index, const crdt::Delta& delta);
  // Fold the whole partition until everything applied so far is folded.
  void FoldAll(Held& h);
  void FoldCounters(ReplicaStore& store);
  std::vector<uint64_t> StableOf(const Held& h) const;

  Membership membership_;
  Options options_;
  uint32_t self_dc_ = 0;
  std::vector<int32_t> held_index_;  // partition -> index into held_, -1 if not held
  std::vector<Held> held_;
  std::map<crdt::ReplicaId, Peer> peers_;
  std::vector<Outgoing> outbox_;
  size_t outbox_state_transfers_ = 0;
  size_t outstanding_ = 0;     // streams with a catch-up request in flight
  size_t buffered_bytes_ = 0;  // of every stream's buffered batches
  bool heartbeat_due_ = false;
  uint64_t last_heartbeat_ms_ = 0;
  uint64_t last_full_heartbeat_ms_ = 0;
  bool sent_any_heartbeat_ = false;
  uint64_t last_maintenance_ms_ = 0;
  size_t fold_cursor_ = 0;
  Stats stats_;
};

}  // namespace geokv::replication
