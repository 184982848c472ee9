// The replication core's anti-entropy (docs/replication.md, "Anti-entropy"):
// Merkle tree exchanges between replicas at equal applied vectors, the key
// comparison of leaves that differ twice in a row, and the repair of this
// replica where a majority of the partition's replicas agree against it.
//
// One exchange at a time, begun here (the initiator):
//   1. tree:  AaeRequest{kTree, applied, branches} to one peer; it answers
//             with the leaves of the branches that differ (or "vectors
//             differ" / "not ready"). No differing leaf: equal. Leaves that
//             differed at the previous comparison with that peer too (at
//             equal vectors both times) go on to 2; the others are kept for
//             the next comparison.
//   2. atoms: this node scans its partition from where the last round of
//             that pair stopped, at most aae_scan_atoms_max atoms, which
//             fixes a range; AaeRequest{kAtoms, leaves, range} goes to every
//             live peer of the partition, which answers with its atoms of
//             those leaves' keys in the range. With every reply in and every
//             applied vector still equal, the keys are compared one by one.
#include <algorithm>
#include <bitset>

#include "common/assert.h"
#include "crdt/chunk.h"
#include "crdt/fold.h"
#include "replica/replication/core_internal.h"

namespace geokv::replication::internal {

namespace {

using LeafSet = std::bitset<kAaeLeaves>;

LeafSet LeafSetOf(const std::vector<uint32_t>& leaves) {
  LeafSet set;
  for (uint32_t leaf : leaves) set.set(leaf);
  return set;
}

struct LeafAtoms {
  crdt::AtomList atoms;  // in order
  bool complete = true;  // false: stopped at a bound before the range's end
  // Where the scan stopped (the first atom not visited), if before `to`.
  std::optional<crdt::AtomPosition> stopped_at;
};

// The atoms in [from, to) whose key's leaf is in `leaves`: visits at most
// visit_max atoms and keeps at most atoms_max.
LeafAtoms CollectLeafAtoms(const crdt::MutableState& state, const LeafSet& leaves,
                           const crdt::AtomPosition& from,
                           const std::optional<crdt::AtomPosition>& to, size_t visit_max,
                           size_t atoms_max) {
  LeafAtoms out;
  size_t visited = 0;
  std::string last_key;
  bool last_in = false;
  state.ScanFrom(from, [&](const crdt::Path& path, const crdt::Atom& atom) {
    const crdt::AtomPosition at = crdt::PositionOf(path, atom);
    if (to && !(at < *to)) return false;
    if (visited >= visit_max) {
      out.complete = false;
      out.stopped_at = at;
      return false;
    }
    ++visited;
    if (visited == 1 || path.key != last_key) {
      last_key = path.key;
      last_in = leaves.test(LeafOfKey(path.key));
    }
    if (!last_in) return true;
    if (out.atoms.size() >= atoms_max) {
      out.complete = false;
      out.stopped_at = at;
      return false;
    }
    out.atoms.emplace_back(path, ShippedAtom(path.slot, atom));
    return true;
  });
  return out;
}

// The atoms grouped by key.
std::map<std::string, crdt::AtomList> ByKey(const crdt::AtomList& atoms) {
  std::map<std::string, crdt::AtomList> out;
  for (const auto& entry : atoms) out[entry.first.key].push_back(entry);
  return out;
}

std::string Describe(const AppliedVector& a) {
  std::string out;
  for (const auto& [origin, seq] : a) {
    out += (out.empty() ? "" : ",") + std::to_string(origin) + ":" + std::to_string(seq);
  }
  return out;
}

}  // namespace

AppliedVector CoreImpl::AppliedOf(const Held& h) const {
  AppliedVector applied;
  for (size_t i = 0; i < h.replicas.size(); ++i) {
    applied.emplace_back(h.replicas[i], h.streams[i].applied);
  }
  return applied;
}

bool CoreImpl::AaeReady(const Held& h) const {
  return trees_ != nullptr && trees_->Built(h.p) != nullptr && !h.transfer.active &&
         !h.own_fenced && h.move.role == Role::kMember;
}

std::vector<std::pair<uint32_t, crdt::ReplicaId>> CoreImpl::AaePairs() const {
  std::vector<std::pair<uint32_t, crdt::ReplicaId>> pairs;
  for (const Held& h : held_) {
    for (size_t j = 0; j < h.replicas.size(); ++j) {
      if (j != h.self_index && h.reporter[j]) pairs.emplace_back(h.p, h.replicas[j]);
    }
  }
  return pairs;
}

size_t CoreImpl::RunAntiEntropy(std::optional<uint32_t> p) {
  size_t queued = 0;
  for (const auto& pair : AaePairs()) {
    if (p && pair.first != *p) continue;
    // Bounded: a pair is queued at most once.
    if (std::find(aae_queue_.begin(), aae_queue_.end(), pair) != aae_queue_.end()) continue;
    aae_queue_.push_back(pair);
    ++queued;
  }
  return queued;
}

std::vector<AaeStatus> CoreImpl::AntiEntropyStatus(uint64_t now_ms) const {
  std::vector<AaeStatus> out;
  for (const auto& [p, peer] : AaePairs()) {
    AaeStatus st;
    st.partition = p;
    st.peer = peer;
    auto it = aae_pairs_.find({p, peer});
    if (it != aae_pairs_.end()) {
      if (it->second.last_ms) st.age_ms = now_ms - std::min(now_ms, *it->second.last_ms);
      st.result = it->second.result;
    } else {
      st.result = "never compared";
    }
    if (aae_.active && aae_.p == p && aae_.peer == peer) st.result += " (comparing now)";
    out.push_back(std::move(st));
  }
  return out;
}

void CoreImpl::ChargeAae(const Message& message) {
  const uint64_t bytes = EncodeMessage(message).size();
  stats_.aae_bytes += bytes;
  aae_tokens_ -= static_cast<int64_t>(bytes);
}

void CoreImpl::AaeTick(ReplicaStore& store, uint64_t now_ms) {
  if (trees_ == nullptr) return;
  trees_->Rebuild([&](uint32_t p) -> const crdt::MutableState& { return store.Partition(p); },
                  options_.aae_rebuild_atoms_per_tick);
  // The byte rate: tokens accrue per ms, up to one second's worth.
  const auto rate = static_cast<int64_t>(options_.aae_max_bytes_per_sec);
  if (now_ms > aae_tokens_ms_) {
    const auto gained = static_cast<int64_t>(std::min<uint64_t>(now_ms - aae_tokens_ms_, 1000) *
                                             options_.aae_max_bytes_per_sec / 1000);
    aae_tokens_ = std::min(rate, aae_tokens_ + gained);
    aae_tokens_ms_ = now_ms;
  }
  if (aae_.active) {
    if (now_ms < aae_.deadline_ms) return;
    EndAae(aae_.stage == AaeRequest::Kind::kTree ? "timeout: no tree from the peer"
                                                 : "timeout: not every replica sent its atoms",
           now_ms);
  }
  if (aae_tokens_ <= 0) return;
  if (!aae_queue_.empty()) {
    const auto [p, peer] = aae_queue_.front();
    aae_queue_.pop_front();
    return StartAae(p, peer, now_ms);
  }
  if (options_.aae_interval_ms == 0 || now_ms < aae_next_ms_) return;
  const auto pairs = AaePairs();
  if (pairs.empty()) return;
  aae_next_ms_ = now_ms + std::max<uint64_t>(1, options_.aae_interval_ms / pairs.size());
  const auto [p, peer] = pairs[aae_cursor_++ % pairs.size()];
  StartAae(p, peer, now_ms);
}

void CoreImpl::StartAae(uint32_t p, crdt::ReplicaId peer, uint64_t now_ms) {
  Held* h = HeldOf(p);
  if (h == nullptr || IndexOf(*h, peer) == kNoIndex) return;  // placement changed
  AaePair& pair = aae_pairs_[{p, peer}];
  if (!AaeReady(*h)) {
    pair.result = "skipped: this replica is not ready (tree being built, transfer, or fenced)";
    pair.last_ms = now_ms;
    return;
  }
  if (!peers_.at(peer).up) {
    pair.result = "skipped: the peer is down";
    pair.last_ms = now_ms;
    return;
  }
  aae_ = AaeExchange{};
  aae_.active = true;
  aae_.id = aae_next_id_++;
  aae_.p = p;
  aae_.peer = peer;
  aae_.stage = AaeRequest::Kind::kTree;
  aae_.deadline_ms = now_ms + options_.aae_timeout_ms;
  aae_.applied = AppliedOf(*h);
  AaeRequest req;
  req.from = membership_.self;
  req.partition = p;
  req.exchange = aae_.id;
  req.kind = AaeRequest::Kind::kTree;
  req.applied = aae_.applied;
  req.branches = trees_->Built(p)->Branches();
  ++stats_.aae_exchanges;
  Message m = req;
  ChargeAae(m);
  Emit(Outgoing{Outgoing::Kind::kSendRequest, 0, peer, std::move(m)});
}

void CoreImpl::EndAae(std::string result, uint64_t now_ms) {
  GEOKV_ASSERT(aae_.active);
  AaePair& pair = aae_pairs_[{aae_.p, aae_.peer}];
  pair.result = std::move(result);
  pair.last_ms = now_ms;
  aae_.active = false;
}

void CoreImpl::OnAaeRequest(ReplicaStore& store, const AaeRequest& req, uint64_t now_ms) {
  Held* h = HeldOf(req.partition);
  const size_t from = h ? IndexOf(*h, req.from) : kNoIndex;
  if (from == kNoIndex || from == h->self_index) {
    ++stats_.rejected;
    return;
  }
  Touch(*PeerOf(req.from), now_ms);
  ChargeAae(req);
  AaeReply reply;
  reply.from = membership_.self;
  reply.partition = h->p;
  reply.exchange = req.exchange;
  reply.kind = req.kind;
  reply.applied = AppliedOf(*h);
  // Over the byte rate (answering costs it too, and a key round scans): the
  // requester tries again at its next round.
  if (!AaeReady(*h) || aae_tokens_ <= 0) {
    reply.status = AaeReply::Status::kNotReady;
  } else if (reply.applied != req.applied) {
    // One side is behind and catching up: nothing to compare (Riak NextGen).
    reply.status = AaeReply::Status::kVectorsDiffer;
  } else if (req.kind == AaeRequest::Kind::kTree) {
    const MerkleTree& tree = *trees_->Built(h->p);
    for (uint32_t b : DifferingBranches(tree.Branches(), req.branches)) {
      reply.branch_leaves.emplace_back(b, tree.LeavesOf(b));
    }
  } else {
    const crdt::MutableState& state = store.Partition(h->p);
    LeafAtoms atoms = CollectLeafAtoms(state, LeafSetOf(req.leaves), req.range_from, req.range_to,
                                       4 * options_.aae_scan_atoms_max, options_.aae_atoms_max);
    reply.snapshot.context = state.Context();
    reply.snapshot.atoms = std::move(atoms.atoms);
    reply.complete = atoms.complete;
  }
  Message m = std::move(reply);
  ChargeAae(m);
  Emit(Outgoing{Outgoing::Kind::kSendReply, 0, req.from, std::move(m)});
}

void CoreImpl::OnAaeReply(ReplicaStore& store, const AaeReply& reply, uint64_t now_ms) {
  Held* h = HeldOf(reply.partition);
  const size_t from = h ? IndexOf(*h, reply.from) : kNoIndex;
  if (from == kNoIndex || from == h->self_index) {
    ++stats_.rejected;
    return;
  }
  Touch(*PeerOf(reply.from), now_ms);
  ChargeAae(reply);
  const bool expected = aae_.active && reply.exchange == aae_.id && reply.partition == aae_.p &&
                        reply.kind == aae_.stage &&
                        (reply.kind == AaeRequest::Kind::kTree ? reply.from == aae_.peer
                                                               : aae_.awaited.contains(reply.from));
  if (!expected) {
    ++stats_.duplicates;  // late (the exchange timed out), or a duplicate
    return;
  }
  if (reply.kind == AaeRequest::Kind::kTree) return OnAaeTreeReply(store, *h, reply, now_ms);
  aae_.awaited.erase(reply.from);
  aae_.replies[reply.from] = reply;
  if (aae_.awaited.empty()) DecideAae(store, *h, now_ms);
}

void CoreImpl::OnAaeTreeReply(ReplicaStore& store, Held& h, const AaeReply& reply,
                              uint64_t now_ms) {
  if (reply.status == AaeReply::Status::kNotReady) return EndAae("the peer is not ready", now_ms);
  if (reply.status == AaeReply::Status::kVectorsDiffer || reply.applied != aae_.applied ||
      AppliedOf(h) != aae_.applied || !AaeReady(h)) {
    return EndAae("applied vectors differ: nothing to compare", now_ms);
  }
  const MerkleTree& tree = *trees_->Built(h.p);
  std::vector<uint32_t> differ;
  for (const auto& [b, leaves] : reply.branch_leaves) {
    for (uint32_t leaf : DifferingLeaves(tree, b, leaves)) differ.push_back(leaf);
  }
  AaePair& pair = aae_pairs_[{h.p, aae_.peer}];
  if (differ.empty()) {
    ++stats_.aae_equal;
    pair.leaves.clear();
    pair.next_from = crdt::AtomPosition{};
    return EndAae("equal", now_ms);
  }
  // Acted on only if it repeats: the leaves that differed last time too.
  std::vector<uint32_t> confirmed;
  std::set_intersection(differ.begin(), differ.end(), pair.leaves.begin(), pair.leaves.end(),
                        std::back_inserter(confirmed));
  pair.leaves = differ;
  if (confirmed.empty()) {
    return EndAae("trees differ in " + std::to_string(differ.size()) +
                      " leaves: compared again before acting",
                  now_ms);
  }
  if (confirmed.size() > options_.aae_leaves_max) confirmed.resize(options_.aae_leaves_max);

  // The range: from where the last round stopped, as far as this side may
  // scan now.
  const LeafAtoms own =
      CollectLeafAtoms(store.Partition(h.p), LeafSetOf(confirmed), pair.next_from, std::nullopt,
                       options_.aae_scan_atoms_max, options_.aae_atoms_max);
  aae_.stage = AaeRequest::Kind::kAtoms;
  aae_.deadline_ms = now_ms + options_.aae_timeout_ms;
  aae_.leaves = std::move(confirmed);
  aae_.range_from = pair.next_from;
  aae_.range_to = own.stopped_at;
  for (size_t j = 0; j < h.replicas.size(); ++j) {
    if (j == h.self_index || !h.reporter[j] || !peers_.at(h.replicas[j]).up) continue;
    AaeRequest req;
    req.from = membership_.self;
    req.partition = h.p;
    req.exchange = aae_.id;
    req.kind = AaeRequest::Kind::kAtoms;
    req.applied = aae_.applied;
    req.leaves = aae_.leaves;
    req.range_from = aae_.range_from;
    req.range_to = aae_.range_to;
    aae_.awaited.insert(h.replicas[j]);
    Message m = std::move(req);
    ChargeAae(m);
    Emit(Outgoing{Outgoing::Kind::kSendRequest, 0, h.replicas[j], std::move(m)});
  }
}

void CoreImpl::DecideAae(ReplicaStore& store, Held& h, uint64_t now_ms) {
  AaePair& pair = aae_pairs_[{h.p, aae_.peer}];
  bool conclusive = AppliedOf(h) == aae_.applied && AaeReady(h);
  for (const auto& [id, reply] : aae_.replies) {
    conclusive &=
        reply.status == AaeReply::Status::kOk && reply.complete && reply.applied == aae_.applied;
  }
  crdt::MutableState& state = store.Partition(h.p);
  LeafAtoms own;
  if (conclusive) {
    own = CollectLeafAtoms(state, LeafSetOf(aae_.leaves), aae_.range_from, aae_.range_to,
                           4 * options_.aae_scan_atoms_max, options_.aae_atoms_max);
    conclusive = own.complete;
  }
  if (!conclusive) {
    return EndAae("inconclusive: a replica moved on, was not ready, or held too much", now_ms);
  }

  // Each replica's atoms by key: this node first.
  std::vector<std::pair<crdt::ReplicaId, std::map<std::string, crdt::AtomList>>> sides;
  sides.emplace_back(membership_.self, ByKey(own.atoms));
  for (const auto& [id, reply] : aae_.replies) sides.emplace_back(id, ByKey(reply.snapshot.atoms));
  std::set<std::string> keys;
  for (const auto& [id, by_key] : sides) {
    for (const auto& [key, atoms] : by_key) keys.insert(key);
  }
  static const crdt::AtomList kNone;
  auto atoms_of = [&](size_t side, const std::string& key) -> const crdt::AtomList& {
    auto it = sides[side].second.find(key);
    return it == sides[side].second.end() ? kNone : it->second;
  };
  // Keys are compared folded (crdt::FoldedView): replicas fold counters
  // by their own view of stability, so at equal applied vectors one may hold
  // a key's increments folded and another not yet: no difference.
  std::vector<std::map<std::string, crdt::AtomList>> folded(sides.size());
  for (size_t s = 0; s < sides.size(); ++s) {
    for (const auto& [key, atoms] : sides[s].second) folded[s][key] = crdt::FoldedView(atoms);
  }
  auto same = [&](size_t a, size_t b, const std::string& key) {
    auto fa = folded[a].find(key), fb = folded[b].find(key);
    return (fa == folded[a].end() ? kNone : fa->second) ==
           (fb == folded[b].end() ? kNone : fb->second);
  };

  std::vector<std::string> divergent, repaired, unresolved;
  size_t unrepairable = 0;
  for (const std::string& key : keys) {
    bool all_equal = true;
    for (size_t s = 1; s < sides.size(); ++s) all_equal &= same(s, 0, key);
    if (all_equal) continue;
    divergent.push_back(key);
    // A majority of the partition's replicas (not of those that answered).
    std::optional<size_t> majority;
    for (size_t s = 0; s < sides.size() && !majority; ++s) {
      size_t agree = 0;
      for (size_t t = 0; t < sides.size(); ++t) agree += same(t, s, key);
      if (2 * agree > h.replicas.size()) majority = s;
    }
    if (!majority) {
      unresolved.push_back(key);
      continue;
    }
    if (*majority == 0 || same(0, *majority, key)) continue;  // theirs to fix
    // This replica is the minority: make its atoms of the key the
    // majority's, without a new dot and without touching the context (the
    // majority already holds these atoms; nothing is shipped).
    const crdt::AtomList& mine = atoms_of(0, key);
    const crdt::AtomList& right = atoms_of(*majority, key);
    size_t i = 0, j = 0;
    bool changed = false;
    while (i < mine.size() || j < right.size()) {
      const bool has_mine = i < mine.size(), has_right = j < right.size();
      const crdt::AtomPosition a =
          has_mine ? crdt::PositionOf(mine[i].first, mine[i].second) : crdt::AtomPosition{};
      const crdt::AtomPosition b =
          has_right ? crdt::PositionOf(right[j].first, right[j].second) : crdt::AtomPosition{};
      if (has_mine && has_right && a == b) {
        if (mine[i].second != right[j].second) {
          state.Put(right[j].first, right[j].second);
          changed = true;
        }
        ++i;
        ++j;
      } else if (has_mine && (!has_right || a < b)) {
        // The majority has no such atom. A hint's (its origin is no stream
        // of p) stays: hints reach each replica on their own, so being the
        // first to hold one is no damage (docs/replication.md, "Hinted
        // handoff").
        if (IndexOf(h, mine[i].second.dot.origin) != kNoIndex) {
          state.Erase(mine[i].first, mine[i].second.dot);
          changed = true;
        }
        ++i;
      } else {
        const crdt::Atom& atom = right[j].second;
        // Only an atom whose dots this replica has seen (lost here): one it
        // has not seen comes with its delta. A hint's (its origin is no
        // stream of p) has no delta to come with but its handoff, which may
        // be over (the keeper gave up on no one, but this replica may have
        // been restored from an older copy since): joining it is what
        // ApplyHint does, atom and dot.
        const bool seen =
            state.Context().ContainsRange(atom.dot.origin, atom.first, atom.dot.counter);
        if (seen || IndexOf(h, atom.dot.origin) == kNoIndex) {
          state.Put(right[j].first, atom);
          if (!seen) {
            crdt::DotContext dots;
            dots.InsertRange(atom.dot.origin, atom.first, atom.dot.counter);
            state.JoinContext(dots);
          }
          changed = true;
        } else {
          ++unrepairable;
        }
        ++j;
      }
    }
    if (changed) repaired.push_back(key);
  }

  pair.next_from = aae_.range_to ? *aae_.range_to : crdt::AtomPosition{};
  if (divergent.empty()) {
    return EndAae("trees differ but every key of the " + std::to_string(aae_.leaves.size()) +
                      " leaves compared equal (a write in flight, or folding)",
                  now_ms);
  }
  stats_.aae_divergent_keys += divergent.size();
  stats_.aae_repairs += repaired.size();
  auto names = [&](const std::vector<std::string>& list) {
    std::string out;
    for (size_t k = 0; k < list.size() && k < options_.aae_log_keys_max; ++k) {
      out += (k ? " " : "") + list[k];
    }
    if (list.size() > options_.aae_log_keys_max) out += " ...";
    return out;
  };
  std::string result = std::to_string(divergent.size()) + " keys diverge (" + names(divergent) +
                       "); repaired here: " + std::to_string(repaired.size()) +
                       "; no majority: " + std::to_string(unresolved.size());
  if (unrepairable > 0) result += "; atoms not restorable here: " + std::to_string(unrepairable);
  if (aae_log_.size() < kAaeLogMax) {
    aae_log_.push_back("anti-entropy: partition " + std::to_string(h.p) + " at applied vector [" +
                       Describe(aae_.applied) + "], replicas " +
                       std::to_string(aae_.replies.size() + 1) + " of " +
                       std::to_string(h.replicas.size()) + ": " + result +
                       (unresolved.empty() ? "" : " (reported, not repaired: no majority agrees)"));
  }
  EndAae(result, now_ms);
}

Status CoreImpl::Rebuild(ReplicaStore& store, uint32_t p, uint64_t now_ms) {
  Held* h = HeldOf(p);
  if (h == nullptr) return Status::Invalid("partition " + std::to_string(p) + " is not held here");
  if (h->replicas.size() < 2) {
    return Status::Invalid("partition " + std::to_string(p) + " has no other replica");
  }
  if (h->transfer.active) {
    return Status::Invalid("a transfer into partition " + std::to_string(p) + " is under way");
  }
  // A transfer in restore mode from the live replica that reported the most:
  // range by range, this replica's atoms become the sender's (the effect of
  // dropping the replica and refilling it), with nothing to raise at the end.
  Transfer& t = h->transfer;
  t = Transfer{};
  t.active = true;
  t.restore = true;
  // What this replica serves others meanwhile (FillStateReply).
  t.settled_known = true;
  t.settled_context = store.Partition(p).Context();
  t.index = h->self_index == 0 ? 1 : 0;  // names a peer's stream in its requests
  SaveTransfer(store, *h);
  h->own_fenced = true;  // no own dots until it is whole (UpdateFence)
  ++stats_.aae_rebuilds;
  ScheduleTransfer(*h, now_ms);
  return Status::Ok();
}

}  // namespace geokv::replication::internal
