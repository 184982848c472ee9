#include "crdt/scalar.h"

#include <charconv>
#include <limits>
#include <tuple>

#include "common/assert.h"
#include "crdt/expiry.h"

namespace geokv::crdt {

Scope ScalarRef::scope() const {
  const SlotMask slots = Bit(register_slot()) | Bit(counter_slot());
  return field ? Scope::Field(key, slots, *field) : Scope::Key(key, slots);
}

std::string ScalarValue::ToBytes() const {
  return kind == Kind::kInteger ? std::to_string(integer) : bytes;
}

std::optional<int64_t> ParseInt64(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  const bool negative = s[0] == '-';
  std::string_view digits = negative ? s.substr(1) : s;
  if (digits.empty() || (digits[0] == '0' && (digits.size() > 1 || negative))) return std::nullopt;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  int64_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return value;
}

ScalarValue ReadScalar(const StateView& state, const ScalarRef& ref) {
  const Atom* winner = nullptr;
  Atom winner_copy;
  bool any_counter = false;
  __int128 sum = 0;
  const Slot reg = ref.register_slot();
  state.Scan(ref.scope(), [&](const Path& path, const Atom& atom) {
    if (path.slot == reg) {
      if (winner == nullptr || std::tie(atom.hlc, atom.dot) > std::tie(winner->hlc, winner->dot)) {
        winner_copy = atom;
        winner = &winner_copy;
      }
    } else {
      any_counter = true;
      sum += atom.amount;
    }
    return true;
  });

  ScalarValue value;
  if (winner == nullptr && !any_counter) return value;
  if (!any_counter) {
    value.kind = ScalarValue::Kind::kBytes;
    value.bytes = std::move(winner_copy.bytes);
    return value;
  }
  if (winner != nullptr) {
    auto base = ParseInt64(winner->bytes);
    if (!base) {
      value.kind = ScalarValue::Kind::kBytes;
      value.bytes = std::move(winner_copy.bytes);
      return value;
    }
    sum += *base;
  }
  constexpr __int128 kMin = std::numeric_limits<int64_t>::min();
  constexpr __int128 kMax = std::numeric_limits<int64_t>::max();
  value.kind = ScalarValue::Kind::kInteger;
  value.integer = static_cast<int64_t>(sum < kMin ? kMin : (sum > kMax ? kMax : sum));
  return value;
}

IncrementError IncrementedValue(const ScalarValue& current, int64_t by, int64_t* result) {
  int64_t base = 0;
  if (current.kind == ScalarValue::Kind::kInteger) {
    base = current.integer;
  } else if (current.kind == ScalarValue::Kind::kBytes) {
    auto parsed = ParseInt64(current.bytes);
    if (!parsed) return IncrementError::kNotInteger;
    base = *parsed;
  }
  if (__builtin_add_overflow(base, by, result)) return IncrementError::kOverflow;
  return IncrementError::kNone;
}

void SetScalar(DeltaBuilder& builder, const ScalarRef& ref, Hlc hlc, std::string bytes,
               TtlEffect ttl) {
  GEOKV_ASSERT(ttl == TtlEffect::kKeep || !ref.field);
  if (ttl == TtlEffect::kKeep && !ref.field) CarryClearedTtl(builder, ref.key);
  builder.RemoveObserved(ref.scope());
  Atom atom;
  atom.hlc = hlc;
  atom.bytes = std::move(bytes);
  if (ttl == TtlEffect::kClear) atom.amount = kClearsExpiry;
  builder.Add(Path{ref.key, ref.register_slot(), ref.field.value_or("")}, std::move(atom));
}

void IncrementScalar(DeltaBuilder& builder, const ScalarRef& ref, int64_t by) {
  Atom atom;
  atom.amount = by;
  builder.Add(Path{ref.key, ref.counter_slot(), ref.field.value_or("")}, std::move(atom));
}

bool RemoveScalar(DeltaBuilder& builder, const ScalarRef& ref) {
  return builder.RemoveObserved(ref.scope()) > 0;
}

}  // namespace geokv::crdt
