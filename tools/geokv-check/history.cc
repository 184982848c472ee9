#include "history.h"

#include <algorithm>
#include <functional>

namespace geokv::check {

const char* OpKindName(OpKind kind) {
  switch (kind) {
    case OpKind::kIncr:
      return "INCRBY";
    case OpKind::kDel:
      return "DEL";
    case OpKind::kSet:
      return "SET";
    case OpKind::kSAdd:
      return "SADD";
    case OpKind::kSRem:
      return "SREM";
    case OpKind::kHIncr:
      return "HINCRBY";
    case OpKind::kHDel:
      return "HDEL";
    case OpKind::kMvSet:
      return "MVSET";
  }
  return "?";
}

const char* OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kOk:
      return "ok";
    case Outcome::kError:
      return "error";
    case Outcome::kUnknown:
      return "unknown";
  }
  return "?";
}

namespace {

// The rules below reason about when an operation may have been applied:
//   - kOk: once, at some moment between its start and its end (a node replies
//     after it committed; a forward is never retried);
//   - kUnknown: at most once, at any moment after its start (a paused node or
//     a request still in a socket applies it after the client gave up);
//   - kError: never.
// Times are the client's milliseconds (floored), so "a ended before b
// started" is certain only when a.end_ms < b.start_ms.
constexpr uint64_t kNeverMs = UINT64_MAX;

// A register write's Hlc is the applying node's wall clock in milliseconds
// (or one logical tick past the last one it issued in the same millisecond).
// Its client's times are a steady clock floored to milliseconds: a write that
// started at least 2 ms after another ended carries a greater physical
// millisecond. 5 ms leaves a margin over that.
constexpr uint64_t kClockSlackMs = 5;

bool MayHaveApplied(const Op& op) { return op.outcome != Outcome::kError; }

uint64_t LatestApplyMs(const Op& op) { return op.outcome == Outcome::kOk ? op.end_ms : kNeverMs; }

// Whether `remover` may have been applied after `target` was (only then can it
// have observed it).
bool MayObserve(const Op& remover, const Op& target) {
  return &remover != &target && MayHaveApplied(remover) &&
         LatestApplyMs(remover) >= target.start_ms;
}

// Whether `remover` certainly observed `target`: both acknowledged by the same
// node, the remover started after the target ended. A node applies requests
// one after another and keeps what it committed (it replies after the commit,
// so a kill -9 loses nothing acknowledged).
bool CertainlyObserved(const Op& remover, const Op& target) {
  return remover.outcome == Outcome::kOk && target.outcome == Outcome::kOk &&
         !target.node.empty() && remover.node == target.node && remover.start_ms > target.end_ms;
}

// The moment after which no removal can have been applied: an acknowledged
// write that started after it cannot have been observed by any of them.
struct RemovalHorizon {
  bool any = false;
  uint64_t last_ms = 0;  // kNeverMs if a removal has an unknown outcome

