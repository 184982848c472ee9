// geokv-check's history checker against hand-made histories: it must pass
// every final state the CRDT semantics allow and fail the ones a broken store
// would produce.
#include "history.h"

#include <catch2/catch.hpp>
#include <optional>

namespace geokv::check {
namespace {

Op Make(OpKind kind, const std::string& key, uint64_t start, uint64_t end, Outcome outcome,
        const std::string& node = "dc1-a") {
  Op op;
  op.kind = kind;
  op.key = key;
  op.node = node;
  op.dc = node.substr(0, 3);
  op.start_ms = start;
  op.end_ms = end;
  op.outcome = outcome;
  return op;
}

Op Incr(const std::string& key, int64_t amount, uint64_t start, uint64_t end,
        Outcome outcome = Outcome::kOk, const std::string& node = "dc1-a") {
  Op op = Make(OpKind::kIncr, key, start, end, outcome, node);
  op.amount = amount;
  return op;
}

Op Set(const std::string& key, const std::string& value, uint64_t start, uint64_t end,
       Outcome outcome = Outcome::kOk, const std::string& node = "dc1-a") {
  Op op = Make(OpKind::kSet, key, start, end, outcome, node);
  op.value = value;
  return op;
}

Op Del(const std::string& key, uint64_t start, uint64_t end, Outcome outcome = Outcome::kOk,
       const std::string& node = "dc1-a") {
  return Make(OpKind::kDel, key, start, end, outcome, node);
}

// An MVSET; with `token`, it carried the token of an MVGET that showed those values.
Op MvSet(const std::string& key, const std::string& value, uint64_t start, uint64_t end,
         Outcome outcome = Outcome::kOk, const std::string& node = "dc1-a",
         std::optional<std::vector<std::string>> token = std::nullopt) {
  Op op = Make(OpKind::kMvSet, key, start, end, outcome, node);
  op.value = value;
  if (token) {
    op.with_token = true;
    op.token_values = *token;
  }
  return op;
}

Op SetOp(OpKind kind, const std::string& member, uint64_t start, uint64_t end,
         Outcome outcome = Outcome::kOk, const std::string& node = "dc1-a") {
  Op op = Make(kind, "s", start, end, outcome, node);
  op.field = member;
  return op;
}

FinalState Register(const std::string& key, std::optional<std::string> value) {
  FinalState state;
  if (value) state.registers[key] = *value;
  return state;
}

FinalState Siblings(const std::string& key, std::vector<std::string> values) {
  FinalState state;
  if (!values.empty()) state.mvregs[key] = std::move(values);
  return state;
}

// The violations' descriptions, for the failure message.
std::string Describe(const std::vector<Violation>& violations) {
  std::string out;
  for (const auto& v : violations) out += v.key + ": " + v.what + "\n";
  return out;
}

bool Passes(const std::vector<Op>& history, const FinalState& state) {
  const auto v = CheckHistory(history, state);
  INFO(Describe(v));
  return v.empty();
}

TEST_CASE("Checker: counters equal the acknowledged increments, plus any unknown ones", "[unit]") {
  const std::vector<Op> history = {Incr("c", 5, 0, 1), Incr("c", 3, 2, 3, Outcome::kOk, "dc2-a"),
                                   Incr("c", 7, 4, 5, Outcome::kUnknown),
                                   Incr("c", 100, 6, 7, Outcome::kError)};
  FinalState ok;
  ok.counters["c"] = 8;
  CHECK(CheckHistory(history, ok).empty());
  ok.counters["c"] = 15;  // the unknown one was applied
  CHECK(CheckHistory(history, ok).empty());
  FinalState lost;
  lost.counters["c"] = 5;  // dc2's acknowledged increment is gone
  auto v = CheckHistory(history, lost);
  REQUIRE(v.size() == 1);
  CHECK(v[0].what.find("lost") != std::string::npos);
  FinalState invented;
  invented.counters["c"] = 108;  // the refused increment appeared
  CHECK_FALSE(CheckHistory(history, invented).empty());
}

TEST_CASE("Checker: a DEL concurrent with INCRBY keeps the increment, drops what it saw",
          "[unit]") {
  // k = 10 at dc1; DEL at dc1 (observes it) while dc2 increments by 3.
  const std::vector<Op> history = {Incr("k", 10, 0, 1), Make(OpKind::kDel, "k", 5, 6, Outcome::kOk),
                                   Incr("k", 3, 5, 6, Outcome::kOk, "dc2-a")};
  FinalState right;
  right.counters["k"] = 3;
  CHECK(CheckHistory(history, right).empty());
  FinalState resurrected;
  resurrected.counters["k"] = 13;  // the deleted 10 came back
  CHECK_FALSE(CheckHistory(history, resurrected).empty());
  // An increment that started after the DEL ended must survive.
  std::vector<Op> later = history;
  later.push_back(Incr("k", 4, 10, 11));
  FinalState lost;
  lost.counters["k"] = 3;
  CHECK_FALSE(CheckHistory(later, lost).empty());
  FinalState kept;
  kept.counters["k"] = 7;
  CHECK(CheckHistory(later, kept).empty());
}

TEST_CASE("Checker: sets keep acknowledged members and invent none", "[unit]") {
  Op add_a = Make(OpKind::kSAdd, "s", 0, 1, Outcome::kOk);
  add_a.field = "a";
  Op add_b = Make(OpKind::kSAdd, "s", 0, 1, Outcome::kOk);
  add_b.field = "b";
  Op rem_b = Make(OpKind::kSRem, "s", 2, 3, Outcome::kOk);
  rem_b.field = "b";
  const std::vector<Op> history = {add_a, add_b, rem_b};
  FinalState ok;
  ok.sets["s"] = {"a"};
  CHECK(CheckHistory(history, ok).empty());
  FinalState missing;
  missing.sets["s"] = {};
  CHECK_FALSE(CheckHistory(history, missing).empty());
  FinalState invented;
  invented.sets["s"] = {"a", "zzz"};
  CHECK_FALSE(CheckHistory(history, invented).empty());
}

TEST_CASE("Checker: carts, registers and MV registers hold only what was written", "[unit]") {
  Op line = Make(OpKind::kHIncr, "cart", 0, 1, Outcome::kOk);
  line.field = "sku";
  line.amount = 2;
  Op set = Make(OpKind::kSet, "r", 0, 1, Outcome::kOk);
  set.value = "x";
  Op mv = Make(OpKind::kMvSet, "m", 0, 1, Outcome::kOk);
  mv.value = "v1";
  const std::vector<Op> history = {line, set, mv};
  FinalState ok;
  ok.carts["cart"]["sku"] = 2;
  ok.registers["r"] = "x";
  ok.mvregs["m"] = {"v1"};
  CHECK(CheckHistory(history, ok).empty());
  FinalState bad = ok;
  bad.carts["cart"]["sku"] = 1;
  bad.registers["r"] = "never";
  bad.mvregs["m"] = {"v1", "ghost"};
  bad.counters["untouched"] = 1;
  CHECK(CheckHistory(history, bad).size() == 4);
}

TEST_CASE("Checker: a register keeps the last acknowledged write", "[unit]") {
  // b was written 10 ms after a was acknowledged, and nothing deleted it.
  const std::vector<Op> history = {Set("r", "a", 0, 1),
                                   Set("r", "b", 10, 11, Outcome::kOk, "dc2-a")};
  CHECK(Passes(history, Register("r", "b")));
  CHECK_FALSE(Passes(history, Register("r", "a")));  // the last write was lost
  CHECK_FALSE(Passes(history, Register("r", std::nullopt)));
}

TEST_CASE("Checker: without one clock, the last register write is not judged by time", "[unit]") {
  // Nodes on several hosts: their clocks may disagree, so a may carry the
  // greater timestamp. An undeletable write still cannot vanish.
  const std::vector<Op> history = {Set("r", "a", 0, 1),
                                   Set("r", "b", 10, 11, Outcome::kOk, "dc2-a")};
  CHECK(CheckHistory(history, Register("r", "a"), /*one_clock=*/false).empty());
  CHECK_FALSE(CheckHistory(history, Register("r", std::nullopt), /*one_clock=*/false).empty());
}

TEST_CASE("Checker: concurrent register writes may end either way", "[unit]") {
  // Overlapping requests: either Hlc may be greater.
  const std::vector<Op> overlapping = {Set("r", "a", 0, 10),
                                       Set("r", "b", 5, 15, Outcome::kOk, "dc2-a")};
  CHECK(Passes(overlapping, Register("r", "a")));
  CHECK(Passes(overlapping, Register("r", "b")));
  CHECK_FALSE(Passes(overlapping, Register("r", std::nullopt)));
  // b started 2 ms after a ended: within the clock slack, a tie of Hlc
  // milliseconds is possible and the replica id decides.
  const std::vector<Op> close = {Set("r", "a", 0, 10),
                                 Set("r", "b", 12, 13, Outcome::kOk, "dc2-a")};
  CHECK(Passes(close, Register("r", "a")));
}

TEST_CASE("Checker: a DEL that may have observed the last write excuses it", "[unit]") {
  // The DEL at dc3 may have seen b (not yet a, still in flight): a can win.
  std::vector<Op> history = {Set("r", "a", 0, 1), Set("r", "b", 10, 11, Outcome::kOk, "dc2-a"),
                             Del("r", 10, 20, Outcome::kOk, "dc3-a")};
  CHECK(Passes(history, Register("r", "a")));
  CHECK(Passes(history, Register("r", std::nullopt)));
  // A DEL that ended before b started cannot have removed b.
  history[2] = Del("r", 5, 6, Outcome::kOk, "dc3-a");
  CHECK_FALSE(Passes(history, Register("r", "a")));
  CHECK_FALSE(Passes(history, Register("r", std::nullopt)));
  CHECK(Passes(history, Register("r", "b")));
  // The same DEL with an unknown outcome may have been applied much later
  // (a paused node): then it may have removed b.
  history[2] = Del("r", 5, 6, Outcome::kUnknown, "dc3-a");
  CHECK(Passes(history, Register("r", "a")));
  CHECK(Passes(history, Register("r", std::nullopt)));
  // A refused DEL removed nothing.
  history[2] = Del("r", 5, 6, Outcome::kError, "dc3-a");
  CHECK_FALSE(Passes(history, Register("r", std::nullopt)));
}

TEST_CASE("Checker: a register write of unknown outcome may win late", "[unit]") {
  // a had no reply: it may have been applied after b, with a later Hlc.
  const std::vector<Op> history = {Set("r", "a", 0, 1, Outcome::kUnknown),
                                   Set("r", "b", 10, 11, Outcome::kOk, "dc2-a")};
  CHECK(Passes(history, Register("r", "a")));
  CHECK(Passes(history, Register("r", "b")));
  CHECK_FALSE(Passes(history, Register("r", std::nullopt)));  // b cannot have been removed
  // An unknown b is not owed: a may stay.
  const std::vector<Op> unknown_b = {Set("r", "a", 0, 1),
                                     Set("r", "b", 10, 11, Outcome::kUnknown, "dc2-a")};
  CHECK(Passes(unknown_b, Register("r", "a")));
  CHECK(Passes(unknown_b, Register("r", "b")));
}

TEST_CASE("Checker: a register value deleted at its own node does not come back", "[unit]") {
  std::vector<Op> history = {Set("r", "a", 0, 1), Del("r", 5, 6)};
  CHECK(Passes(history, Register("r", std::nullopt)));
  CHECK_FALSE(Passes(history, Register("r", "a")));
  // A DEL at another node may not have seen a yet: a may stay.
  history[1] = Del("r", 5, 6, Outcome::kOk, "dc2-a");
  CHECK(Passes(history, Register("r", "a")));
}

TEST_CASE("Checker: an acknowledged MVSET stays a sibling unless something observed it", "[unit]") {
  // b (no token) was issued after a ended: it may have replaced a, not the reverse.
  const std::vector<Op> history = {MvSet("m", "a", 0, 1),
                                   MvSet("m", "b", 10, 11, Outcome::kOk, "dc2-a")};
  CHECK(Passes(history, Siblings("m", {"b"})));
  CHECK(Passes(history, Siblings("m", {"a", "b"})));   // b's replica had not seen a
  CHECK_FALSE(Passes(history, Siblings("m", {"a"})));  // b lost
  CHECK_FALSE(Passes(history, Siblings("m", {})));
}

TEST_CASE("Checker: an MVSET with a token removes only the siblings its MVGET showed", "[unit]") {
  // c was written at dc2 while dc1 resolved {a} into b: c must survive.
  const std::vector<Op> history = {
      MvSet("m", "a", 0, 1), MvSet("m", "c", 5, 20, Outcome::kOk, "dc2-a"),
      MvSet("m", "b", 10, 11, Outcome::kOk, "dc1-a", std::vector<std::string>{"a"})};
  CHECK(Passes(history, Siblings("m", {"b", "c"})));
  CHECK_FALSE(Passes(history, Siblings("m", {"b"})));  // the token removed c: lost
  // The token named a and was applied at the node that showed it: a is gone for good.
  CHECK_FALSE(Passes(history, Siblings("m", {"a", "b", "c"})));
  // A token MVSET of unknown outcome may have removed a, or not.
  std::vector<Op> unknown = history;
  unknown[2].outcome = Outcome::kUnknown;
  CHECK(Passes(unknown, Siblings("m", {"b", "c"})));
  CHECK(Passes(unknown, Siblings("m", {"a", "c"})));
  CHECK_FALSE(Passes(unknown, Siblings("m", {"a"})));
}

TEST_CASE("Checker: a token-less MVSET of unknown outcome may have replaced anything", "[unit]") {
  // b had no reply: it may have been applied after a, and observed it.
  const std::vector<Op> history = {MvSet("m", "b", 0, 1, Outcome::kUnknown, "dc2-a"),
                                   MvSet("m", "a", 10, 11)};
  CHECK(Passes(history, Siblings("m", {"b"})));
  CHECK(Passes(history, Siblings("m", {"a"})));
  // An MVSET overwritten at its own node does not come back.
  const std::vector<Op> same_node = {MvSet("m", "a", 0, 1), MvSet("m", "b", 5, 6)};
  CHECK(Passes(same_node, Siblings("m", {"b"})));
  CHECK_FALSE(Passes(same_node, Siblings("m", {"a", "b"})));
}

TEST_CASE("Checker: a member removed at a node where it was read does not come back", "[unit]") {
  std::vector<Op> history = {SetOp(OpKind::kSAdd, "x", 0, 1, Outcome::kOk, "dc2-a"),
                             SetOp(OpKind::kSRem, "x", 5, 6)};
  FinalState gone;
  FinalState back;
  back.sets["s"] = {"x"};
  CHECK(Passes(history, gone));
  CHECK_FALSE(Passes(history, back));
  // A forwarded SREM (no known node) may have run where x had not arrived.
  history[1].node = "";
  CHECK(Passes(history, back));
  // An SADD that may have been applied after the SREM (concurrent, or of
  // unknown outcome) may have added x again.
  history[1].node = "dc1-a";
  history[0].end_ms = 8;
  CHECK(Passes(history, back));
  history[0] = SetOp(OpKind::kSAdd, "x", 0, 1, Outcome::kUnknown, "dc2-a");
  CHECK(Passes(history, back));
}

TEST_CASE("Checker: a DEL of unknown outcome may remove increments made after it", "[unit]") {
  // The DEL had no reply: a paused node may apply it after the second INCRBY.
  std::vector<Op> history = {Incr("k", 10, 0, 1), Del("k", 2, 3, Outcome::kUnknown),
                             Incr("k", 4, 10, 11)};
  FinalState state;
  for (int64_t value : {0, 4, 14}) {
    state.counters["k"] = value;
    CHECK(Passes(history, state));
  }
  state.counters["k"] = 15;
  CHECK_FALSE(Passes(history, state));
  // Acknowledged, the same DEL ended before the 4 was added: the 4 stays.
  history[1].outcome = Outcome::kOk;
  state.counters["k"] = 0;
  CHECK_FALSE(Passes(history, state));
  state.counters["k"] = 4;
  CHECK(Passes(history, state));
}

TEST_CASE("Checker: an HDEL of unknown outcome may remove a later cart increment", "[unit]") {
  Op first = Make(OpKind::kHIncr, "cart", 0, 1, Outcome::kOk);
  first.field = "sku";
  first.amount = 2;
  Op hdel = Make(OpKind::kHDel, "cart", 2, 3, Outcome::kUnknown);
  hdel.field = "sku";
  Op second = first;
  second.start_ms = 10;
  second.end_ms = 11;
  second.amount = 3;
  std::vector<Op> history = {first, hdel, second};
  FinalState empty;
  CHECK(Passes(history, empty));
  history[1].outcome = Outcome::kOk;
  CHECK_FALSE(Passes(history, empty));
}

}  // namespace
}  // namespace geokv::check
