// The ReplicationCore's state and steps: private to core.cc (and not a
// contract). The protocol they implement is described in docs/replication.md;
// the contract is core.h.
//
// Invariants (asserted where they change):
//   - a stream's applied seq only grows, and every delta of its origin with a
//     seq <= applied has been joined into the store's partition (directly or by
//     a state transfer that included it);
//   - for the own stream, applied is the last seq this node originated in the
//     partition, and the log holds its deltas (minus what truncation and
//     retention dropped);
//   - a pending (or published) batch is contiguous: each delta starts right
//     after the previous one ends;
//   - every queue and buffer has a limit (Options); what goes over it is dropped
//     and counted, and the protocol recovers it (catch-up, next heartbeat).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "replica/replication/core.h"

namespace geokv::replication::internal {

class CoreImpl {
 public:
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
    // The rest of a batch that continues applied but waits for other streams:
    // its next delta removes dots of another origin this replica has not
    // applied yet (DependenciesApplied). At most one; retried as streams
    // advance (RetryBlocked).
    std::optional<Buffered> blocked;
    bool outstanding = false;               // a catch-up request in flight
    bool waiting_slot = false;              // wants one, but catchup_max_outstanding are in flight
    crdt::ReplicaId asked = 0;
    uint64_t deadline_ms = 0;
    uint64_t retry_at_ms = 0;
    uint32_t attempts = 0;
  };
  // The state transfer into a held partition under way (at most one): chunks
  // are asked for one at a time, from `cursor`, by requests of its own (the
  // partition's streams ask for nothing meanwhile). Persisted in the store
  // (ReplicaStore::TransferRecord) with every chunk joined.
  struct Transfer {
    bool active = false;
    size_t index = 0;                // the stream it was begun for (its requests name that origin)
    crdt::AtomPosition cursor;       // ranges before it are joined; the next chunk starts here
    crdt::DotContext first_context;  // joined into the partition when the last chunk is
    AppliedVector first_applied;     // raises applied then
    // What this replica knows whole while the transfer is under way: its
    // context when the transfer began, joined with the dots (and removals'
    // covered dots) of every delta it applied since, by streams or locally;
    // not the dots the transfer's chunks brought (FillStateReply). Unknown
    // (not served at all) for a transfer resumed from a record of an earlier
    // format.
    bool settled_known = false;
    crdt::DotContext settled_context;
    bool outstanding = false;        // a chunk request in flight
    crdt::ReplicaId asked = 0;       // who has it, or sent the last chunk
    // The senders whose chunk was refused (their context lacked
    // first_context, or they did not cover this node) since one was joined:
    // asked again only once every other candidate refused too. The first
    // context may hold a dot that only one of them will ever have (a hint's
    // that only it took), so each must get its turn. At most p's replicas.
    std::vector<crdt::ReplicaId> refused;
    // GEOKV.REBUILD (ReplicationCore::Rebuild): restore atoms this replica has
    // seen but lost, take the sender's payloads; first_context and
    // first_applied are empty (nothing is raised).
    bool restore = false;
    // A joiner's fill (core_move.cc): the first chunk's context and applied
    // vector become first_context and first_applied (a Reconfigure begins
    // it before any sender is known). Restore mode: a node that held p
    // before has seen dots whose atoms it deleted.
    bool fill_fresh = false;
    uint64_t deadline_ms = 0;
    uint64_t retry_at_ms = 0;
    uint32_t attempts = 0;
  };
  // This node's part in a move of a held partition (core_move.cc,
  // docs/replication.md "Membership change"), persisted in the store's move
  // record of the partition.
  enum class Role : uint8_t {
    kMember = 0,    // holds p at the adopted epoch, serving
    kJoining = 1,   // new owner: filling, not serving, not reporting p
    kLeaving = 2,   // old owner: still serving until every joiner caught up
    kDraining = 3,  // old owner: not serving; own stream final; waits for every member
    kDeleting = 4,  // old owner: deleting p in slices; p then is no longer held
  };
  struct Move {
    Role role = Role::kMember;
    bool filled = false;  // kJoining: the fill transfer ended
    // Members that joined at the adopted epoch and have not reported p yet
    // (a joiner reports p only once caught up).
    std::vector<crdt::ReplicaId> joiners;
    // Nodes that left p at the adopted epoch and whose stream is not known
    // to be final and applied here: they report (stability, truncation,
    // Settled) until then.
    std::vector<crdt::ReplicaId> leavers;
    // Leavers' released last seqs, stored (saved with the move record) as
    // soon as heard, and kept after a leaver retires, until the next epoch:
    // heartbeats acknowledge them (Heartbeat::finals_held), and a leaver
    // deletes only once every owner did.
    std::map<crdt::ReplicaId, uint64_t> finals;
    AppliedVector drain_target;  // kDraining: this node's applied vector when it stopped serving
    uint64_t deleted_atoms = 0;  // kDeleting: so far
    // kJoining, until filled: the highest dot of each origin in p's context
    // when the move began (NoteSeen). A node that held p before and deleted
    // it keeps the deleted atoms' dots in the context (a store never forgets
    // a dot), maybe beyond its applied seqs (chunks of a transfer it never
    // finished): a delta bringing one of them is taken as seen and its atoms
    // dropped. The fill is taken only from a sender that applied all of
    // them (restore mode then puts their atoms, and no stream fetches those
    // deltas after it).
    AppliedVector seen;
    uint64_t started_ms = 0;  // MoveStatus::started_ms
  };
  struct Held {
    uint32_t p = 0;
    std::vector<crdt::ReplicaId> replicas;  // ascending
    size_t self_index = 0;
    std::vector<Stream> streams;  // parallel to replicas
    // The own deltas of the next batch, and their EncodeDelta bytes (the ones
    // logged: the batch embeds them as they are).
    std::vector<crdt::Delta> pending;
    std::vector<std::string> pending_encoded;  // parallel to pending
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
    // No new own dots until the own stream's high-water mark is known
    // (FenceOwnStreams); lifted by UpdateFence.
    bool own_fenced = false;
    Transfer transfer;
    Move move;
    // Parallel to replicas: whether that node holds p here (a member at the
    // adopted epoch, or a leaver not yet retired), so that its reports count
    // (stability, truncation, Settled, WAIT, fences). Every replica is a
    // stream (an origin of p) whether or not it reports: a former owner's
    // dots stay in the state.
    std::vector<bool> reporter;
  };
  // The anti-entropy exchange this node began and is under way (at most one).
  struct AaeExchange {
    bool active = false;
    uint64_t id = 0;
    uint32_t p = 0;
    crdt::ReplicaId peer = 0;
    AaeRequest::Kind stage = AaeRequest::Kind::kTree;
    uint64_t deadline_ms = 0;
    AppliedVector applied;  // this node's when it began: every reply must show it
    // kAtoms: the leaves compared key by key, the range, the replies so far.
    std::vector<uint32_t> leaves;
    crdt::AtomPosition range_from;
    std::optional<crdt::AtomPosition> range_to;
    std::set<crdt::ReplicaId> awaited;
    std::map<crdt::ReplicaId, AaeReply> replies;
  };
  // What the last comparison of (partition, peer) found.
  struct AaePair {
    std::optional<uint64_t> last_ms;
    std::string result = "never compared";
    // The leaves that differed at equal applied vectors last time: a leaf
    // that differs again is compared key by key (writes in flight are not
    // divergence).
    std::vector<uint32_t> leaves;
    crdt::AtomPosition next_from;  // where the next key comparison starts
  };

