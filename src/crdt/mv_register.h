// Multi-value register (Dynamo-style siblings): MVSET / MVGET.
//
// MVSET adds a sibling atom. Without a token it removes every sibling the
// replica observed (a plain overwrite); with the token from an MVGET it removes
// exactly the siblings that MVGET showed, so a sibling written concurrently
// with the resolution survives. MVGET returns every sibling and a token.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "crdt/delta.h"
#include "crdt/state.h"

namespace geokv::crdt {

struct MvSiblings {
  std::vector<std::string> values;  // ordered by dot
  DotContext token;                 // the dots of those values
};

MvSiblings MvGet(const StateView& state, std::string_view key);

// MVSET. `token`, when given, lists the siblings to replace; dots in it that are
// not siblings of this key here are ignored (a stale or forged token cannot
// remove anything else). Claims the key as a multi-value register.
void MvSet(DeltaBuilder& builder, std::string_view key, std::string value, const DotContext* token);

// The token as the printable string clients hold (hex of its encoding), and back.
std::string EncodeMvToken(const DotContext& token);
Result<DotContext> DecodeMvToken(std::string_view text);

}  // namespace geokv::crdt
