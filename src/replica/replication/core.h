// ReplicationCore: one node's replication protocol as a state machine with no
// sockets, threads or clocks inside. The protocol it runs (streams of
// contiguous seqs, catch-up, heartbeats, stability, folding, truncation) is
// described in docs/replication.md.
//
// Inputs: local deltas (OnLocalDelta), peer messages (OnMessage) and timer
// ticks (OnTick), each with the current time and the ReplicaStore to work on.
// Output: messages to send, queued until the caller takes them
// (TakeOutgoing). The same code runs over ZeroMQ and storage jobs in the node
// (replica/node/node_replication.h) and over a seeded network and memory
// stores in the simulation (tests/replica/replication/).
//
// What the caller must do:
//   - Commit before send. The outbox describes changes made in the store by the
//     calls that queued it (a heartbeat reports applied seqs, a batch carries
//     deltas whose dots must never be reused): take it only after the storage
//     job(s) of those calls committed.
//   - Failed jobs. If a storage job in which the core was called fails (and
//     rolls back), the core's memory no longer matches the store: discard the
//     core and its outbox and build a new one from the store (the
//     constructor), as after a restart, before any other call. With group
//     commit a later job of the same group may run before the failed job's
//     `done`, so mark the core stale in the failing job itself, and in `done`
//     when the group's COMMIT failed. (A core that kept an applied seq whose
//     deltas were rolled back would never fetch them again; one that kept a
//     rolled-back local delta would see its dots reused: OnLocalDelta asserts.)
//
// Not thread-safe: one thread (the storage writer thread, in the node) calls
// everything.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "crdt/delta.h"
#include "crdt/fold.h"
#include "replica/replication/aae_trees.h"
#include "replica/replication/messages.h"
#include "replica/replication/replica_store.h"

namespace geokv::replication {

namespace internal {
class CoreImpl;
}

// Who holds what: plain data taken from the placement table.
struct Membership {
  crdt::ReplicaId self = 0;
  // This process's incarnation, carried in heartbeats: it must grow with every
  // start of the node (the node uses its start time in ms). Peers take a
  // higher one as a restart once the accepted one has been silent for
  // down_after_ms (the old process's reports are dropped: it may have lost
  // what it reported); until then a higher one is refused, and if the
  // accepted one still talks meanwhile, two live processes claim the node id
  // (Stats::duplicate_identities). A lower one is refused too
  // (Stats::stale_incarnations).
  uint64_t incarnation = 0;
  // replicas[p]: the distinct nodes that hold partition p. Its size is Q.
  std::vector<std::vector<crdt::ReplicaId>> replicas;
  // The datacenter (any numbering) of self and of every node in `replicas`.
  std::map<crdt::ReplicaId, uint32_t> dc_of;
  // The topology's epoch ([cluster] epoch; 0 for files without one), carried
  // in heartbeats so that peers notice a newer topology (PeerEpochs).
  uint64_t epoch = 0;
  // Nodes lost for good ([cluster] forget), in no replica set: moves stop
  // waiting for them. A joiner that never came up counts as caught up, a
  // leaver's stream as final at what this node applied, an owner as holding
  // a drain. What only they held is lost: the operator's decision. Taken at
  // once by Reconfigure, even for an epoch that waits behind moves under way
  // (those moves are what waits for the lost node), and kept for the core's
  // life.
  std::set<crdt::ReplicaId> forgotten;
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
  size_t outbox_max_state_transfers = 4;       // state chunks read between two TakeOutgoing calls
  // A state transfer moves a partition in chunks (crdt/chunk.h) of at most
  // this many atoms and about this many bytes; the receiver visits at most
  // state_chunk_max_atoms of its own atoms per chunk it joins.
  size_t state_chunk_max_atoms = 4096;
  size_t state_chunk_max_bytes = size_t{1} << 20;
  size_t commit_times_per_partition = 1024;  // own seqs remembered for lag
  uint64_t maintenance_interval_ms = 100;    // folding and log truncation
  bool fold_counters = true;
  // Folding visits the keys whose counters changed (up to fold_keys_max per
  // partition are remembered; beyond that, or after a state transfer or a
  // restart, it folds whole partitions until what they held then is folded).
  size_t fold_keys_max = 4096;
  size_t fold_keys_per_maintenance = 1024;
  size_t fold_partitions_per_maintenance = 4;  // whole-partition folds
  bool truncate_logs = true;

