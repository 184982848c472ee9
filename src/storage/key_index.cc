#include "storage/key_index.h"

#include <algorithm>
#include <functional>

#include "common/assert.h"
#include "storage/atom_tree.h"

namespace geokv::storage::internal {

namespace {

constexpr uint64_t kEmpty = 0;
constexpr uint64_t kDead = 1;
constexpr int kTagShift = 48;
constexpr uint64_t kAddressMask = (uint64_t{1} << kTagShift) - 1;

uint64_t Tag(size_t hash) { return static_cast<uint64_t>(hash >> kTagShift) | 1; }  // never 0
AtomRec* RecOf(uint64_t slot) { return reinterpret_cast<AtomRec*>(slot & kAddressMask); }

}  // namespace

size_t KeyIndex::Hash(std::string_view key) { return std::hash<std::string_view>()(key); }

size_t KeyIndex::Probe(std::string_view key, size_t hash, size_t* free) const {
  const size_t mask = slots_.size() - 1;
  const uint64_t tag = Tag(hash);
  if (free != nullptr) *free = kNotFound;
  // The table always holds an empty slot (at most 3/4 used): the loop ends.
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    const uint64_t slot = slots_[i];
    if (slot == kEmpty || slot == kDead) {
      if (free != nullptr && *free == kNotFound) *free = i;
      if (slot == kEmpty) return kNotFound;
      continue;
    }
    if ((slot >> kTagShift) == tag && RecOf(slot)->key() == key) return i;
  }
}

AtomRec* KeyIndex::Find(std::string_view key, size_t hash) const {
  if (size_ == 0) return nullptr;
  const size_t i = Probe(key, hash, nullptr);
  return i == kNotFound ? nullptr : RecOf(slots_[i]);
}

void KeyIndex::Set(AtomRec* rec, size_t hash) {
  const auto address = reinterpret_cast<uint64_t>(rec);
  GEOKV_ASSERT(address > kDead && (address & ~kAddressMask) == 0);
  if ((size_ + dead_ + 1) * 4 > slots_.size() * 3) {
    // Twice the slots when the live entries alone fill half; else the same
    // number, rid of the dead ones.
    Rehash(std::max(kCapacityMin, (size_ + 1) * 2 > slots_.size() ? slots_.size() * 2
                                                                  : slots_.size()));
  }
  size_t free = kNotFound;
  size_t i = Probe(rec->key(), hash, &free);
  if (i == kNotFound) {
    i = free;
    if (slots_[i] == kDead) --dead_;
    ++size_;
  }
  slots_[i] = Tag(hash) << kTagShift | address;
}

void KeyIndex::Erase(std::string_view key, size_t hash) {
  const size_t i = size_ == 0 ? kNotFound : Probe(key, hash, nullptr);
  GEOKV_ASSERT(i != kNotFound);
  slots_[i] = kDead;
  --size_;
  ++dead_;
  if (slots_.size() > kCapacityMin && size_ * 8 < slots_.size()) Rehash(slots_.size() / 2);
}

void KeyIndex::Clear() {
  slots_.clear();
  slots_.shrink_to_fit();
  size_ = 0;
  dead_ = 0;
}

void KeyIndex::Rehash(size_t capacity) {
  std::vector<uint64_t> old = std::move(slots_);
  slots_.assign(capacity, kEmpty);
  dead_ = 0;
  const size_t mask = capacity - 1;
  for (uint64_t slot : old) {
    if (slot == kEmpty || slot == kDead) continue;
    size_t i = Hash(RecOf(slot)->key()) & mask;
    while (slots_[i] != kEmpty) i = (i + 1) & mask;
    slots_[i] = slot;
  }
}

}  // namespace geokv::storage::internal
