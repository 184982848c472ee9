#include "crdt/dot_context.h"

#include <sstream>

#include "common/assert.h"

namespace geokv::crdt {

namespace {
// The interval of `intervals` that contains counter, or end().
DotContext::Intervals::const_iterator Find(const DotContext::Intervals& intervals,
                                           uint64_t counter) {
  auto it = intervals.upper_bound(counter);
  if (it == intervals.begin()) return intervals.end();
  --it;
  return it->second >= counter ? it : intervals.end();
}
}  // namespace

bool DotContext::Contains(const Dot& dot) const {
  return ContainsRange(dot.origin, dot.counter, dot.counter);
}

bool DotContext::ContainsRange(ReplicaId origin, uint64_t first, uint64_t last) const {
  auto o = by_origin_.find(origin);
  if (o == by_origin_.end()) return false;
  auto it = Find(o->second, first);
  return it != o->second.end() && it->second >= last;
}

bool DotContext::Includes(const DotContext& other) const {
  for (const auto& [origin, intervals] : other.by_origin_) {
    for (const auto& [first, last] : intervals) {
      if (!ContainsRange(origin, first, last)) return false;
    }
  }
  return true;
}

uint64_t DotContext::RunEnd(ReplicaId origin, uint64_t counter) const {
  GEOKV_ASSERT(counter >= 1);
  auto o = by_origin_.find(origin);
  if (o == by_origin_.end()) return counter - 1;
  auto it = Find(o->second, counter);
  return it == o->second.end() ? counter - 1 : it->second;
}

void DotContext::InsertRange(ReplicaId origin, uint64_t first, uint64_t last) {
  GEOKV_ASSERT(first >= 1 && first <= last);
  Intervals& intervals = by_origin_[origin];
  // Merge with every interval that overlaps or touches [first, last].
  auto it = intervals.upper_bound(first);
  if (it != intervals.begin()) {
    auto prev = std::prev(it);
    if (prev->second >= first - 1) {  // overlaps or is adjacent on the left
      first = prev->first;
      if (prev->second > last) last = prev->second;
      it = intervals.erase(prev);
    }
  }
  while (it != intervals.end() && (last == UINT64_MAX || it->first <= last + 1)) {
    if (it->second > last) last = it->second;
    it = intervals.erase(it);
  }
  intervals.emplace(first, last);
}

void DotContext::Join(const DotContext& other) {
  for (const auto& [origin, intervals] : other.by_origin_) {
    for (const auto& [first, last] : intervals) InsertRange(origin, first, last);
  }
}

uint64_t DotContext::Max(ReplicaId origin) const {
  auto o = by_origin_.find(origin);
  if (o == by_origin_.end() || o->second.empty()) return 0;
  return o->second.rbegin()->second;
}

uint64_t DotContext::Contiguous(ReplicaId origin) const {
  auto o = by_origin_.find(origin);
  if (o == by_origin_.end() || o->second.empty()) return 0;
  const auto& first = *o->second.begin();
  return first.first == 1 ? first.second : 0;
}

size_t DotContext::IntervalCount() const {
  size_t n = 0;
  for (const auto& [origin, intervals] : by_origin_) n += intervals.size();
  return n;
}

std::string DotContext::ToString() const {
  std::ostringstream out;
  out << '{';
  bool first_origin = true;
  for (const auto& [origin, intervals] : by_origin_) {
    out << (first_origin ? "" : " ") << std::hex << origin << std::dec << ':';
    first_origin = false;
    bool first_interval = true;
    for (const auto& [b, e] : intervals) {
      out << (first_interval ? "" : ",") << b;
      if (e != b) out << '-' << e;
      first_interval = false;
    }
  }
  out << '}';
  return out.str();
}

}  // namespace geokv::crdt
