#include "replica/replication/core.h"

#include <algorithm>
#include <limits>
#include <set>

#include "common/assert.h"
#include "crdt/chunk.h"
#include "crdt/join.h"
#include "replica/replication/core_internal.h"

namespace geokv::replication::internal {

namespace {

constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();

size_t BatchBytes(const DeltaBatch& batch) {
  size_t bytes = 0;
  for (const crdt::Delta& d : batch.deltas) bytes += EstimateDeltaBytes(d);
  return bytes;
}

}  // namespace

CoreImpl::CoreImpl(Membership membership, Options options, ReplicaStore& store, uint64_t now_ms)
    : membership_(std::move(membership)), forgotten_(membership_.forgotten), options_(options) {
  const crdt::ReplicaId self = membership_.self;
  auto self_dc = membership_.dc_of.find(self);
  GEOKV_ASSERT(self_dc != membership_.dc_of.end());
  self_dc_ = self_dc->second;
  GEOKV_ASSERT(options_.heartbeat_interval_ms >= 1 && options_.down_after_ms >= 1);
  GEOKV_ASSERT(options_.catchup_timeout_ms >= 1 && options_.maintenance_interval_ms >= 1);
  GEOKV_ASSERT(options_.catchup_max_outstanding >= 1 && options_.batch_max_deltas >= 1);
  GEOKV_ASSERT(options_.batch_max_bytes >= 1 && options_.outbox_max_messages >= 1);
  GEOKV_ASSERT(options_.commit_times_per_partition >= 1 && options_.catchup_reply_max_deltas >= 1);
  GEOKV_ASSERT(options_.state_chunk_max_atoms >= 1 && options_.state_chunk_max_bytes >= 1);
  GEOKV_ASSERT(options_.aae_timeout_ms >= 1 && options_.aae_leaves_max >= 1);
  GEOKV_ASSERT(options_.aae_scan_atoms_max >= 1 && options_.aae_atoms_max >= 1);
  GEOKV_ASSERT(options_.aae_rebuild_atoms_per_tick >= 1);
  GEOKV_ASSERT(options_.move_delete_atoms_per_tick >= 1);
  GEOKV_ASSERT(options_.reconfigure_queue_max >= 1);

  held_index_.assign(membership_.replicas.size(), -1);
  // The placement in force: the store's move records if any (a restart, maybe
  // mid-move), else the membership given (core_move.cc).
  LoadPlacement(store, membership_, now_ms);
  for (uint32_t p = 0; p < membership_.replicas.size(); ++p) {
    if (HeldOf(p) != nullptr) continue;  // from its move record
    std::vector<crdt::ReplicaId> set = membership_.replicas[p];
    std::sort(set.begin(), set.end());
    GEOKV_ASSERT(std::adjacent_find(set.begin(), set.end()) == set.end());
    for (crdt::ReplicaId id : set) GEOKV_ASSERT(membership_.dc_of.contains(id));
    if (std::binary_search(set.begin(), set.end(), self)) AddHeld(store, p, std::move(set), now_ms);
  }
  placement_unknown_ = std::all_of(membership_.replicas.begin(), membership_.replicas.end(),
                                   [](const auto& set) { return set.empty(); });
  last_maintenance_ms_ = now_ms;
  built_ms_ = latest_now_ms_ = now_ms;
  aae_tokens_ = static_cast<int64_t>(options_.aae_max_bytes_per_sec);  // a full second's worth
  aae_tokens_ms_ = now_ms;
}

// --- Lookups -----------------------------------------------------------------

CoreImpl::Held* CoreImpl::HeldOf(uint32_t p) {
  if (p >= held_index_.size() || held_index_[p] < 0) return nullptr;
  return &held_[static_cast<size_t>(held_index_[p])];
}

const CoreImpl::Held* CoreImpl::HeldOf(uint32_t p) const {
  if (p >= held_index_.size() || held_index_[p] < 0) return nullptr;
  return &held_[static_cast<size_t>(held_index_[p])];
}

size_t CoreImpl::IndexOf(const Held& h, crdt::ReplicaId id) {
  auto it = std::lower_bound(h.replicas.begin(), h.replicas.end(), id);
  if (it == h.replicas.end() || *it != id) return kNoIndex;
  return static_cast<size_t>(it - h.replicas.begin());
}

CoreImpl::Peer* CoreImpl::PeerOf(crdt::ReplicaId id) {
  auto it = peers_.find(id);
  return it == peers_.end() ? nullptr : &it->second;
}

void CoreImpl::Touch(Peer& peer, uint64_t now_ms) {
  peer.last_heard_ms = std::max(peer.last_heard_ms, now_ms);
  peer.up = true;
}

bool CoreImpl::Holds(uint32_t p) const { return HeldOf(p) != nullptr; }

// --- Own high-water marks (never reuse a dot) --------------------------------------

void CoreImpl::FenceOwnStreams() {
  // A partition with no other replica: nobody else can hold its dots.
  for (Held& h : held_) h.own_fenced = h.replicas.size() > 1;
}

bool CoreImpl::OwnWritable(uint32_t p) const {
  const Held* h = HeldOf(p);
  GEOKV_ASSERT(h != nullptr);
  return !h->own_fenced &&
         (h->move.role == Role::kMember || h->move.role == Role::kLeaving);
}

bool CoreImpl::OwnStreamsKnown() const {
  for (const Held& h : held_) {
    if (h.own_fenced && !HeardAllLive(h)) return false;
  }
  return true;
}

bool CoreImpl::HeardAllLive(const Held& h) const {
  // A peer the failure detector calls down is not waited for, but only once
  // the fence has lasted kFencePatience x down_after_ms: a few lost heartbeats
  // of the very peer that holds the lost deltas must not lift it.
  const bool patient = latest_now_ms_ < built_ms_ + kFencePatience * options_.down_after_ms;
  for (size_t j = 0; j < h.replicas.size(); ++j) {
    if (j == h.self_index || !h.reporter[j]) continue;
    const Peer& peer = peers_.at(h.replicas[j]);
    if (!peer.reports.at(h.p).has_latest && (peer.up || patient)) return false;
  }
  return true;
}

uint64_t CoreImpl::OwnReported(const Held& h) const {
  uint64_t most = 0;
  for (size_t j = 0; j < h.replicas.size(); ++j) {
    if (j == h.self_index) continue;
    const Report& r = peers_.at(h.replicas[j]).reports.at(h.p);
    // Even if down since. Deltas a peer holds but has not applied count too:
    // their dots are taken (the fence waits for the peer to apply them).
    if (r.has_latest) most = std::max({most, r.latest[h.self_index], r.held[h.self_index]});
  }
  return most;
}

void CoreImpl::UpdateFence(Held& h, uint64_t now_ms) {
  // A transfer under way may bring own dots this store lost (its first
  // context): no new own dots until it is whole.
  if (!h.own_fenced || !HeardAllLive(h) || h.transfer.active) return;
  // A joiner's fence lifts when it has caught up, a draining owner's never.
  if (h.move.role != Role::kMember && h.move.role != Role::kLeaving) return;
  Stream& own = h.streams[h.self_index];
  const uint64_t reported = OwnReported(h);
  if (reported > own.applied) {
    // A peer has own deltas this store lost: take them back first (the peer
    // answers with its state), then number after them.
    if (reported > own.known_end) ++stats_.own_recoveries;
    own.known_end = std::max(own.known_end, reported);
    UpdateGap(own, now_ms);
    ScheduleCatchUp(h, h.self_index, now_ms);
    return;
  }
  // Caught up with what every live peer has applied of every origin. A store
  // that went back in time (restored from an older copy, a power loss under
  // synchronous=normal) may have applied less than it reported before, and
  // peers may have folded counters on that report: a removal it issued now,
  // without the increments folded there, would cover part of a fold and the
  // fold would outlive it. Once it has applied what every live peer reports,
  // it has seen every dot any fold could cover.
  for (size_t i = 0; i < h.replicas.size(); ++i) {
    if (i == h.self_index) continue;
    uint64_t least = UINT64_MAX;
    for (size_t j = 0; j < h.replicas.size(); ++j) {
      if (j == h.self_index || !h.reporter[j]) continue;
      const Peer& peer = peers_.at(h.replicas[j]);
      const Report& r = peer.reports.at(h.p);
      if (peer.up && r.has_latest) least = std::min(least, r.latest[i]);
    }
    if (least != UINT64_MAX && h.streams[i].applied < least) return;  // catch-up brings it
  }
  h.own_fenced = false;
  own.known_end = own.applied;
  own.waiting_slot = false;
  if (own.outstanding) {  // the peer that had more went down or restarted: not needed now
    own.outstanding = false;
    --outstanding_;
  }
  UpdateGap(own, now_ms);
}

uint64_t CoreImpl::Applied(uint32_t p, crdt::ReplicaId origin) const {
  const Held* h = HeldOf(p);
  GEOKV_ASSERT(h != nullptr);
  const size_t i = IndexOf(*h, origin);
  return i == kNoIndex ? 0 : h->streams[i].applied;
}

// --- Output --------------------------------------------------------------------

void CoreImpl::Emit(Outgoing out) {
  if (outbox_.size() >= options_.outbox_max_messages) {
    ++stats_.dropped;  // receivers recover it: gap detection, the next heartbeat, a retry
    return;
  }
  outbox_.push_back(std::move(out));
}

void CoreImpl::CloseBatch(Held& h) {
  if (h.pending.empty()) return;
  DeltaBatch batch;
  batch.origin = membership_.self;
  batch.partition = h.p;
  batch.first_seq = h.pending.front().first;
  batch.last_seq = h.pending.back().last;
  GEOKV_ASSERT(h.pending_encoded.size() == h.pending.size());
  batch.deltas = std::move(h.pending);
  batch.encoded = std::move(h.pending_encoded);
  h.pending.clear();
  h.pending_encoded.clear();
  h.pending_bytes = 0;
  ++stats_.batches_published;
  Emit(Outgoing{Outgoing::Kind::kPublishPartition, h.p, 0, std::move(batch)});
}

void CoreImpl::CloseAllBatches() {
  for (Held& h : held_) CloseBatch(h);
}

void CoreImpl::EmitHeartbeat(bool full, uint64_t now_ms) {
  Heartbeat hb;
  hb.from = membership_.self;
  hb.sent_ms = now_ms;
  hb.incarnation = membership_.incarnation;
  hb.epoch = membership_.epoch;
  hb.move_bytes_left = move_bytes_left_;
  hb.partition_bytes = partition_bytes_;
  for (const auto& [p, left] : left_) hb.released.emplace_back(p, left.last_own);
  for (Held& h : held_) {
    const Role role = h.move.role;
    if (role == Role::kDraining || role == Role::kDeleting) {
      hb.released.emplace_back(h.p, h.streams[h.self_index].applied);
    }
    // Finals stored here: saved with the move record in the job that took
    // them, which commits before this heartbeat goes out.
    for (const auto& [leaver, seq] : h.move.finals) hb.finals_held.emplace_back(h.p, leaver);
    // A joiner reports p only once caught up (its report is the handoff's
    // acknowledgement); a node deleting p no longer has it.
    if (!Whole(h)) continue;
    if (!full && !h.dirty) continue;
    PartitionApplied pa;
    pa.partition = h.p;
    for (size_t i = 0; i < h.replicas.size(); ++i) {
      const Stream& s = h.streams[i];
      pa.applied.emplace_back(h.replicas[i], s.applied);
      uint64_t held = s.blocked ? s.blocked->batch.last_seq : 0;
      for (const auto& [first, b] : s.buffered) held = std::max(held, b.batch.last_seq);
      if (held > s.applied) pa.held.emplace_back(h.replicas[i], held);
    }
    hb.partitions.push_back(std::move(pa));
    h.dirty = false;
  }
  std::sort(hb.released.begin(), hb.released.end());
  std::sort(hb.finals_held.begin(), hb.finals_held.end());
  // held_ is in partition order except for partitions a move added.
  std::sort(hb.partitions.begin(), hb.partitions.end(),
            [](const PartitionApplied& a, const PartitionApplied& b) {
              return a.partition < b.partition;
            });
  heartbeat_due_ = false;
  last_heartbeat_ms_ = now_ms;
  if (full) {
    last_full_heartbeat_ms_ = now_ms;
    sent_any_heartbeat_ = true;
  }
  if (hb.partitions.empty() && !full) return;
  ++stats_.heartbeats_sent;
  Emit(Outgoing{Outgoing::Kind::kPublishHeartbeat, 0, 0, std::move(hb)});
}

std::vector<Outgoing> CoreImpl::TakeOutgoing(uint64_t now_ms) {
  // Batches first, then the heartbeat that reports them: on one PUB socket a
  // subscriber then sees the batch before the report of its seq.
  CloseAllBatches();
  if (heartbeat_due_ && now_ms >= last_heartbeat_ms_ + options_.heartbeat_min_gap_ms) {
    EmitHeartbeat(false, now_ms);
  }
  outbox_state_transfers_ = 0;
  return std::exchange(outbox_, {});
}

// --- Local deltas ----------------------------------------------------------------

void CoreImpl::OnLocalDelta(ReplicaStore& store, uint32_t p, const crdt::Delta& delta,
                            uint64_t now_ms) {
  Held* h = HeldOf(p);
  GEOKV_ASSERT(h != nullptr);
  GEOKV_ASSERT(delta.origin == membership_.self);
  Stream& own = h->streams[h->self_index];
  GEOKV_ASSERT(!h->own_fenced);  // its dots could be a lost delta's (FenceOwnStreams)
  GEOKV_ASSERT(OwnWritable(p));  // not while p is being filled or given up
  GEOKV_ASSERT(delta.first >= 1);
  GEOKV_ASSERT(delta.first <= delta.last);
  GEOKV_ASSERT(delta.first > own.applied);  // a rolled-back delta's dots are never reused
  // Encoded once: the log keeps these bytes and the batch embeds them.
  std::string encoded = crdt::EncodeDelta(delta);
  store.AppendLog(p, delta, encoded);
  SetApplied(store, *h, h->self_index, delta.last);
  own.known_end = delta.last;
  if (h->transfer.active && NoteSettled(*h, delta)) SaveTransfer(store, *h);
  if (h->replicas.size() == 1) {
    FoldCommitted(store, *h, delta);
  } else {
    NoteCounters(*h, h->self_index, delta);
  }

  h->commit_ms.emplace_back(delta.last, now_ms);
  while (h->commit_ms.size() > options_.commit_times_per_partition) h->commit_ms.pop_front();
  // Alone in p: no replica to send a batch to. A replica a later epoch adds
  // fills from the state and catches up from the log, like any late one.
  if (h->replicas.size() == 1) return;

  // A batch is contiguous; own seqs jump only if the context learned own dots
  // from elsewhere (then receivers fall back to a state transfer).
  if (!h->pending.empty() && delta.first != h->pending.back().last + 1) CloseBatch(*h);
  GEOKV_ASSERT(h->pending.empty() || delta.first == h->pending.back().last + 1);
  h->pending_bytes += EstimateDeltaBytes(delta);
  h->pending.push_back(delta);
  h->pending_encoded.push_back(std::move(encoded));
  if (h->pending.size() >= options_.batch_max_deltas ||
      h->pending_bytes >= options_.batch_max_bytes) {
    CloseBatch(*h);
  }
}

// --- Messages ------------------------------------------------------------------------

void CoreImpl::OnMessage(ReplicaStore& store, const Message& message, uint64_t now_ms) {
  latest_now_ms_ = std::max(latest_now_ms_, now_ms);
  std::visit(Overloaded{
                 [&](const DeltaBatch& m) { OnBatch(store, m, now_ms); },
                 [&](const Heartbeat& m) { OnHeartbeat(store, m, now_ms); },
                 [&](const CatchUpRequest& m) { OnRequest(store, m, now_ms); },
                 [&](const CatchUpReply& m) { OnReply(store, m, now_ms); },
                 [&](const AaeRequest& m) { OnAaeRequest(store, m, now_ms); },
                 [&](const AaeReply& m) { OnAaeReply(store, m, now_ms); },
             },
             message);
}

void CoreImpl::OnBatch(ReplicaStore& store, const DeltaBatch& batch, uint64_t now_ms) {
  Held* h = HeldOf(batch.partition);
  const size_t index = h ? IndexOf(*h, batch.origin) : kNoIndex;
  if (index == kNoIndex || index == h->self_index || batch.deltas.empty()) {
    ++stats_.rejected;
    return;
  }
  if (h->move.role == Role::kDeleting) return;  // given up: nothing comes in any more
  Touch(*PeerOf(batch.origin), now_ms);  // a batch comes from its origin's PUB socket
  ReceiveBatch(store, *h, index, batch, now_ms);
}

void CoreImpl::ReceiveBatch(ReplicaStore& store, Held& h, size_t index, const DeltaBatch& batch,
                            uint64_t now_ms) {
  Stream& s = h.streams[index];
  s.known_end = std::max(s.known_end, batch.last_seq);
  if (batch.last_seq <= s.applied) {
    ++stats_.duplicates;
    UpdateGap(s, now_ms);
    return;
  }
  if (batch.first_seq > s.applied + 1 && !options_.testing_ignore_gaps) {
    ++stats_.gaps;
    Buffer(s, batch);
    UpdateGap(s, now_ms);
    ScheduleCatchUp(h, index, now_ms);
    return;
  }
  if (!ApplyContiguous(store, h, index, batch)) {
    UpdateGap(s, now_ms);
    return;
  }
  DrainBuffer(store, h, index);
  AfterProgress(h, index, now_ms);
  RetryBlocked(store, h, now_ms);
}

bool CoreImpl::DependenciesApplied(const Held& h, size_t index, const crdt::Delta& delta) const {
  for (const crdt::Removal& r : delta.removals) {
    for (const auto& [origin, intervals] : r.covered.by_origin()) {
      const size_t j = IndexOf(h, origin);
      if (j == kNoIndex || j == index) continue;  // no stream to wait for; or earlier in this one
      if (h.streams[j].applied < r.covered.Max(origin)) return false;
    }
  }
  return true;
}

void CoreImpl::RetryBlocked(ReplicaStore& store, Held& h, uint64_t now_ms) {
  // Each pass that advances a stream may unblock another; a pass that
  // advances none ends it, so at most one pass per stream plus one.
  for (bool advanced = true; advanced;) {
    advanced = false;
    for (size_t j = 0; j < h.streams.size(); ++j) {
      Stream& s = h.streams[j];
      if (!s.blocked) continue;
      Buffered b = std::move(*s.blocked);
      s.blocked.reset();
      buffered_bytes_ -= b.bytes;
      if (b.batch.last_seq <= s.applied || !ApplyContiguous(store, h, j, b.batch)) continue;
      DrainBuffer(store, h, j);
      AfterProgress(h, j, now_ms);
      advanced = true;
    }
  }
}

bool CoreImpl::ApplyContiguous(ReplicaStore& store, Held& h, size_t index,
                               const DeltaBatch& batch) {
  Stream& s = h.streams[index];
  GEOKV_ASSERT(!batch.deltas.empty());
  GEOKV_ASSERT(batch.last_seq > s.applied);
  // Contiguous with what was applied (unless the test-only switch says to
  // pretend so): applied never skips a delta.
  GEOKV_ASSERT(batch.first_seq <= s.applied + 1 || options_.testing_ignore_gaps);
  crdt::MutableState& state = store.Partition(h.p);
  bool settled_grew = false;
  uint64_t applied_through = s.applied;
  for (size_t i = 0; i < batch.deltas.size(); ++i) {
    const crdt::Delta& d = batch.deltas[i];
    if (d.last <= s.applied) continue;  // the overlap with what we have
    if (!DependenciesApplied(h, index, d)) {
      // The rest waits (replacing an older wait: this batch continues
      // applied as far as any).
      DeltaBatch rest = batch;
      rest.deltas.erase(rest.deltas.begin(), rest.deltas.begin() + static_cast<ptrdiff_t>(i));
      rest.first_seq = d.first;
      if (s.blocked) buffered_bytes_ -= s.blocked->bytes;
      const size_t bytes = BatchBytes(rest);
      s.blocked = Buffered{std::move(rest), bytes};
      buffered_bytes_ += bytes;
      ++stats_.causal_waits;
      break;
    }
    applied_through = d.last;
    if (h.transfer.active) {
      // Not an atom the transfer already settled as removed (crdt/chunk.h).
      crdt::Delta kept = d;
      crdt::DropSettledAdditions(state, h.transfer.cursor, h.transfer.first_context, &kept);
      crdt::ApplyDelta(state, kept);
      settled_grew = NoteSettled(h, d) || settled_grew;
    } else {
      crdt::ApplyDelta(state, d);
    }
    NoteCounters(h, index, d);
    ++stats_.deltas_applied;
  }
  if (settled_grew) SaveTransfer(store, h);  // once per batch: it commits with the job anyway
  if (applied_through == s.applied) return false;
  SetApplied(store, h, index, applied_through);
  ++stats_.batches_applied;
  return true;
}

void CoreImpl::SetApplied(ReplicaStore& store, Held& h, size_t index, uint64_t seq) {
  Stream& s = h.streams[index];
  GEOKV_ASSERT(seq > s.applied);  // applied only grows
  s.applied = seq;
  store.SetApplied(h.p, h.replicas[index], seq);
}

void CoreImpl::Buffer(Stream& s, const DeltaBatch& batch) {
  GEOKV_ASSERT(batch.first_seq > s.applied + 1);  // what continues applied is applied, not kept
  if (s.buffered.contains(batch.first_seq)) {
    ++stats_.duplicates;
    return;
  }
  const size_t bytes = BatchBytes(batch);
  if (s.buffered.size() >= options_.buffer_max_batches_per_stream ||
      buffered_bytes_ + bytes > options_.buffer_max_bytes) {
    ++stats_.dropped;  // catch-up fetches it again
    return;
  }
  s.buffered.emplace(batch.first_seq, Buffered{batch, bytes});
  buffered_bytes_ += bytes;
}

void CoreImpl::DrainBuffer(ReplicaStore& store, Held& h, size_t index) {
  Stream& s = h.streams[index];
  while (!s.buffered.empty()) {
    auto it = s.buffered.begin();
    if (it->first > s.applied + 1) break;
    Buffered b = std::move(it->second);
    s.buffered.erase(it);
    buffered_bytes_ -= b.bytes;
    if (b.batch.last_seq > s.applied && !ApplyContiguous(store, h, index, b.batch)) break;
  }
}

void CoreImpl::UpdateGap(Stream& s, uint64_t now_ms) {
  const bool gap = s.known_end > s.applied || s.relayed_end > s.applied || !s.buffered.empty();
  if (gap && !s.gap) s.gap_since_ms = now_ms;
  if (!gap) s.attempts = 0;
  s.gap = gap;
}

void CoreImpl::AfterProgress(Held& h, size_t index, uint64_t now_ms) {
  Stream& s = h.streams[index];
  s.attempts = 0;
  s.retry_at_ms = 0;
  h.dirty = true;
  heartbeat_due_ = true;
  UpdateGap(s, now_ms);
  // The origin's own stream advanced: its report may have become usable.
  if (Peer* peer = PeerOf(h.replicas[index])) PromoteReport(h, *peer);
  if (s.gap) ScheduleCatchUp(h, index, now_ms);
}

void CoreImpl::OnHeartbeat(ReplicaStore& store, const Heartbeat& hb, uint64_t now_ms) {
  NoteEpoch(hb);
  Peer* peer = PeerOf(hb.from);
  if (peer == nullptr) {
    ++stats_.rejected;
    return;
  }
  if (hb.incarnation < peer->incarnation) {
    // An older process of that node is still talking (a stale message, or a
    // second process started with the same node id): never mix its reports in.
    ++stats_.stale_incarnations;
    return;
  }
  if (hb.incarnation > peer->incarnation && peer->incarnation != 0 &&
      now_ms < peer->incarnation_heard_ms + options_.down_after_ms) {
    // A newer process while the accepted one was heard less than
    // down_after_ms ago: a restart (taken once the old one has been silent
    // that long), or a second live process with the same node id (a copied
    // unit file), which must never be taken while the first one talks.
    peer->rival_incarnation = std::max(peer->rival_incarnation, hb.incarnation);
    peer->rival_heard_ms = now_ms;
    return;
  }
  if (hb.incarnation == peer->incarnation && peer->rival_incarnation > peer->incarnation &&
      now_ms < peer->rival_heard_ms + options_.down_after_ms) {
    // The accepted process still talks while a newer one does: two live
    // processes with one node id. The first keeps it.
    ++stats_.duplicate_identities;
  }
  if (hb.incarnation > peer->incarnation) {
    if (peer->incarnation != 0) {
      // A restart: the new process may have lost what the old one reported
      // (stability must not count on it), so its reports start over.
      ++stats_.peer_restarts;
      for (auto& [p, r] : peer->reports) r.Clear();
    }
    peer->incarnation = hb.incarnation;
    peer->rival_incarnation = 0;
  }
  peer->incarnation_heard_ms = std::max(peer->incarnation_heard_ms, now_ms);
  Touch(*peer, now_ms);
  OnReleased(store, hb, now_ms);
  for (const PartitionApplied& pa : hb.partitions) {
    Held* h = HeldOf(pa.partition);
    auto rit = peer->reports.find(pa.partition);
    if (h == nullptr || rit == peer->reports.end()) continue;  // not shared with us
    // A joiner's report of p from an earlier epoch (it still held p there,
    // e.g. draining it, behind moves of its own) is not its acknowledgement
    // of this move: it reports p at this epoch only once caught up.
    if (hb.epoch < membership_.epoch && IsJoiner(*h, hb.from)) continue;
    Report& r = rit->second;
    const uint64_t old_self = r.latest[h->self_index];
    for (const auto& [origin, seq] : pa.applied) {
      // Reports only grow (a node reports what it committed); max() also
      // absorbs heartbeats that arrive out of order.
      const size_t i = IndexOf(*h, origin);
      if (i != kNoIndex) r.latest[i] = std::max(r.latest[i], seq);
    }
    // Unlike `applied`, what a peer holds unapplied can shrink without being
    // applied (a buffer dropped, to be caught up again): the newest report
    // replaces the older ones, and a heartbeat that arrives late does not.
    if (hb.sent_ms >= r.held_sent_ms) {
      r.held_sent_ms = hb.sent_ms;
      std::fill(r.held.begin(), r.held.end(), 0);
      for (const auto& [origin, seq] : pa.held) {
        const size_t i = IndexOf(*h, origin);
        if (i != kNoIndex) r.held[i] = seq;
      }
    }
    r.has_latest = true;
    if (r.latest[h->self_index] > old_self) {
      RecordLag(*h, *peer, old_self, r.latest[h->self_index], now_ms);
    }
    for (size_t j = 0; j < h->replicas.size(); ++j) {
      if (j == h->self_index) continue;
      Stream& s = h->streams[j];
      // More of an origin than we have: a (tail) gap, told by the origin
      // itself or relayed by another replica.
      uint64_t& end = h->replicas[j] == peer->id ? s.known_end : s.relayed_end;
      if (r.latest[j] > end) {
        end = r.latest[j];
        UpdateGap(s, now_ms);
        ScheduleCatchUp(*h, j, now_ms);
      }
    }
    PromoteReport(*h, *peer);
    UpdateFence(*h, now_ms);
  }
}

void CoreImpl::PromoteReport(Held& h, Peer& peer) {
  Report& r = peer.reports.at(h.p);
  if (!r.has_latest) return;
  const size_t i = IndexOf(h, peer.id);
  // Usable once every removal the peer issued before the report is here: we
  // applied its own stream up to what it reported for itself.
  if (h.streams[i].applied >= r.latest[i]) {
    r.usable = r.latest;
    r.has_usable = true;
  }
}

void CoreImpl::RecordLag(Held& h, Peer& peer, uint64_t old_seq, uint64_t new_seq, uint64_t now_ms) {
  new_seq = std::min(new_seq, h.streams[h.self_index].applied);
  // The oldest own delta this report newly acknowledges.
  auto it =
      std::upper_bound(h.commit_ms.begin(), h.commit_ms.end(), std::make_pair(old_seq, kNever));
  if (it == h.commit_ms.end() || it->first > new_seq) return;
  peer.lag_ms = now_ms >= it->second ? now_ms - it->second : 0;
}

// --- Catch-up ------------------------------------------------------------------------

uint64_t CoreImpl::CatchUpTimeout(uint32_t attempts) const {
  uint64_t t = options_.catchup_timeout_ms;
  for (uint32_t i = 0; i < attempts && t < options_.catchup_timeout_max_ms; ++i) t *= 2;
  return std::min(t, options_.catchup_timeout_max_ms);
}

void CoreImpl::BackOff(Stream& s, uint64_t now_ms) {
  s.retry_at_ms = now_ms + CatchUpTimeout(s.attempts);
  ++s.attempts;
}

std::optional<crdt::ReplicaId> CoreImpl::CatchUpTarget(const Held& h, size_t index) const {
  const crdt::ReplicaId origin = h.replicas[index];
  // Its log, or its state (a former owner no longer holds p: as if down).
  if (index != h.self_index && h.reporter[index] && peers_.at(origin).up) return origin;
  // The origin is down (or it is this node, taking back lost own deltas): a
  // live replica that reported more of it sends its state.
  std::optional<crdt::ReplicaId> best;
  uint64_t best_seq = h.streams[index].applied;
  for (size_t j = 0; j < h.replicas.size(); ++j) {
    if (j == h.self_index || j == index || !h.reporter[j]) continue;
    const Peer& peer = peers_.at(h.replicas[j]);
    const Report& r = peer.reports.at(h.p);
    if (peer.up && r.has_latest && r.latest[index] > best_seq) {
      best = peer.id;
      best_seq = r.latest[index];
    }
  }
  return best;
}

bool CoreImpl::WantsCatchUp(const Held& h, size_t index) const {
  if (options_.testing_ignore_gaps) return false;
  const Stream& s = h.streams[index];
  // A blocked stream has what comes next; it waits for other streams, which
  // catch up by themselves (RetryBlocked goes on from there).
  if (s.blocked) return false;
  // An old owner past its handoff needs nothing more of p: others must have
  // what it has, not the reverse, and what a catch-up brought now would be
  // deleted with p while its dots stayed in the context.
  if (h.move.role == Role::kDraining || h.move.role == Role::kDeleting) return false;
  if (s.known_end > s.applied || !s.buffered.empty()) return true;
  return s.relayed_end > s.applied && (!peers_.at(h.replicas[index]).up || !h.reporter[index]);
}

void CoreImpl::ScheduleCatchUp(Held& h, size_t index, uint64_t now_ms) {
  if (options_.testing_ignore_gaps) return;
  Stream& s = h.streams[index];
  if (s.outstanding) {
    if (now_ms < s.deadline_ms) return;
    s.outstanding = false;
    --outstanding_;
    ++stats_.catchup_retries;
    ++s.attempts;
  }
  // A transfer under way brings every stream of the partition at least to its
  // first applied vector; what is still missing then is asked for after it.
  if (h.transfer.active) return;
  if (!WantsCatchUp(h, index)) return;
  if (now_ms < s.gap_since_ms + options_.catchup_delay_ms || now_ms < s.retry_at_ms) return;
  // Woken when a request in flight is answered or times out.
  s.waiting_slot = outstanding_ >= options_.catchup_max_outstanding;
  if (s.waiting_slot) return;
  std::optional<crdt::ReplicaId> target = CatchUpTarget(h, index);
  if (!target) {
    // Nobody live has more: look again later (a peer may come back).
    s.retry_at_ms = now_ms + options_.catchup_timeout_ms;
    return;
  }
  CatchUpRequest req{membership_.self, h.p, h.replicas[index], s.applied};
  Emit(Outgoing{Outgoing::Kind::kSendRequest, 0, *target, req});
  s.outstanding = true;
  s.asked = *target;
  s.deadline_ms = now_ms + CatchUpTimeout(s.attempts);
  ++outstanding_;
  ++stats_.catchup_requests;
}

void CoreImpl::OnRequest(ReplicaStore& store, const CatchUpRequest& req, uint64_t now_ms) {
  Held* h = HeldOf(req.partition);
  const size_t from = h ? IndexOf(*h, req.from) : kNoIndex;
  const size_t origin = h ? IndexOf(*h, req.origin) : kNoIndex;
  if (from == kNoIndex || from == h->self_index || origin == kNoIndex) {
    ++stats_.rejected;
    return;
  }
  Touch(*PeerOf(req.from), now_ms);
  // A joiner holds part of p (and, having held it before, dots whose atoms
  // it deleted); a node deleting p less and less: neither answers for it.
  if (!Whole(*h)) return;
  const uint64_t mine = h->streams[origin].applied;
  if (req.cursor) {  // the next chunk of a transfer under way
    CatchUpReply reply;
    reply.from = membership_.self;
    reply.partition = h->p;
    reply.origin = req.origin;
    reply.after = req.after;
    reply.responder_applied = mine;
    if (FillStateReply(store, *h, *req.cursor, reply)) {
      Emit(Outgoing{Outgoing::Kind::kSendReply, 0, req.from, std::move(reply)});
    }
    return;
  }
  CatchUpReply reply;
  reply.from = membership_.self;
  reply.partition = h->p;
  reply.origin = req.origin;
  reply.after = req.after;
  reply.responder_applied = mine;
  reply.kind = CatchUpReply::Kind::kUpToDate;

  bool state = false;
  if (req.after >= mine) {
    ++stats_.up_to_date_replies;
  } else if (req.origin != membership_.self) {
    state = true;  // only the origin logs its deltas
  } else {
    auto log = store.ReadLog(h->p, membership_.self, req.after, options_.catchup_reply_max_bytes);
    if (!log.ok() && log.status().code() != Status::Code::kNotFound) {
      ++stats_.store_errors;  // the job fails; the requester retries
      return;
    }
    std::vector<crdt::Delta> deltas = log.ok() ? std::move(*log) : std::vector<crdt::Delta>{};
    if (deltas.empty() || deltas.front().first > req.after + 1) {
      state = true;  // truncated, or a hole in the log: our own seqs jumped
    } else {
      size_t contiguous = 1;
      while (contiguous < deltas.size() && contiguous < options_.catchup_reply_max_deltas &&
             deltas[contiguous].first == deltas[contiguous - 1].last + 1) {
        ++contiguous;
      }
      deltas.resize(contiguous);
      reply.kind = CatchUpReply::Kind::kDeltas;
      reply.batch.origin = membership_.self;
      reply.batch.partition = h->p;
      reply.batch.first_seq = deltas.front().first;
      reply.batch.last_seq = deltas.back().last;
      reply.batch.deltas = std::move(deltas);
      ++stats_.log_replies;
    }
  }
  if (state && !FillStateReply(store, *h, crdt::AtomPosition{}, reply)) return;
  Emit(Outgoing{Outgoing::Kind::kSendReply, 0, req.from, std::move(reply)});
}

bool CoreImpl::FillStateReply(ReplicaStore& store, const Held& h, const crdt::AtomPosition& from,
                              CatchUpReply& reply) {
  if (outbox_state_transfers_ >= options_.outbox_max_state_transfers) {
    ++stats_.dropped;  // the requester retries later
    return false;
  }
  if (h.transfer.active && !h.transfer.settled_known) {
    ++stats_.state_chunks_deferred;  // see below; the requester asks again when it is over
    return false;
  }
  ++outbox_state_transfers_;
  // One range scan of at most state_chunk_max_atoms + 1 atoms, never the
  // whole partition.
  crdt::MutableState& state = store.Partition(h.p);
  crdt::ChunkRead chunk =
      crdt::ReadChunk(state, from, options_.state_chunk_max_atoms, options_.state_chunk_max_bytes);
  // A transfer into h under way may have added a folded counter whose range
  // the context does not hold yet (crdt/chunk.h): not a state to send; the
  // requester retries, after that transfer is whole.
  const crdt::DotContext& context = state.Context();
  for (const auto& [path, atom] : chunk.atoms) {
    if (!context.ContainsRange(atom.dot.origin, atom.first, atom.dot.counter)) {
      ++stats_.state_chunks_deferred;
      return false;
    }
  }
  reply.kind = CatchUpReply::Kind::kState;
  reply.range_from = from;
  reply.range_to = std::move(chunk.to);
  reply.snapshot.atoms = std::move(chunk.atoms);
  if (!h.transfer.active) {
    reply.snapshot.context = context;
  } else {
    // A transfer into h is under way: the ranges it joined so far added their
    // atoms' dots to the context without the rest of what those dots did in
    // ranges not joined yet (a removal further on), so the context claims
    // more than the atoms show, and a requester that took it (as a first
    // context, or to continue a transfer begun elsewhere) would keep atoms
    // those dots removed. The settled context holds only dots whose whole
    // delta is applied here: served with it, a chunk holds only the atoms it
    // covers, and the requester takes the rest from the origins' streams
    // (applying a delta again leaves the state as it is). The applied vector
    // is the streams' as it is: every seq it names is in the settled context.
    const crdt::DotContext& settled = h.transfer.settled_context;
    std::erase_if(reply.snapshot.atoms, [&](const auto& entry) {
      const crdt::Atom& atom = entry.second;
      return !settled.ContainsRange(atom.dot.origin, atom.first, atom.dot.counter);
    });
    reply.snapshot.context = settled;
  }
  for (size_t i = 0; i < h.replicas.size(); ++i) {
    reply.applied.emplace_back(h.replicas[i], h.streams[i].applied);
  }
  ++stats_.state_chunks_sent;
  if (from == crdt::AtomPosition{}) ++stats_.state_transfers_sent;
  return true;
}

void CoreImpl::OnReply(ReplicaStore& store, const CatchUpReply& reply, uint64_t now_ms) {
  Held* h = HeldOf(reply.partition);
  const size_t from = h ? IndexOf(*h, reply.from) : kNoIndex;
  const size_t origin = h ? IndexOf(*h, reply.origin) : kNoIndex;
  const bool batch_matches =
      reply.kind != CatchUpReply::Kind::kDeltas ||
      (reply.batch.origin == reply.origin && reply.batch.partition == reply.partition &&
       !reply.batch.deltas.empty());
  const bool own_allowed =
      h != nullptr &&
      (h->own_fenced || (h->transfer.active && reply.kind == CatchUpReply::Kind::kState));
  if (from == kNoIndex || from == h->self_index || origin == kNoIndex ||
      (origin == h->self_index && !own_allowed) || !batch_matches) {
    ++stats_.rejected;
    return;
  }
  Touch(*PeerOf(reply.from), now_ms);
  if (h->move.role == Role::kDeleting) return;
  Stream& s = h->streams[origin];
  const bool freed = s.outstanding && s.asked == reply.from;
  if (freed) {
    s.outstanding = false;
    --outstanding_;
  }
  // Nothing joins a partition being given up (see WantsCatchUp), nor a
  // joiner before its fill began: its context may still hold the dots of
  // atoms it deleted when it gave p up before, so only the fill's
  // restore-mode transfer may join there (a plain one would take them as
  // removed).
  const Move& move = h->move;
  if (reply.kind != CatchUpReply::Kind::kUpToDate &&
      (move.role == Role::kDraining || move.role == Role::kDeleting ||
       (move.role == Role::kJoining && !move.filled && !h->transfer.active))) {
    ++stats_.duplicates;
    if (freed) WakeWaiting(now_ms);
    return;
  }
  switch (reply.kind) {
    case CatchUpReply::Kind::kUpToDate:
      // Nothing there (a stale reply, or what we heard of was not real): ask
      // again later, not at once.
      BackOff(s, now_ms);
      break;
    case CatchUpReply::Kind::kDeltas:
      ReceiveBatch(store, *h, origin, reply.batch, now_ms);
      break;
    case CatchUpReply::Kind::kState:
      ApplyChunk(store, *h, origin, reply, now_ms);
      break;
  }
  if (freed) WakeWaiting(now_ms);
}

void CoreImpl::WakeWaiting(uint64_t now_ms) {
  for (Held& h : held_) {
    for (size_t j = 0; j < h.replicas.size(); ++j) {
      if (outstanding_ >= options_.catchup_max_outstanding) return;
      if (h.streams[j].waiting_slot) ScheduleCatchUp(h, j, now_ms);
    }
  }
}

void CoreImpl::ApplyChunk(ReplicaStore& store, Held& h, size_t index, const CatchUpReply& reply,
                          uint64_t now_ms) {
  Transfer& t = h.transfer;
  const bool answered = t.outstanding && t.asked == reply.from;
  // A joiner's fill: the first chunk's context and vector are the ones to
  // take when the last chunk is in (core_move.cc, BeginFill), once the
  // chunk is found fit below.
  const bool fill_first = t.active && t.fill_fresh && reply.range_from == crdt::AtomPosition{};
  if (!t.active) {
    if (reply.range_from != crdt::AtomPosition{}) {
      ++stats_.duplicates;  // a late chunk of a transfer that is over
      return;
    }
    // What the transfer brings: the replicas' seqs above ours. Our own stream
    // is taken from a peer only while fenced (lost own deltas coming back).
    bool brings = false;
    for (const auto& [origin, seq] : reply.applied) {
      const size_t i = IndexOf(h, origin);
      brings |= i != kNoIndex && (i != h.self_index || h.own_fenced) && seq > h.streams[i].applied;
    }
    if (!brings) {
      ++stats_.duplicates;
      BackOff(h.streams[index], now_ms);
      return;
    }
    BeginTransfer(store, h, index, reply);
  } else if (reply.range_from != t.cursor) {
    ++stats_.duplicates;  // a duplicate, or a reply to a request that timed out
    return;
  } else if ((!fill_first && !reply.snapshot.context.Includes(t.first_context)) ||
             (t.restore && !Covers(reply.applied, h)) ||
             (fill_first && !HasHintDots(reply.snapshot.context, reply.applied, store, h))) {
    // Joined with a context that lacks some of the first chunk's, this range
    // would not be settled by the first context (a restored peer): ask
    // another replica, later. A rebuild (restore) restores the atoms this
    // replica has seen: only from a sender that applied everything it has
    // applied (else a removal applied here but not there would be undone).
    // A fill, also only from a sender that has seen every hint dot this node
    // has (HasHintDots).
    if (answered) t.outstanding = false;
    if (std::find(t.refused.begin(), t.refused.end(), reply.from) == t.refused.end() &&
        t.refused.size() < h.replicas.size()) {
      t.refused.push_back(reply.from);
    }
    t.asked = 0;
    t.retry_at_ms = now_ms + CatchUpTimeout(t.attempts);
    ++t.attempts;
    ++stats_.rejected;
    return;
  }
  if (answered) t.outstanding = false;
  if (fill_first) {
    t.first_context = reply.snapshot.context;
    t.first_applied = reply.applied;
    t.fill_fresh = false;
  }
  const crdt::ChunkJoinResult joined =
      crdt::JoinChunk(store.Partition(h.p), reply.range_from, reply.range_to, reply.snapshot.atoms,
                      reply.snapshot.context, t.first_context, options_.state_chunk_max_atoms,
                      t.restore, [&](crdt::ReplicaId origin) {
                        return HintOrigin(h, origin, t.first_applied) &&
                               HintOrigin(h, origin, reply.applied);
                      });
  if (joined.outcome == crdt::ChunkJoinResult::Outcome::kRestart) {
    // A counter folded since the first chunk, over dots the first context
    // lacks: start over from this chunk's context, which holds them.
    ++stats_.state_transfer_restarts;
    CatchUpReply fresh;
    fresh.snapshot.context = reply.snapshot.context;
    fresh.applied = reply.applied;
    BeginTransfer(store, h, t.index, fresh);
    SaveTransfer(store, h);
    ScheduleTransfer(h, now_ms);
    return;
  }
  ++stats_.state_chunks_applied;
  t.asked = reply.from;
  t.refused.clear();
  t.attempts = 0;
  t.retry_at_ms = 0;
  if (options_.testing_merge_chunk_context)
    store.Partition(h.p).JoinContext(reply.snapshot.context);
  if (!joined.reached) {
    FinishTransfer(store, h, now_ms);
    return;
  }
  t.cursor = *joined.reached;
  SaveTransfer(store, h);
  ScheduleTransfer(h, now_ms);
}

bool CoreImpl::HintOrigin(const Held& h, crdt::ReplicaId origin,
                          const AppliedVector& sender_applied) const {
  return origin != membership_.self && !membership_.dc_of.contains(origin) &&
         IndexOf(h, origin) == kNoIndex &&
         std::none_of(sender_applied.begin(), sender_applied.end(),
                      [&](const auto& entry) { return entry.first == origin; });
}

bool CoreImpl::HasHintDots(const crdt::DotContext& sender, const AppliedVector& sender_applied,
                           ReplicaStore& store, const Held& h) const {
  for (const auto& [origin, intervals] : store.Partition(h.p).Context().by_origin()) {
    if (!HintOrigin(h, origin, sender_applied)) continue;
    for (const auto& [first, last] : intervals) {
      if (!sender.ContainsRange(origin, first, last)) return false;
    }
  }
  return true;
}

bool CoreImpl::Covers(const AppliedVector& applied, const Held& h) {
  auto has = [&](crdt::ReplicaId id, uint64_t seq) {
    if (seq == 0) return true;
    auto it = std::find_if(applied.begin(), applied.end(),
                           [&](const auto& entry) { return entry.first == id; });
    return it != applied.end() && it->second >= seq;
  };
  for (size_t i = 0; i < h.replicas.size(); ++i) {
    if (!has(h.replicas[i], h.streams[i].applied)) return false;
  }
  return std::all_of(h.move.seen.begin(), h.move.seen.end(),
                     [&](const auto& entry) { return has(entry.first, entry.second); });
}

void CoreImpl::BeginTransfer(ReplicaStore& store, Held& h, size_t index,
                             const CatchUpReply& reply) {
  Transfer& t = h.transfer;
  if (!t.active) {
    t.settled_known = true;
    t.settled_context = store.Partition(h.p).Context();
  }
  t.active = true;
  t.index = index;
  t.cursor = crdt::AtomPosition{};
  t.first_context = reply.snapshot.context;
  t.first_applied = reply.applied;
  t.outstanding = false;
  t.refused.clear();
}

void CoreImpl::SaveTransfer(ReplicaStore& store, const Held& h) {
  const Transfer& t = h.transfer;
  store.SetTransferRecord(
      h.p, EncodeTransferRecord(
               TransferRecord{h.replicas[t.index], t.cursor, t.first_context, t.first_applied,
                              t.settled_known ? std::optional<crdt::DotContext>(t.settled_context)
                                              : std::nullopt,
                              t.restore}));
}

bool CoreImpl::NoteSettled(Held& h, const crdt::Delta& delta) {
  Transfer& t = h.transfer;
  if (!t.settled_known) return false;
  t.settled_context.InsertRange(delta.origin, delta.first, delta.last);
  for (const crdt::Removal& r : delta.removals) t.settled_context.Join(r.covered);
  return true;
}

void CoreImpl::FinishTransfer(ReplicaStore& store, Held& h, uint64_t now_ms) {
  Transfer& t = h.transfer;
  GEOKV_ASSERT(t.active);
  if (h.move.role == Role::kJoining) TakeOrigins(store, h, t.first_applied, now_ms);
  // Every range is joined with a context that includes the first one: only
  // now may the first context (and the applied vector read with it) count.
  store.Partition(h.p).JoinContext(t.first_context);
  std::vector<std::pair<size_t, uint64_t>> raise;
  for (const auto& [origin, seq] : t.first_applied) {
    const size_t i = IndexOf(h, origin);
    if (i != kNoIndex && (i != h.self_index || h.own_fenced) && seq > h.streams[i].applied) {
      raise.emplace_back(i, seq);
    }
  }
  t = Transfer{};
  store.SetTransferRecord(h.p, "");
  ++stats_.state_transfers_applied;
  if (h.move.role == Role::kJoining) {
    h.move.filled = true;
    h.move.seen.clear();  // first_applied covers it (Covers)
    SaveMove(store, h.p);
  }
  for (const auto& [i, seq] : raise) {
    SetApplied(store, h, i, seq);
    h.streams[i].known_end = std::max(h.streams[i].known_end, seq);
  }
  FoldAll(h);  // the transfer's counters may be anywhere
  for (const auto& [i, seq] : raise) {
    DrainBuffer(store, h, i);
    AfterProgress(h, i, now_ms);
  }
  RetryBlocked(store, h, now_ms);
  UpdateFence(h, now_ms);
  heartbeat_due_ = true;
  h.dirty = true;
}

std::optional<crdt::ReplicaId> CoreImpl::TransferTarget(const Held& h) const {
  const Transfer& t = h.transfer;
  // The peer that sent the last chunk, while it is up; else the live replica
  // that reported the most (the likeliest to hold the first context) among
  // those that did not refuse a chunk yet, else among all.
  if (t.asked != 0 && peers_.at(t.asked).up) return t.asked;
  auto refused = [&](crdt::ReplicaId id) {
    return std::find(t.refused.begin(), t.refused.end(), id) != t.refused.end();
  };
  std::optional<crdt::ReplicaId> best;
  uint64_t best_total = 0;
  for (int pass = 0; pass < 2 && !best; ++pass) {
    for (size_t j = 0; j < h.replicas.size(); ++j) {
      if (j == h.self_index || !h.reporter[j]) continue;
      const Peer& peer = peers_.at(h.replicas[j]);
      if (!peer.up || (pass == 0 && refused(peer.id))) continue;
      // A joiner has part of p (it reports p once it has all of it).
      if (std::find(h.move.joiners.begin(), h.move.joiners.end(), peer.id) !=
          h.move.joiners.end()) {
        continue;
      }
      const Report& r = peer.reports.at(h.p);
      uint64_t total = 0;
      for (uint64_t seq : r.latest) total += seq;
      if (!best || total > best_total) {
        best = peer.id;
        best_total = total;
      }
    }
  }
  return best;
}

void CoreImpl::ScheduleTransfer(Held& h, uint64_t now_ms) {
  Transfer& t = h.transfer;
  if (!t.active) return;
  if (t.outstanding) {
    if (now_ms < t.deadline_ms) return;
    t.outstanding = false;  // lost, or its sender went away: ask again (maybe another)
    t.asked = 0;
    ++t.attempts;
    ++stats_.catchup_retries;
  }
  if (now_ms < t.retry_at_ms) return;
  std::optional<crdt::ReplicaId> target = TransferTarget(h);
  if (!target) {
    t.retry_at_ms = now_ms + options_.catchup_timeout_ms;  // nobody live: look again later
    return;
  }
  // Every live candidate refused already: a new round.
  if (std::find(t.refused.begin(), t.refused.end(), *target) != t.refused.end()) {
    t.refused.clear();
  }
  CatchUpRequest req{membership_.self, h.p, h.replicas[t.index], h.streams[t.index].applied,
                     t.cursor};
  Emit(Outgoing{Outgoing::Kind::kSendRequest, 0, *target, req});
  t.outstanding = true;
  t.asked = *target;
  // A chunk takes longer to read, ship and join than a log reply: a deadline
  // as short would have the sender read many chunks twice.
  t.deadline_ms = now_ms + CatchUpTimeout(t.attempts + 2);
  ++stats_.catchup_requests;
}

// --- Timers ----------------------------------------------------------------------------

void CoreImpl::OnTick(ReplicaStore& store, uint64_t now_ms) {
  latest_now_ms_ = std::max(latest_now_ms_, now_ms);
  for (auto& [id, peer] : peers_) {
    if (peer.up && now_ms > peer.last_heard_ms + options_.down_after_ms) {
      peer.up = false;
      ++stats_.peers_down;
    }
  }
  for (Held& h : held_) UpdateFence(h, now_ms);  // a peer that went down is not waited for
  MoveTick(store, now_ms);
  if (!sent_any_heartbeat_ || now_ms >= last_full_heartbeat_ms_ + options_.heartbeat_interval_ms) {
    CloseAllBatches();
    EmitHeartbeat(true, now_ms);
  } else if (heartbeat_due_ && now_ms >= last_heartbeat_ms_ + options_.heartbeat_min_gap_ms) {
    CloseAllBatches();
    EmitHeartbeat(false, now_ms);
  }
  for (Held& h : held_) {
    ScheduleTransfer(h, now_ms);
    for (size_t j = 0; j < h.replicas.size(); ++j) {
      const Stream& s = h.streams[j];
      if ((j != h.self_index || h.own_fenced) && (s.gap || s.outstanding)) {
        ScheduleCatchUp(h, j, now_ms);
      }
    }
  }
  if (now_ms >= last_maintenance_ms_ + options_.maintenance_interval_ms) {
    last_maintenance_ms_ = now_ms;
    Maintain(store, now_ms);
  }
  AaeTick(store, now_ms);
}

uint64_t CoreImpl::NextTickMs() const {
  uint64_t t = sent_any_heartbeat_ ? last_full_heartbeat_ms_ + options_.heartbeat_interval_ms : 0;
  if (heartbeat_due_) t = std::min(t, last_heartbeat_ms_ + options_.heartbeat_min_gap_ms);
  t = std::min(t, last_maintenance_ms_ + options_.maintenance_interval_ms);
  if (!pending_.empty() || MovesActive()) t = std::min(t, latest_now_ms_ + 1);  // MoveTick
  for (const auto& [id, peer] : peers_) {
    if (peer.up) t = std::min(t, peer.last_heard_ms + options_.down_after_ms + 1);
  }
  for (const Held& h : held_) {
    const Transfer& tr = h.transfer;
    if (tr.active) t = std::min(t, tr.outstanding ? tr.deadline_ms : tr.retry_at_ms);
    for (size_t j = 0; j < h.replicas.size(); ++j) {
      const Stream& s = h.streams[j];
      if (j == h.self_index && !h.own_fenced) continue;
      if (s.outstanding) {
        t = std::min(t, s.deadline_ms);
      } else if (WantsCatchUp(h, j) && !s.waiting_slot && !tr.active) {
        t = std::min(t, std::max(s.gap_since_ms + options_.catchup_delay_ms, s.retry_at_ms));
      }
    }
  }
  return t;
}

std::vector<uint64_t> CoreImpl::StableOf(const Held& h) const {
  std::vector<uint64_t> v(h.replicas.size());
  // While our own stream is fenced, deltas an earlier process of ours issued
  // (removals among them) may still be on their way back to us.
  if (h.own_fenced && !options_.testing_use_unusable_reports) return v;
  for (size_t i = 0; i < v.size(); ++i) v[i] = h.streams[i].applied;
  for (size_t j = 0; j < h.replicas.size(); ++j) {
    // A former owner's stream is final and applied here (it retired): its
    // removals are all here; it no longer reports.
    if (j == h.self_index || !h.reporter[j]) continue;
    const Report& r = peers_.at(h.replicas[j]).reports.at(h.p);
    bool any = options_.testing_use_unusable_reports ? r.has_latest : r.has_usable;
    // A usable report means we hold every removal the peer issued before it,
    // as far as the peer knows its own stream. A peer restored from an older
    // copy knows less of it than others saw: until we applied its stream as
    // far as anyone reported it, its removals may still be missing here, and
    // a counter folded over an atom one of them removes could not lose it.
    const Stream& own = h.streams[j];
    any = any && (options_.testing_use_unusable_reports ||
                  own.applied >= std::max(own.known_end, own.relayed_end));
    if (!any) return std::vector<uint64_t>(v.size(), 0);
    const std::vector<uint64_t>& report =
        options_.testing_use_unusable_reports ? r.latest : r.usable;
    for (size_t i = 0; i < v.size(); ++i) v[i] = std::min(v[i], report[i]);
  }
  return v;
}

crdt::StableVector CoreImpl::StableMapOf(const Held& h) const {
  crdt::StableVector stable;
  const std::vector<uint64_t> v = StableOf(h);
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] > 0) stable[h.replicas[i]] = v[i];
  }
  return stable;
}