  // Anti-entropy (docs/replication.md, "Anti-entropy"; only with UseTrees).
  // Each (held partition, peer) pair is compared about once per interval,
  // one exchange at a time, spread evenly; 0: only GEOKV.AAE RUN.
  uint64_t aae_interval_ms = 10000;
  // Anti-entropy messages sent and received, bytes per second (a burst of
  // one second's worth): no exchange starts while over it.
  uint64_t aae_max_bytes_per_sec = uint64_t{1} << 20;
  uint64_t aae_timeout_ms = 5000;  // an exchange step unanswered this long is given up
  size_t aae_leaves_max = 64;      // differing leaves one round compares key by key
  // Atoms one round's key comparison visits on this side (the range it
  // covers; the next round goes on from there), and a responder's bounds:
  // 4x that visited, aae_atoms_max sent (else the round is inconclusive).
  size_t aae_scan_atoms_max = 65536;
  size_t aae_atoms_max = 4096;
  size_t aae_rebuild_atoms_per_tick = 8192;  // tree rebuild scan per tick
  size_t aae_log_keys_max = 16;              // keys named in a divergence log line
  size_t epoch_senders_max = 4096;           // nodes whose epochs PeerEpochs remembers
  // A partition this node gave up is deleted at most this many atoms per tick.
  size_t move_delete_atoms_per_tick = 4096;
  // Epochs Reconfigure keeps queued behind the moves under way here.
  size_t reconfigure_queue_max = 16;

