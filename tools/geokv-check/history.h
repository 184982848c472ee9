// The recorded history of a geokv-check run, and the semantic check of a
// converged cluster's final state against it.
//
// Every operation the workload issued is recorded with where it ran (DC,
// node), when (start and end, ms since the run began) and how it ended:
// kOk (acknowledged), kError (refused: it changed nothing) or kUnknown (no
// reply: it may or may not have been applied, at any moment after its start,
// even after its recorded end: a paused node applies it when it resumes). The
// checks are sound for any interleaving the CRDT semantics allow
// (docs/crdt.md), so a violation means an acknowledged update was lost, a
// removed one came back, or something was invented. The rules are stated in
// history.cc and docs/checking.md.
//
// What the checks assume of the workload (workload.cc does all of it):
//   - each key is written with one type's commands (and DEL);
//   - SADD members, SET values and MVSET values are unique in a run;
//   - an SREM names a member the client has just read (SMEMBERS) on the same
//     connection, so on the same node when `node` is set;
//   - an MVSET with a token sends the token of an MVGET made just before on
//     the same connection, and records the values that MVGET showed;
//   - for the last-writer rule of registers only (`one_clock`): every node
//     runs on this machine, so wall clocks agree (and are not stepped during
//     the run) and a register write's timestamp lies between the start and
//     the end of the request that made it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace geokv::check {

enum class OpKind : uint8_t {
  kIncr,   // INCRBY key amount           (counters)
  kDel,    // DEL key                     (any type)
  kSet,    // SET key value               (registers)
  kSAdd,   // SADD key member             (sets; members are unique per run)
  kSRem,   // SREM key member
  kHIncr,  // HINCRBY key field amount    (carts)
  kHDel,   // HDEL key field
  kMvSet,  // MVSET key value [token]     (multi-value registers)
};

enum class Outcome : uint8_t { kOk, kError, kUnknown };

struct Op {
  OpKind kind = OpKind::kSet;
  std::string dc;
  // The node that applied it first, when known: the client's node if it holds
  // the key's partition; empty if the request was forwarded (then no
  // conclusion is drawn from the order of two requests at one node).
  std::string node;
  std::string key;
  std::string field;   // member (sets), field (carts)
  std::string value;   // SET / MVSET value
  int64_t amount = 0;  // INCRBY / HINCRBY
  // MVSET only: whether it carried the token of an MVGET, and the sibling
  // values that MVGET showed (the token names exactly their dots). An MVGET
  // that showed nothing gives no token: the MVSET is then a plain overwrite.
  bool with_token = false;
  std::vector<std::string> token_values;
  uint64_t start_ms = 0;
  uint64_t end_ms = 0;
  Outcome outcome = Outcome::kUnknown;
};

// What the cluster holds at the end (read from one replica after convergence).
struct FinalState {
  std::map<std::string, int64_t> counters;       // absent: 0
  std::map<std::string, std::string> registers;  // absent: missing
  std::map<std::string, std::set<std::string>> sets;
  std::map<std::string, std::map<std::string, int64_t>> carts;
  std::map<std::string, std::vector<std::string>> mvregs;
};

struct Violation {
  std::string key;
  std::string what;  // in plain words
};

// Checks the final state against the history. Keys that no operation
// touched must be absent from the final state. `one_clock`: every node reads
// the checker's wall clock (they all run on this machine); without it the
// rule that needs comparable timestamps (a register shows its last writer)
// is skipped.
std::vector<Violation> CheckHistory(const std::vector<Op>& history, const FinalState& final_state,
                                    bool one_clock = true);

const char* OpKindName(OpKind kind);
const char* OutcomeName(Outcome outcome);

}  // namespace geokv::check