  // A peer's reports for one shared partition, parallel to Held::replicas.
  struct Report {
    bool has_latest = false;
    std::vector<uint64_t> latest;
    // PartitionApplied::held of the newest heartbeat (by its sent_ms): what
    // the peer holds of each origin past what it applied, 0 where nothing.
    std::vector<uint64_t> held;
    uint64_t held_sent_ms = 0;
    // The peer, at this node's epoch, acknowledged holding this node's final
    // seq of the partition (Heartbeat::finals_held): what a leaver waits for
    // before it deletes. Durable at the peer, so kept across its restarts
    // (not reset by Clear); reset when this node adopts a move of p.
    bool final_acked = false;

    // Forgets everything reported (a restart, or a report that must not
    // count), keeping the vectors' sizes.
    void Clear() {
      std::fill(latest.begin(), latest.end(), 0);
      std::fill(usable.begin(), usable.end(), 0);
      std::fill(held.begin(), held.end(), 0);
      has_latest = has_usable = false;
      held_sent_ms = 0;
    }
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
    uint64_t incarnation = 0;           // the accepted one; its heartbeats only are taken
    uint64_t incarnation_heard_ms = 0;  // last heartbeat of the accepted incarnation
    uint64_t rival_incarnation = 0;     // a newer one not (yet) taken, and when heard
    uint64_t rival_heard_ms = 0;
  };

