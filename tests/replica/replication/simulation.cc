#include "simulation.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <vector>

#include "common/prng.h"
#include "crdt/expiry.h"
#include "crdt/join.h"
#include "crdt/key_type.h"
#include "crdt/memory_state.h"
#include "crdt/scalar.h"
#include "random_ops.h"
#include "replica/replication/memory_store.h"
#include "replica/replication/messages.h"

namespace geokv::replication::sim {

namespace {

using crdt::ReplicaId;

// Bounds of one run, in simulated ms.
constexpr uint64_t kQuiesceMaxMs = 60'000;
constexpr uint64_t kSettleCheckEveryMs = 10;
constexpr uint64_t kMaxEvents = 5'000'000;

struct Params {
  int dcs = 3;
  std::vector<int> nodes_per_dc;
  uint32_t partitions = 4;
  int ops = 0;
  uint64_t fault_ms = 0;
  uint32_t drop_pct = 0, dup_pct = 0;
  uint64_t delay_min_ms = 1, delay_max_ms = 1;
  int crashes = 0, cuts = 0;
  int restores = 0;  // crashes that come back with an older copy of the store
  size_t log_max_bytes = 0;
  uint64_t tick_ms = 5;
  bool closing_writes = false;
  int reconfigures = 0;  // new placements in the fault phase (drawn from the move Prng)
  int hints = 0;         // hints kept in the fault phase (Tweaks::hints; the hint Prng)
  bool spare = false;    // one more node, holding nothing at first
  Options options;

  std::string Describe() const {
    std::ostringstream out;
    out << "dcs=" << dcs << " nodes=[";
    for (int n : nodes_per_dc) out << n << ' ';
    out << "] Q=" << partitions << " ops=" << ops << " fault_ms=" << fault_ms
        << " drop=" << drop_pct << "% dup=" << dup_pct << "% delay=" << delay_min_ms << ".."
        << delay_max_ms << "ms crashes=" << crashes << " restores=" << restores << " cuts=" << cuts
        << " log_max_bytes=" << log_max_bytes << " tick_ms=" << tick_ms
        << " closing_writes=" << closing_writes << " fold=" << options.fold_counters
        << " hb=" << options.heartbeat_interval_ms << "ms down_after=" << options.down_after_ms
        << "ms batch_max_deltas=" << options.batch_max_deltas
        << " reply_max_bytes=" << options.catchup_reply_max_bytes
        << " max_outstanding=" << options.catchup_max_outstanding
        << " outbox_max=" << options.outbox_max_messages
        << " chunk_max_atoms=" << options.state_chunk_max_atoms
        << " chunk_max_bytes=" << options.state_chunk_max_bytes << " reconfigures=" << reconfigures
        << " spare=" << spare << " delete_atoms=" << options.move_delete_atoms_per_tick
        << " hints=" << hints;
    return out.str();
  }
};

Params DrawParams(Prng& rng, const Tweaks& tweaks) {
  Params p;
  if (rng.Chance(50)) {
    p.dcs = 3;
    p.nodes_per_dc = {1, 1, 1};
  } else {
    p.dcs = 5;
    for (int d = 0; d < 5; ++d) p.nodes_per_dc.push_back(1 + static_cast<int>(rng.Below(2)));
  }
  p.partitions = static_cast<uint32_t>(rng.Between(4, 8));
  p.ops = static_cast<int>(rng.Between(20, 120));
  p.fault_ms = static_cast<uint64_t>(rng.Between(300, 1500));
  p.drop_pct = static_cast<uint32_t>(rng.Chance(25) ? 0 : rng.Between(1, 25));
  if (tweaks.force_drops) p.drop_pct = std::max<uint32_t>(p.drop_pct, 15);
  p.dup_pct = static_cast<uint32_t>(rng.Between(0, 10));
  p.delay_min_ms = static_cast<uint64_t>(rng.Between(0, 5));
  p.delay_max_ms = p.delay_min_ms + static_cast<uint64_t>(rng.Between(0, 40));
  p.crashes = static_cast<int>(rng.Below(4));
  p.cuts = static_cast<int>(rng.Below(3));
  p.restores =
      tweaks.force_restores ? static_cast<int>(rng.Between(1, 3)) : (rng.Chance(25) ? 1 : 0);
  p.log_max_bytes = rng.Chance(40) ? static_cast<size_t>(rng.Between(200, 2000)) : size_t{1} << 20;
  p.tick_ms = static_cast<uint64_t>(rng.Between(1, 10));
  p.closing_writes = tweaks.force_closing_writes || rng.Chance(30);

  Options& o = p.options;
  o.heartbeat_interval_ms = static_cast<uint64_t>(rng.Between(20, 100));
  o.heartbeat_min_gap_ms = static_cast<uint64_t>(rng.Between(0, 5));
  o.down_after_ms = o.heartbeat_interval_ms * 3 + static_cast<uint64_t>(rng.Between(0, 200));
  o.catchup_delay_ms = static_cast<uint64_t>(rng.Between(0, 10));
  o.catchup_timeout_ms = static_cast<uint64_t>(rng.Between(30, 120));
  o.catchup_timeout_max_ms = 1000;
  o.catchup_max_outstanding = static_cast<size_t>(rng.Between(1, 16));
  o.catchup_reply_max_bytes = static_cast<size_t>(rng.Between(100, 4000));
  o.catchup_reply_max_deltas = static_cast<size_t>(rng.Between(1, 20));
  o.batch_max_deltas = static_cast<size_t>(rng.Between(1, 8));
  o.batch_max_bytes = static_cast<size_t>(rng.Between(200, 4000));
  o.buffer_max_batches_per_stream = static_cast<size_t>(rng.Between(1, 16));
  o.buffer_max_bytes = static_cast<size_t>(rng.Between(1000, 100000));
  o.outbox_max_state_transfers = static_cast<size_t>(rng.Between(1, 4));
  if (rng.Chance(30)) o.outbox_max_messages = static_cast<size_t>(rng.Between(2, 64));
  o.commit_times_per_partition = static_cast<size_t>(rng.Between(4, 64));
  o.maintenance_interval_ms = static_cast<uint64_t>(rng.Between(20, 100));
  o.fold_counters = tweaks.force_fold || rng.Chance(50);
  o.fold_partitions_per_maintenance = static_cast<size_t>(rng.Between(1, 4));
  o.fold_keys_max = static_cast<size_t>(rng.Between(1, 6));  // the workload uses 4 keys
  o.fold_keys_per_maintenance = static_cast<size_t>(rng.Between(1, 8));
  if (tweaks.force_fold) {
    // Fold as soon as anything becomes stable.
    o.maintenance_interval_ms = static_cast<uint64_t>(rng.Between(1, 5));
    o.fold_partitions_per_maintenance = p.partitions;
    o.fold_keys_per_maintenance = 1024;
  }
  o.testing_ignore_gaps = tweaks.ignore_gaps;
  o.testing_use_unusable_reports = tweaks.use_unusable_reports;
  // State transfers in chunks: often tiny ones (a partition here holds a few
  // dozen atoms), so that transfers span many chunks and meet every fault.
  if (tweaks.tiny_chunks || rng.Chance(50)) {
    o.state_chunk_max_atoms = static_cast<size_t>(rng.Between(1, 3));
    o.state_chunk_max_bytes = static_cast<size_t>(rng.Between(30, 300));
  } else {
    o.state_chunk_max_atoms = static_cast<size_t>(rng.Between(4, 64));
  }
  if (tweaks.tiny_chunks) p.log_max_bytes = static_cast<size_t>(rng.Between(200, 1000));
  o.testing_merge_chunk_context = tweaks.merge_chunk_context;
  o.testing_delete_before_caught_up = tweaks.delete_before_caught_up;
  return p;
}

// The reconfigure fault's parameters, from a Prng of their own, so that the
// schedules without it draw exactly what they drew before it existed.
void DrawMoveParams(Prng& rng, const Tweaks& tweaks, Params& p) {
  const bool on = tweaks.force_reconfigure;
  if (!on) return;
  p.reconfigures = static_cast<int>(rng.Between(1, 3));
  p.spare = rng.Chance(60);
  p.restores = 0;  // restores and moves together: not modelled (see the report of the fault)
  p.options.move_delete_atoms_per_tick = static_cast<size_t>(rng.Between(1, 8));
}

class Simulation {
 public:
  Simulation(uint64_t seed, const Tweaks& tweaks)
      : rng_(seed),
        move_rng_(seed ^ 0x6d6f766573696dULL),
        hint_rng_(seed ^ 0x68696e7473ULL),
        tweaks_(tweaks),
        params_(DrawParams(rng_, tweaks)) {
    DrawMoveParams(move_rng_, tweaks, params_);
    if (tweaks_.hints) {
      params_.hints = static_cast<int>(hint_rng_.Between(5, 40));
      params_.restores = 0;  // see Tweaks::hints
    }
    result_.description = params_.Describe();
    BuildCluster();
  }