  // Test only: apply every batch as if it were contiguous and never ask for
  // catch-up. Loses deltas under drops; exists to prove the simulation notices.
  bool testing_ignore_gaps = false;
  // Test only: use every report for stability, even one whose sender's own
  // stream has not been applied here yet (breaks the "usable report" rule).
  bool testing_use_unusable_reports = false;
  // Test only: join each state chunk's context into the partition at once
  // (the broken join the transfer protocol avoids: atoms of later ranges then
  // look removed). Exists to prove the simulation notices.
  bool testing_merge_chunk_context = false;
  // Test only: an old owner deletes a partition it gives up right after
  // sending what it has, without waiting for the new owners to catch up
  // (Anna's mistake). Loses writes; exists to prove the simulation notices.
  bool testing_delete_before_caught_up = false;
};

// Where a message goes.
struct Outgoing {
  enum class Kind : uint8_t {
    kPublishPartition,  // to every subscriber of `partition`'s topic (its other replicas)
    kPublishHeartbeat,  // to every peer (the heartbeat topic)
    kSendRequest,       // a CatchUpRequest or AaeRequest to node `to` (DEALER -> its ROUTER)
    kSendReply,         // a CatchUpReply or AaeReply to node `to`, which asked (ROUTER -> DEALER)
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
  uint64_t catchup_retries = 0;          // requests that timed out
  uint64_t log_replies = 0;              // catch-up answered from the log
  uint64_t state_transfers_sent = 0;     // first chunks sent
  uint64_t state_transfers_applied = 0;  // transfers received whole (their last chunk joined)
  uint64_t state_chunks_sent = 0;
  uint64_t state_chunks_applied = 0;
  uint64_t state_transfer_restarts = 0;  // begun again with a fresher first chunk
  uint64_t state_chunks_deferred = 0;    // not served: this node was receiving a transfer there
  uint64_t up_to_date_replies = 0;
  uint64_t heartbeats_sent = 0;
  uint64_t rejected = 0;      // messages a peer had no business sending
  uint64_t dropped = 0;       // messages or buffered batches over a limit
  uint64_t store_errors = 0;  // log reads that failed (no reply sent)
  uint64_t folded_atoms = 0;
  uint64_t truncations = 0;
  uint64_t peers_down = 0;          // up -> down transitions
  uint64_t peer_restarts = 0;       // heartbeats of a peer's new incarnation
  uint64_t stale_incarnations = 0;  // heartbeats refused: an older process of a peer
  // Heartbeats of a peer's accepted process heard while a newer process with
  // the same node id also talks (two live processes with one id; the newer
  // one's heartbeats are refused).
  uint64_t duplicate_identities = 0;
  uint64_t own_recoveries = 0;  // own deltas lost here and taken back from a peer
  // Batches that waited for other streams: a delta removed dots this replica
  // had not applied yet (causal order of removals, docs/replication.md).
  uint64_t causal_waits = 0;
  // Anti-entropy: exchanges begun here; of them, trees found equal; keys
  // found different at equal applied vectors (every replica that compares
  // them counts them); keys this replica repaired from the majority; bytes
  // of anti-entropy messages sent and received.
  uint64_t aae_exchanges = 0;
  uint64_t aae_equal = 0;
  uint64_t aae_divergent_keys = 0;
  uint64_t aae_repairs = 0;
  uint64_t aae_bytes = 0;
  uint64_t aae_rebuilds = 0;  // partitions dropped and refilled (Rebuild)
  // Membership change: partitions this node filled and began serving as a
  // new owner; partitions it gave up and deleted; atoms deleted doing so.
  uint64_t moves_joined = 0;
  uint64_t moves_left = 0;
  uint64_t move_atoms_deleted = 0;
  // Hinted handoff (ApplyHint): hints joined here; hints whose dots were all
  // seen already; hints refused as malformed or hostile.
  uint64_t hints_applied = 0;
  uint64_t hints_duplicate = 0;
  uint64_t hints_refused = 0;
};

// What ApplyHint did with a hint.
enum class HintOutcome : uint8_t {
  kApplied,     // joined into p, with the job's commit
  kDuplicate,   // every dot of it was seen here already: nothing to join (acknowledge it)
  kNotServing,  // p is not served here now, or a transfer into it is under way: ask later
  kRefused,     // not a hint (removals, a node's origin, a dot range that does not add up)
};

// One partition moving at this node (Moves).
struct MoveStatus {
  enum class Role : uint8_t {
    kJoining,   // a new owner filling itself; not serving p yet
    kLeaving,   // an old owner, still serving until every new owner caught up
    kDraining,  // an old owner, no longer serving, until every owner has all it had
    kDeleting,  // an old owner deleting p in slices
    kStaying,   // an owner before and after, waiting for others to join or leave
  };
  uint32_t partition = 0;
  Role role = Role::kStaying;
  uint64_t epoch = 0;
  std::vector<crdt::ReplicaId> joining;  // new owners not yet caught up (as heard here)
  std::vector<crdt::ReplicaId> leaving;  // old owners whose stream is not final here yet
  // kDraining: owners that have not yet reported applying all this node had
  // or acknowledged its final seqs (as heard here).
  std::vector<crdt::ReplicaId> acknowledging;
  uint64_t atoms_deleted = 0;            // kDeleting
  // The now_ms at which this process began the move, or resumed it after a
  // restart (not persisted: an age says how long this process waited).
  uint64_t started_ms = 0;
};

// The last anti-entropy comparison of a held partition with one peer.
struct AaeStatus {
  uint32_t partition = 0;
  crdt::ReplicaId peer = 0;
  std::optional<uint64_t> age_ms;  // since it ended; nullopt: never
  std::string result;
};

class ReplicationCore {
 public:
  // Builds the core of a node from what `store` committed: the applied seqs of
  // every (held partition, replica). Every peer starts as up, heard at now_ms.
  // Call it inside a storage job.
  // REQUIRES: membership is consistent (self and every replica have a dc; each
  // replica set is distinct); options' counts and intervals are >= 1.
  ReplicationCore(Membership membership, Options options, ReplicaStore& store, uint64_t now_ms);
  ~ReplicationCore();

  ReplicationCore(const ReplicationCore&) = delete;
  ReplicationCore& operator=(const ReplicationCore&) = delete;

  // A local mutation's delta: logs it (store.AppendLog, with the bytes the
  // batch that publishes it will embed), records applied (own seq), remembers
  // its commit time for lag, and queues it for publication (batched with the
  // partition's other pending deltas). Where this node is p's only replica,
  // every dot is causally stable as soon as it commits: the delta's counter
  // increments are folded at once (a hot counter stays one atom).
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