  // The public operations, as documented in core.h.
  CoreImpl(Membership membership, Options options, ReplicaStore& store, uint64_t now_ms);
  void OnLocalDelta(ReplicaStore& store, uint32_t p, const crdt::Delta& delta, uint64_t now_ms);
  void OnMessage(ReplicaStore& store, const Message& message, uint64_t now_ms);
  void OnTick(ReplicaStore& store, uint64_t now_ms);
  uint64_t NextTickMs() const;
  std::vector<Outgoing> TakeOutgoing(uint64_t now_ms);
  uint32_t DcsThatApplied(const std::vector<std::pair<uint32_t, uint64_t>>& writes) const;
  void FenceOwnStreams();
  bool OwnWritable(uint32_t p) const;
  bool OwnStreamsKnown() const;
  bool Holds(uint32_t p) const;
  uint64_t Applied(uint32_t p, crdt::ReplicaId origin) const;
  crdt::StableVector Stable(uint32_t p) const;
  std::vector<PeerStatus> Peers(uint64_t now_ms) const;
  std::map<crdt::ReplicaId, uint64_t> PeerEpochs() const;
  void SetMoveBytesLeft(uint64_t bytes) { move_bytes_left_ = bytes; }
  void SetPartitionBytes(uint64_t bytes) { partition_bytes_ = bytes; }
  uint64_t PeerPartitionBytes() const;
  std::map<crdt::ReplicaId, uint64_t> PeerMoveBytesLeft() const { return peer_move_bytes_left_; }
  bool Settled() const;
  Status Reconfigure(ReplicaStore& store, Membership next, uint64_t now_ms);
  bool Serving(uint32_t p) const;
  std::vector<MoveStatus> Moves() const;
  bool Drained() const;
  bool MayExit() const;
  std::vector<crdt::ReplicaId> ExitAwaited() const;
  uint64_t Epoch() const { return membership_.epoch; }
  const Stats& stats() const { return stats_; }
  const Membership& membership() const { return membership_; }
  void UseTrees(AaeTrees* trees) { trees_ = trees; }
  size_t RunAntiEntropy(std::optional<uint32_t> p);
  std::vector<AaeStatus> AntiEntropyStatus(uint64_t now_ms) const;
  std::vector<std::string> TakeAntiEntropyLog() { return std::exchange(aae_log_, {}); }
  Status Rebuild(ReplicaStore& store, uint32_t p, uint64_t now_ms);
  HintOutcome ApplyHint(ReplicaStore& store, uint32_t p, const crdt::Delta& hint,
                        std::optional<uint64_t> epoch);  // core_hint.cc

 private:
  // --- Anti-entropy (core_aae.cc).
  AppliedVector AppliedOf(const Held& h) const;
  // Whether h's tree may be compared: built, no transfer coming in, not fenced.
  bool AaeReady(const Held& h) const;
  // Every (held partition with other replicas, peer) pair, ascending.
  std::vector<std::pair<uint32_t, crdt::ReplicaId>> AaePairs() const;
  // Rebuilds trees, times out the exchange, starts the next one when due.
  void AaeTick(ReplicaStore& store, uint64_t now_ms);
  void StartAae(uint32_t p, crdt::ReplicaId peer, uint64_t now_ms);
  void EndAae(std::string result, uint64_t now_ms);
  // Counts an anti-entropy message's bytes against the rate.
  void ChargeAae(const Message& message);
  void OnAaeRequest(ReplicaStore& store, const AaeRequest& req, uint64_t now_ms);
  void OnAaeReply(ReplicaStore& store, const AaeReply& reply, uint64_t now_ms);
  void OnAaeTreeReply(ReplicaStore& store, Held& h, const AaeReply& reply, uint64_t now_ms);
  // Every reply of the atoms stage is in: compare key by key, report, and
  // repair this replica where it is the minority.
  void DecideAae(ReplicaStore& store, Held& h, uint64_t now_ms);