crdt::StableVector CoreImpl::Stable(uint32_t p) const {
  const Held* h = HeldOf(p);
  GEOKV_ASSERT(h != nullptr);
  return StableMapOf(*h);
}

void CoreImpl::NoteCounters(Held& h, size_t index, const crdt::Delta& delta) {
  if (!options_.fold_counters) return;
  for (const crdt::Addition& add : delta.additions) {
    if (!crdt::IsCounterSlot(add.path.slot)) continue;
    auto it = h.fold_keys.find(add.path.key);
    if (it == h.fold_keys.end()) {
      if (h.fold_keys.size() >= options_.fold_keys_max) {
        h.fold_all_until[index] = std::max(h.fold_all_until[index], delta.last);
        FoldAll(h);
        continue;
      }
      it = h.fold_keys.emplace(add.path.key, std::vector<uint64_t>(h.replicas.size(), 0)).first;
    }
    it->second[index] = std::max(it->second[index], add.atom.dot.counter);
  }
}

void CoreImpl::FoldCommitted(ReplicaStore& store, const Held& h, const crdt::Delta& delta) {
  GEOKV_ASSERT(h.replicas.size() == 1);
  if (!options_.fold_counters) return;
  const crdt::StableVector stable = StableMapOf(h);  // {self: delta.last}
  for (const crdt::Addition& add : delta.additions) {
    if (!crdt::IsCounterSlot(add.path.slot)) continue;
    // The point scope of the addition (one key's slot, or one field), so that
    // an increment in a big hash does not visit its other fields.
    const crdt::Scope scope =
        add.path.field.empty() && !crdt::HasField(add.path.slot)
            ? crdt::Scope::Key(add.path.key, crdt::Bit(add.path.slot))
            : crdt::Scope::Field(add.path.key, crdt::Bit(add.path.slot), add.path.field);
    stats_.folded_atoms += crdt::FoldStableCounters(store.Partition(h.p), scope, stable);
  }
}

