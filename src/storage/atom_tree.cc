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
  key_count_ = 0;
}

const AtomRec* AtomTree::Find(const AtomKey& k) const {
  auto it = set_.find(k, KeyLess());
  return it == set_.end() ? nullptr : &*it;
}

bool AtomTree::KeyHasOthers(Set::const_iterator it) const {
  const std::string_view key = it->key();
  if (it != set_.begin() && std::prev(it)->key() == key) return true;
  auto next = std::next(it);
  return next != set_.end() && next->key() == key;
}

AtomRec* AtomTree::Insert(AtomRec* rec) {
  GEOKV_ASSERT(!rec->hook.is_linked());
  Set::insert_commit_data commit;
  auto [it, fresh] = set_.insert_check(rec->Key(), KeyLess(), commit);
  if (!fresh) {
    // Same key: the key count does not change.
    AtomRec* old = &*it;
    auto next = set_.erase(it);
    set_.insert_before(next, *rec);
    return old;
  }
  auto linked = set_.insert_commit(*rec, commit);
  if (!KeyHasOthers(linked)) ++key_count_;
  return nullptr;
}

AtomRec* AtomTree::Append(AtomRec* rec) {
  if (set_.empty() || CompareAtomKeys(set_.rbegin()->Key(), rec->Key()) < 0) {
    if (set_.empty() || set_.rbegin()->key() != rec->key()) ++key_count_;
    set_.push_back(*rec);
    return nullptr;
  }
  return Insert(rec);
}

AtomRec* AtomTree::Remove(const AtomKey& k) {
  auto it = set_.find(k, KeyLess());
  if (it == set_.end()) return nullptr;
  AtomRec* rec = &*it;
  Unlink(rec);
  return rec;
}

void AtomTree::Unlink(AtomRec* rec) {
  auto it = set_.iterator_to(*rec);
  if (!KeyHasOthers(it)) --key_count_;
  set_.erase(it);
}

AtomTree::const_iterator AtomTree::LowerBound(const AtomKey& k) const {
  return set_.lower_bound(k, KeyLess());
}

}  // namespace geokv::storage::internal
