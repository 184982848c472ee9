// geokv-check's history checker against hand-made histories: it must pass
// every final state the CRDT semantics allow and fail the ones a broken store
// would produce.
#include "history.h"

#include <catch2/catch.hpp>

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

}  // namespace
}  // namespace geokv::check