  explicit RemovalHorizon(const std::vector<const Op*>& removals) {
    for (const Op* r : removals) {
      if (!MayHaveApplied(*r)) continue;
      any = true;
      last_ms = std::max(last_ms, LatestApplyMs(*r));
    }
  }
  bool Precedes(const Op& op) const {
    return !any || (last_ms != kNeverMs && op.start_ms > last_ms);
  }
};

// Bounds on a counter (or a cart line) given its increments and the removals
// of it (DEL of the key, or HDEL of the line). Increments are positive.
//   lower: acknowledged increments that started after every removal that may
//          have been applied had ended (RemovalHorizon): none can have
//          observed them. A removal of unknown outcome may be applied at any
//          time, so it leaves no lower bound.
//   upper: increments that may have been applied, except those a removal
//          certainly observed (CertainlyObserved).
struct Bounds {
  int64_t lower = 0;
  int64_t upper = 0;
};

Bounds CounterBounds(const std::vector<const Op*>& increments,
                     const std::vector<const Op*>& removals) {
  const RemovalHorizon horizon(removals);
  Bounds b;
  for (const Op* i : increments) {
    if (!MayHaveApplied(*i)) continue;
    const bool observed = std::any_of(removals.begin(), removals.end(),
                                      [&](const Op* r) { return CertainlyObserved(*r, *i); });
    if (!observed) b.upper += i->amount;
    if (i->outcome == Outcome::kOk && horizon.Precedes(*i)) b.lower += i->amount;
  }
  return b;
}

using Fail = std::function<void(const std::string& what)>;

std::string At(const Op& op) {
  return std::string(OpKindName(op.kind)) + (op.value.empty() ? "" : " '" + op.value + "'") + " [" +
         std::to_string(op.start_ms) + ", " + std::to_string(op.end_ms) + "] ms" +
         (op.node.empty() ? "" : " at " + op.node);
}

// Registers (SET, DEL). Last writer wins by (Hlc, replica), and every node's
// Hlc is this machine's wall clock, so:
//   1. Undeletable SET: an acknowledged SET that started after every DEL that
//      may have been applied had ended (RemovalHorizon) cannot have been
//      removed. Its atom, or that of a SET that observed it (whose Hlc is not
//      smaller, as it was applied later), survives: the key cannot be absent.
//   2. Last writer (only with one clock for every node): if the final value
//      was written by an acknowledged SET W, no undeletable SET may have
//      started kClockSlackMs or more after W ended. Such a SET L has a
//      greater Hlc than W; anything that removed L
//      was applied after L, so it is a DEL (excluded: L is undeletable) or a
//      SET with a greater Hlc still, and so on: some atom greater than W's
//      survives and GET cannot show W. A W of unknown outcome may have been
//      applied, with a later Hlc, at any time: no conclusion.
//   3. No resurrection: the final value's SET W must not have been certainly
//      observed by a later SET or DEL (CertainlyObserved): that removed W's
//      atom, and a removed dot never comes back.
void CheckRegister(const std::vector<const Op*>& ops, const std::vector<const Op*>& dels,
                   const std::optional<std::string>& value, bool one_clock, const Fail& fail) {
  const RemovalHorizon horizon(dels);
  const Op* last_undeletable = nullptr;
  for (const Op* op : ops) {
    if (op->kind != OpKind::kSet || op->outcome != Outcome::kOk || !horizon.Precedes(*op)) continue;
    if (last_undeletable == nullptr || op->start_ms > last_undeletable->start_ms)
      last_undeletable = op;
  }
  if (!value) {
    if (last_undeletable != nullptr) {
      fail("register is missing, but the acknowledged " + At(*last_undeletable) +
           " started after every DEL that may have been applied had ended: nothing can have "
           "removed it");
    }
    return;
  }
  std::vector<const Op*> writers;
  for (const Op* op : ops) {
    if (op->kind == OpKind::kSet && op->value == *value && MayHaveApplied(*op))
      writers.push_back(op);
  }
  if (writers.empty()) return fail("register holds '" + *value + "', which was never written");
  std::string why;
  for (const Op* w : writers) {
    if (w->outcome == Outcome::kUnknown) return;
    const auto remover = std::find_if(ops.begin(), ops.end(),
                                      [&](const Op* x) { return CertainlyObserved(*x, *w); });
    if (remover != ops.end()) {
      why = "register holds '" + *value + "', but the acknowledged " + At(**remover) +
            " came after the acknowledged " + At(*w) +
            " at the same node and replaced it: that SET was lost, or a removed value came back";
    } else if (one_clock && last_undeletable != nullptr &&
               last_undeletable->start_ms >= w->end_ms + kClockSlackMs) {
      why = "register holds '" + *value + "' from the acknowledged " + At(*w) +
            ", but the acknowledged " + At(*last_undeletable) +
            " started later, after every DEL that may have been applied had ended: the last "
            "writer was lost";
    } else {
      return;  // this writer explains the value
    }
  }
  fail(why);
}

// Multi-value registers (MVSET, DEL):
//   1. An acknowledged MVSET A must be a sibling unless something may have
//      removed it: a DEL or a token-less MVSET that may have been applied
//      after A was (MayObserve), or an MVSET (any outcome but error) whose
//      token named A, i.e. whose MVGET showed A's value. A token removes
//      exactly the siblings its MVGET showed, so a token-carrying MVSET that
//      did not show A never removes it, however late it ran.
//   2. No resurrection: a sibling must not have been certainly removed: by an
//      acknowledged token-less MVSET or DEL that certainly observed its MVSET,
//      or by an acknowledged MVSET at a known node whose token named it (its
//      MVGET read the sibling on that node just before).
void CheckMvRegister(const std::vector<const Op*>& ops, const std::vector<std::string>& siblings,
                     const Fail& fail) {
  std::set<std::string> named_by_token, removed_by_token;
  std::vector<const Op*> overwrites;  // DEL and token-less MVSET
  for (const Op* op : ops) {
    if (op->kind == OpKind::kMvSet && op->with_token) {
      if (!MayHaveApplied(*op)) continue;
      named_by_token.insert(op->token_values.begin(), op->token_values.end());
      if (op->outcome == Outcome::kOk && !op->node.empty())
        removed_by_token.insert(op->token_values.begin(), op->token_values.end());
    } else {
      overwrites.push_back(op);
    }
  }
  const std::set<std::string> present(siblings.begin(), siblings.end());
  for (const std::string& v : present) {
    std::vector<const Op*> writers;
    for (const Op* op : ops) {
      if (op->kind == OpKind::kMvSet && op->value == v && MayHaveApplied(*op))
        writers.push_back(op);
    }
    if (writers.empty()) {
      fail("MV sibling '" + v + "' was never written");
    } else if (removed_by_token.contains(v)) {
      fail("MV sibling '" + v +
           "' is back, but an acknowledged MVSET replaced it with the token "
           "of an MVGET that showed it on the same node");
    } else if (std::all_of(writers.begin(), writers.end(), [&](const Op* w) {
                 return std::any_of(overwrites.begin(), overwrites.end(),
                                    [&](const Op* x) { return CertainlyObserved(*x, *w); });
               })) {
      fail("MV sibling '" + v + "' from the acknowledged " + At(*writers.back()) +
           " is back, but a later acknowledged write at the same node replaced it");
    }
  }
  // The latest moment a DEL or token-less MVSET may have been applied, and the
  // one before it (an MVSET does not remove its own sibling).
  const Op* latest[2] = {nullptr, nullptr};
  for (const Op* x : overwrites) {
    if (!MayHaveApplied(*x)) continue;
    if (latest[0] == nullptr || LatestApplyMs(*x) > LatestApplyMs(*latest[0])) {
      latest[1] = latest[0];
      latest[0] = x;
    } else if (latest[1] == nullptr || LatestApplyMs(*x) > LatestApplyMs(*latest[1])) {
      latest[1] = x;
    }
  }
  for (const Op* a : ops) {
    if (a->kind != OpKind::kMvSet || a->outcome != Outcome::kOk || present.contains(a->value) ||
        named_by_token.contains(a->value))
      continue;
    const Op* other = latest[0] == a ? latest[1] : latest[0];
    if (other != nullptr && MayObserve(*other, *a)) continue;
    fail("acknowledged " + At(*a) +
         " is not a sibling, and nothing can have removed it: no DEL or token-less MVSET "
         "may have been applied after it, and no MVGET token named it");
  }
}

// Sets (SADD, SREM, DEL). Members are unique (one SADD each).
//   1. An acknowledged SADD's member is present unless an SREM of it may have
//      been applied, or a DEL that may have observed the SADD.
//   2. No resurrection: a member is absent if an acknowledged SREM at a known
//      node removed it (the client had read it there, so that SREM observed
//      its atom) and no SADD of it may have been applied after that SREM
//      started (every SADD of it is acknowledged and ended before).
//   3. Nothing present that was never added.
void CheckSet(const std::vector<const Op*>& ops, const std::vector<const Op*>& dels,
              const std::set<std::string>& members, const Fail& fail) {
  std::map<std::string, std::vector<const Op*>> adds, removes;
  for (const Op* op : ops) {
    if (op->kind == OpKind::kSAdd) adds[op->field].push_back(op);
    if (op->kind == OpKind::kSRem) removes[op->field].push_back(op);
  }
  for (const auto& [m, m_adds] : adds) {
    if (members.contains(m)) continue;
    const auto& m_removes = removes[m];
    if (std::any_of(m_removes.begin(), m_removes.end(),
                    [](const Op* r) { return MayHaveApplied(*r); }))
      continue;
    for (const Op* a : m_adds) {
      if (a->outcome != Outcome::kOk) continue;
      if (std::none_of(dels.begin(), dels.end(), [&](const Op* d) { return MayObserve(*d, *a); })) {
        fail("acknowledged SADD of '" + m + "' is missing, and nothing removed it");
        break;
      }
    }
  }
  for (const std::string& m : members) {
    const auto& m_adds = adds[m];
    if (std::none_of(m_adds.begin(), m_adds.end(),
                     [](const Op* a) { return MayHaveApplied(*a); })) {
      fail("member '" + m + "' was never added");
      continue;
    }
    for (const Op* r : removes[m]) {
      if (r->outcome != Outcome::kOk || r->node.empty()) continue;
      const bool re_added = std::any_of(m_adds.begin(), m_adds.end(), [&](const Op* a) {
        return MayHaveApplied(*a) && LatestApplyMs(*a) >= r->start_ms;
      });
      if (!re_added) {
        fail("member '" + m + "' is back, but the acknowledged " + At(*r) +
             " removed it after every SADD of it had ended");
        break;
      }
    }
  }
}

}  // namespace

