// Scalars: the value of a string key and of a hash field.
//
// A scalar is a last-writer-wins register with counter increments on top:
//   - SET writes a register atom (Hlc, bytes) and removes the register and
//     counter atoms it observed. Concurrent SETs all stay; the read shows the
//     greatest (Hlc, origin replica).
//   - INCRBY adds a counter atom holding just its increment and removes nothing,
//     so concurrent increments add up, and an increment concurrent with a DEL
//     (or HDEL) survives without resurrecting what the DEL removed.
//   - Value: with no counter atoms, the register's bytes. With counter atoms,
//     (the register as an integer, or 0 without register) + the sum of the
//     increments, clamped to int64 if concurrent increments overflow it. If the
//     register is not an integer the increments stay hidden and the value is the
//     register's bytes (a SET of text concurrent with an INCR: text wins).
// Locally a command sees Redis's behaviour: INCR of "10" gives 11, INCR of
// "abc" is an error (the command layer checks with IncrementedValue first).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "crdt/delta.h"
#include "crdt/state.h"

namespace geokv::crdt {

// Where a scalar lives: a string key (field unset) or a hash field.
struct ScalarRef {
  std::string key;
  std::optional<std::string> field;

  Slot register_slot() const { return field ? Slot::kFieldRegister : Slot::kRegister; }
  Slot counter_slot() const { return field ? Slot::kFieldCounter : Slot::kCounter; }
  Scope scope() const;
};

struct ScalarValue {
  enum class Kind : uint8_t { kAbsent, kBytes, kInteger };
  Kind kind = Kind::kAbsent;
  std::string bytes;    // kBytes
  int64_t integer = 0;  // kInteger

  bool present() const { return kind != Kind::kAbsent; }
  // The value as a client sees it (an integer in decimal).
  std::string ToBytes() const;
};

ScalarValue ReadScalar(const StateView& state, const ScalarRef& ref);

// Parses a Redis integer: optional '-', decimal digits, no leading zeros or
// spaces, within int64 (Redis's string2ll).
std::optional<int64_t> ParseInt64(std::string_view s);

enum class IncrementError : uint8_t { kNone, kNotInteger, kOverflow };
// The value an increment by `by` would give, or why it cannot apply.
IncrementError IncrementedValue(const ScalarValue& current, int64_t by, int64_t* result);

// What a SET of a string key does to the key's TTL (expiry.h).
enum class TtlEffect : uint8_t {
  kKeep,     // leaves it (SET KEEPTTL, APPEND, ...); hash fields always
  kClear,    // "none": the register atom carries kClearsExpiry (SET); the
             // caller also calls ClearExpiry
  kReplace,  // the caller writes the new expiry itself (SET EX: ClearExpiry
             // and SetDeadline)
};

// SET: replaces what the replica observed of the scalar with `bytes`.
// REQUIRES: ttl == kKeep for a hash field.
void SetScalar(DeltaBuilder& builder, const ScalarRef& ref, Hlc hlc, std::string bytes,
               TtlEffect ttl = TtlEffect::kKeep);
// INCRBY: adds `by` on top of the scalar.
void IncrementScalar(DeltaBuilder& builder, const ScalarRef& ref, int64_t by);
// HDEL (or part of DEL): removes what the replica observed. Returns whether
// anything was there.
bool RemoveScalar(DeltaBuilder& builder, const ScalarRef& ref);

}  // namespace geokv::crdt
