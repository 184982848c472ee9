#include "crdt/or_map.h"

#include <set>

#include "crdt/key_type.h"

namespace geokv::crdt {

namespace {
ScalarRef FieldRef(std::string_view key, std::string_view field) {
  return ScalarRef{std::string(key), std::string(field)};
}
}  // namespace

void SetField(DeltaBuilder& builder, std::string_view key, std::string_view field, Hlc hlc,
              std::string value) {
  ClaimKey(builder, key, ValueType::kHash);
  SetScalar(builder, FieldRef(key, field), hlc, std::move(value));
}

void IncrementField(DeltaBuilder& builder, std::string_view key, std::string_view field,
                    int64_t by) {
  ClaimKey(builder, key, ValueType::kHash);
  IncrementScalar(builder, FieldRef(key, field), by);
}

bool DeleteField(DeltaBuilder& builder, std::string_view key, std::string_view field) {
  ClaimKey(builder, key, ValueType::kHash);
  return RemoveScalar(builder, FieldRef(key, field));
}

ScalarValue ReadField(const StateView& state, std::string_view key, std::string_view field) {
  return ReadScalar(state, FieldRef(key, field));
}

std::vector<std::pair<std::string, ScalarValue>> ReadFields(const StateView& state,
                                                            std::string_view key) {
  // Atoms come ordered by slot, then field: collect the field names, then read
  // each field (a point lookup).
  std::set<std::string> names;
  state.Scan(Scope::Key(std::string(key), SlotsOf(ValueType::kHash)),
             [&](const Path& path, const Atom&) {
               names.insert(path.field);
               return true;
             });
  std::vector<std::pair<std::string, ScalarValue>> fields;
  fields.reserve(names.size());
  for (const std::string& name : names) {
    ScalarValue value = ReadField(state, key, name);
    if (value.present()) fields.emplace_back(name, std::move(value));
  }
  return fields;
}

}  // namespace geokv::crdt
