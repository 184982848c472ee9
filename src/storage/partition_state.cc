#include "storage/partition_state.h"

#include <string>

#include "storage/store.h"

namespace geokv::storage::internal {

namespace {

using crdt::Atom;
using crdt::Path;
using crdt::Scope;
using crdt::Slot;

// The columns of the scan statements: key, slot, field, origin, counter,
// first, hlc, amount, bytes. Returns false if the row is not a valid atom.
bool ReadAtomRow(const sqlite::Query& q, Path* path, Atom* atom) {
  const int64_t slot = q.ColInt(1);
  if (slot < 0 || !crdt::IsValidSlot(static_cast<uint64_t>(slot))) return false;
  path->key.assign(q.ColBlob(0));
  path->slot = static_cast<Slot>(slot);
  path->field.assign(q.ColBlob(2));
  atom->dot.origin = q.ColU64(3);
  atom->dot.counter = q.ColU64(4);
  atom->first = q.ColU64(5);
  atom->hlc.value = q.ColU64(6);
  atom->amount = q.ColInt(7);
  atom->bytes.assign(q.ColBlob(8));
  return true;
}

// Binds the primary key of the atom at (part, path, dot) to parameters 1..6.
void BindAtomKey(sqlite::Query& q, uint32_t part, const Path& path, const crdt::Dot& dot) {
  q.Int(1, part).Blob(2, path.key).Int(3, static_cast<int64_t>(path.slot)).Blob(4, path.field);
  q.U64(5, dot.origin).U64(6, dot.counter);
}

}  // namespace

const crdt::DotContext& PartitionState::Context() const { return store_->cache(part_).context; }

void PartitionState::Scan(const Scope& scope, const crdt::AtomVisitor& visit) const {
  if (store_->failed()) return;
  const uint64_t epoch = store_->job_epoch();
  const bool outermost = scan_depth_ == 0;
  ++scan_depth_;
  struct Leave {
    int& depth;
    ~Leave() { --depth; }
  } leave{scan_depth_};
  if (outermost && scan_memo_.epoch == epoch && scan_memo_.scope == scope) {
    // The vector stays alive even if the visitor writes (Changed() only
    // invalidates it).
    for (const auto& [path, atom] : scan_memo_.atoms) {
      if (!visit(path, atom)) return;
    }
    return;
  }
  if (!outermost || scope.kind == Scope::Kind::kPartition) {
    ScanRows(scope, visit);
    return;
  }
  std::vector<std::pair<Path, Atom>> seen;
  bool fits = true, complete = true;
  const uint64_t writes_before = writes_;
  ScanRows(scope, [&](const Path& path, const Atom& atom) {
    if (fits && seen.size() < kScanMemoAtoms) {
      seen.emplace_back(path, atom);
    } else {
      fits = false;
    }
    if (!visit(path, atom)) {
      complete = false;
      return false;
    }
    return true;
  });
  if (store_->failed() || writes_ != writes_before) return;
  if (!seen.empty()) KnowKey(scope.key, true);
  if (fits && complete) scan_memo_ = ScanMemo{epoch, scope, std::move(seen)};
}

void PartitionState::ScanFrom(const crdt::AtomPosition& from,
                              const crdt::AtomVisitor& visit) const {
  if (store_->failed()) return;
  Store::Lease lease = store_->Acquire(Sql::kScanFrom);
  if (!lease) return;
  sqlite::Query q(lease.get());
  BindAtomKey(q, part_, from.path, from.dot);
  Path path;
  Atom atom;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    if (!ReadAtomRow(q, &path, &atom)) {
      store_->Fail(Status::Corrupt("partition " + std::to_string(part_) +
                                   ": an atom row has an invalid slot"));
      return;
    }
    if (!visit(path, atom)) return;
  }
  if (rc != SQLITE_DONE) store_->Fail(rc, "scan from a position");
}

void PartitionState::ScanRows(const Scope& scope, const crdt::AtomVisitor& visit) const {
  // Runs one scan statement bound by `bind`; false once the visitor stops or
  // a statement fails.
  auto run = [&](Sql id, auto&& bind) {
    Store::Lease lease = store_->Acquire(id);
    if (!lease) return false;
    sqlite::Query q(lease.get());
    bind(q);
    Path path;
    Atom atom;
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) {
      if (!ReadAtomRow(q, &path, &atom)) {
        store_->Fail(Status::Corrupt("partition " + std::to_string(part_) +
                                     ": an atom row has an invalid slot"));
        return false;
      }
      if (!visit(path, atom)) return false;
    }
    if (rc != SQLITE_DONE) {
      store_->Fail(rc, "scan");
      return false;
    }
    return true;
  };

  switch (scope.kind) {
    case Scope::Kind::kPartition:
      run(Sql::kScanPartition, [&](sqlite::Query& q) { q.Int(1, part_); });
      return;
    case Scope::Kind::kKey:
      // One range query per run of adjacent slots: a mask like "every slot but
      // the members" must not walk a million members to find nothing.
      for (int lo = 0; lo < crdt::kSlotCount;) {
        if ((scope.slots & (1u << lo)) == 0) {
          ++lo;
          continue;
        }
        int hi = lo;
        while (hi + 1 < crdt::kSlotCount && (scope.slots & (1u << (hi + 1))) != 0) ++hi;
        const bool more = run(Sql::kScanKeySlots, [&](sqlite::Query& q) {
          q.Int(1, part_).Blob(2, scope.key).Int(3, lo).Int(4, hi);
        });
        if (!more) return;
        lo = hi + 1;
      }
      return;
    case Scope::Kind::kField:
      for (int s = 0; s < crdt::kSlotCount; ++s) {
        const Slot slot = static_cast<Slot>(s);
        if ((scope.slots & crdt::Bit(slot)) == 0 || !crdt::HasField(slot)) continue;
        const bool more = run(Sql::kScanField, [&](sqlite::Query& q) {
          q.Int(1, part_).Blob(2, scope.key).Int(3, s).Blob(4, scope.field);
        });
        if (!more) return;
      }
      return;
  }
}