void CoreImpl::FoldAll(Held& h) {
  if (!options_.fold_counters) return;
  for (size_t i = 0; i < h.replicas.size(); ++i) {
    h.fold_all_until[i] = std::max(h.fold_all_until[i], h.streams[i].applied);
    h.fold_all |= h.fold_all_until[i] > 0;  // an empty replica has nothing to fold
  }
}

void CoreImpl::FoldCounters(ReplicaStore& store) {
  constexpr crdt::SlotMask kCounterSlots =
      crdt::Bit(crdt::Slot::kCounter) | crdt::Bit(crdt::Slot::kFieldCounter);
  size_t partitions = options_.fold_partitions_per_maintenance;
  size_t keys = options_.fold_keys_per_maintenance;
  size_t k = 0;
  for (; k < held_.size() && (partitions > 0 || keys > 0); ++k) {
    Held& h = held_[(fold_cursor_ + k) % held_.size()];
    // Not while a transfer comes in: its ranges joined so far may hold atoms
    // whose dots the context does not hold yet (docs/replication.md).
    if (h.transfer.active || !Whole(h)) continue;
    const std::vector<uint64_t> stable = StableOf(h);
    const crdt::StableVector map = StableMapOf(h);
    if (map.empty()) continue;
    auto covers = [&](const std::vector<uint64_t>& dots) {
      for (size_t i = 0; i < dots.size(); ++i) {
        if (dots[i] > stable[i]) return false;
      }
      return true;
    };
    if (h.fold_all && partitions > 0) {
      bool advanced = false;
      for (size_t i = 0; i < stable.size(); ++i) advanced |= stable[i] > h.folded_stable[i];
      if (advanced) {
        stats_.folded_atoms +=
            crdt::FoldStableCounters(store.Partition(h.p), crdt::Scope::Partition(), map);
        h.folded_stable = stable;
        --partitions;
        if (covers(h.fold_all_until)) h.fold_all = false;
      }
    }
    // Keys from the cursor on, wrapping: a key stays until all its increments
    // seen so far are stable (then they are folded for good).
    auto it = h.fold_keys.lower_bound(h.fold_key_cursor);
    for (size_t visited = 0; visited < h.fold_keys.size() && keys > 0; ++visited, --keys) {
      if (it == h.fold_keys.end()) it = h.fold_keys.begin();
      stats_.folded_atoms += crdt::FoldStableCounters(
          store.Partition(h.p), crdt::Scope::Key(it->first, kCounterSlots), map);
      it = covers(it->second) ? h.fold_keys.erase(it) : std::next(it);
    }
    h.fold_key_cursor = it == h.fold_keys.end() ? std::string() : it->first;
  }
  fold_cursor_ = held_.empty() ? 0 : (fold_cursor_ + k) % held_.size();
}

