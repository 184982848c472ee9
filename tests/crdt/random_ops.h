// Random operations over a small key space (so that conflicts are frequent),
// and an observation of a state as a client would see it.
#pragma once

#include <sstream>
#include <string>

#include "common/prng.h"
#include "crdt/expiry.h"
#include "crdt/key_type.h"
#include "crdt/mv_register.h"
#include "crdt/or_map.h"
#include "crdt/or_set.h"
#include "crdt/scalar.h"
#include "replica_harness.h"

namespace geokv::test {

inline std::string Pick(Prng& rng, const char* prefix, int n) {
  return prefix + std::to_string(rng.Below(n));
}

// Performs one random operation at `r` and returns its delta. Every kind of
// mutation is drawn: SET (keeping and clearing the TTL), DEL, INCRBY, SADD,
// SREM, HSET, HINCRBY, HDEL, MVSET with and without a token, EXPIRE, PERSIST,
// the removal of an expired key, and (rarely) FLUSH.
inline crdt::Delta RandomOperation(Prng& rng, TestReplica& r) {
  using namespace crdt;
  *r.wall_ms += rng.Below(3);  // clocks drift apart a little
  const std::string key = Pick(rng, "k", 4);
  const uint64_t op = rng.Below(116);
  const auto now_ms = static_cast<int64_t>(*r.wall_ms);
  return r.Mutate([&](DeltaBuilder& b) {
    if (op >= 100) {
      if (op < 106) {
        SetDeadline(b, key, now_ms + static_cast<int64_t>(rng.Below(40)) + 1);
      } else if (op < 108) {
        Persist(b, key);
      } else if (op < 112) {  // SET without KEEPTTL
        ClaimKey(b, key, ValueType::kString);
        ClearExpiry(b, key);
        SetScalar(b, ScalarRef{key, std::nullopt}, r.clock.Now(), Pick(rng, "v", 1000),
                  TtlEffect::kClear);
      } else {
        RemoveIfDead(b, key, now_ms);
      }
    } else if (op < 12) {
      SetScalar(b, ScalarRef{key, std::nullopt}, r.clock.Now(), Pick(rng, "v", 1000));
    } else if (op < 22) {
      DeleteKey(b, key);
    } else if (op < 34) {
      IncrementScalar(b, ScalarRef{key, std::nullopt}, rng.Between(-5, 10));
    } else if (op < 48) {
      AddMember(b, key, Pick(rng, "m", 5));
    } else if (op < 56) {
      RemoveMember(b, key, Pick(rng, "m", 5));
    } else if (op < 66) {
      SetField(b, key, Pick(rng, "f", 4), r.clock.Now(), Pick(rng, "", 20));
    } else if (op < 78) {
      IncrementField(b, key, Pick(rng, "f", 4), rng.Between(-3, 5));
    } else if (op < 84) {
      DeleteField(b, key, Pick(rng, "f", 4));
    } else if (op < 92) {
      MvSet(b, key, Pick(rng, "mv", 100), nullptr);
    } else if (op < 98) {
      MvSiblings seen = MvGet(b.state(), key);
      MvSet(b, key, Pick(rng, "mv", 100), &seen.token);
    } else {
      FlushPartition(b);
    }
  });
}

// Everything a client can read: each key's type and value, in order.
inline std::string Observe(const crdt::StateView& state) {
  using namespace crdt;
  std::ostringstream out;
  for (const std::string& key : Keys(state)) {
    const ValueType type = VisibleType(state, key);
    out << key << ':' << TypeName(type);
    if (auto deadline = Deadline(state, key)) out << '@' << *deadline;
    out << '=';
    switch (type) {
      case ValueType::kString:
        out << ReadScalar(state, ScalarRef{key, std::nullopt}).ToBytes();
        break;
      case ValueType::kSet:
        for (const auto& m : Members(state, key)) out << m << ',';
        break;
      case ValueType::kHash:
        for (const auto& [f, v] : ReadFields(state, key)) out << f << '=' << v.ToBytes() << ',';
        break;
      case ValueType::kMvRegister: {
        auto values = MvGet(state, key).values;
        std::sort(values.begin(), values.end());
        for (const auto& v : values) out << v << ',';
        break;
      }
      case ValueType::kNone:
        break;
    }
    out << '\n';
  }
  return out.str();
}

}  // namespace geokv::test
