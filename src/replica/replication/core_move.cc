// Membership change: the core moves to a new placement while it runs
// (docs/replication.md, "Membership change"; the contract is core.h,
// Reconfigure). Per partition whose replica set changes:
//   - a new owner (joiner) holds p at once (deltas published on p's topic
//     reach it), fills it by a state transfer from the owner giving p up
//     (another old owner if that one is down) in restore mode, catches up,
//     and only then serves p and reports it in heartbeats: its first report
//     is the handoff's acknowledgement;
//   - an old owner (leaver) serves and ships writes until every joiner
//     reported p, then stops serving (its own stream there is final and
//     announced in heartbeats, Heartbeat::released), waits until every
//     owner reported applying all it had applied, and only then deletes p,
//     in slices over ticks;
//   - every node keeps a former owner's stream as an origin of p (its dots
//     are in the state) and counts it among p's reporters (stability,
//     truncation, Settled) until its final seq is applied here.
// A Reconfigure while a move of this node is under way is queued, and the
// queued epochs are adopted in order (overlapping moves of a partition are
// never run, no epoch is skipped). What a move needs to resume after a
// restart is in the store's move record of each partition.
#include <algorithm>
#include <iterator>

#include "common/assert.h"
#include "replica/replication/core_internal.h"

namespace geokv::replication::internal {

namespace {

constexpr uint64_t kRecordMagic = 0x4d4f5645;  // "MOVE"
// Version 2 added `seen` (a joiner's Move::seen); version 1 records are read
// with none.
constexpr uint64_t kRecordVersion = 2;
// Record roles beyond Held's (not held here).
constexpr uint64_t kNotHeld = 5;
constexpr uint64_t kLeft = 6;  // given up and deleted; its last own seq is announced
// Former owners a fill may add as origins of a partition at once.
constexpr size_t kOriginsAddedMax = 64;

// The decoded move record of one partition.
struct MoveRecord {
  uint64_t epoch = 0;
  uint64_t role = kNotHeld;
  bool filled = false;
  uint64_t left_final = 0;
  uint64_t deleted_atoms = 0;
  std::vector<crdt::ReplicaId> members;
  std::vector<crdt::ReplicaId> joiners;
  std::vector<crdt::ReplicaId> leavers;
  std::vector<std::pair<crdt::ReplicaId, uint64_t>> finals;
  AppliedVector drain_target;
  std::vector<std::pair<crdt::ReplicaId, uint64_t>> origins;  // (id, dc)
  AppliedVector seen;
};

// A record is a sequence of little-endian uint64s: simple to bound on decode.
class Words {
 public:
  void Put(uint64_t v) {
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void PutIds(const std::vector<crdt::ReplicaId>& ids) {
    Put(ids.size());
    for (crdt::ReplicaId id : ids) Put(id);
  }
  void PutPairs(const std::vector<std::pair<uint64_t, uint64_t>>& pairs) {
    Put(pairs.size());
    for (const auto& [a, b] : pairs) {
      Put(a);
      Put(b);
    }
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

class WordReader {
 public:
  explicit WordReader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  uint64_t Get() {
    if (in_.size() < 8) {
      ok_ = false;
      return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t{static_cast<unsigned char>(in_[i])} << (8 * i);
    in_.remove_prefix(8);
    return v;
  }
  // A count, bounded by what is left (each element takes `words` words).
  size_t Count(size_t words) {
    const uint64_t n = Get();
    if (n > in_.size() / (8 * words)) ok_ = false;
    return ok_ ? static_cast<size_t>(n) : 0;
  }
  std::vector<crdt::ReplicaId> Ids() {
    std::vector<crdt::ReplicaId> ids(Count(1));
    for (auto& id : ids) id = Get();
    return ids;
  }
  std::vector<std::pair<uint64_t, uint64_t>> Pairs() {
    std::vector<std::pair<uint64_t, uint64_t>> pairs(Count(2));
    for (auto& [a, b] : pairs) {
      a = Get();
      b = Get();
    }
    return pairs;
  }
  bool AtEnd() const { return in_.empty(); }

 private:
  std::string_view in_;
  bool ok_ = true;
};

std::string EncodeMoveRecord(const MoveRecord& r) {
  Words w;
  w.Put(kRecordMagic);
  w.Put(kRecordVersion);
  w.Put(r.epoch);
  w.Put(r.role);
  w.Put(r.filled ? 1 : 0);
  w.Put(r.left_final);
  w.Put(r.deleted_atoms);
  w.PutIds(r.members);
  w.PutIds(r.joiners);
  w.PutIds(r.leavers);
  w.PutPairs(r.finals);
  w.PutPairs(r.drain_target);
  w.PutPairs(r.origins);
  w.PutPairs(r.seen);
  return w.Take();
}

std::optional<MoveRecord> DecodeMoveRecord(std::string_view bytes) {
  WordReader in(bytes);
  MoveRecord r;
  if (in.Get() != kRecordMagic) return std::nullopt;
  const uint64_t version = in.Get();
  if (version != 1 && version != kRecordVersion) return std::nullopt;
  r.epoch = in.Get();
  r.role = in.Get();
  r.filled = in.Get() != 0;
  r.left_final = in.Get();
  r.deleted_atoms = in.Get();
  r.members = in.Ids();
  r.joiners = in.Ids();
  r.leavers = in.Ids();
  r.finals = in.Pairs();
  r.drain_target = in.Pairs();
  r.origins = in.Pairs();
  if (version >= 2) r.seen = in.Pairs();
  if (!in.ok() || !in.AtEnd() || r.role > kLeft) return std::nullopt;
  return r;
}

std::vector<crdt::ReplicaId> Sorted(std::vector<crdt::ReplicaId> ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

// a \ b, both ascending.
std::vector<crdt::ReplicaId> Minus(const std::vector<crdt::ReplicaId>& a,
                                   const std::vector<crdt::ReplicaId>& b) {
  std::vector<crdt::ReplicaId> out;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

bool Contains(const std::vector<crdt::ReplicaId>& ids, crdt::ReplicaId id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

}  // namespace

// --- Building --------------------------------------------------------------------------

void CoreImpl::LoadPlacement(ReplicaStore& store, Membership given, uint64_t now_ms) {
  const size_t q = membership_.replicas.size();
  std::vector<std::optional<MoveRecord>> records(q);
  bool any = false;
  uint64_t epoch = 0;
  for (uint32_t p = 0; p < q; ++p) {
    const std::string bytes = store.MoveRecord(p);
    if (bytes.empty()) continue;
    records[p] = DecodeMoveRecord(bytes);
    if (!records[p]) {
      ++stats_.store_errors;  // unreadable: p is placed as `given` says
      continue;
    }
    any = true;
    epoch = std::max(epoch, records[p]->epoch);
  }
  if (!any) return;  // a first start: `given` is the placement in force
  for (uint32_t p = 0; p < q; ++p) {
    if (!records[p]) continue;
    membership_.replicas[p] = records[p]->members;
    for (const auto& [id, dc] : records[p]->origins) {
      membership_.dc_of.emplace(id, static_cast<uint32_t>(dc));
    }
    for (crdt::ReplicaId id : records[p]->members) membership_.dc_of.emplace(id, 0);
  }
  membership_.epoch = epoch;
  if (given.epoch > epoch) pending_.push_back(std::move(given));
  for (uint32_t p = 0; p < q; ++p) {
    if (!records[p]) continue;
    const MoveRecord& r = *records[p];
    if (r.role == kLeft) left_[p] = Left{r.left_final, r.origins};
    if (r.role >= kNotHeld) continue;
    std::vector<crdt::ReplicaId> ids;
    for (const auto& [id, dc] : r.origins) ids.push_back(id);
    ids = Sorted(std::move(ids));
    if (!std::binary_search(ids.begin(), ids.end(), membership_.self)) {
      ++stats_.store_errors;
      continue;
    }
    Held& h = AddHeld(store, p, std::move(ids), now_ms);
    Move& m = h.move;
    m.started_ms = now_ms;  // resumed by this process
    m.role = static_cast<Role>(r.role);
    m.filled = r.filled;
    m.joiners = r.joiners;
    m.leavers = r.leavers;
    m.finals = {r.finals.begin(), r.finals.end()};
    m.drain_target = r.drain_target;
    m.deleted_atoms = r.deleted_atoms;
    m.seen = r.seen;
    if (m.role == Role::kJoining) {
      h.own_fenced = true;
      h.transfer.fill_fresh = h.transfer.active && h.transfer.first_applied.empty();
    }
    RefreshReporters(h);
  }
}

CoreImpl::Held& CoreImpl::AddHeld(ReplicaStore& store, uint32_t p, std::vector<crdt::ReplicaId> set,
                                  uint64_t now_ms) {
  const crdt::ReplicaId self = membership_.self;
  GEOKV_ASSERT(held_index_[p] < 0);
  Held h;
  h.p = p;
  h.self_index = static_cast<size_t>(std::lower_bound(set.begin(), set.end(), self) - set.begin());
  GEOKV_ASSERT(h.self_index < set.size() && set[h.self_index] == self);
  h.streams.resize(set.size());
  h.folded_stable.assign(set.size(), 0);
  for (size_t i = 0; i < set.size(); ++i) {
    h.streams[i].applied = store.Applied(p, set[i]);
    h.streams[i].known_end = h.streams[i].applied;
  }
  for (crdt::ReplicaId id : set) {
    if (id != self) NewReport(id, p, set.size(), now_ms);
  }
  h.replicas = std::move(set);
  h.reporter.assign(h.replicas.size(), true);
  // A transfer under way before the restart resumes where it was.
  if (std::string record = store.TransferRecord(p); !record.empty()) {
    auto decoded = DecodeTransferRecord(record);
    const size_t index = decoded.ok() ? IndexOf(h, decoded->origin) : kNoIndex;
    if (index == kNoIndex) {
      ++stats_.store_errors;  // unreadable: nothing to resume
    } else {
      h.transfer.active = true;
      h.transfer.index = index;
      h.transfer.cursor = std::move(decoded->cursor);
      h.transfer.first_context = std::move(decoded->first_context);
      h.transfer.first_applied = std::move(decoded->first_applied);
      h.transfer.settled_known = decoded->settled.has_value();
      if (decoded->settled) h.transfer.settled_context = std::move(*decoded->settled);
      h.transfer.restore = decoded->restore;
      h.own_fenced |= decoded->restore;  // a rebuild fences until it is whole (Rebuild)
    }
  }
  h.fold_all_until.assign(h.replicas.size(), 0);
  FoldAll(h);  // what was not folded before the restart is not remembered
  held_index_[p] = static_cast<int32_t>(held_.size());
  held_.push_back(std::move(h));
  return held_.back();
}

void CoreImpl::NewReport(crdt::ReplicaId id, uint32_t p, size_t replicas, uint64_t now_ms) {
  Peer& peer = peers_[id];
  if (peer.id == 0) {  // a node this one shares nothing with yet
    peer.id = id;
    auto dc = membership_.dc_of.find(id);
    peer.dc = dc == membership_.dc_of.end() ? 0 : dc->second;
    peer.last_heard_ms = now_ms;
  }
  Report& r = peer.reports[p];
  r = Report{};
  r.latest.assign(replicas, 0);
  r.usable.assign(replicas, 0);
  r.held.assign(replicas, 0);
}

std::vector<std::pair<crdt::ReplicaId, uint64_t>> CoreImpl::OriginsOf(const Held& h) const {
  std::vector<std::pair<crdt::ReplicaId, uint64_t>> out;
  for (crdt::ReplicaId id : h.replicas) {
    auto dc = membership_.dc_of.find(id);
    out.emplace_back(id, dc == membership_.dc_of.end() ? 0 : dc->second);
  }
  return out;
}

void CoreImpl::Widen(ReplicaStore& store, Held& h, const std::vector<crdt::ReplicaId>& ids,
                     uint64_t now_ms) {
  if (ids == h.replicas) return;
  std::vector<size_t> to(h.replicas.size());  // old index -> new index
  for (size_t i = 0; i < h.replicas.size(); ++i) {
    to[i] =
        static_cast<size_t>(std::lower_bound(ids.begin(), ids.end(), h.replicas[i]) - ids.begin());
    GEOKV_ASSERT(to[i] < ids.size() && ids[to[i]] == h.replicas[i]);
  }
  auto remap = [&](std::vector<uint64_t>& v) {
    std::vector<uint64_t> out(ids.size(), 0);
    for (size_t i = 0; i < v.size(); ++i) out[to[i]] = v[i];
    v = std::move(out);
  };
  std::vector<Stream> streams(ids.size());
  std::vector<bool> had(ids.size(), false);
  for (size_t i = 0; i < h.streams.size(); ++i) {
    streams[to[i]] = std::move(h.streams[i]);
    had[to[i]] = true;
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    if (had[i]) continue;
    streams[i].applied = store.Applied(h.p, ids[i]);
    streams[i].known_end = streams[i].applied;
  }
  h.streams = std::move(streams);
  remap(h.folded_stable);
  remap(h.fold_all_until);
  for (auto& [key, dots] : h.fold_keys) remap(dots);
  for (auto& [id, peer] : peers_) {
    auto it = peer.reports.find(h.p);
    if (it == peer.reports.end()) continue;
    remap(it->second.latest);
    remap(it->second.usable);
    remap(it->second.held);
  }
  h.self_index = to[h.self_index];
  h.transfer.index = to[h.transfer.index];
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!had[i] && ids[i] != membership_.self) NewReport(ids[i], h.p, ids.size(), now_ms);
  }
  h.replicas = ids;
  h.reporter.assign(ids.size(), true);
}

void CoreImpl::RefreshReporters(Held& h) {
  const std::vector<crdt::ReplicaId> members = Sorted(membership_.replicas[h.p]);
  for (size_t j = 0; j < h.replicas.size(); ++j) {
    const crdt::ReplicaId id = h.replicas[j];
    h.reporter[j] = j == h.self_index || std::binary_search(members.begin(), members.end(), id) ||
                    Contains(h.move.leavers, id);
  }
}

// --- Reconfigure -------------------------------------------------------------------------

Status CoreImpl::Reconfigure(ReplicaStore& store, Membership next, uint64_t now_ms) {
  latest_now_ms_ = std::max(latest_now_ms_, now_ms);
  if (next.self != membership_.self)
    return Status::Invalid("reconfigure: another node's membership");
  if (next.replicas.size() != membership_.replicas.size()) {
    return Status::Invalid("reconfigure: the partition count cannot change");
  }
  const uint64_t latest = pending_.empty() ? membership_.epoch : pending_.back().epoch;
  if (next.epoch <= latest) {
    return Status::Invalid("reconfigure: epoch " + std::to_string(next.epoch) + " is not above " +
                           std::to_string(latest));
  }
  if (!next.dc_of.contains(next.self)) return Status::Invalid("reconfigure: no dc for this node");
  if (placement_unknown_) {
    // Who held what before is how a joiner finds the owner to fill from and
    // the leavers whose streams it must track: "nobody" would have it serve
    // an empty partition.
    return Status::Invalid(
        "reconfigure: this core was built with no placement (every replica set empty); build it "
        "with the placement in force before this epoch (this node in no replica set)");
  }
  for (const auto& set : next.replicas) {
    const std::vector<crdt::ReplicaId> sorted = Sorted(set);
    if (sorted.size() != set.size())
      return Status::Invalid("reconfigure: a replica set repeats a node");
    for (crdt::ReplicaId id : set) {
      if (!next.dc_of.contains(id)) return Status::Invalid("reconfigure: a replica without a dc");
      if (next.forgotten.contains(id))
        return Status::Invalid("reconfigure: a forgotten node in a replica set");
    }
  }
  next.incarnation = membership_.incarnation;
  // At once, queued or not: the moves under way may be waiting for them.
  forgotten_.insert(next.forgotten.begin(), next.forgotten.end());
  if (MovesActive() || !pending_.empty()) {
    if (pending_.size() >= options_.reconfigure_queue_max) {
      return Status::Busy("reconfigure: " + std::to_string(pending_.size()) +
                          " epochs already wait for the moves under way here");
    }
    pending_.push_back(std::move(next));  // adopted in order as moves here end (MoveTick)
    return Status::Ok();
  }
  Adopt(store, next, now_ms);
  return Status::Ok();
}

void CoreImpl::Adopt(ReplicaStore& store, const Membership& next, uint64_t now_ms) {
  GEOKV_ASSERT(!MovesActive());
  const crdt::ReplicaId self = membership_.self;
  for (const auto& [id, dc] : next.dc_of) membership_.dc_of[id] = dc;
  for (uint32_t p = 0; p < membership_.replicas.size(); ++p) {
    const std::vector<crdt::ReplicaId> prev = Sorted(membership_.replicas[p]);
    const std::vector<crdt::ReplicaId> nxt = Sorted(next.replicas[p]);
    membership_.replicas[p] = next.replicas[p];
    membership_.epoch = next.epoch;  // for the record
    Held* h = HeldOf(p);
    const bool in_next = std::binary_search(nxt.begin(), nxt.end(), self);
    // Finals and their acknowledgements belong to the epoch before (a peer
    // that adopts this one has ended its moves there: MovedOn).
    for (auto& [id, peer] : peers_) {
      if (auto r = peer.reports.find(p); r != peer.reports.end()) r->second.final_acked = false;
    }
    if (h != nullptr) h->move.finals.clear();
    if (prev == nxt || (h == nullptr && !in_next)) {
      if (h != nullptr) RefreshReporters(*h);
      SaveMove(store, p);
      continue;
    }
    std::vector<crdt::ReplicaId> ids = prev;
    ids.insert(ids.end(), nxt.begin(), nxt.end());
    if (h != nullptr) ids.insert(ids.end(), h->replicas.begin(), h->replicas.end());
    if (auto left = left_.find(p); h == nullptr && left != left_.end()) {
      for (const auto& [id, dc] : left->second.origins) ids.push_back(id);  // its store has them
    }
    ids = Sorted(std::move(ids));
    if (h == nullptr) {
      left_.erase(p);
      h = &AddHeld(store, p, ids, now_ms);
      h->move.role = Role::kJoining;
      h->own_fenced = true;  // no own dots until caught up (it may have held p before)
      NoteSeen(store, *h);
    } else {
      Widen(store, *h, ids, now_ms);
      h->move.role = in_next ? Role::kMember : Role::kLeaving;
    }
    Move& m = h->move;
    m.started_ms = now_ms;
    m.filled = false;
    m.joiners = Minus(Minus(nxt, prev), {self});
    m.leavers = Minus(Minus(prev, nxt), {self});
    m.drain_target.clear();
    m.deleted_atoms = 0;
    if (m.role != Role::kJoining) m.seen.clear();
    // A joiner's report of p (from when it held p before) is not its
    // acknowledgement of this move.
    for (crdt::ReplicaId id : m.joiners) peers_.at(id).reports.at(p).Clear();
    RefreshReporters(*h);
    if (m.role == Role::kJoining) BeginFill(store, *h, now_ms);
    SaveMove(store, p);
  }
  membership_.epoch = next.epoch;
  heartbeat_due_ = true;
}

void CoreImpl::NoteSeen(ReplicaStore& store, Held& h) {
  const crdt::DotContext& context = store.Partition(h.p).Context();
  h.move.seen.clear();
  for (size_t i = 0; i < h.replicas.size(); ++i) {
    const uint64_t max = context.Max(h.replicas[i]);
    if (max > h.streams[i].applied) h.move.seen.emplace_back(h.replicas[i], max);
  }
}

void CoreImpl::BeginFill(ReplicaStore& store, Held& h, uint64_t now_ms) {
  GEOKV_ASSERT(!h.transfer.active);
  // From the owner giving p up (Cassandra's lesson), else another live owner.
  std::optional<size_t> giver, other;
  for (size_t j = 0; j < h.replicas.size(); ++j) {
    const crdt::ReplicaId id = h.replicas[j];
    if (j == h.self_index || !h.reporter[j] || Contains(h.move.joiners, id)) continue;
    if (forgotten_.contains(id)) continue;  // gone for good: what it held is lost
    if (!other) other = j;
    if (Contains(h.move.leavers, id) && peers_.at(id).up && !giver) giver = j;
  }
  if (!other) {  // nobody held p: nothing to fill
    h.move.filled = true;
    return;
  }
  Transfer& t = h.transfer;
  t = Transfer{};
  t.active = true;
  t.restore = true;
  t.fill_fresh = true;
  // (Recorded as a rebuild's is; a joiner serves no chunk, Whole.)
  t.settled_known = true;
  t.settled_context = store.Partition(h.p).Context();
  t.index = giver.value_or(*other);
  t.asked = giver ? h.replicas[*giver] : 0;
  SaveTransfer(store, h);
  ScheduleTransfer(h, now_ms);
}

void CoreImpl::TakeOrigins(ReplicaStore& store, Held& h, const AppliedVector& applied,
                           uint64_t now_ms) {
  std::vector<crdt::ReplicaId> ids = h.replicas;
  for (const auto& [origin, seq] : applied) {
    if (seq > 0) ids.push_back(origin);
  }
  ids = Sorted(std::move(ids));
  if (ids.size() > h.replicas.size() + kOriginsAddedMax) return;  // a hostile vector: ignore
  Widen(store, h, ids, now_ms);
  RefreshReporters(h);
}

bool CoreImpl::IsJoiner(const Held& h, crdt::ReplicaId id) { return Contains(h.move.joiners, id); }

bool CoreImpl::CaughtUp(const Held& h) const {
  if (!h.move.filled || h.transfer.active) return false;
  for (const Stream& s : h.streams) {
    if (s.applied < s.known_end || s.applied < s.relayed_end || !s.buffered.empty()) return false;
  }
  // What every live owner reported applying is applied here.
  for (size_t j = 0; j < h.replicas.size(); ++j) {
    const crdt::ReplicaId id = h.replicas[j];
    if (j == h.self_index || !h.reporter[j] || Contains(h.move.joiners, id)) continue;
    const Peer& peer = peers_.at(id);
    if (!peer.up || forgotten_.contains(id)) continue;
    const Report& r = peer.reports.at(h.p);
    if (!r.has_latest) return false;
    for (size_t i = 0; i < h.replicas.size(); ++i) {
      if (i != h.self_index && h.streams[i].applied < r.latest[i]) return false;
    }
  }
  return true;
}

bool CoreImpl::MovedOn(crdt::ReplicaId id) const {
  return EpochOf(id) > membership_.epoch || forgotten_.contains(id);
}

std::vector<crdt::ReplicaId> CoreImpl::DrainAwaited(const Held& h) const {
  std::vector<crdt::ReplicaId> out;
  for (crdt::ReplicaId id : membership_.replicas[h.p]) {
    if (MovedOn(id)) continue;  // it retired this node's stream: it has it all
    const Report& r = peers_.at(id).reports.at(h.p);
    bool has = r.has_latest && r.final_acked;
    for (const auto& [origin, seq] : h.move.drain_target) {
      const size_t i = IndexOf(h, origin);
      has = has && i != kNoIndex && r.latest[i] >= seq;
    }
    if (!has) out.push_back(id);
  }
  return out;
}

uint64_t CoreImpl::EpochOf(crdt::ReplicaId id) const {
  auto it = epochs_.find(id);
  return it == epochs_.end() ? 0 : it->second.second;
}

bool CoreImpl::MovesActive() const {
  return std::any_of(held_.begin(), held_.end(), [](const Held& h) {
    return h.move.role != Role::kMember || !h.move.joiners.empty() || !h.move.leavers.empty();
  });
}

// --- Progress ----------------------------------------------------------------------------

void CoreImpl::MoveTick(ReplicaStore& store, uint64_t now_ms) {
  std::vector<uint32_t> gone;
  for (Held& h : held_) {
    Move& m = h.move;
    bool changed = false;
    // A node that moved on (MovedOn) has ended its part in this one: a
    // joiner caught up, a leaver deleted p, after every owner (this one
    // among them) reported applying all it had. Its heartbeats saying so may
    // have been lost, and it no longer sends them; a forgotten one never
    // will. Joiners that reported p have caught up (they report it only then).
    changed |= std::erase_if(m.joiners, [&](crdt::ReplicaId id) {
                 return peers_.at(id).reports.at(h.p).has_latest || MovedOn(id);
               }) > 0;
    // A leaver retires once its stream is final and applied here (its final
    // stays in m.finals: heartbeats acknowledge it until the next epoch).
    changed |= std::erase_if(m.leavers, [&](crdt::ReplicaId id) {
                 auto f = m.finals.find(id);
                 return (f != m.finals.end() && h.streams[IndexOf(h, id)].applied >= f->second) ||
                        MovedOn(id);
               }) > 0;
    if (changed) RefreshReporters(h);
    Stream& own = h.streams[h.self_index];
    switch (m.role) {
      case Role::kMember:
        break;
      case Role::kJoining:
        if (!m.filled && !h.transfer.active) {
          BeginFill(store, h, now_ms);
          changed = true;
        } else if (CaughtUp(h)) {
          m.role = Role::kMember;
          h.own_fenced = false;  // it has all any live owner has of its own stream too
          own.known_end = own.applied;
          own.waiting_slot = false;
          if (own.outstanding) {
            own.outstanding = false;
            --outstanding_;
          }
          UpdateGap(own, now_ms);
          FoldAll(h);
          h.dirty = true;
          heartbeat_due_ = true;
          ++stats_.moves_joined;
          changed = true;
        }
        break;
      case Role::kLeaving:
        if (options_.testing_delete_before_caught_up) {
          CloseBatch(h);  // "sent": the broken move deletes at once
          m.role = Role::kDeleting;
          changed = true;
        } else if (m.joiners.empty()) {
          // Every new owner caught up: stop serving; the own stream is final.
          CloseBatch(h);
          m.drain_target = AppliedOf(h);
          m.role = Role::kDraining;
          heartbeat_due_ = true;
          changed = true;
        }
        break;
      case Role::kDraining: {
        // Delete only once every owner reported all this node applied and
        // acknowledged holding its final seq (stored: after a crash it still
        // retires this node, which may have exited and be silent by then).
        if (DrainAwaited(h).empty()) {
          m.role = Role::kDeleting;
          changed = true;
        }
        break;
      }
      case Role::kDeleting: {
        if (h.transfer.active) {
          h.transfer = Transfer{};
          store.SetTransferRecord(h.p, "");
        }
        crdt::MutableState& state = store.Partition(h.p);
        std::vector<std::pair<crdt::Path, crdt::Dot>> doomed;
        state.ScanFrom(crdt::AtomPosition{}, [&](const crdt::Path& path, const crdt::Atom& atom) {
          doomed.emplace_back(path, atom.dot);
          return doomed.size() < options_.move_delete_atoms_per_tick;
        });
        for (const auto& [path, dot] : doomed) state.Erase(path, dot);
        m.deleted_atoms += doomed.size();
        stats_.move_atoms_deleted += doomed.size();
        changed = !doomed.empty();
        if (doomed.empty()) {
          store.TruncateLog(h.p, membership_.self, own.applied);
          Left& left = left_[h.p];
          left.last_own = own.applied;
          left.origins = OriginsOf(h);
          gone.push_back(h.p);
          ++stats_.moves_left;
        }
        break;
      }
    }
    if (changed) SaveMove(store, h.p);
  }
  for (uint32_t p : gone) {
    Held& h = *HeldOf(p);
    for (Stream& s : h.streams) {
      if (s.outstanding) --outstanding_;
      for (const auto& [first, b] : s.buffered) buffered_bytes_ -= b.bytes;
      if (s.blocked) buffered_bytes_ -= s.blocked->bytes;
    }
    if (aae_.active && aae_.p == p) aae_ = AaeExchange{};
    std::erase_if(aae_pairs_, [&](const auto& entry) { return entry.first.first == p; });
    std::erase_if(aae_queue_, [&](const auto& pair) { return pair.first == p; });
    held_.erase(held_.begin() + held_index_[p]);
    std::fill(held_index_.begin(), held_index_.end(), -1);
    for (size_t i = 0; i < held_.size(); ++i) held_index_[held_[i].p] = static_cast<int32_t>(i);
    fold_cursor_ = 0;
    for (auto& [id, peer] : peers_) peer.reports.erase(p);
    std::erase_if(peers_, [](const auto& entry) { return entry.second.reports.empty(); });
    SaveMove(store, p);
  }
  // Queued epochs in order; one that moves nothing here lets the next one in.
  while (!pending_.empty() && !MovesActive()) {
    const Membership next = std::move(pending_.front());
    pending_.pop_front();
    Adopt(store, next, now_ms);
  }
}

void CoreImpl::OnReleased(ReplicaStore& store, const Heartbeat& hb, uint64_t now_ms) {
  for (const auto& [p, seq] : hb.released) {
    Held* h = HeldOf(p);
    if (h == nullptr || !Contains(h->move.leavers, hb.from)) continue;
    if (auto [f, added] = h->move.finals.try_emplace(hb.from, seq); added || f->second != seq) {
      f->second = seq;
      SaveMove(store, p);  // before any heartbeat acknowledges it (finals_held)
    }
    const size_t i = IndexOf(*h, hb.from);
    Stream& s = h->streams[i];
    if (seq > s.known_end) {  // the rest of its stream: caught up as any gap
      s.known_end = seq;
      UpdateGap(s, now_ms);
      ScheduleCatchUp(*h, i, now_ms);
    }
  }
  // Its acknowledgements of this node's finals count at this epoch only (at
  // a later one it has ended its part in this one: MovedOn).
  Peer* peer = PeerOf(hb.from);
  if (peer == nullptr || hb.epoch != membership_.epoch) return;
  for (const auto& [p, leaver] : hb.finals_held) {
    if (leaver != membership_.self) continue;
    if (auto r = peer->reports.find(p); r != peer->reports.end()) r->second.final_acked = true;
  }
}

void CoreImpl::SaveMove(ReplicaStore& store, uint32_t p) const {
  MoveRecord r;
  r.epoch = membership_.epoch;
  r.members = membership_.replicas[p];
  for (crdt::ReplicaId id : r.members) {
    r.origins.emplace_back(id, membership_.dc_of.at(id));
  }
  if (const Held* h = HeldOf(p)) {
    const Move& m = h->move;
    r.role = static_cast<uint64_t>(m.role);
    r.filled = m.filled;
    r.joiners = m.joiners;
    r.leavers = m.leavers;
    r.finals.assign(m.finals.begin(), m.finals.end());
    r.drain_target = m.drain_target;
    r.deleted_atoms = m.deleted_atoms;
    r.seen = m.seen;
    r.origins = OriginsOf(*h);
  } else if (auto it = left_.find(p); it != left_.end()) {
    r.role = kLeft;
    r.left_final = it->second.last_own;
    r.origins = it->second.origins;
  }
  store.SetMoveRecord(p, EncodeMoveRecord(r));
}

// --- Queries -----------------------------------------------------------------------------

bool CoreImpl::Serving(uint32_t p) const {
  const Held* h = HeldOf(p);
  return h != nullptr && (h->move.role == Role::kMember || h->move.role == Role::kLeaving);
}

std::vector<MoveStatus> CoreImpl::Moves() const {
  std::vector<MoveStatus> out;
  for (const Held& h : held_) {
    const Move& m = h.move;
    if (m.role == Role::kMember && m.joiners.empty() && m.leavers.empty()) continue;
    MoveStatus st;
    st.partition = h.p;
    switch (m.role) {
      case Role::kMember:
        st.role = MoveStatus::Role::kStaying;
        break;
      case Role::kJoining:
        st.role = MoveStatus::Role::kJoining;
        break;
      case Role::kLeaving:
        st.role = MoveStatus::Role::kLeaving;
        break;
      case Role::kDraining:
        st.role = MoveStatus::Role::kDraining;
        break;
      case Role::kDeleting:
        st.role = MoveStatus::Role::kDeleting;
        break;
    }
    st.epoch = membership_.epoch;
    st.joining = m.joiners;
    if (m.role == Role::kJoining) st.joining.push_back(membership_.self);
    st.leaving = m.leavers;
    if (m.role == Role::kDraining) st.acknowledging = DrainAwaited(h);
    st.atoms_deleted = m.deleted_atoms;
    st.started_ms = m.started_ms;
    out.push_back(std::move(st));
  }
  std::sort(out.begin(), out.end(),
            [](const MoveStatus& a, const MoveStatus& b) { return a.partition < b.partition; });
  return out;
}

bool CoreImpl::Drained() const {
  for (const Held& h : held_) {
    if (h.move.role == Role::kLeaving || h.move.role == Role::kDraining ||
        h.move.role == Role::kDeleting) {
      return false;
    }
    for (const Membership& next : pending_) {
      if (!Contains(next.replicas[h.p], membership_.self)) return false;
    }
  }
  return true;
}

bool CoreImpl::MayExit() const { return Drained() && ExitAwaited().empty(); }

std::vector<crdt::ReplicaId> CoreImpl::ExitAwaited() const {
  // A member of this placement still running an earlier one may wait for
  // this node's acknowledgement of its final (a leaver that was down when
  // it came): once it hears this node at this epoch it stops waiting
  // (MovedOn), so a removed node stays until every member has.
  std::set<crdt::ReplicaId> out;
  for (const std::vector<crdt::ReplicaId>& owners : membership_.replicas) {
    for (crdt::ReplicaId id : owners) {
      if (id != membership_.self && !forgotten_.contains(id) && EpochOf(id) < membership_.epoch) {
        out.insert(id);
      }
    }
  }
  return {out.begin(), out.end()};
}

}  // namespace geokv::replication::internal
