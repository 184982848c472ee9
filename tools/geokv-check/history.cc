#include "history.h"

#include <algorithm>

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

bool MayHaveApplied(const Op& op) { return op.outcome != Outcome::kError; }

// Bounds on a counter (or a cart line) given its increments and the removals
// of it (DEL of the key, or HDEL of the line). Increments are positive.
//   lower: acknowledged increments that started after every removal that may
//          have been applied had ended: no removal can have observed them.
//   upper: increments that may have been applied, except those a removal at
//          the same node certainly observed (it started after the increment
//          was acknowledged, and a node applies its own writes in order).
struct Bounds {
  int64_t lower = 0;
  int64_t upper = 0;
};

Bounds CounterBounds(const std::vector<const Op*>& increments,
                     const std::vector<const Op*>& removals) {
  uint64_t last_removal_end = 0;
  bool any_removal = false;
  for (const Op* r : removals) {
    if (!MayHaveApplied(*r)) continue;
    any_removal = true;
    last_removal_end = std::max(last_removal_end, r->end_ms);
  }
  Bounds b;
  for (const Op* i : increments) {
    if (!MayHaveApplied(*i)) continue;
    bool observed = false;
    if (i->outcome == Outcome::kOk) {
      for (const Op* r : removals) {
        if (r->outcome == Outcome::kOk && !i->node.empty() && r->node == i->node &&
            r->start_ms > i->end_ms) {
          observed = true;
          break;
        }
      }
    }
    if (!observed) b.upper += i->amount;
    if (i->outcome == Outcome::kOk && (!any_removal || i->start_ms > last_removal_end)) {
      b.lower += i->amount;
    }
  }
  return b;
}

}  // namespace

std::vector<Violation> CheckHistory(const std::vector<Op>& history, const FinalState& state) {
  std::vector<Violation> out;
  auto fail = [&](const std::string& key, std::string what) {
    out.push_back({key, std::move(what)});
  };

  // Group operations by key (and by field for carts and sets).
  std::map<std::string, std::vector<const Op*>> by_key;
  for (const Op& op : history) by_key[op.key].push_back(&op);

  std::set<std::string> touched;
  for (const auto& [key, ops] : by_key) {
    touched.insert(key);
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
          fail(key, "counter is " + std::to_string(value) +
                        " but acknowledged increments that no "
                        "DEL could have observed add up to " +
                        std::to_string(b.lower) + ": an acknowledged update was lost");
        }
        if (value > b.upper) {
          fail(key, "counter is " + std::to_string(value) + " but at most " +
                        std::to_string(b.upper) +
                        " can remain of the increments issued: "
                        "a deleted or never-issued amount appeared");
        }
        break;
      }
      case OpKind::kSAdd:
      case OpKind::kSRem: {
        std::set<std::string> added_ok, added_maybe, removal_tried;
        for (const Op* op : ops) {
          if (op->kind == OpKind::kSAdd && op->outcome == Outcome::kOk) added_ok.insert(op->field);
          if (op->kind == OpKind::kSAdd && MayHaveApplied(*op)) added_maybe.insert(op->field);
          if (op->kind == OpKind::kSRem && MayHaveApplied(*op)) removal_tried.insert(op->field);
        }
        auto it = state.sets.find(key);
        const std::set<std::string> empty;
        const std::set<std::string>& members = it == state.sets.end() ? empty : it->second;
        for (const std::string& m : added_ok) {
          if (!members.contains(m) && !removal_tried.contains(m) && dels.empty()) {
            fail(key, "acknowledged SADD of '" + m + "' is missing, and nothing removed it");
          }
        }
        for (const std::string& m : members) {
          if (!added_maybe.contains(m)) fail(key, "member '" + m + "' was never added");
        }
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
            fail(key, "cart line '" + field + "' is " + std::to_string(value) +
                          ", outside what the history allows [" + std::to_string(b.lower) + ", " +
                          std::to_string(b.upper) + "]");
          }
        }
        for (const auto& [field, value] : lines) {
          if (!incs.contains(field)) fail(key, "cart line '" + field + "' was never incremented");
        }
        break;
      }
      case OpKind::kSet: {
        std::set<std::string> written;
        bool acked_write = false;
        for (const Op* op : ops) {
          if (op->kind == OpKind::kSet && MayHaveApplied(*op)) written.insert(op->value);
          if (op->kind == OpKind::kSet && op->outcome == Outcome::kOk) acked_write = true;
        }
        auto it = state.registers.find(key);
        if (it == state.registers.end()) {
          if (acked_write && dels.empty()) fail(key, "register is missing after acknowledged SETs");
        } else if (!written.contains(it->second)) {
          fail(key, "register holds '" + it->second + "', which was never written");
        }
        break;
      }
      case OpKind::kMvSet: {
        std::set<std::string> written;
        for (const Op* op : ops) {
          if (op->kind == OpKind::kMvSet && MayHaveApplied(*op)) written.insert(op->value);
        }
        auto it = state.mvregs.find(key);
        if (it != state.mvregs.end()) {
          for (const std::string& v : it->second) {
            if (!written.contains(v)) fail(key, "MV sibling '" + v + "' was never written");
          }
        }
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
        fail(key, std::string(type) + " key appeared that no client wrote");
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