void CoreImpl::Maintain(ReplicaStore& store, uint64_t /*now_ms*/) {
  if (options_.fold_counters) FoldCounters(store);
  if (options_.truncate_logs) {
    for (Held& h : held_) {
      if (!Whole(h)) continue;
      // Down replicas do not hold truncation back: they get a state transfer
      // when they return.
      uint64_t through = h.streams[h.self_index].applied;
      bool any_live = false;
      for (size_t j = 0; j < h.replicas.size(); ++j) {
        if (j == h.self_index || !h.reporter[j]) continue;
        const Peer& peer = peers_.at(h.replicas[j]);
        if (!peer.up) continue;
        any_live = true;
        const Report& r = peer.reports.at(h.p);
        through = std::min(through, r.has_latest ? r.latest[h.self_index] : 0);
      }
      if (any_live && through > h.truncated_through) {
        store.TruncateLog(h.p, membership_.self, through);
        h.truncated_through = through;
        ++stats_.truncations;
      }
    }
  }
}

// --- Queries ---------------------------------------------------------------------------

uint32_t CoreImpl::DcsThatApplied(const std::vector<std::pair<uint32_t, uint64_t>>& writes) const {
  std::set<uint32_t> dcs;
  for (const auto& [id, peer] : peers_) {
    if (peer.dc != self_dc_) dcs.insert(peer.dc);
  }
  uint32_t count = 0;
  for (uint32_t dc : dcs) {
    const bool all = std::all_of(writes.begin(), writes.end(), [&](const auto& write) {
      const Held* h = HeldOf(write.first);
      GEOKV_ASSERT(h != nullptr);
      for (size_t j = 0; j < h->replicas.size(); ++j) {
        if (j == h->self_index || !h->reporter[j]) continue;
        const Peer& peer = peers_.at(h->replicas[j]);
        if (peer.dc != dc) continue;
        const Report& r = peer.reports.at(h->p);
        if (r.has_latest && r.latest[h->self_index] >= write.second) return true;
      }
      return false;
    });
    if (all) ++count;
  }
  return count;
}