  // Never reuse a dot (DESIGN.md): called once after the core is built at a
  // node's start (not after a rebuild from the same store), it fences every
  // held partition with other replicas against local writes until this node
  // knows its own stream's high-water mark there: every peer replica of the
  // partition has reported since (or is down and has been silent for 3 x
  // down_after_ms since the core was built), and none reports more of this
  // node's stream than the store holds. If one does, the store lost own
  // deltas (a restored backup, a wiped directory, a power loss under
  // synchronous=normal): they are taken back from that peer by a state
  // transfer, and only then is the partition writable. New dots then number
  // after everything any live peer has of this node, applied or held
  // (PartitionApplied::held).
  // REQUIRES (of the transport): no message sent to an earlier process of
  // this node is delivered to this one; a report sent before it started may
  // lack what that process sent last.
  void FenceOwnStreams();
  // Whether local writes to p may take new dots now (never while p is not
  // Serving). REQUIRES: Holds(p).
  bool OwnWritable(uint32_t p) const;
  // Whether every fenced partition has heard from each of its live peers (so
  // only partitions that are still taking lost deltas back remain fenced).
  bool OwnStreamsKnown() const;

  // --- Membership change (docs/replication.md, "Membership change").
  // A core built with self in some replica set takes its membership as the
  // placement its store holds (a cluster's first start, or a restart). A
  // node that joins a running cluster builds its core over its empty store
  // with the placement in force before the epoch that adds it (self in no
  // replica set: it holds nothing), then calls Reconfigure with that epoch.
  // (A core built with no placement at all, every replica set empty, cannot
  // tell whom to fill from: its Reconfigure is refused.) After a restart,
  // the placement the store's move records hold is the one in force; a newer
  // `membership` given to the constructor is then queued as by Reconfigure.
  //
  // Moves to the placement `next` (call in a storage job, once per epoch,
  // when the node adopts a topology). For each partition whose replica set
  // changes: a new owner fills itself by a state transfer from the owner
  // giving the partition up (another old owner if that one is down), then
  // catches up, and only then serves and reports p; an old owner serves and
  // ships writes until every new owner reported p, then stops serving, waits
  // until every owner reported all it applied, then deletes p in slices.
  // Several epochs in a row are queued, never composed: if a move of this
  // node is still under way (or an earlier epoch waits), `next` waits, and
  // the waiting epochs are adopted one after the other, in order, each once
  // every move here has ended; none is skipped. The queue is not persisted:
  // after a restart give the core every epoch above Epoch() again, in order.
  // The caller must give every epoch (e+1 before e+2).
  // Invalid if next.epoch is not above every epoch given before, or the
  // partition count or self differ, or self's dc is missing, or the core
  // was built with no placement; Busy if Options::reconfigure_queue_max
  // epochs already wait.
  [[nodiscard]] Status Reconfigure(ReplicaStore& store, Membership next, uint64_t now_ms);
  // The epoch of the placement in force here (a queued one is not).
  uint64_t Epoch() const;
  // Whether this node answers reads and writes of p: it holds p and is not
  // filling it (joining), nor giving it up past the handoff. Else the node
  // forwards.
  bool Serving(uint32_t p) const;
  // Every partition moving at this node, ascending.
  std::vector<MoveStatus> Moves() const;
  // True when this node holds nothing it must hand off (no partition it is
  // leaving, draining or deleting, none queued to leave).
  bool Drained() const;
  // Drained(), and every other member of the placement in force, but
  // forgotten ones, has been heard running its epoch (one still in an
  // earlier epoch may be waiting for this node's acknowledgements there,
  // until it hears this node has moved on): a removed node may exit.
  bool MayExit() const;
  // The members MayExit() still waits to hear running this node's epoch,
  // ascending.
  std::vector<crdt::ReplicaId> ExitAwaited() const;