  Result Run();

 private:
  struct Node {
    ReplicaId id = 0;
    uint32_t dc = 0;
    std::unique_ptr<MemoryReplicaStore> store;
    std::unique_ptr<ReplicationCore> core;       // null while crashed
    std::unique_ptr<MemoryReplicaStore> backup;  // an older copy of store (restore faults)
    // Restored and not yet writable everywhere: see RestoreInProgress.
    bool restoring = false;
    uint64_t generation = 0;  // of the core: ticks of an older one are void
    std::vector<uint32_t> held;
    std::vector<size_t> peers;  // nodes sharing a partition
    // Per held partition: the clock the workload's mutations use (its state is
    // swapped in from the store for each mutation).
    std::map<uint32_t, std::unique_ptr<test::TestReplica>> writers;
    std::string moves_traced;  // with trace: its moves as last printed (TraceMoves)
    uint64_t given = 0;        // the latest epoch its core was given (Adopt)
    bool placed = false;       // in some placement so far (Tweaks::exit_removed)
    bool exited = false;       // removed and exited for good (Tweaks::exit_removed)
  };
  enum class Type {
    kDeliver,
    kTick,
    kOp,
    kCrash,
    kRestart,
    kCut,
    kHeal,
    kBackup,
    kRestore,
    kReconfigure,  // a new placement (epoch); each node adopts it a little later
    kAdopt,        // node `node` is given the current placement
    kHint,         // the keeper keeps a hint
    kHintTry,      // the keeper hands hint `node` (its index) to its replicas
  };
  struct Event {
    Type type = Type::kTick;
    size_t node = 0;  // kDeliver: recipient
    size_t from = 0;  // kDeliver: sender; kTick: the core's generation
    uint32_t dc = 0;  // kCut, kHeal
    std::string bytes;
    // kDeliver: the recipient's process (Node::generation) when it was sent.
    // A message to an earlier process is lost, as ZeroMQ's are: a restarted
    // process has new connections, and what was queued for the old ones, or
    // in flight on them, dies with them (the fence counts on it: a heartbeat
    // sent before it started may lack what the old process sent).
    uint64_t to_generation = 0;
  };

  void BuildCluster();
  Membership MembershipOf(const Node& node) const { return MembershipAt(node, epoch_); }
  // The placement of `epoch` as `node` is given it.
  Membership MembershipAt(const Node& node, uint64_t epoch) const;
  // The first placement (epoch 0): what every core is built with, so that a
  // node that never adopted a placement holds what it held at the start (a
  // spare node nothing); the current one follows by Reconfigure. With the
  // forgotten node of the latest epoch it was given (Tweaks::lose_joiner).
  Membership InitialMembershipOf(const Node& node) const;
  // Moves the cluster to a new placement; false if now is no time for one.
  bool NewPlacement();
  void Adopt(size_t n);
  // The partitions n serves now (its writes go there).
  std::vector<uint32_t> ServingAt(size_t n) const;
  void Schedule(uint64_t at, Event e) {
    events_.emplace(std::make_pair(at, next_seq_++), std::move(e));
  }
  void Trace(const std::string& what) const {
    if (tweaks_.trace)
      std::fprintf(stderr, "[%6llu] %s\n", static_cast<unsigned long long>(now_), what.c_str());
  }

  void Handle(Event& e);
  // With trace: prints n's epoch and moves when they changed.
  void TraceMoves(size_t n);
  void Flush(size_t n);
  void Send(size_t from, const Outgoing& out);
  bool Blocked(size_t a, size_t b) const;
  void LocalWrite(size_t n, uint32_t p);
  void Crash(size_t n);
  void Restart(size_t n);
  // Crashes n and puts its backup in place of its store, as an operator
  // restoring a copy would: only when every delta it would lose (of any
  // origin) is held by another replica (else acknowledged writes would be
  // gone for good, which no protocol can undo), so that the final check
  // stays exact.
  void Restore(size_t n);
  // The fence trusts what live peers report (DESIGN.md "Never reuse a dot"):
  // a restored node that cannot hear the peer holding its lost deltas (that
  // peer crashed, or cut off for longer than down_after_ms, before it was
  // heard) can still reuse their dots. That double fault is outside what the
  // fence covers (docs/replication.md), so a restored node restarts only while
  // every node runs and no DC is cut, and no crash or cut begins until its
  // partitions are writable again.
  bool RestoreInProgress();
  void CheckInvariants(size_t n);
  bool AllSettled() const;
  // Every own log truncated and every counter folded (when enabled).
  bool Tidy() const;
  static bool Unfolded(const crdt::MemoryState& state);
  void FinalChecks();
  void Fail(Result::Outcome outcome, const std::string& detail) {
    if (result_.ok()) {
      result_.outcome = outcome;
      result_.detail = detail;
    }
  }
  size_t RandomUpNodeHolding(uint32_t* p);
  void KeepHint();
  void TryHint(size_t i);

