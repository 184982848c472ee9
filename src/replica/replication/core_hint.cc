// Hinted handoff at a replica: ReplicationCore::ApplyHint (core.h). Why a
// hint may be joined outside every stream is in docs/replication.md,
// "Hinted handoff".
#include "common/assert.h"
#include "crdt/join.h"
#include "replica/replication/core_internal.h"

namespace geokv::replication::internal {

namespace {

// A hint is the delta of a SET-like write built against an empty state: one
// register or expiry atom per dot, its own dots, nothing folded, no removal.
bool WellFormedHint(const crdt::Delta& hint) {
  if (hint.origin == 0 || hint.first == 0 || hint.last < hint.first) return false;
  if (!hint.removals.empty() || hint.additions.empty()) return false;
  if (hint.last - hint.first + 1 != hint.additions.size()) return false;
  uint64_t next = hint.first;
  for (const crdt::Addition& a : hint.additions) {
    if (a.path.slot != crdt::Slot::kRegister && a.path.slot != crdt::Slot::kExpiry) return false;
    if (!a.path.field.empty()) return false;
    if (a.atom.dot.origin != hint.origin || a.atom.dot.counter != next) return false;
    if (a.atom.first != a.atom.dot.counter) return false;
    ++next;
  }
  return true;
}

}  // namespace

HintOutcome CoreImpl::ApplyHint(ReplicaStore& store, uint32_t p, const crdt::Delta& hint,
                                std::optional<uint64_t> epoch) {
  // A node's id as origin would be a dot of its stream, which this replica
  // numbers and applies in order: taken outside it, the stream's own delta
  // with that dot would later be dropped as seen.
  const bool node_origin =
      hint.origin == membership_.self || membership_.dc_of.contains(hint.origin);
  const Held* h = HeldOf(p);
  if (!WellFormedHint(hint) || node_origin ||
      (h != nullptr && IndexOf(*h, hint.origin) != kNoIndex)) {
    ++stats_.hints_refused;
    return HintOutcome::kRefused;
  }
  // A transfer into p joins ranges whose removals are settled by its first
  // context: an atom joined beside it could come back after the transfer
  // removed it (DropSettledAdditions). A joiner takes hints once it serves p
  // (until then it may still fill from an owner that lacks them); a leaver
  // is no owner of the placement the keeper must satisfy. An owner that
  // stays takes them while p moves: a joiner filling from here takes a hint
  // atom with its dot even if its first chunk's context lacks it
  // (JoinChunk's `no_delta`), and a joiner whose context has seen a hint's
  // dot fills only from an owner that has seen it too (HasHintDots), which
  // only an owner that stays and takes hints may become.
  if (h == nullptr || !Serving(p) || h->transfer.active) return HintOutcome::kNotServing;
  // The keeper deletes a hint once every owner of its placement took it
  // under that placement: an owner at another epoch may be about to leave
  // p, or to fill it from an owner that has not taken the hint yet.
  if (epoch && *epoch != membership_.epoch) return HintOutcome::kNotServing;
  if (h->move.role != Role::kMember) return HintOutcome::kNotServing;
  crdt::MutableState& state = store.Partition(p);
  if (state.Context().ContainsRange(hint.origin, hint.first, hint.last)) {
    ++stats_.hints_duplicate;
    return HintOutcome::kDuplicate;
  }
  // Dots already seen (a removal of them arrived first) are skipped by the
  // join: the removal wins.
  crdt::ApplyDelta(state, hint);
  ++stats_.hints_applied;
  return HintOutcome::kApplied;
}

}  // namespace geokv::replication::internal
