// PartitionState: one partition replica on SQLite, as a crdt::MutableState.
//
// Atoms are rows of the `atoms` table (schema.cc); the causal context is the
// Store's in-memory cache of the partition's row, written back at commit. It
// must behave exactly like crdt::MemoryState, the reference:
// - Scan visits in (key, slot, field, origin, counter) order, which is the
//   primary key's order (uint64 columns are stored order-preserving);
// - a Scan of a key scope runs one indexed range query per run of adjacent
//   slots in the mask, of a field scope one point query per slot, so that
//   looking at one member or field never walks the rest of a collection.
// It also keeps the partition's key count: Put of an atom into a key without
// atoms adds one, Erase of a key's last atom subtracts one. Whether an Erase
// took a key's last atom is settled lazily: a SET erases the key's atom and
// puts a new one right after, which leaves the count as it was without asking
// SQLite; otherwise the next look at the key, an Erase in another key,
// KeyCount or the end of the job settles it (Store::SettleKeyCounts).
//
// Within one job it remembers the atoms its last (small) scan saw and whether
// the last key it looked at holds atoms: a mutation reads the scope it then
// removes from twice (DeltaBuilder, then ApplyDelta), and a SET erases a key's
// only atom and then puts one; both second looks are answered from memory.
// Every Put or Erase forgets the scan; a new job (hence also a rollback)
// forgets both.
//
// After a storage error (Store::failed) every method does nothing: scans
// visit nothing, Find finds nothing; the job is rolled back anyway.
// Writer thread only, during a job.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "crdt/state.h"

namespace geokv::storage::internal {

class Store;

class PartitionState final : public crdt::MutableState {
 public:
  PartitionState(Store* store, uint32_t part) : store_(store), part_(part) {}

  const crdt::DotContext& Context() const override;
  void Scan(const crdt::Scope& scope, const crdt::AtomVisitor& visit) const override;
  bool Find(const crdt::Path& path, const crdt::Dot& dot, crdt::Atom* out) const override;
  void Put(const crdt::Path& path, const crdt::Atom& atom) override;
  void Erase(const crdt::Path& path, const crdt::Dot& dot) override;
  void JoinContext(const crdt::DotContext& dots) override;
  // One range query from `from` on (the rows stream; nothing is remembered).
  void ScanFrom(const crdt::AtomPosition& from, const crdt::AtomVisitor& visit) const override;

  // Settles the key count for a key an Erase may have emptied. Called by the
  // Store before a job's changes are kept and before the count is read.
  void SettleKeyCount();

 private:
  // Scans remembered hold at most this many atoms (a point or one key's scalar).
  static constexpr size_t kScanMemoAtoms = 8;

  // Whether `key` holds any atom.
  bool KeyExists(const std::string& key) const;
  // Records that `key` holds atoms (or not) now, settling a pending Erase.
  void KnowKey(const std::string& key, bool exists) const;
  // Runs the SQL of a scan.
  void ScanRows(const crdt::Scope& scope, const crdt::AtomVisitor& visit) const;
  // An atom was put or erased.
  void Changed() const {
    scan_memo_.epoch = 0;
    ++writes_;
  }

  Store* store_;
  uint32_t part_;
  // Valid while epoch == store_->job_epoch() (0: never valid).
  struct ScanMemo {
    uint64_t epoch = 0;
    crdt::Scope scope;
    std::vector<std::pair<crdt::Path, crdt::Atom>> atoms;
  };
  struct KeyMemo {
    uint64_t epoch = 0;
    std::string key;
    bool exists = false;
  };
  mutable ScanMemo scan_memo_;
  mutable KeyMemo key_memo_;
  // A key that lost an atom in this job (epoch as above) and may now be empty;
  // the key count does not reflect that yet.
  struct Erased {
    uint64_t epoch = 0;
    std::string key;
  };
  mutable Erased erased_;
  mutable int scan_depth_ = 0;   // nested scans (a visitor that scans) bypass the memo
  mutable uint64_t writes_ = 0;  // Put/Erase count: a scan that saw one is not remembered
};

}  // namespace geokv::storage::internal