  Prng rng_;
  Prng move_rng_;  // the reconfigure fault's draws
  Prng hint_rng_;  // the hint keeper's draws (Tweaks::hints)
  Tweaks tweaks_;
  Params params_;
  Result result_;
  std::vector<Node> nodes_;
  std::vector<std::vector<size_t>> replicas_;  // partition -> node indices (current placement)
  // Every placement by epoch (the one before the current: a cancellation's).
  std::vector<std::vector<std::vector<size_t>>> placements_;
  // Tweaks::lose_joiner: the node lost, and the epoch from which it is
  // forgotten.
  std::optional<size_t> lost_;
  std::optional<uint64_t> forget_epoch_;
  bool ForgetDue() const { return lost_ && !forget_epoch_ && tweaks_.forget_lost; }
  uint64_t epoch_ = 0;
  std::map<std::pair<uint64_t, uint64_t>, Event> events_;
  uint64_t next_seq_ = 0;
  uint64_t now_ = 0;
  bool faults_ = true;
  std::set<uint32_t> cut_dcs_;
  // Ground truth: every acknowledged delta applied once, and the last seq of
  // each (partition, origin).
  std::vector<crdt::MemoryState> reference_;
  std::vector<std::map<ReplicaId, uint64_t>> last_seq_;
  // The hint keeper (Tweaks::hints): its process's origin, next seq per
  // partition, and every hint with the nodes that acknowledged it at the
  // epoch it runs (hints.h: an acknowledgement counts for one epoch).
  struct Hint {
    uint32_t p = 0;
    crdt::Delta delta;
    uint64_t acked_epoch = 0;
    std::set<size_t> acked;
    bool done = false;
  };
  ReplicaId hint_origin_ = 0;
  std::map<uint32_t, uint64_t> hint_next_;
  std::vector<Hint> hints_;
  size_t hints_open_ = 0;
};

void Simulation::KeepHint() {
  if (hint_origin_ == 0 || hint_rng_.Chance(20)) {  // a new keeper process: a new origin
    hint_origin_ = 0x4849'4e54'0000'0000ULL + hint_rng_.Below(uint64_t{1} << 32);
    hint_next_.clear();
  }
  Hint h;
  h.p = static_cast<uint32_t>(hint_rng_.Below(params_.partitions));
  const std::string key = "k" + std::to_string(hint_rng_.Below(4));  // random_ops.h's keys
  crdt::MemoryState empty;
  uint64_t& next = hint_next_[h.p];
  if (next > 1) {
    crdt::DotContext issued;
    issued.InsertRange(hint_origin_, 1, next - 1);
    empty.JoinContext(issued);
  }
  crdt::DeltaBuilder b(empty, hint_origin_);
  crdt::ClaimKey(b, key, crdt::ValueType::kString);
  crdt::ClearExpiry(b, key);
  crdt::SetScalar(b, crdt::ScalarRef{key, std::nullopt},
                  crdt::Hlc::FromParts(1'000'000 + now_, hint_rng_.Below(16)),
                  "hint" + std::to_string(hints_.size()), crdt::TtlEffect::kClear);
  h.delta = std::move(b).Finish();
  next = h.delta.last + 1;
  // Durable at the keeper: acknowledged to its client.
  crdt::ApplyDelta(reference_[h.p], h.delta);
  Trace("hint " + std::to_string(hints_.size()) + " kept for p" + std::to_string(h.p) + " key " +
        key + " dots " + std::to_string(h.delta.first) + ".." + std::to_string(h.delta.last));
  hints_.push_back(std::move(h));
  ++hints_open_;
  ++result_.hints;
  Schedule(now_ + hint_rng_.Between(0, 50), Event{Type::kHintTry, hints_.size() - 1, 0, 0, {}});
}

void Simulation::TryHint(size_t i) {
  Hint& h = hints_[i];
  if (h.done) return;
  if (h.acked_epoch != epoch_) {  // a new placement: every owner of it acknowledges again
    h.acked.clear();
    h.acked_epoch = epoch_;
  }
  bool all = true;
  for (size_t n : replicas_[h.p]) {  // the current placement, as the keeper runs it
    if (h.acked.contains(n)) continue;
    all = false;
    Node& node = nodes_[n];
    // Down, or the request lost.
    if (!node.core || hint_rng_.Below(100) < params_.drop_pct) continue;
    const HintOutcome outcome = node.core->ApplyHint(*node.store, h.p, h.delta, epoch_);
    Trace("hint " + std::to_string(i) + " to node " + std::to_string(n) + ": " +
          std::to_string(static_cast<int>(outcome)));
    if (outcome == HintOutcome::kRefused) {
      return Fail(Result::Outcome::kBroken,
                  "node " + std::to_string(n) + " refused hint " + std::to_string(i));
    }
    if (outcome == HintOutcome::kNotServing) {
      ++result_.hints_refused_moving;
      continue;
    }
    // Committed there (the store is what survives a crash); the
    // acknowledgement may still be lost: handed off again, a duplicate.
    if (hint_rng_.Below(100) >= params_.dup_pct) h.acked.insert(n);
  }
  if (all) {
    h.done = true;
    --hints_open_;
    Trace("hint " + std::to_string(i) + " handed off");
    return;
  }
  Schedule(now_ + hint_rng_.Between(5, 100), Event{Type::kHintTry, i, 0, 0, {}});
}

void Simulation::BuildCluster() {
  std::set<ReplicaId> ids;
  for (int d = 0; d < params_.dcs; ++d) {
    for (int i = 0; i < params_.nodes_per_dc[d]; ++i) {
      Node node;
      // Random ids: the order of ids must not matter.
      do node.id = rng_.Next() >> 2;
      while (node.id == 0 || !ids.insert(node.id).second);
      node.dc = static_cast<uint32_t>(d);
      node.store = std::make_unique<MemoryReplicaStore>(params_.partitions, params_.log_max_bytes);
      nodes_.push_back(std::move(node));
    }
  }
  // Placement: N = 3 distinct DCs per partition, a random node in each.
  const size_t placed = nodes_.size();  // a spare node (added below) holds nothing at first
  replicas_.resize(params_.partitions);
  for (uint32_t p = 0; p < params_.partitions; ++p) {
    std::vector<uint32_t> dcs(params_.dcs);
    for (int d = 0; d < params_.dcs; ++d) dcs[d] = static_cast<uint32_t>(d);
    for (size_t i = dcs.size(); i > 1; --i) std::swap(dcs[i - 1], dcs[rng_.Below(i)]);
    for (int k = 0; k < 3; ++k) {
      std::vector<size_t> in_dc;
      for (size_t n = 0; n < placed; ++n) {
        if (nodes_[n].dc == dcs[k]) in_dc.push_back(n);
      }
      const size_t n = in_dc[rng_.Below(in_dc.size())];
      replicas_[p].push_back(n);
      nodes_[n].held.push_back(p);
      nodes_[n].placed = true;
    }
  }
  if (params_.spare) {
    Node node;
    do node.id = move_rng_.Next() >> 2;
    while (node.id == 0 || !ids.insert(node.id).second);
    node.dc = static_cast<uint32_t>(move_rng_.Below(static_cast<uint64_t>(params_.dcs)));
    node.store = std::make_unique<MemoryReplicaStore>(params_.partitions, params_.log_max_bytes);
    nodes_.push_back(std::move(node));
  }
  placements_.push_back(replicas_);
  for (size_t n = 0; n < nodes_.size(); ++n) {
    std::set<size_t> peers;
    for (uint32_t p : nodes_[n].held) {
      for (size_t r : replicas_[p]) {
        if (r != n) peers.insert(r);
      }
      nodes_[n].writers[p] = std::make_unique<test::TestReplica>(nodes_[n].id);
    }
    nodes_[n].peers.assign(peers.begin(), peers.end());
    // With moves, anyone may come to share a partition: heartbeats go to all.
    if (params_.reconfigures > 0) {
      nodes_[n].peers.clear();
      for (size_t m = 0; m < nodes_.size(); ++m) {
        if (m != n) nodes_[n].peers.push_back(m);
      }
    }
  }
  reference_.resize(params_.partitions);
  last_seq_.resize(params_.partitions);
  for (size_t n = 0; n < nodes_.size(); ++n) {
    nodes_[n].core = std::make_unique<ReplicationCore>(MembershipOf(nodes_[n]), params_.options,
                                                       *nodes_[n].store, 0);
  }
}

Membership Simulation::MembershipAt(const Node& node, uint64_t epoch) const {
  Membership m;
  m.self = node.id;
  m.incarnation = node.generation + 1;
  m.epoch = epoch;
  for (const Node& other : nodes_) m.dc_of[other.id] = other.dc;
  for (uint32_t p = 0; p < params_.partitions; ++p) {
    std::vector<ReplicaId> ids;
    for (size_t r : placements_[epoch][p]) ids.push_back(nodes_[r].id);
    m.replicas.push_back(std::move(ids));
  }
  if (forget_epoch_ && epoch >= *forget_epoch_) m.forgotten.insert(nodes_[*lost_].id);
  return m;
}

Membership Simulation::InitialMembershipOf(const Node& node) const {
  Membership m = MembershipAt(node, 0);
  // A restarted geokv-server builds its core from the latest topology it
  // kept, whose [cluster] forget it was given with it.
  if (forget_epoch_ && node.given >= *forget_epoch_) m.forgotten.insert(nodes_[*lost_].id);
  return m;
}

std::vector<uint32_t> Simulation::ServingAt(size_t n) const {
  std::vector<uint32_t> out;
  const Node& node = nodes_[n];
  if (!node.core) return out;
  for (uint32_t p = 0; p < params_.partitions; ++p) {
    if (node.core->Serving(p)) out.push_back(p);
  }
  return out;
}

bool Simulation::NewPlacement() {
  std::vector<std::vector<size_t>> next = replicas_;
  const uint64_t kind = move_rng_.Below(epoch_ == 0 ? 2 : 3);
  // A lost node is removed and forgotten by the next placement, whatever
  // moves are under way (they wait for it).
  const bool forget = ForgetDue();
  // A node is given every epoch in order (core.h, Reconfigure): a new one
  // comes only once every node was given the current one. Unless epochs
  // overlap, only once every node runs it, and a move (but for a
  // cancellation) only when no move is under way anywhere.
  for (const Node& node : nodes_) {
    if (node.exited) continue;
    if (!node.core) return false;
    if (tweaks_.overlapping_epochs) {
      if (node.given != epoch_) return false;
      continue;
    }
    if (node.core->Epoch() != epoch_) return false;
    if (kind != 2 && !forget && !node.core->Moves().empty()) return false;
  }
  // A random node not in `set` (and not `except`), or nodes_.size().
  auto other_than = [&](const std::vector<size_t>& set, size_t except) {
    std::vector<size_t> free;
    for (size_t n = 0; n < nodes_.size(); ++n) {
      if (n != except && !nodes_[n].exited && std::find(set.begin(), set.end(), n) == set.end()) {
        free.push_back(n);
      }
    }
    return free.empty() ? nodes_.size() : free[move_rng_.Below(free.size())];
  };
  std::string what;
  if (forget) {  // every partition the lost node got moves off it
    const size_t gone = *lost_;
    for (uint32_t p = 0; p < params_.partitions; ++p) {
      auto it = std::find(next[p].begin(), next[p].end(), gone);
      if (it == next[p].end()) continue;
      const size_t to = other_than(next[p], gone);
      if (to == nodes_.size()) return false;
      *it = to;
    }
    forget_epoch_ = epoch_ + 1;
    what = "node " + std::to_string(gone) + " removed and forgotten";
  } else if (kind == 0) {  // some partitions move one replica to another node
    for (uint32_t p = 0; p < params_.partitions; ++p) {
      if (!move_rng_.Chance(50)) continue;
      const size_t k = move_rng_.Below(next[p].size());
      const size_t to = other_than(next[p], nodes_.size());
      if (to < nodes_.size()) next[p][k] = to;
    }
    what = "partitions move";
  } else if (kind == 1) {  // a node is removed: every partition it holds moves off it
    const size_t gone = move_rng_.Below(nodes_.size());
    if (nodes_[gone].exited) return false;
    for (uint32_t p = 0; p < params_.partitions; ++p) {
      auto it = std::find(next[p].begin(), next[p].end(), gone);
      if (it == next[p].end()) continue;
      const size_t to = other_than(next[p], gone);
      if (to < nodes_.size()) *it = to;
    }
    what = "node " + std::to_string(gone) + " removed";
  } else {  // the previous placement again, at a higher epoch: a cancellation
    next = placements_[epoch_ - 1];
    for (const auto& set : next) {
      for (size_t r : set) {
        if (nodes_[r].exited) return false;  // it is gone for good
      }
    }
    what = "previous placement again";
  }
  replicas_ = std::move(next);
  placements_.push_back(replicas_);
  ++epoch_;
  ++result_.reconfigures;
  if (tweaks_.lose_joiner && !lost_) {
    for (size_t n = 0; n < nodes_.size(); ++n) {
      const bool gains = std::any_of(replicas_.begin(), replicas_.end(), [&](const auto& set) {
        return std::find(set.begin(), set.end(), n) != set.end();
      });
      if (nodes_[n].placed || !gains || nodes_[n].exited) continue;
      nodes_[n].core.reset();  // before it adopts the epoch: it never joins
      nodes_[n].exited = true;
      lost_ = n;
      ++result_.lost_nodes;
      Trace("node " + std::to_string(n) + " lost for good before it joined");
      // The forgetting placement comes even if the fault phase ends first.
      Schedule(now_ + move_rng_.Between(100, 400), Event{Type::kReconfigure, 0, 0, 0, {}});
      break;
    }
  }
  for (Node& node : nodes_) node.held.clear();
  for (uint32_t p = 0; p < params_.partitions; ++p) {
    for (size_t r : replicas_[p]) {
      nodes_[r].held.push_back(p);
      nodes_[r].placed = true;
    }
  }
  Trace("epoch " + std::to_string(epoch_) + ": " + what);
  for (size_t n = 0; n < nodes_.size(); ++n) {
    Schedule(now_ + move_rng_.Below(60), Event{Type::kAdopt, n, 0, 0, {}});
  }
  return true;
}

void Simulation::Adopt(size_t n) {
  Node& node = nodes_[n];
  if (!node.core || epoch_ == 0) return;  // a restart adopts it
  if (node.given == epoch_) {
    // Given already (at a restart): the core refuses it again.
    const Status s = node.core->Reconfigure(*node.store, MembershipOf(node), now_);
    Trace("node " + std::to_string(n) + " is given epoch " + std::to_string(epoch_) + ": " +
          (s.ok() ? std::string("ok") : s.message()));
    if (s.ok()) Fail(Result::Outcome::kBroken, "an epoch given twice was taken");
    return;
  }
  // Every epoch it was not given yet, in order: the core queues those that
  // come while moves of an earlier one are under way there.
  for (uint64_t e = node.given + 1; e <= epoch_; ++e) {
    const bool behind_queued = node.core->Epoch() + 1 < e;
    const Status s = node.core->Reconfigure(*node.store, MembershipAt(node, e), now_);
    Trace("node " + std::to_string(n) + " is given epoch " + std::to_string(e) + ": " +
          (s.ok() ? std::string("ok") : s.message()));
    if (!s.ok()) return Fail(Result::Outcome::kBroken, "epoch refused: " + s.message());
    node.given = e;
    if (node.core->Epoch() < e) {
      ++result_.epochs_queued;
      if (behind_queued) ++result_.epochs_queued_behind_queued;
    }
  }
}

bool Simulation::Blocked(size_t a, size_t b) const {
  const uint32_t da = nodes_[a].dc, db = nodes_[b].dc;
  return da != db && (cut_dcs_.contains(da) || cut_dcs_.contains(db));
}

void Simulation::Send(size_t from, const Outgoing& out) {
  std::vector<size_t> to;
  switch (out.kind) {
    case Outgoing::Kind::kPublishPartition:
      if (params_.reconfigures > 0) {
        // Every node that holds p subscribes to its topic, old and new owners
        // alike; the others drop it (they hold no such partition).
        for (size_t r = 0; r < nodes_.size(); ++r) {
          if (r != from) to.push_back(r);
        }
        break;
      }
      for (size_t r : replicas_[out.partition]) {
        if (r != from) to.push_back(r);
      }
      break;
    case Outgoing::Kind::kPublishHeartbeat:
      to = nodes_[from].peers;
      break;
    case Outgoing::Kind::kSendRequest:
    case Outgoing::Kind::kSendReply:
      for (size_t n = 0; n < nodes_.size(); ++n) {
        if (nodes_[n].id == out.to) to.push_back(n);
      }
      if (to.empty()) Fail(Result::Outcome::kBroken, "message to an unknown node");
      break;
  }
  const std::string bytes = EncodeMessage(out.message);
  for (size_t n : to) {
    ++result_.messages;
    if (Blocked(from, n)) continue;
    if (faults_ && rng_.Chance(params_.drop_pct)) continue;
    const int copies = faults_ && rng_.Chance(params_.dup_pct) ? 2 : 1;
    for (int c = 0; c < copies; ++c) {
      uint64_t delay = static_cast<uint64_t>(rng_.Between(
          static_cast<int64_t>(params_.delay_min_ms), static_cast<int64_t>(params_.delay_max_ms)));
      if (tweaks_.slow_batches && std::holds_alternative<DeltaBatch>(out.message)) delay += 50;
      Schedule(now_ + delay, Event{Type::kDeliver, n, from, 0, bytes, nodes_[n].generation});
    }
  }
}

namespace {
// A message for the trace: its kind and, but for heartbeats, what it is about
// (node ids are shown by their index in the cluster).
std::string DescribeForTrace(const Message& message, const std::map<ReplicaId, size_t>& index) {
  auto who = [&](ReplicaId id) {
    auto it = index.find(id);
    return it == index.end() ? std::string("?") : std::to_string(it->second);
  };
  std::string s = MessageKindName(message);
  std::visit(Overloaded{
                 [&](const DeltaBatch& b) {
                   s += " p" + std::to_string(b.partition) + " of " + who(b.origin) + " seq " +
                        std::to_string(b.first_seq) + ".." + std::to_string(b.last_seq);
                 },
                 [&](const Heartbeat&) {},
                 [&](const CatchUpRequest& r) {
                   s += " p" + std::to_string(r.partition) + " of " + who(r.origin) + " after " +
                        std::to_string(r.after) + (r.cursor ? " (next chunk)" : "");
                 },
                 [&](const CatchUpReply& r) {
                   static const char* const kKinds[] = {"up to date", "deltas", "?", "state"};
                   s += " p" + std::to_string(r.partition) + " of " + who(r.origin) + " after " +
                        std::to_string(r.after) + " responder_applied " +
                        std::to_string(r.responder_applied) + " " +
                        kKinds[static_cast<int>(r.kind) & 3];
                   if (r.kind == CatchUpReply::Kind::kDeltas) {
                     s += " " + std::to_string(r.batch.first_seq) + ".." +
                          std::to_string(r.batch.last_seq);
                   }
                   if (r.kind == CatchUpReply::Kind::kState) {
                     s += std::string(r.range_to ? "" : " (last chunk)") + " context " +
                          r.snapshot.context.ToString();
                   }
                 },
                 // The simulation's cores have no trees: they answer "not ready".
                 [&](const AaeRequest& r) { s += " p" + std::to_string(r.partition); },
                 [&](const AaeReply& r) { s += " p" + std::to_string(r.partition); },
             },
             message);
  return s;
}
}  // namespace

void Simulation::TraceMoves(size_t n) {
  Node& node = nodes_[n];
  if (!tweaks_.trace || !node.core) return;
  std::map<ReplicaId, size_t> index;
  for (size_t i = 0; i < nodes_.size(); ++i) index[nodes_[i].id] = i;
  auto names = [&](const std::vector<ReplicaId>& ids) {
    std::string s;
    for (ReplicaId id : ids) s += " " + std::to_string(index.at(id));
    return s;
  };
  static const char* const kRoles[] = {"joining", "leaving", "draining", "deleting", "staying"};
  std::string now = "epoch " + std::to_string(node.core->Epoch()) + ":";
  for (const MoveStatus& m : node.core->Moves()) {
    now += " p" + std::to_string(m.partition) + " " + kRoles[static_cast<int>(m.role)];
    if (!m.joining.empty()) now += " (joining" + names(m.joining) + ")";
    if (!m.leaving.empty()) now += " (leaving" + names(m.leaving) + ")";
  }
  if (now == node.moves_traced) return;
  node.moves_traced = now;
  Trace("node " + std::to_string(n) + " moves, " + now);
}

void Simulation::Flush(size_t n) {
  Node& node = nodes_[n];
  TraceMoves(n);
  for (const Outgoing& out : node.core->TakeOutgoing(now_)) {
    if (tweaks_.trace) {
      std::map<ReplicaId, size_t> index;
      for (size_t i = 0; i < nodes_.size(); ++i) index[nodes_[i].id] = i;
      Trace("node " + std::to_string(n) + " sends " + DescribeForTrace(out.message, index));
    }
    Send(n, out);
  }
}

size_t Simulation::RandomUpNodeHolding(uint32_t* p) {
  std::vector<size_t> up;
  for (size_t n = 0; n < nodes_.size(); ++n) {
    if (!ServingAt(n).empty()) up.push_back(n);
  }
  if (up.empty()) return nodes_.size();
  const size_t n = up[rng_.Below(up.size())];
  const std::vector<uint32_t> serving = ServingAt(n);
  *p = serving[rng_.Below(serving.size())];
  return n;
}

void Simulation::LocalWrite(size_t n, uint32_t p) {
  Node& node = nodes_[n];
  if (!node.core->Holds(p) || !node.core->OwnWritable(p)) {
    Trace("node " + std::to_string(n) + " refuses a write to p" + std::to_string(p) + " (fenced)");
    return;  // the node answers -TRYAGAIN: not acknowledged
  }
  auto& slot = node.writers[p];
  if (!slot) slot = std::make_unique<test::TestReplica>(node.id);
  test::TestReplica& writer = *slot;
  *writer.wall_ms = std::max(*writer.wall_ms, 1'000'000 + now_);
  // The mutation runs on the store's state (swapped into the writer).
  std::swap(writer.state, node.store->State(p));
  crdt::Delta delta = test::RandomOperation(rng_, writer);
  std::swap(writer.state, node.store->State(p));
  node.core->OnLocalDelta(*node.store, p, delta, now_);
  // Committed: acknowledged.
  crdt::ApplyDelta(reference_[p], delta);
  last_seq_[p][node.id] = delta.last;
  ++result_.writes;
  if (tweaks_.trace) {
    std::string what;
    for (const crdt::Removal& r : delta.removals) {
      what += " -" + r.scope.key + (r.scope.field.empty() ? "" : "." + r.scope.field) + " covering " +
              r.covered.ToString();
    }
    for (const crdt::Addition& a : delta.additions) {
      what += " +" + a.path.key + "/" + std::to_string(static_cast<int>(a.path.slot)) +
              (a.path.field.empty() ? "" : "." + a.path.field);
    }
    Trace("node " + std::to_string(n) + " writes p" + std::to_string(p) + " seq " +
          std::to_string(delta.first) + ".." + std::to_string(delta.last) + what);
  }
}

void Simulation::Crash(size_t n) {
  Node& node = nodes_[n];
  if (!node.core) return;
  // Crash between commit and send: one more step commits, its output is lost.
  const uint64_t what = rng_.Below(3);
  const std::vector<uint32_t> serving = ServingAt(n);
  if (what == 0 && !serving.empty()) {
    LocalWrite(n, serving[rng_.Below(serving.size())]);
  } else if (what == 1) {
    node.core->OnTick(*node.store, now_);
  }
  (void)node.core->TakeOutgoing(now_);
  node.core.reset();
  ++result_.crashes;
  Trace("node " + std::to_string(n) + " crashes");
}

void Simulation::Restore(size_t n) {
  Node& node = nodes_[n];
  if (!node.backup || node.exited) return;
  for (uint32_t p : node.held) {
    for (size_t o : replicas_[p]) {
      const ReplicaId origin = nodes_[o].id;
      uint64_t elsewhere = 0;
      for (size_t r : replicas_[p]) {
        if (r != n) elsewhere = std::max(elsewhere, nodes_[r].store->Applied(p, origin));
      }
      // Some delta is only here: restoring would lose acknowledged writes.
      if (node.store->Applied(p, origin) > elsewhere) return;
    }
  }
  if (node.core) {
    (void)node.core->TakeOutgoing(now_);  // unsent: the check above found it held elsewhere
    node.core.reset();
    ++result_.crashes;
  }
  node.store = std::move(node.backup);
  node.restoring = true;
  Trace("node " + std::to_string(n) + " restored from its backup");
}

bool Simulation::RestoreInProgress() {
  bool any = false;
  for (Node& node : nodes_) {
    if (!node.restoring) continue;
    const bool writable =
        node.core && std::all_of(node.held.begin(), node.held.end(),
                                 [&](uint32_t p) { return node.core->OwnWritable(p); });
    node.restoring = !writable;
    any |= node.restoring;
  }
  return any;
}

void Simulation::Restart(size_t n) {
  Node& node = nodes_[n];
  if (node.core || node.exited) return;
  const bool peer_crashed = std::any_of(nodes_.begin(), nodes_.end(), [&](const Node& other) {
    return &other != &node && !other.core;
  });
  if (node.restoring && (!cut_dcs_.empty() || peer_crashed) && faults_) {
    Schedule(now_ + 20, Event{Type::kRestart, n, 0, 0, {}});  // see RestoreInProgress
    return;
  }
  ++node.generation;  // the new process's incarnation (MembershipOf)
  node.core = std::make_unique<ReplicationCore>(InitialMembershipOf(node), params_.options,
                                                *node.store, now_);
  // Every start learns its own high-water marks before writing (never reuse a
  // dot), unless a test switches it off to prove the check notices.
  if (!tweaks_.no_fence) node.core->FenceOwnStreams();
  node.given = node.core->Epoch();  // what it queued before is gone with the process
  Trace("node " + std::to_string(n) + " restarts");
  // The placement the cluster runs now (its store's move records say where
  // its own moves were).
  if (epoch_ > node.core->Epoch()) Adopt(n);
  Schedule(now_ + 1, Event{Type::kTick, n, node.generation, 0, {}});
}

void Simulation::Handle(Event& e) {
  switch (e.type) {
    case Type::kDeliver: {
      Node& node = nodes_[e.node];
      if (!node.core || Blocked(e.from, e.node) || e.to_generation != node.generation) return;
      auto msg = DecodeMessage(e.bytes);
      if (!msg.ok())
        return Fail(Result::Outcome::kBroken, "undecodable: " + msg.status().message());
      if (tweaks_.trace) {
        std::map<ReplicaId, size_t> index;
        for (size_t i = 0; i < nodes_.size(); ++i) index[nodes_[i].id] = i;
        Trace("node " + std::to_string(e.node) + " gets " + DescribeForTrace(*msg, index) + " from " +
              std::to_string(e.from));
      }
      node.core->OnMessage(*node.store, *msg, now_);
      if (tweaks_.trace && tweaks_.watch_partition) {
        const uint32_t wp = *tweaks_.watch_partition;
        if (std::find(node.held.begin(), node.held.end(), wp) != node.held.end()) {
          std::string seen = test::Observe(node.store->State(wp));
          std::replace(seen.begin(), seen.end(), '\n', ' ');
          Trace("   node " + std::to_string(e.node) + " p" + std::to_string(wp) + " = " + seen +
                " context " + node.store->State(wp).Context().ToString());
        }
      }
      Flush(e.node);
      return;
    }
    case Type::kTick: {
      Node& node = nodes_[e.node];
      if (!node.core || e.from != node.generation) return;  // a restart ticks anew
      node.core->OnTick(*node.store, now_);
      // A tick does everything due: the next one is in the future (a caller
      // that sleeps until NextTickMs never spins).
      if (node.core->NextTickMs() <= now_) {
        Fail(Result::Outcome::kBroken, "node " + std::to_string(e.node) + " wants a tick at " +
                                           std::to_string(node.core->NextTickMs()) +
                                           " right after one");
      }
      Flush(e.node);
      if (tweaks_.check_invariants) CheckInvariants(e.node);
      if (tweaks_.exit_removed && node.placed && node.held.empty() && node.given == epoch_ &&
          node.core->Epoch() == epoch_ && node.core->MayExit()) {
        node.core.reset();  // what it flushed is sent; it never comes back
        node.exited = true;
        Trace("node " + std::to_string(e.node) + " removed, drained: exits");
        return;
      }
      Schedule(now_ + params_.tick_ms, Event{Type::kTick, e.node, node.generation, 0, {}});
      return;
    }
    case Type::kOp: {
      uint32_t p = 0;
      const size_t n = RandomUpNodeHolding(&p);
      if (n == nodes_.size()) return;
      LocalWrite(n, p);
      Flush(n);
      return;
    }
    case Type::kCrash:
      if (!faults_) return;       // postponed past the fault phase
      if (RestoreInProgress()) {  // see RestoreInProgress
        if (faults_) Schedule(now_ + 20, e);
        return;
      }
      Crash(e.node);
      return;
    case Type::kRestart:
      Restart(e.node);
      return;
    case Type::kBackup:
      nodes_[e.node].backup = std::make_unique<MemoryReplicaStore>(*nodes_[e.node].store);
      Trace("node " + std::to_string(e.node) + " backed up");
      return;
    case Type::kRestore:
      if (faults_) Restore(e.node);
      return;
    case Type::kCut:
      if (!faults_) return;       // a cut postponed past the fault phase
      if (RestoreInProgress()) {  // see RestoreInProgress
        Schedule(now_ + 20, e);
        return;
      }
      cut_dcs_.insert(e.dc);
      Trace("dc " + std::to_string(e.dc) + " cut off");
      return;
    case Type::kHeal:
      cut_dcs_.erase(e.dc);
      Trace("dc " + std::to_string(e.dc) + " healed");
      return;
    case Type::kReconfigure:
      if ((faults_ || ForgetDue()) && !NewPlacement()) Schedule(now_ + 50, e);  // later
      return;
    case Type::kAdopt:
      Adopt(e.node);
      return;
    case Type::kHint:
      KeepHint();
      return;
    case Type::kHintTry:
      TryHint(e.node);
      return;
  }
}

void Simulation::CheckInvariants(size_t n) {
  Node& node = nodes_[n];
  for (uint32_t p = 0; p < params_.partitions; ++p) {
    if (!node.core->Holds(p)) continue;
    for (size_t r = 0; r < nodes_.size(); ++r) {
      const ReplicaId o = nodes_[r].id;
      const uint64_t applied = node.core->Applied(p, o);
      auto last = last_seq_[p].find(o);
      const uint64_t exists = last == last_seq_[p].end() ? 0 : last->second;
      if (applied > exists || node.store->Applied(p, o) != applied ||
          (applied > 0 && !node.store->State(p).Context().ContainsRange(o, 1, applied))) {
        std::ostringstream out;
        out << "node " << n << " p" << p << " origin " << o << ": applied " << applied << " (store "
            << node.store->Applied(p, o) << "), written " << exists << ", context "
            << node.store->State(p).Context().ToString();
        Fail(Result::Outcome::kBroken, out.str());
      }
    }
  }
}

bool Simulation::AllSettled() const {
  // Settled in the current placement (a node not given it yet is settled in
  // the one before).
  return std::all_of(nodes_.begin(), nodes_.end(), [&](const Node& node) {
    return node.exited || (node.core && node.core->Settled() && node.core->Epoch() == epoch_);
  });
}

bool Simulation::Unfolded(const crdt::MemoryState& state) {
  // Once everything is stable: at most one counter atom per (path, origin).
  std::set<std::pair<crdt::Path, ReplicaId>> seen;
  bool unfolded = false;
  state.Scan(crdt::Scope::Partition(), [&](const crdt::Path& path, const crdt::Atom& atom) {
    if (crdt::IsCounterSlot(path.slot) && !seen.emplace(path, atom.dot.origin).second) {
      unfolded = true;
    }
    return !unfolded;
  });
  return unfolded;
}

bool Simulation::Tidy() const {
  for (const Node& node : nodes_) {
    for (uint32_t p : node.held) {
      if (params_.options.truncate_logs && !node.store->LogEntries(p, node.id).empty()) {
        return false;
      }
      if (params_.options.fold_counters && Unfolded(node.store->State(p))) return false;
    }
  }
  return true;
}

void Simulation::FinalChecks() {
  // Nodes outside the final placement hold nothing (they handed it all off).
  for (size_t n = 0; n < nodes_.size() && result_.ok(); ++n) {
    const Node& node = nodes_[n];
    if (!node.exited && !node.core->Drained()) {
      return Fail(Result::Outcome::kBroken, "node " + std::to_string(n) + " is not drained");
    }
    for (uint32_t p = 0; p < params_.partitions; ++p) {
      if (std::find(replicas_[p].begin(), replicas_[p].end(), n) != replicas_[p].end()) continue;
      bool atoms = false;
      node.store->State(p).Scan(crdt::Scope::Partition(), [&](const crdt::Path&, const crdt::Atom&) {
        atoms = true;
        return false;
      });
      if ((!node.exited && node.core->Holds(p)) || atoms) {
        return Fail(Result::Outcome::kBroken, "node " + std::to_string(n) + " still holds p" +
                                                  std::to_string(p) + " outside the placement");
      }
    }
  }
  for (uint32_t p = 0; p < params_.partitions && result_.ok(); ++p) {
    const std::string expected = test::Observe(reference_[p]);
    const crdt::Snapshot expected_snap = crdt::TakeSnapshot(reference_[p]);
    std::set<uint32_t> dcs_of_p;
    for (size_t r : replicas_[p]) dcs_of_p.insert(nodes_[r].dc);
    for (size_t r : replicas_[p]) {
      Node& node = nodes_[r];
      const crdt::MemoryState& state = node.store->State(p);
      const std::string got = test::Observe(state);
      std::ostringstream where;
      where << "node " << r << " (id " << node.id << ", dc " << node.dc << ") partition " << p;
      if (got != expected) {
        return Fail(
            Result::Outcome::kDiverged,
            where.str() + " shows\n" + got + "but the acknowledged writes give\n" + expected);
      }
      if (state.Context() != reference_[p].Context()) {
        return Fail(Result::Outcome::kDiverged, where.str() + " context " +
                                                    state.Context().ToString() + " != reference " +
                                                    reference_[p].Context().ToString());
      }
      if (!params_.options.fold_counters && crdt::TakeSnapshot(state) != expected_snap) {
        return Fail(Result::Outcome::kDiverged, where.str() + ": snapshot differs from reference");
      }
      // Every origin that wrote p, former owners included (their streams
      // stay origins of p).
      for (const auto& [origin, written] : last_seq_[p]) {
        if (node.core->Applied(p, origin) != written || node.store->Applied(p, origin) != written) {
          return Fail(Result::Outcome::kDiverged,
                      where.str() + ": applied of origin " + std::to_string(origin) + " is " +
                          std::to_string(node.core->Applied(p, origin)) + ", written " +
                          std::to_string(written));
        }
      }
      if (params_.options.truncate_logs && !node.store->LogEntries(p, node.id).empty()) {
        return Fail(Result::Outcome::kBroken,
                    where.str() + ": own log not truncated although every replica has it");
      }
      if (params_.options.fold_counters && Unfolded(state)) {
        return Fail(Result::Outcome::kBroken, where.str() + ": counters not folded");
      }
      auto last = last_seq_[p].find(node.id);
      if (last != last_seq_[p].end()) {
        const uint32_t want = static_cast<uint32_t>(dcs_of_p.size() - 1);
        const uint32_t got_dcs = node.core->DcsThatApplied({{p, last->second}});
        if (got_dcs != want) {
          return Fail(Result::Outcome::kBroken, where.str() + ": WAIT counts " +
                                                    std::to_string(got_dcs) + " DCs, want " +
                                                    std::to_string(want));
        }
      }
    }
  }
}

Result Simulation::Run() {
  const size_t n_nodes = nodes_.size();
  for (size_t n = 0; n < n_nodes; ++n) {
    Schedule(rng_.Below(params_.tick_ms + 1), Event{Type::kTick, n, 0, 0, {}});
  }
  for (int i = 0; i < params_.ops; ++i)
    Schedule(rng_.Below(params_.fault_ms), Event{Type::kOp, 0, 0, 0, {}});
  for (int i = 0; i < params_.crashes; ++i) {
    const size_t n = rng_.Below(n_nodes);
    const uint64_t at = rng_.Below(params_.fault_ms);
    // Short outages and ones long enough for the failure detector.
    const uint64_t down = static_cast<uint64_t>(rng_.Between(1, 3 * params_.options.down_after_ms));
    Schedule(at, Event{Type::kCrash, n, 0, 0, {}});
    Schedule(std::min(at + down, params_.fault_ms), Event{Type::kRestart, n, 0, 0, {}});
  }
  for (int i = 0; i < params_.cuts; ++i) {
    const uint32_t dc = static_cast<uint32_t>(rng_.Below(static_cast<uint64_t>(params_.dcs)));
    const uint64_t at = rng_.Below(params_.fault_ms);
    const uint64_t len = static_cast<uint64_t>(rng_.Between(50, 1000));
    Schedule(at, Event{Type::kCut, 0, 0, dc, {}});
    Schedule(std::min(at + len, params_.fault_ms), Event{Type::kHeal, 0, 0, dc, {}});
  }
  for (int i = 0; i < params_.restores; ++i) {
    const size_t n = rng_.Below(n_nodes);
    const uint64_t backup_at = rng_.Below(params_.fault_ms / 2);
    const uint64_t restore_at = backup_at + rng_.Between(50, params_.fault_ms / 2);
    Schedule(backup_at, Event{Type::kBackup, n, 0, 0, {}});
    Schedule(restore_at, Event{Type::kRestore, n, 0, 0, {}});
    // Restoring a copy takes longer than any message of the old process
    // takes to arrive (a delta it sent before it died, delivered after the
    // restored process numbered new dots, would carry a reused dot).
    Schedule(restore_at + params_.delay_max_ms + rng_.Between(1, 200),
             Event{Type::kRestart, n, 0, 0, {}});
  }
  for (int i = 0; i < params_.reconfigures; ++i) {
    Schedule(move_rng_.Below(params_.fault_ms), Event{Type::kReconfigure, 0, 0, 0, {}});
  }
  for (int i = 0; i < params_.hints; ++i) {
    Schedule(hint_rng_.Below(params_.fault_ms), Event{Type::kHint, 0, 0, 0, {}});
  }

  uint64_t handled = 0;
  auto run_until = [&](uint64_t end, bool stop_when_settled) {
    uint64_t next_check = now_;
    while (!events_.empty() && result_.ok()) {
      auto it = events_.begin();
      if (it->first.first > end) break;
      now_ = it->first.first;
      Event e = std::move(it->second);
      events_.erase(it);
      Handle(e);
      if (++handled > kMaxEvents) {
        Fail(Result::Outcome::kNotQuiescent, "too many events");
        return false;
      }
      if (stop_when_settled && now_ >= next_check) {
        next_check = now_ + kSettleCheckEveryMs;
        if (AllSettled() && hints_open_ == 0) return true;
      }
    }
    now_ = std::max(now_, end);
    return false;
  };

  // Fault phase; then heal everything and stop faults (delays stay).
  run_until(params_.fault_ms, false);
  faults_ = false;
  cut_dcs_.clear();
  for (size_t n = 0; n < n_nodes; ++n) Restart(n);
  if (params_.closing_writes) {
    for (size_t n = 0; n < n_nodes; ++n) {
      if (nodes_[n].exited) continue;  // gone for good (a lost joiner still has `held`)
      for (uint32_t p : nodes_[n].held) {
        LocalWrite(n, p);
        Flush(n);
      }
    }
  }
  if (!result_.ok()) return result_;
  const uint64_t healed_at = now_;
  if (!run_until(healed_at + kQuiesceMaxMs, true) && result_.ok()) {
    std::ostringstream out;
    out << "not settled " << kQuiesceMaxMs << " ms after healing; unsettled nodes:";
    for (size_t n = 0; n < n_nodes; ++n) {
      if (!nodes_[n].exited && !nodes_[n].core->Settled()) out << ' ' << n;
    }
    // The moves still under way, with the nodes they wait for.
    std::map<ReplicaId, size_t> index;
    for (size_t i = 0; i < n_nodes; ++i) index[nodes_[i].id] = i;
    static const char* const kRoles[] = {"joining", "leaving", "draining", "deleting", "staying"};
    for (size_t n = 0; n < n_nodes; ++n) {
      if (nodes_[n].exited) continue;
      for (const MoveStatus& m : nodes_[n].core->Moves()) {
        out << "\n  node " << n << " p" << m.partition << " " << kRoles[static_cast<int>(m.role)]
            << " epoch " << m.epoch << " joining:";
        for (ReplicaId id : m.joining) out << ' ' << index[id];
        out << " leaving:";
        for (ReplicaId id : m.leaving) out << ' ' << index[id];
      }
    }
    Fail(Result::Outcome::kNotQuiescent, out.str());
  }
  if (!result_.ok()) return result_;
  // Settled: give folding and truncation rounds of heartbeats and maintenance
  // (folding does a bounded amount of work per round) until they are done.
  const Options& o = params_.options;
  const uint64_t rounds = params_.partitions / o.fold_partitions_per_maintenance +
                          params_.partitions * 4 / o.fold_keys_per_maintenance + 3;
  for (uint64_t r = 0; r < rounds && result_.ok() && !Tidy(); ++r) {
    run_until(now_ + o.maintenance_interval_ms + o.heartbeat_interval_ms, false);
  }
  if (!result_.ok()) return result_;
  FinalChecks();

  result_.sim_ms = now_;
  for (const Node& node : nodes_) {
    if (node.exited) continue;  // (its figures went with it)
    const Stats& s = node.core->stats();
    result_.state_transfers += s.state_transfers_applied;
    result_.state_chunks += s.state_chunks_applied;
    result_.catchup_requests += s.catchup_requests;
    result_.log_replies += s.log_replies;
    result_.folded_atoms += s.folded_atoms;
    result_.gaps += s.gaps;
    result_.dropped += s.dropped;
    result_.moves_joined += s.moves_joined;
    result_.moves_left += s.moves_left;
  }
  return result_;
}

}  // namespace

const char* OutcomeName(Result::Outcome outcome) {
  switch (outcome) {
    case Result::Outcome::kOk:
      return "ok";
    case Result::Outcome::kNotQuiescent:
      return "not quiescent";
    case Result::Outcome::kDiverged:
      return "diverged";
    case Result::Outcome::kBroken:
      return "broken invariant";
  }
  return "?";
}

Result RunSchedule(uint64_t seed, const Tweaks& tweaks) {
  Simulation sim(seed, tweaks);
  return sim.Run();
}

}  // namespace geokv::replication::sim