std::vector<PeerStatus> CoreImpl::Peers(uint64_t now_ms) const {
  std::vector<PeerStatus> out;
  for (const auto& [id, peer] : peers_) {
    PeerStatus st;
    st.id = id;
    st.dc = peer.dc;
    st.up = peer.up;
    st.last_heard_ms = peer.last_heard_ms;
    st.lag_ms = peer.lag_ms;
    for (const auto& [p, r] : peer.reports) {
      const Held& h = *HeldOf(p);
      const uint64_t mine = h.streams[h.self_index].applied;
      const uint64_t theirs = std::min(mine, r.has_latest ? r.latest[h.self_index] : 0);
      st.pending_deltas += mine - theirs;
      if (mine == theirs) continue;
      auto it =
          std::upper_bound(h.commit_ms.begin(), h.commit_ms.end(), std::make_pair(theirs, kNever));
      if (it != h.commit_ms.end() && now_ms > it->second) {
        st.oldest_pending_ms = std::max(st.oldest_pending_ms, now_ms - it->second);
      }
    }
    out.push_back(st);
  }
  return out;
}

void CoreImpl::NoteEpoch(const Heartbeat& hb) {
  if (hb.from == membership_.self) return;
  auto it = epochs_.find(hb.from);
  if (it == epochs_.end()) {
    if (epochs_.size() >= options_.epoch_senders_max) return;
    epochs_.emplace(hb.from, std::make_pair(hb.incarnation, hb.epoch));
    NoteEstimates(hb);
    return;
  }
  auto& [incarnation, epoch] = it->second;
  if (hb.incarnation < incarnation) return;  // an older process's
  if (hb.incarnation > incarnation) {
    incarnation = hb.incarnation;
    epoch = hb.epoch;
  } else {
    epoch = std::max(epoch, hb.epoch);
  }
  NoteEstimates(hb);  // the latest heard
}