std::vector<Violation> CheckHistory(const std::vector<Op>& history, const FinalState& state,
                                    bool one_clock) {
  std::vector<Violation> out;
  // Group operations by key.
  std::map<std::string, std::vector<const Op*>> by_key;
  for (const Op& op : history) by_key[op.key].push_back(&op);

  std::set<std::string> touched;
  for (const auto& [key, ops] : by_key) {
    touched.insert(key);
    const Fail fail = [&, &key = key](const std::string& what) { out.push_back({key, what}); };
    // A key's type is that of its first write other than DEL.
    OpKind kind = OpKind::kDel;
    for (const Op* op : ops) {
      if (op->kind != OpKind::kDel) {
        kind = op->kind;
        break;
      }
    }
    std::vector<const Op*> dels;
    for (const Op* op : ops) {
      if (op->kind == OpKind::kDel) dels.push_back(op);
    }
    switch (kind) {
      case OpKind::kIncr: {
        std::vector<const Op*> incs;
        for (const Op* op : ops) {
          if (op->kind == OpKind::kIncr) incs.push_back(op);
        }
        const Bounds b = CounterBounds(incs, dels);
        auto it = state.counters.find(key);
        const int64_t value = it == state.counters.end() ? 0 : it->second;
        if (value < b.lower) {
          fail("counter is " + std::to_string(value) +
               " but acknowledged increments that no "
               "DEL could have observed add up to " +
               std::to_string(b.lower) + ": an acknowledged update was lost");
        }
        if (value > b.upper) {
          fail("counter is " + std::to_string(value) + " but at most " + std::to_string(b.upper) +
               " can remain of the increments issued: "
               "a deleted or never-issued amount appeared");
        }
        break;
      }
      case OpKind::kSAdd:
      case OpKind::kSRem: {
        auto it = state.sets.find(key);
        CheckSet(ops, dels, it == state.sets.end() ? std::set<std::string>{} : it->second, fail);
        break;
      }
      case OpKind::kHIncr:
      case OpKind::kHDel: {
        std::map<std::string, std::vector<const Op*>> incs, removals;
        for (const Op* op : ops) {
          if (op->kind == OpKind::kHIncr) incs[op->field].push_back(op);
          if (op->kind == OpKind::kHDel) removals[op->field].push_back(op);
        }
        auto it = state.carts.find(key);
        const std::map<std::string, int64_t> none;
        const auto& lines = it == state.carts.end() ? none : it->second;
        for (auto& [field, field_incs] : incs) {
          std::vector<const Op*> r = removals[field];
          r.insert(r.end(), dels.begin(), dels.end());
          const Bounds b = CounterBounds(field_incs, r);
          auto line = lines.find(field);
          const int64_t value = line == lines.end() ? 0 : line->second;
          if (value < b.lower || value > b.upper) {
            fail("cart line '" + field + "' is " + std::to_string(value) +
                 ", outside what the history allows [" + std::to_string(b.lower) + ", " +
                 std::to_string(b.upper) + "]");
          }
        }
        for (const auto& [field, value] : lines) {
          if (!incs.contains(field)) fail("cart line '" + field + "' was never incremented");
        }
        break;
      }
      case OpKind::kSet: {
        auto it = state.registers.find(key);
        CheckRegister(
            ops, dels,
            it == state.registers.end() ? std::nullopt : std::optional<std::string>(it->second),
            one_clock, fail);
        break;
      }
      case OpKind::kMvSet: {
        auto it = state.mvregs.find(key);
        CheckMvRegister(ops, it == state.mvregs.end() ? std::vector<std::string>{} : it->second,
                        fail);
        break;
      }
      case OpKind::kDel:
        break;  // only deletes: nothing must be there (checked below)
    }
  }
  // Nothing invented out of thin air: every key present was touched.
  auto untouched = [&](const auto& map, const char* type) {
    for (const auto& [key, value] : map) {
      if (!touched.contains(key))
        out.push_back({key, std::string(type) + " key appeared that no client wrote"});
    }
  };
  untouched(state.counters, "counter");
  untouched(state.registers, "register");
  untouched(state.sets, "set");
  untouched(state.carts, "cart");
  untouched(state.mvregs, "MV register");
  return out;
}

}  // namespace geokv::check
