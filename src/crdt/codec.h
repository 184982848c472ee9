// MessagePack encoding of deltas, snapshots and dot sets.
//
// The byte format (MessagePack; `uint` is an unsigned integer of any width,
// `int` a signed one, `bin` a byte string):
//
//   delta     = [ version:uint(1), origin:uint, first:uint, last:uint,
//                 [ removal* ], [ addition* ] ]
//   removal   = [ scope-kind:uint, key:bin, slots:uint, field:bin, dots ]
//                 scope-kind: 0 partition (key, field empty; slots ignored: all),
//                             1 key (field empty), 2 field (slots within the field slots)
//   addition  = [ key:bin, slot:uint, field:bin, counter:uint, payload... ]
//                 its dot is (origin, counter), first <= counter <= last, counters
//                 strictly increasing
//   payload   = register:                 hlc:uint, bytes:bin [, flags:uint]
//                 flags: present only when not 0; 1 = the SET cleared the TTL
//                 (expiry.h kClearsExpiry), no other value
//               field-register:           hlc:uint, bytes:bin
//               counter, field-counter:   amount:int
//               member:                   (nothing)
//               multi-value:              bytes:bin
//               expiry:                   deadline:uint, covers:bin
//                 deadline: ms since the Unix epoch, at most 2^63-1, or 0 =
//                 none (persistent); covers: empty, or a non-empty `dots`
//                 (below) in its canonical encoding, decoded within the same
//                 limits: for a deadline the writer's context, for none the
//                 SETs it stands for (crdt/expiry.h)
//   snapshot  = [ version:uint(1), dots, [ atom* ] ]
//   atom      = [ key:bin, slot:uint, field:bin, origin:uint, counter:uint, first:uint,
//                 payload... ]     (every atom's dot is in the snapshot's dots)
//   dots      = [ [ origin:uint, [ begin:uint, end:uint ]* flattened ]* ]
//                 intervals 1 <= begin <= end
//
// Decoders take any bytes: they return a Status for anything malformed,
// truncated, oversized or trailing, never crash and never read out of bounds.
// Every length is checked against DecodeLimits before anything is allocated.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "crdt/delta.h"
#include "crdt/join.h"

namespace geokv::crdt {

constexpr uint64_t kFormatVersion = 1;

struct DecodeLimits {
  size_t max_bytes = size_t{512} << 20;   // a key, field or value
  size_t max_elements = size_t{1} << 20;  // any array (additions, atoms, intervals)
  uint64_t max_dots_per_delta = uint64_t{1} << 20;
};

std::string EncodeDelta(const Delta& delta);
Result<Delta> DecodeDelta(std::string_view bytes, const DecodeLimits& limits = {});

std::string EncodeSnapshot(const Snapshot& snapshot);
Result<Snapshot> DecodeSnapshot(std::string_view bytes, const DecodeLimits& limits = {});

std::string EncodeDotContext(const DotContext& dots);
Result<DotContext> DecodeDotContext(std::string_view bytes, const DecodeLimits& limits = {});

}  // namespace geokv::crdt