void CoreImpl::NoteEstimates(const Heartbeat& hb) {
  peer_move_bytes_left_[hb.from] = hb.move_bytes_left;
  if (hb.partition_bytes != 0) {
    peer_partition_bytes_[hb.from] = hb.partition_bytes;
  } else {
    peer_partition_bytes_.erase(hb.from);
  }
}

uint64_t CoreImpl::PeerPartitionBytes() const {
  std::vector<uint64_t> values;
  for (const auto& [id, bytes] : peer_partition_bytes_) values.push_back(bytes);
  if (values.empty()) return 0;
  std::nth_element(values.begin(), values.begin() + values.size() / 2, values.end());
  return values[values.size() / 2];
}

std::map<crdt::ReplicaId, uint64_t> CoreImpl::PeerEpochs() const {
  std::map<crdt::ReplicaId, uint64_t> out;
  for (const auto& [id, entry] : epochs_) out.emplace(id, entry.second);
  return out;
}

bool CoreImpl::Settled() const {
  if (outstanding_ != 0 || !pending_.empty() || MovesActive()) return false;
  for (const Held& h : held_) {
    if (!h.pending.empty() || h.transfer.active) return false;
    for (size_t j = 0; j < h.replicas.size(); ++j) {
      if (j == h.self_index) continue;
      const Stream& s = h.streams[j];
      if (s.gap || !s.buffered.empty() || s.blocked) return false;
      if (!h.reporter[j]) continue;
      const Peer& peer = peers_.at(h.replicas[j]);
      const Report& r = peer.reports.at(h.p);
      if (!peer.up || !r.has_latest) return false;
      for (size_t i = 0; i < h.replicas.size(); ++i) {
        if (r.latest[i] != h.streams[i].applied) return false;
      }
    }
  }
  return true;
}

}  // namespace geokv::replication::internal

