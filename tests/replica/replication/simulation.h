// A deterministic simulation of N replication cores (FoundationDB-style): every
// node is a ReplicationCore over a MemoryReplicaStore, connected by a seeded
// network that delays, drops, duplicates and reorders messages, cuts
// datacenters off and heals them, and crashes nodes (they lose the core and
// whatever they had not sent yet, and restart from their store). A random
// workload (tests/crdt/random_ops.h) writes at random nodes; every write is
// acknowledged (committed in the node's store) and recorded.
//
// After the fault phase everything heals; the simulation runs until every core
// is Settled() (bounded), a little longer for folding and truncation, and then
// checks: every replica of every partition shows what a reference replica that
// applied every acknowledged delta shows (Observe, and the causal context;
// whole snapshots when folding is off), applied vectors equal the number of
// writes of each origin, logs are truncated, counters are folded (when on), and
// WAIT counts every other datacenter. Invariants are also checked during the
// run (applied never exceeds what exists, and the context covers it).
//
// The reconfigure fault (in the schedules of the tests that force it): on a
// seeded schedule the cluster moves to a new placement with a higher epoch (a
// partition's replica moved to another node, a node removed from every
// partition, or the previous placement again: a cancellation); a spare node
// that holds nothing at first can be chosen. Nodes are given each epoch in
// order at different times (and after a restart), mixed with every other
// fault; with overlapping epochs, while moves of the one before are under
// way; with exit_removed, a removed node exits once drained; with
// lose_joiner, a new node is lost before it joins and a later epoch forgets
// it. The final check then also requires that nodes outside the final
// placement hold nothing.
//
// The hint fault (Tweaks::hints): a keeper outside the cluster hands hints
// (hinted handoff) to the replicas of their partitions (ReplicationCore::
// ApplyHint) until each acknowledged it at the current epoch; the reference
// joins every hint, so the final check requires every final owner to hold
// them.
//
// Everything random comes from Prngs seeded with the schedule's seed, so a
// schedule replays exactly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "replica/replication/core.h"

namespace geokv::replication::sim {

// Forced settings for a run (tests that prove the checker can fail).
struct Tweaks {
  bool ignore_gaps = false;           // Options::testing_ignore_gaps
  bool use_unusable_reports = false;  // Options::testing_use_unusable_reports
  bool force_drops = false;           // at least 15% drops in the fault phase
  bool force_closing_writes = false;  // every node writes once per partition after healing
  bool force_fold = false;            // and fold eagerly (maintenance every few ms)
  bool slow_batches = false;          // published batches take 50 ms longer than the rest
  bool force_restores = false;        // 1-3 nodes restored from an older copy of their store
  bool no_fence = false;              // restarts write at once (may reuse dots): must fail
  bool tiny_chunks = false;           // state transfers of 1-3 atoms per chunk, small logs
  bool merge_chunk_context = false;   // Options::testing_merge_chunk_context: must fail
  // Every schedule moves partitions (1-3 new placements). Without it none
  // does, so that the other tests keep the schedules (and pins) they had
  // before moves existed.
  bool force_reconfigure = false;
  // Options::testing_delete_before_caught_up (with force_reconfigure): must fail.
  bool delete_before_caught_up = false;
  // With force_reconfigure: a new placement comes once every node was given
  // the current one, whether or not it adopted it and whatever moves are
  // under way (else only once every node runs it, and a move only when none
  // is under way): nodes queue epochs behind their moves and adopt them in
  // order.
  bool overlapping_epochs = false;
  // With force_reconfigure: a node removed from the placement (it held a
  // partition at an earlier epoch and holds none in the current one) exits
  // for good once it runs the current epoch and MayExit(), as a removed
  // geokv-server does; it is never placed again. Its peers then never hear
  // from it again (issue 14: an owner down while it released and exited must
  // still end the move).
  bool exit_removed = false;
  // With force_reconfigure: the first placement that gives partitions to a
  // node that never held any (the spare) loses that node for good at once,
  // before it adopts the epoch (its machine died before it joined): the
  // moves to it never end. With forget_lost, a later epoch removes it from
  // every partition and forgets it (Membership::forgotten), which must end
  // every move; without, the schedule must not settle (the check that the
  // simulation notices a move stalled for good).
  bool lose_joiner = false;
  bool forget_lost = true;
  // Hinted handoff: a hint keeper outside the cluster (a node holding no
  // replica, its process restarting now and then: a new origin each time)
  // keeps blind SETs built against an empty state and hands each to every
  // replica of its partition in the current placement (ApplyHint, with the
  // current epoch) until each acknowledged it at that epoch (a new placement
  // asks every owner again, as hints.h does), through drops, lost
  // acknowledgements, crashes and moves. No restores with it: a replica restored from a copy older than a
  // hint it acknowledged gets it back only by anti-entropy, which the
  // simulation does not run (aae_core_test.cc covers that).
  bool hints = false;
  bool check_invariants = true;  // during the run (off: only the final check judges)
  bool trace = false;            // print every event to stderr
  // With trace: after each message a node handles, print its replica of this
  // partition (GEOKV_SIM_WATCH=<p>), to see where a divergence begins.
  std::optional<uint32_t> watch_partition;
};

struct Result {
  enum class Outcome { kOk, kNotQuiescent, kDiverged, kBroken };
  Outcome outcome = Outcome::kOk;
  std::string detail;       // what went wrong, for the failure message
  std::string description;  // the schedule's parameters

  // Figures.
  uint64_t sim_ms = 0;
  uint64_t messages = 0;
  uint64_t writes = 0;
  uint64_t state_transfers = 0;
  uint64_t state_chunks = 0;
  uint64_t catchup_requests = 0;
  uint64_t log_replies = 0;
  uint64_t folded_atoms = 0;
  uint64_t gaps = 0;     // batches that arrived beyond a gap
  uint64_t dropped = 0;  // messages or buffered batches over a core's limits
  uint64_t crashes = 0;
  uint64_t reconfigures = 0;  // new placements adopted (epochs)
  // Epochs a node's core queued (moves of an earlier one were under way
  // there), and of them those given while an earlier one was still queued.
  uint64_t epochs_queued = 0;
  uint64_t epochs_queued_behind_queued = 0;
  uint64_t moves_joined = 0;  // partitions filled by a new owner
  uint64_t moves_left = 0;    // partitions an old owner gave up and deleted
  uint64_t hints = 0;         // hints kept (Tweaks::hints)
  uint64_t lost_nodes = 0;    // joiners lost for good (Tweaks::lose_joiner)
  uint64_t hints_refused_moving = 0;  // handoffs answered kNotServing (asked again)

  bool ok() const { return outcome == Outcome::kOk; }
};

const char* OutcomeName(Result::Outcome outcome);

// Runs one schedule drawn from `seed`.
Result RunSchedule(uint64_t seed, const Tweaks& tweaks = {});

}  // namespace geokv::replication::sim
