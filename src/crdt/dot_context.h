// DotContext: a set of dots, kept as disjoint closed intervals per origin.
//
// It serves as a partition's causal context (every dot this replica has seen:
// the version vector is the interval that starts at 1, anything else is the
// "dot cloud" of out-of-order dots) and as the set of dots a removal covers.
// Intervals make both compact: a context is usually one interval per origin,
// and a folded counter's dots are one range.
//
// Invariant: per origin, intervals are non-empty, disjoint, non-adjacent and
// sorted; counters are >= 1. Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "crdt/dot.h"

namespace geokv::crdt {

class DotContext {
 public:
  // begin -> end (inclusive) for one origin.
  using Intervals = std::map<uint64_t, uint64_t>;

  bool Contains(const Dot& dot) const;
  // True if every dot of [first, last] of origin is in the set.
  bool ContainsRange(ReplicaId origin, uint64_t first, uint64_t last) const;

  // True if every dot of `other` is in the set.
  bool Includes(const DotContext& other) const;
  // The last counter c >= counter such that counter..c of origin are all in
  // the set; counter - 1 if counter is not. REQUIRES: counter >= 1.
  uint64_t RunEnd(ReplicaId origin, uint64_t counter) const;

  void Insert(const Dot& dot) { InsertRange(dot.origin, dot.counter, dot.counter); }
  // Adds dots first..last of origin. REQUIRES: 1 <= first <= last.
  void InsertRange(ReplicaId origin, uint64_t first, uint64_t last);
  // Set union.
  void Join(const DotContext& other);

  // The highest counter of origin in the set, 0 if none.
  uint64_t Max(ReplicaId origin) const;
  // The version-vector entry: the n such that dots 1..n of origin are all in
  // the set (0 if dot 1 is not).
  uint64_t Contiguous(ReplicaId origin) const;

  bool empty() const { return by_origin_.empty(); }
  // Number of intervals over all origins (a size measure, for limits).
  size_t IntervalCount() const;
  const std::map<ReplicaId, Intervals>& by_origin() const { return by_origin_; }

  bool operator==(const DotContext&) const = default;

  // Human-readable, for test failures: {origin:1-5,7 ...}.
  std::string ToString() const;

 private:
  std::map<ReplicaId, Intervals> by_origin_;
};

}  // namespace geokv::crdt
