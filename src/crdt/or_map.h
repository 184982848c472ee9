// OR-map of fields: the value of a hash key (a shopping cart, a profile).
//
// Each field is a scalar (scalar.h): HSET writes the field's register, HINCRBY
// adds a counter increment, HDEL removes what it observed of the field. So a
// cart line incremented at one DC while deleted at another keeps only the
// increment (no resurrection of the deleted quantity), and two DCs adding to
// the same line add up.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "crdt/delta.h"
#include "crdt/scalar.h"
#include "crdt/state.h"

namespace geokv::crdt {

// HSET of one field. Claims the key as a hash.
void SetField(DeltaBuilder& builder, std::string_view key, std::string_view field, Hlc hlc,
              std::string value);
// HINCRBY of one field. Claims the key as a hash.
void IncrementField(DeltaBuilder& builder, std::string_view key, std::string_view field,
                    int64_t by);
// HDEL of one field. Returns whether it was present.
bool DeleteField(DeltaBuilder& builder, std::string_view key, std::string_view field);

ScalarValue ReadField(const StateView& state, std::string_view key, std::string_view field);
// Every present field with its value, in byte order of field names.
std::vector<std::pair<std::string, ScalarValue>> ReadFields(const StateView& state,
                                                            std::string_view key);

}  // namespace geokv::crdt