namespace geokv::replication {

ReplicationCore::ReplicationCore(Membership membership, Options options, ReplicaStore& store,
                                 uint64_t now_ms)
    : impl_(std::make_unique<internal::CoreImpl>(std::move(membership), options, store, now_ms)) {}

ReplicationCore::~ReplicationCore() = default;

void ReplicationCore::OnLocalDelta(ReplicaStore& store, uint32_t p, const crdt::Delta& delta,
                                   uint64_t now_ms) {
  impl_->OnLocalDelta(store, p, delta, now_ms);
}
void ReplicationCore::OnMessage(ReplicaStore& store, const Message& message, uint64_t now_ms) {
  impl_->OnMessage(store, message, now_ms);
}
void ReplicationCore::OnTick(ReplicaStore& store, uint64_t now_ms) { impl_->OnTick(store, now_ms); }
uint64_t ReplicationCore::NextTickMs() const { return impl_->NextTickMs(); }
std::vector<Outgoing> ReplicationCore::TakeOutgoing(uint64_t now_ms) {
  return impl_->TakeOutgoing(now_ms);
}
uint32_t ReplicationCore::DcsThatApplied(
    const std::vector<std::pair<uint32_t, uint64_t>>& writes) const {
  return impl_->DcsThatApplied(writes);
}
void ReplicationCore::FenceOwnStreams() { impl_->FenceOwnStreams(); }
bool ReplicationCore::OwnWritable(uint32_t p) const { return impl_->OwnWritable(p); }
bool ReplicationCore::OwnStreamsKnown() const { return impl_->OwnStreamsKnown(); }
bool ReplicationCore::Holds(uint32_t p) const { return impl_->Holds(p); }
uint64_t ReplicationCore::Applied(uint32_t p, crdt::ReplicaId origin) const {
  return impl_->Applied(p, origin);
}
crdt::StableVector ReplicationCore::Stable(uint32_t p) const { return impl_->Stable(p); }
std::vector<PeerStatus> ReplicationCore::Peers(uint64_t now_ms) const {
  return impl_->Peers(now_ms);
}
bool ReplicationCore::Settled() const { return impl_->Settled(); }
Status ReplicationCore::Reconfigure(ReplicaStore& store, Membership next, uint64_t now_ms) {
  return impl_->Reconfigure(store, std::move(next), now_ms);
}
uint64_t ReplicationCore::Epoch() const { return impl_->Epoch(); }
bool ReplicationCore::Serving(uint32_t p) const { return impl_->Serving(p); }
std::vector<MoveStatus> ReplicationCore::Moves() const { return impl_->Moves(); }
bool ReplicationCore::Drained() const { return impl_->Drained(); }
bool ReplicationCore::MayExit() const { return impl_->MayExit(); }
std::vector<crdt::ReplicaId> ReplicationCore::ExitAwaited() const {
  return impl_->ExitAwaited();
}
std::map<crdt::ReplicaId, uint64_t> ReplicationCore::PeerEpochs() const {
  return impl_->PeerEpochs();
}

void ReplicationCore::SetMoveBytesLeft(uint64_t bytes) { impl_->SetMoveBytesLeft(bytes); }
void ReplicationCore::SetPartitionBytes(uint64_t bytes) { impl_->SetPartitionBytes(bytes); }
uint64_t ReplicationCore::PeerPartitionBytes() const { return impl_->PeerPartitionBytes(); }

std::map<crdt::ReplicaId, uint64_t> ReplicationCore::PeerMoveBytesLeft() const {
  return impl_->PeerMoveBytesLeft();
}
const Stats& ReplicationCore::stats() const { return impl_->stats(); }
const Membership& ReplicationCore::membership() const { return impl_->membership(); }
void ReplicationCore::UseTrees(AaeTrees* trees) { impl_->UseTrees(trees); }
size_t ReplicationCore::RunAntiEntropy(std::optional<uint32_t> p) {
  return impl_->RunAntiEntropy(p);
}
std::vector<AaeStatus> ReplicationCore::AntiEntropyStatus(uint64_t now_ms) const {
  return impl_->AntiEntropyStatus(now_ms);
}
std::vector<std::string> ReplicationCore::TakeAntiEntropyLog() {
  return impl_->TakeAntiEntropyLog();
}
Status ReplicationCore::Rebuild(ReplicaStore& store, uint32_t p, uint64_t now_ms) {
  return impl_->Rebuild(store, p, now_ms);
}
HintOutcome ReplicationCore::ApplyHint(ReplicaStore& store, uint32_t p, const crdt::Delta& hint,
                                       std::optional<uint64_t> epoch) {
  return impl_->ApplyHint(store, p, hint, epoch);
}

}  // namespace geokv::replication