  // --- Membership change (core_move.cc).
  // Reads every move record; if any, they are the placement in force (the
  // constructor's membership, if newer, is queued) and build the Helds they
  // name.
  void LoadPlacement(ReplicaStore& store, Membership given, uint64_t now_ms);
  // Builds the Held of p over `replicas` (ascending; self among them) from the
  // store, with a peer entry for every other replica.
  Held& AddHeld(ReplicaStore& store, uint32_t p, std::vector<crdt::ReplicaId> replicas,
                uint64_t now_ms);
  // Makes `ids` (ascending, a superset of h.replicas) h's replicas, moving
  // every vector parallel to them.
  void Widen(ReplicaStore& store, Held& h, const std::vector<crdt::ReplicaId>& ids,
             uint64_t now_ms);
  void RefreshReporters(Held& h);
  // id's report of p, new and empty over `replicas` streams (and id's peer
  // entry, if it had none).
  void NewReport(crdt::ReplicaId id, uint32_t p, size_t replicas, uint64_t now_ms);
  // h's streams with their DCs, for the move record.
  std::vector<std::pair<crdt::ReplicaId, uint64_t>> OriginsOf(const Held& h) const;
  // Moves to `next` now (no move of this node is under way).
  void Adopt(ReplicaStore& store, const Membership& next, uint64_t now_ms);
  // Sets h.move.seen from p's context (a joiner, before its fill).
  void NoteSeen(ReplicaStore& store, Held& h);
  void BeginFill(ReplicaStore& store, Held& h, uint64_t now_ms);
  // A joiner's fill is whole: the origins its sender tracks (former owners
  // among them, whose dots the fill brought) become streams here too.
  void TakeOrigins(ReplicaStore& store, Held& h, const AppliedVector& applied, uint64_t now_ms);
  bool CaughtUp(const Held& h) const;
  // Whether id is a joiner of h's move here (not caught up, as heard here).
  static bool IsJoiner(const Held& h, crdt::ReplicaId id);
  bool MovesActive() const;
  // The epoch a node last said it runs (0 if never heard).
  uint64_t EpochOf(crdt::ReplicaId id) const;
  // Whether node `id` has ended its part in this epoch's moves: it runs a
  // later epoch (a node adopts one only once its moves here ended), or it is
  // forgotten (it never will say so).
  bool MovedOn(crdt::ReplicaId id) const;
  // A draining h: the owners that have not yet reported applying all this
  // node applied, or not acknowledged holding its final seqs; empty: delete.
  std::vector<crdt::ReplicaId> DrainAwaited(const Held& h) const;
  // Advances every move one step (in OnTick); deletes in bounded slices.
  void MoveTick(ReplicaStore& store, uint64_t now_ms);
  void SaveMove(ReplicaStore& store, uint32_t p) const;
  void OnReleased(ReplicaStore& store, const Heartbeat& hb, uint64_t now_ms);
  // Whether h takes part in replication as a full holder (not joining, not deleting).
  static bool Whole(const Held& h) {
    return h.move.role != Role::kJoining && h.move.role != Role::kDeleting;
  }

  Held* HeldOf(uint32_t p);
  const Held* HeldOf(uint32_t p) const;
  // The index of id in h.replicas, or kNoIndex.
  static constexpr size_t kNoIndex = static_cast<size_t>(-1);
  static size_t IndexOf(const Held& h, crdt::ReplicaId id);
  Peer* PeerOf(crdt::ReplicaId id);
  void Touch(Peer& peer, uint64_t now_ms);
  // Whether every live peer replica of h reported since the fence was set.
  bool HeardAllLive(const Held& h) const;
  // The most of this node's own stream in h any peer reported applying or
  // holding unapplied (PartitionApplied::held).
  uint64_t OwnReported(const Held& h) const;
  // Lifts h's fence once its own high-water mark is known and held here;
  // asks for lost own deltas when a peer has more.
  void UpdateFence(Held& h, uint64_t now_ms);

  void Emit(Outgoing out);
  void CloseBatch(Held& h);
  void CloseAllBatches();
  void EmitHeartbeat(bool full, uint64_t now_ms);