bool PartitionState::Find(const Path& path, const crdt::Dot& dot, Atom* out) const {
  if (store_->failed()) return false;
  Store::Lease lease = store_->Acquire(Sql::kFind);
  if (!lease) return false;
  sqlite::Query q(lease.get());
  BindAtomKey(q, part_, path, dot);
  const int rc = q.Step();
  if (rc == SQLITE_DONE) return false;
  if (rc != SQLITE_ROW) {
    store_->Fail(rc, "find atom");
    return false;
  }
  out->dot = dot;
  out->first = q.ColU64(0);
  out->hlc.value = q.ColU64(1);
  out->amount = q.ColInt(2);
  out->bytes.assign(q.ColBlob(3));
  return true;
}

bool PartitionState::KeyExists(const std::string& key) const {
  const uint64_t epoch = store_->job_epoch();
  if (key_memo_.epoch == epoch && key_memo_.key == key) return key_memo_.exists;
  Store::Lease lease = store_->Acquire(Sql::kKeyAny);
  if (!lease) return false;
  sqlite::Query q(lease.get());
  q.Int(1, part_).Blob(2, key);
  const int rc = q.Step();
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    store_->Fail(rc, "look up key");
    return false;
  }
  KnowKey(key, rc == SQLITE_ROW);
  return rc == SQLITE_ROW;
}

void PartitionState::KnowKey(const std::string& key, bool exists) const {
  const uint64_t epoch = store_->job_epoch();
  key_memo_ = KeyMemo{epoch, key, exists};
  if (erased_.epoch == epoch && erased_.key == key) {
    erased_.epoch = 0;
    if (!exists) {
      uint64_t& count = store_->MutableCache(part_).key_count;
      if (count > 0) --count;  // only a hand-edited file could make it drift
    }
  }
}

void PartitionState::SettleKeyCount() {
  if (erased_.epoch != store_->job_epoch() || store_->failed()) return;
  if (key_memo_.key == erased_.key) key_memo_.epoch = 0;
  KeyExists(erased_.key);
}

void PartitionState::Put(const Path& path, const Atom& atom) {
  if (store_->failed()) return;
  bool new_key;
  if (erased_.epoch == store_->job_epoch() && erased_.key == path.key) {
    // The key had an atom before that Erase and has one again: same count.
    erased_.epoch = 0;
    new_key = false;
  } else {
    new_key = !KeyExists(path.key);
  }
  if (store_->failed()) return;
  // The observer hears of the atom this one replaces (a join or a fold).
  AtomObserver* observer = store_->observer();
  Atom replaced;
  const bool replaces = observer != nullptr && Find(path, atom.dot, &replaced);
  if (store_->failed()) return;
  {
    Store::Lease lease = store_->Acquire(Sql::kPut);
    if (!lease) return;
    sqlite::Query q(lease.get());
    BindAtomKey(q, part_, path, atom.dot);
    q.U64(7, atom.first).U64(8, atom.hlc.value).Int(9, atom.amount).Blob(10, atom.bytes);
    const int rc = q.Step();
    Changed();
    if (rc != SQLITE_DONE) {
      store_->Fail(rc, "put atom");
      return;
    }
  }
  if (observer != nullptr) {
    if (replaces) observer->AtomRemoved(part_, path, replaced);
    observer->AtomAdded(part_, path, atom);
    store_->NoteObserved(part_);
  }
  key_memo_ = KeyMemo{store_->job_epoch(), path.key, true};
  if (new_key) ++store_->MutableCache(part_).key_count;
}

void PartitionState::Erase(const Path& path, const crdt::Dot& dot) {
  if (store_->failed()) return;
  AtomObserver* observer = store_->observer();
  Atom erased;
  if (observer != nullptr && !Find(path, dot, &erased)) return;  // absent (or failed)
  {
    Store::Lease lease = store_->Acquire(Sql::kErase);
    if (!lease) return;
    sqlite::Query q(lease.get());
    BindAtomKey(q, part_, path, dot);
    const int rc = q.Step();
    if (rc != SQLITE_DONE) {
      Changed();
      store_->Fail(rc, "erase atom");
      return;
    }
    if (sqlite3_changes(store_->db()) == 0) return;  // nothing changed
    Changed();
  }
  if (observer != nullptr) {
    observer->AtomRemoved(part_, path, erased);
    store_->NoteObserved(part_);
  }
  const uint64_t epoch = store_->job_epoch();
  if (erased_.epoch == epoch && erased_.key != path.key) SettleKeyCount();
  if (key_memo_.key == path.key) key_memo_.epoch = 0;  // may have been its last atom
  if (erased_.epoch != epoch) {
    erased_ = Erased{epoch, path.key};
    store_->NoteUnsettled(this);
  }
}

void PartitionState::JoinContext(const crdt::DotContext& dots) {
  if (store_->failed()) return;
  // Most joins add nothing new (a delta's removals of dots already seen): no
  // undo copy, no write-back then.
  const crdt::DotContext& context = store_->cache(part_).context;
  bool news = false;
  for (const auto& [origin, intervals] : dots.by_origin()) {
    for (const auto& [first, last] : intervals) {
      if (!context.ContainsRange(origin, first, last)) {
        news = true;
        break;
      }
    }
    if (news) break;
  }
  if (news) store_->MutableCache(part_).context.Join(dots);
}

}  // namespace geokv::storage::internal
