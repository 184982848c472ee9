#include "crdt/key_type.h"

#include "common/assert.h"
#include "crdt/expiry.h"

namespace geokv::crdt {

SlotMask SlotsOf(ValueType type) {
  switch (type) {
    case ValueType::kNone:
      return 0;
    case ValueType::kString:
      return Bit(Slot::kRegister) | Bit(Slot::kCounter);
    case ValueType::kSet:
      return Bit(Slot::kMember);
    case ValueType::kHash:
      return Bit(Slot::kFieldRegister) | Bit(Slot::kFieldCounter);
    case ValueType::kMvRegister:
      return Bit(Slot::kMultiValue);
  }
  GEOKV_ASSERT(false);
  return 0;
}

const char* TypeName(ValueType type) {
  switch (type) {
    case ValueType::kNone:
      return "none";
    case ValueType::kString:
      return "string";
    case ValueType::kSet:
      return "set";
    case ValueType::kHash:
      return "hash";
    case ValueType::kMvRegister:
      return "mvreg";
  }
  return "none";
}

ValueType VisibleType(const StateView& state, std::string_view key) {
  static constexpr ValueType kPrecedence[] = {ValueType::kHash, ValueType::kSet,
                                              ValueType::kMvRegister, ValueType::kString};
  // One scope, its slots changed per type: each copy of a long key would be
  // an allocation, and every command checks its key's type.
  Scope scope = Scope::Key(std::string(key));
  for (ValueType type : kPrecedence) {
    bool any = false;
    scope.slots = SlotsOf(type);
    state.Scan(scope, [&](const Path&, const Atom&) {
      any = true;
      return false;
    });
    if (any) return type;
  }
  return ValueType::kNone;
}

void ClaimKey(DeltaBuilder& builder, std::string_view key, ValueType type) {
  // The expiry slot belongs to no type: a write keeps the key's TTL, also the
  // "none" of the string SETs it removes (expiry.h).
  const SlotMask others = kAllSlots & ~SlotsOf(type) & ~Bit(Slot::kExpiry);
  if (type != ValueType::kString) CarryClearedTtl(builder, key);
  builder.RemoveObserved(Scope::Key(std::string(key), others));
}

bool DeleteKey(DeltaBuilder& builder, std::string_view key) {
  return builder.RemoveObserved(Scope::Key(std::string(key))) > 0;
}

void FlushPartition(DeltaBuilder& builder) { builder.RemoveObserved(Scope::Partition()); }

std::vector<std::string> Keys(const StateView& state) {
  std::vector<std::string> keys;
  state.Scan(Scope::Partition(), [&](const Path& path, const Atom&) {
    if (keys.empty() || keys.back() != path.key) keys.push_back(path.key);
    return true;
  });
  return keys;
}

}  // namespace geokv::crdt