  // Whether this node holds a replica of p (serving or not).
  bool Holds(uint32_t p) const;
  // applied[p][origin] (0 for an origin that is not a replica of p).
  // REQUIRES: Holds(p).
  uint64_t Applied(uint32_t p, crdt::ReplicaId origin) const;
  // The causally stable vector of p now (what the next fold uses).
  // REQUIRES: Holds(p).
  crdt::StableVector Stable(uint32_t p) const;
  // Every peer (a node sharing a partition with this one), ascending id.
  std::vector<PeerStatus> Peers(uint64_t now_ms) const;
  // The epoch each node last heard from runs (its heartbeats' Heartbeat::epoch,
  // from its latest incarnation), including nodes that share no partition with
  // this one (a node of a newer topology this one does not know yet). At most
  // Options::epoch_senders_max nodes are remembered; others are ignored.
  std::map<crdt::ReplicaId, uint64_t> PeerEpochs() const;
  // What this node's heartbeats say its moves still have to move, in bytes
  // (Heartbeat::move_bytes_left; 0: nothing). The caller estimates it (the
  // core knows no key sizes); kept until set again.
  void SetMoveBytesLeft(uint64_t bytes);
  // The move_bytes_left of each node PeerEpochs lists, from the same
  // heartbeats (its latest incarnation's latest).
  std::map<crdt::ReplicaId, uint64_t> PeerMoveBytesLeft() const;
  // What this node's heartbeats say a partition it serves holds, in bytes
  // (Heartbeat::partition_bytes; 0: not known). Set by the caller as
  // SetMoveBytesLeft; kept until set again.
  void SetPartitionBytes(uint64_t bytes);
  // The median of the nonzero partition_bytes the nodes PeerEpochs lists
  // last sent (0: none sent one): what a partition this node fills will
  // hold, for its bytes_left.
  uint64_t PeerPartitionBytes() const;
  // True when nothing is left to do here: no pending batch or buffered batch,
  // no known gap or catch-up in flight, and every peer reported, for every
  // partition shared, exactly this node's applied vector. When it holds at
  // every node, every replica has applied the same deltas.
  bool Settled() const;

  // --- Anti-entropy (docs/replication.md, "Anti-entropy").
  // The node's trees, kept by the storage observer (AaeTrees): the core
  // rebuilds them in its ticks and compares them with peers'. Without them
  // (the simulation) the core answers anti-entropy requests "not ready" and
  // starts none. Not owned; must outlive the core.
  void UseTrees(AaeTrees* trees);
  // Queues one exchange with each peer of p (every held partition if
  // nullopt) to run before the timed ones; returns how many were queued.
  size_t RunAntiEntropy(std::optional<uint32_t> p);
  // The last comparison of every (held partition, peer) pair.
  std::vector<AaeStatus> AntiEntropyStatus(uint64_t now_ms) const;
  // Divergences found since the last call, one line each (for the log).
  std::vector<std::string> TakeAntiEntropyLog();
  // GEOKV.REBUILD: replaces this replica of p with another replica's, range
  // by range, by a state transfer in restore mode (docs/replication.md,
  // "Anti-entropy"): what a drop and refill would leave, without a window in
  // which p reads empty. Restores the atoms the sender holds whose dots this
  // replica has seen (a plain transfer takes them as removed), takes the
  // sender's payloads, drops what the sender saw removed; the context and
  // applied seqs stay. Local writes to p wait (fenced) until it is whole.
  // Fails (Invalid) if p is not held, has no other replica, or a transfer
  // into it is under way. Call in a storage job.
  Status Rebuild(ReplicaStore& store, uint32_t p, uint64_t now_ms);

  // --- Hinted handoff (docs/replication.md, "Hinted handoff").
  // Joins a hint into p: the delta of a blind write that a node holding no
  // replica of p built against an empty state, under an origin of its own
  // process (never a node's id), and hands to every replica of p. A hint is
  // taken only if p is held and Serving here with no transfer into it, this
  // node is no joiner or leaver of p, and `epoch` (the epoch of the placement
  // the keeper hands it under; nullopt: a keeper that does not say) is
  // Epoch() (else kNotServing: the keeper asks again, an acknowledgement
  // counts only for the placement it was given under); it has no removals,
  // its origin is no node this core knows and no origin of p's streams, and
  // it adds exactly one atom (a register or expiry atom, not folded) per dot
  // first..last (else kRefused).
  // It is joined through the store like any delta (the trees, key index and
  // memory follow) but belongs to no stream: it moves no applied seq, is
  // neither logged nor published, and a removal of its dots that arrived
  // first wins (its dots are in the context). Any decoded delta is safe to
  // pass. Call in a storage job; acknowledge kApplied only after its commit.
  HintOutcome ApplyHint(ReplicaStore& store, uint32_t p, const crdt::Delta& hint,
                        std::optional<uint64_t> epoch = std::nullopt);

  const Stats& stats() const;
  const Membership& membership() const;

 private:
  std::unique_ptr<internal::CoreImpl> impl_;  // core_internal.h
};

}  // namespace geokv::replication