  void OnBatch(ReplicaStore& store, const DeltaBatch& batch, uint64_t now_ms);
  void OnHeartbeat(ReplicaStore& store, const Heartbeat& hb, uint64_t now_ms);
  // Remembers the sender's epoch (PeerEpochs), whoever it is.
  void NoteEpoch(const Heartbeat& hb);
  // Keeps the sender's move_bytes_left and partition_bytes (the latest
  // heartbeat of its latest incarnation; bounded as epochs_ is).
  void NoteEstimates(const Heartbeat& hb);
  void OnRequest(ReplicaStore& store, const CatchUpRequest& req, uint64_t now_ms);
  void OnReply(ReplicaStore& store, const CatchUpReply& reply, uint64_t now_ms);

  // Applies a batch of stream `index` of h (live or from catch-up).
  void ReceiveBatch(ReplicaStore& store, Held& h, size_t index, const DeltaBatch& batch,
                    uint64_t now_ms);
  // Applies the deltas of `batch` beyond applied, in order, up to the first
  // whose dependencies are not applied here yet (kept in Stream::blocked).
  // Returns whether applied advanced.
  bool ApplyContiguous(ReplicaStore& store, Held& h, size_t index, const DeltaBatch& batch);
  // Whether every dot a removal of `delta` covers, of an origin with a stream
  // here other than the delta's own, is applied here. A removal's covered
  // set joins the context, and a folded counter's covers its whole range
  // first..dot, dots of other paths included: joined before those dots'
  // own deltas, it would make them look removed when they come. Deltas are
  // applied in causal order for that reason (docs/replication.md, "Causal
  // order of removals").
  bool DependenciesApplied(const Held& h, size_t index, const crdt::Delta& delta) const;
  // Applies the blocked batches of h whose dependencies have come, until
  // none advances.
  void RetryBlocked(ReplicaStore& store, Held& h, uint64_t now_ms);
  // Sets stream `index` of h to `seq` and records it in the store.
  // REQUIRES: seq > its applied (applied only grows).
  void SetApplied(ReplicaStore& store, Held& h, size_t index, uint64_t seq);
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
  // Fills `reply` with the state chunk of h from `from`; false if over the
  // limit of the outbox, or if the chunk holds a folded counter whose range
  // the context lacks (added by a transfer into h under way, crdt/chunk.h).
  // While a transfer into h is under way the chunk carries its settled
  // context (see the body).
  bool FillStateReply(ReplicaStore& store, const Held& h, const crdt::AtomPosition& from,
                      CatchUpReply& reply);
  // A state chunk for stream `index` of h: begins a transfer (the first
  // chunk), continues it, or is a duplicate.
  void ApplyChunk(ReplicaStore& store, Held& h, size_t index, const CatchUpReply& reply,
                  uint64_t now_ms);
  // Begins (or, with a fresher first chunk, begins again) h's transfer; a
  // fresh one starts its settled context from the partition's context.
  void BeginTransfer(ReplicaStore& store, Held& h, size_t index, const CatchUpReply& reply);
  // Whether `applied` is at least h's applied seq of every stream, and
  // every seq of a joiner's Move::seen.
  static bool Covers(const AppliedVector& applied, const Held& h);
  // Whether `origin` is a hint keeper's in p: no node this core knows, no
  // stream of p here and none of a chunk's sender (`sender_applied` lists
  // them: a former owner's stream may be known there and not here yet).
  // ApplyHint refuses a hint of any other origin.
  bool HintOrigin(const Held& h, crdt::ReplicaId origin, const AppliedVector& sender_applied) const;
  // Whether `sender` (a fill's first context, with `sender_applied`) holds
  // every dot of a hint origin in p's context here. A node that held p before and deleted it
  // keeps its hints' dots but not their atoms, and no stream brings a hint
  // back: a fill whose first context lacks such a dot would leave it seen
  // and lost here (and a hint handed again taken as a duplicate). From a
  // sender that has seen it, restore mode puts its atom back (or the sender
  // removed it).
  bool HasHintDots(const crdt::DotContext& sender, const AppliedVector& sender_applied,
                   ReplicaStore& store, const Held& h) const;
  // The last chunk is joined: the first context and applied vector come in.
  void FinishTransfer(ReplicaStore& store, Held& h, uint64_t now_ms);
  void SaveTransfer(ReplicaStore& store, const Held& h);
  // A delta applied to h (from a stream, or local) while a transfer into h is
  // under way: its dots join the settled context. Returns whether the
  // settled context is kept (then the caller saves the record, once per job
  // step: SaveTransfer).
  [[nodiscard]] bool NoteSettled(Held& h, const crdt::Delta& delta);
  // Asks for the next chunk of h's transfer when due.
  void ScheduleTransfer(Held& h, uint64_t now_ms);
  std::optional<crdt::ReplicaId> TransferTarget(const Held& h) const;
  void BackOff(Stream& s, uint64_t now_ms);

