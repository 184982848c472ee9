#include "storage/atom_tree.h"

#include <cstring>
#include <new>

#include "common/assert.h"

namespace geokv::storage::internal {

namespace {

size_t PutVarint(char* out, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    out[n++] = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  out[n++] = static_cast<char>(v);
  return n;
}

uint64_t GetVarint(const char** p) {
  uint64_t v = 0;
  for (int shift = 0;; shift += 7) {
    const auto b = static_cast<uint8_t>(*(*p)++);
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return v;
  }
}

uint64_t ZigZag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

uint64_t LoadU64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

int CompareBytes(std::string_view a, std::string_view b) {
  const int c = a.compare(b);
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}

}  // namespace

int CompareAtomKeys(const AtomKey& a, const AtomKey& b) {
  if (int c = CompareBytes(a.key, b.key); c != 0) return c;
  if (a.slot != b.slot) return a.slot < b.slot ? -1 : 1;
  if (int c = CompareBytes(a.field, b.field); c != 0) return c;
  if (a.dot.origin != b.dot.origin) return a.dot.origin < b.dot.origin ? -1 : 1;
  if (a.dot.counter != b.dot.counter) return a.dot.counter < b.dot.counter ? -1 : 1;
  return 0;
}

AtomRec* AtomRec::Make(const crdt::Path& path, const crdt::Atom& atom) {
  char varints[30];
  size_t vn = PutVarint(varints, atom.dot.counter - atom.first);
  vn += PutVarint(varints + vn, atom.hlc.value);
  vn += PutVarint(varints + vn, ZigZag(atom.amount));
  const size_t size =
      sizeof(AtomRec) + path.key.size() + path.field.size() + 16 + vn + atom.bytes.size();
  // operator new, not malloc: geokv-server counts its used memory (what
  // --maxmemory limits) there.
  void* mem = ::operator new(size);
  auto* rec = new (mem) AtomRec();
  rec->key_len_ = static_cast<uint32_t>(path.key.size());
  rec->field_len_ = static_cast<uint32_t>(path.field.size());
  rec->bytes_len_ = static_cast<uint32_t>(atom.bytes.size());
  rec->slot_ = static_cast<uint8_t>(path.slot);
  rec->varint_len_ = static_cast<uint8_t>(vn);
  char* p = rec->data();
  std::memcpy(p, path.key.data(), path.key.size());
  p += path.key.size();
  std::memcpy(p, path.field.data(), path.field.size());
  p += path.field.size();
  std::memcpy(p, &atom.dot.origin, 8);
  std::memcpy(p + 8, &atom.dot.counter, 8);
  p += 16;
  std::memcpy(p, varints, vn);
  p += vn;
  std::memcpy(p, atom.bytes.data(), atom.bytes.size());
  return rec;
}

void AtomRec::Free(AtomRec* rec) noexcept {
  if (rec == nullptr) return;
  GEOKV_ASSERT(!rec->hook.is_linked());
  rec->~AtomRec();
  ::operator delete(rec);
}

AtomKey AtomRec::Key() const {
  const char* p = data();
  const char* dot = p + key_len_ + field_len_;
  return AtomKey{std::string_view(p, key_len_), static_cast<crdt::Slot>(slot_),
                 std::string_view(p + key_len_, field_len_),
                 crdt::Dot{LoadU64(dot), LoadU64(dot + 8)}};
}

void AtomRec::ReadAtom(crdt::Atom* atom) const {
  const char* p = data() + key_len_ + field_len_;
  atom->dot = crdt::Dot{LoadU64(p), LoadU64(p + 8)};
  p += 16;
  atom->first = atom->dot.counter - GetVarint(&p);
  atom->hlc.value = GetVarint(&p);
  atom->amount = UnZigZag(GetVarint(&p));
  atom->bytes.assign(p, bytes_len_);
}

void AtomRec::Read(crdt::Path* path, crdt::Atom* atom) const {
  path->key.assign(data(), key_len_);
  path->slot = static_cast<crdt::Slot>(slot_);
  path->field.assign(data() + key_len_, field_len_);
  ReadAtom(atom);
}

void AtomTree::Clear() {
  set_.clear_and_dispose([](AtomRec* rec) { AtomRec::Free(rec); });
  index_.Clear();
  vacated_ = false;
}

AtomTree::const_iterator AtomTree::LowerBoundFrom(const AtomRec* first, const AtomKey& k) const {
  if (first == nullptr) return set_.lower_bound(k, KeyLess());
  // Every atom before `first` has a smaller key: the bound is `first` or
  // one of the key's atoms after it, or the atom after the key's last.
  auto it = set_.iterator_to(*first);
  for (int step = 0; step <= kWalkMax; ++step) {
    if (it == set_.end() || CompareAtomKeys(it->Key(), k) >= 0) return it;
    ++it;
  }
  return set_.lower_bound(k, KeyLess());
}

AtomTree::const_iterator AtomTree::LowerBound(const AtomKey& k) const {
  return LowerBoundFrom(index_.Find(k.key, KeyIndex::Hash(k.key)), k);
}

AtomTree::const_iterator AtomTree::LowerBoundInKey(const AtomKey& k) const {
  const AtomRec* first = index_.Find(k.key, KeyIndex::Hash(k.key));
  return first == nullptr ? set_.end() : LowerBoundFrom(first, k);
}

const AtomRec* AtomTree::Find(const AtomKey& k) const {
  auto it = LowerBoundInKey(k);
  return it == set_.end() || CompareAtomKeys(it->Key(), k) != 0 ? nullptr : &*it;
}

AtomRec* AtomTree::Insert(AtomRec* rec) {
  GEOKV_ASSERT(!rec->hook.is_linked());
  const AtomKey k = rec->Key();
  const size_t hash = KeyIndex::Hash(k.key);
  const AtomRec* first = index_.Find(k.key, hash);
  const_iterator it;
  if (first == nullptr && vacated_ && vacated_key_ == k.key) {
    it = vacated_next_ == nullptr ? set_.end() : set_.iterator_to(*vacated_next_);
  } else {
    it = LowerBoundFrom(first, k);
  }
  vacated_ = false;
  AtomRec* old = nullptr;
  if (it != set_.end() && CompareAtomKeys(it->Key(), k) == 0) {
    old = const_cast<AtomRec*>(&*it);  // the caller's from now on
    it = set_.erase(it);
  }
  set_.insert_before(it, *rec);
  // `rec` is its key's first atom when nothing before it holds the key.
  auto linked = set_.iterator_to(*rec);
  if (linked == set_.begin() || std::prev(linked)->key() != k.key) index_.Set(rec, hash);
  return old;
}

AtomRec* AtomTree::Append(AtomRec* rec) {
  if (set_.empty() || CompareAtomKeys(set_.rbegin()->Key(), rec->Key()) < 0) {
    const bool first = set_.empty() || set_.rbegin()->key() != rec->key();
    set_.push_back(*rec);
    if (first) index_.Set(rec, KeyIndex::Hash(rec->key()));
    vacated_ = false;
    return nullptr;
  }
  return Insert(rec);
}

AtomRec* AtomTree::Remove(const AtomKey& k) {
  AtomRec* rec = const_cast<AtomRec*>(Find(k));
  if (rec != nullptr) Unlink(rec);
  return rec;
}

void AtomTree::Unlink(AtomRec* rec) {
  auto it = set_.iterator_to(*rec);
  const std::string_view key = rec->key();
  auto next = std::next(it);
  vacated_ = false;
  if (it == set_.begin() || std::prev(it)->key() != key) {
    // Its key's first atom: the next one takes its place, if the key has one.
    const size_t hash = KeyIndex::Hash(key);
    if (next != set_.end() && next->key() == key) {
      index_.Set(&*next, hash);
    } else {
      index_.Erase(key, hash);
      vacated_key_.assign(key);
      vacated_next_ = next == set_.end() ? nullptr : &*next;
      vacated_ = true;
    }
  }
  set_.erase(it);
}

}  // namespace geokv::storage::internal
