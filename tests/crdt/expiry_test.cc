// Expiry against a model: the multi-value register of DESIGN.md "Expiry
// (TTL)", written out plainly. Random histories of string, set and expiry
// operations run at A, then concurrently at A and B; every replica must show
// the deadline the model gives. (The conflict rows are in
// conflict_table_test.cc; convergence with every other operation in
// convergence_property_test.cc.)
#include "crdt/expiry.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <optional>
#include <sstream>
#include <vector>

#include "common/prng.h"
#include "crdt/key_type.h"
#include "crdt/or_set.h"
#include "crdt/scalar.h"
#include "replica_harness.h"
#include "seed.h"

namespace geokv::crdt {
namespace {

using test::TestReplica;

// The model's register value at one replica: no value (a DEL removed them, or
// nothing was ever written), "none", or a deadline.
struct ModelValue {
  enum class Kind { kAbsent, kNone, kDeadline } kind = Kind::kAbsent;
  int64_t deadline = 0;

  std::optional<int64_t> Visible() const {
    return kind == Kind::kDeadline ? std::optional(deadline) : std::nullopt;
  }
};

// The concurrent merge: absent is the identity, "none" beats every deadline,
// else the latest deadline.
ModelValue Merge(const ModelValue& a, const ModelValue& b) {
  using K = ModelValue::Kind;
  if (a.kind == K::kAbsent) return b;
  if (b.kind == K::kAbsent) return a;
  if (a.kind == K::kNone || b.kind == K::kNone) return {K::kNone, 0};
  return {K::kDeadline, std::max(a.deadline, b.deadline)};
}

enum class Op { kSet, kSetKeepTtl, kSetEx, kIncr, kSAdd, kExpire, kPersist, kDel };
constexpr Op kOps[] = {Op::kSet,  Op::kSetKeepTtl, Op::kSetEx,   Op::kIncr,
                       Op::kSAdd, Op::kExpire,     Op::kPersist, Op::kDel};

const char* Name(Op op) {
  static const char* names[] = {"SET",  "SET KEEPTTL", "SET EX",  "INCR",
                                "SADD", "EXPIRE",      "PERSIST", "DEL"};
  return names[static_cast<int>(op)];
}

// Applies `op` at `r` and to the model value `v` of that replica. Returns
// whether the op wrote the register (so replaced what that replica had seen).
bool Apply(Op op, int64_t deadline, TestReplica& r, ModelValue* v, std::ostringstream& log) {
  using K = ModelValue::Kind;
  log << "  " << r.id << ": " << Name(op) << ' ' << deadline << '\n';
  const ScalarRef ref{"k", std::nullopt};
  bool wrote = false;
  r.Mutate([&](DeltaBuilder& b) {
    switch (op) {
      case Op::kSet:
        ClaimKey(b, "k", ValueType::kString);
        ClearExpiry(b, "k");
        SetScalar(b, ref, r.clock.Now(), "v", TtlEffect::kClear);
        *v = {K::kNone, 0};
        wrote = true;
        return;
      case Op::kSetKeepTtl:
        ClaimKey(b, "k", ValueType::kString);
        SetScalar(b, ref, r.clock.Now(), "v", TtlEffect::kKeep);
        return;
      case Op::kSetEx:
        ClaimKey(b, "k", ValueType::kString);
        ClearExpiry(b, "k");
        SetScalar(b, ref, r.clock.Now(), "v", TtlEffect::kReplace);
        SetDeadline(b, "k", deadline);
        *v = {K::kDeadline, deadline};
        wrote = true;
        return;
      case Op::kIncr:
        IncrementScalar(b, ref, 1);
        return;
      case Op::kSAdd:  // a claim by another type (concurrent types, or after a DEL)
        AddMember(b, "k", "m");
        return;
      case Op::kExpire:
        SetDeadline(b, "k", deadline);
        *v = {K::kDeadline, deadline};
        wrote = true;
        return;
      case Op::kPersist:
        if (Persist(b, "k")) {
          *v = {K::kNone, 0};
          wrote = true;
        }
        return;
      case Op::kDel:
        DeleteKey(b, "k");
        *v = {K::kAbsent, 0};
        wrote = true;
        return;
    }
  });
  return wrote;
}

TEST_CASE("Expiry: concurrent histories merge as the multi-value register of deadlines",
          "[property]") {
  const uint64_t seed = test::TestSeed();
  const int cases = test::CaseCount(3000);
  for (int c = 0; c < cases; ++c) {
    Prng rng(seed * 1'000'003 + c);
    TestReplica a(1), b(2), reader(3);
    std::ostringstream log;
    auto draw = [&] { return kOps[rng.Below(std::size(kOps))]; };
    auto deadline = [&] { return 2'000'000 + static_cast<int64_t>(rng.Below(50)); };

    // A shared history at A, shipped to B and the reader.
    ModelValue before;
    const int shared = static_cast<int>(rng.Below(5));
    for (int i = 0; i < shared; ++i) Apply(draw(), deadline(), a, &before, log);
    for (TestReplica* r : {&b, &reader}) {
      JoinState(r->state, TakeSnapshot(a.state));
    }
    log << "  -- concurrent:\n";
    // Concurrent histories; each side's value starts as what it shares.
    ModelValue at_a = before, at_b = before;
    bool a_wrote = false, b_wrote = false;
    const int n_a = 1 + static_cast<int>(rng.Below(3)), n_b = 1 + static_cast<int>(rng.Below(3));
    for (int i = 0; i < n_a; ++i) a_wrote |= Apply(draw(), deadline(), a, &at_a, log);
    for (int i = 0; i < n_b; ++i) b_wrote |= Apply(draw(), deadline(), b, &at_b, log);
    INFO("GEOKV_SEED=" << seed << " case " << c << "\n" << log.str());
    // Sequentially, each replica shows its own value.
    REQUIRE(Deadline(a.state, "k") == at_a.Visible());
    REQUIRE(Deadline(b.state, "k") == at_b.Visible());

    const Snapshot sa = TakeSnapshot(a.state), sb = TakeSnapshot(b.state);
    JoinState(a.state, sb);
    JoinState(b.state, sa);
    JoinState(reader.state, sb);
    JoinState(reader.state, sa);
    ModelValue merged = before;
    if (a_wrote && b_wrote) {
      merged = Merge(at_a, at_b);
    } else if (a_wrote) {
      merged = at_a;
    } else if (b_wrote) {
      merged = at_b;
    }
    for (TestReplica* r : {&a, &b, &reader}) {
      INFO("replica " << r->id);
      REQUIRE(Deadline(r->state, "k") == merged.Visible());
    }
  }
}

}  // namespace
}  // namespace geokv::crdt