  void Maintain(ReplicaStore& store, uint64_t now_ms);
  // Remembers the counter keys of a delta of stream `index` (just applied).
  void NoteCounters(Held& h, size_t index, const crdt::Delta& delta);
  // Folds the counter increments of an own delta just committed in h, whose
  // only replica is this node (so every dot is stable as soon as it commits).
  void FoldCommitted(ReplicaStore& store, const Held& h, const crdt::Delta& delta);
  // Fold the whole partition until everything applied so far is folded.
  void FoldAll(Held& h);
  void FoldCounters(ReplicaStore& store);
  std::vector<uint64_t> StableOf(const Held& h) const;
  // StableOf as a map, without the zero entries.
  crdt::StableVector StableMapOf(const Held& h) const;

  Membership membership_;
  // Membership::forgotten of every membership given so far (constructor,
  // Reconfigure, queued or not).
  std::set<crdt::ReplicaId> forgotten_;
  Options options_;
  static constexpr uint64_t kFencePatience = 3;  // x down_after_ms (HeardAllLive)
  uint64_t built_ms_ = 0;                        // when this core was built (a start, or a rebuild)
  uint64_t latest_now_ms_ = 0;                   // the latest time any input brought
  uint32_t self_dc_ = 0;
  std::vector<int32_t> held_index_;  // partition -> index into held_, -1 if not held
  std::vector<Held> held_;
  std::map<crdt::ReplicaId, Peer> peers_;
  // Every heartbeat sender's (incarnation, epoch): a newer incarnation's
  // epoch replaces the older one's (a restart may run an older file); within
  // one, the highest. At most options_.epoch_senders_max entries.
  std::map<crdt::ReplicaId, std::pair<uint64_t, uint64_t>> epochs_;
  // The same senders' Heartbeat::move_bytes_left (PeerMoveBytesLeft) and
  // nonzero partition_bytes (PeerPartitionBytes), and this node's own.
  std::map<crdt::ReplicaId, uint64_t> peer_move_bytes_left_;
  uint64_t move_bytes_left_ = 0;
  std::map<crdt::ReplicaId, uint64_t> peer_partition_bytes_;
  uint64_t partition_bytes_ = 0;
  // Memberships given while a move of this node was under way, ascending
  // epochs: each is adopted, in order, when every move here has ended
  // (overlapping moves of a partition are never run; no epoch is skipped).
  // At most options_.reconfigure_queue_max.
  std::deque<Membership> pending_;
  // Built with no placement (every replica set empty) and no move record:
  // it cannot tell who held what before, so Reconfigure refuses to move.
  bool placement_unknown_ = false;
  // Partitions this node gave up and deleted, with its last own seq there:
  // announced in heartbeats (Heartbeat::released) until it holds them again.
  // With the partition's streams (id, dc) when it was deleted: a node that
  // holds it again tracks them from the start (its store has their seqs).
  struct Left {
    uint64_t last_own = 0;
    std::vector<std::pair<crdt::ReplicaId, uint64_t>> origins;
  };
  std::map<uint32_t, Left> left_;
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

  AaeTrees* trees_ = nullptr;
  AaeExchange aae_;
  std::map<std::pair<uint32_t, crdt::ReplicaId>, AaePair> aae_pairs_;
  std::deque<std::pair<uint32_t, crdt::ReplicaId>> aae_queue_;  // RunAntiEntropy's, first
  size_t aae_cursor_ = 0;                                       // into AaePairs()
  uint64_t aae_next_ms_ = 0;
  uint64_t aae_next_id_ = 1;
  int64_t aae_tokens_ = 0;  // bytes that may still be sent or received now
  uint64_t aae_tokens_ms_ = 0;
  std::vector<std::string> aae_log_;  // at most kAaeLogMax lines
  static constexpr size_t kAaeLogMax = 256;
};

}  // namespace geokv::replication::internal
