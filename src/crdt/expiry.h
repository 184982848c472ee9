// Key expiry (TTL): a multi-value register of deadlines per key.
//
// Contract (DESIGN.md "Expiry (TTL)"): an expiry write that causally follows
// another replaces it; concurrent ones merge to the latest deadline, with
// "none" (persistent) beating every deadline. EXPIRE & co. write a deadline;
// PERSIST and a SET without KEEPTTL write "none"; every other write (SET
// KEEPTTL, INCR, HSET, SADD, ...) leaves the expiry alone.
//
// Representation, chosen so that a key that never had a TTL costs nothing:
//   - an *expiry atom* at (key, kExpiry) holds one value of the register:
//       amount = a deadline in ms since the Unix epoch (>= 1); bytes = the
//         writer's causal context (its *covers*: every dot it had seen);
//       amount = kNoDeadline, bytes empty: "none" (PERSIST);
//       amount = kNoDeadline, bytes = some dots: an *alias*, "none" on behalf
//         of the TTL-clearing SETs with those dots (see kKeep below);
//   - a SET without KEEPTTL writes NO expiry atom: it removes the expiry atoms
//     it observed, and its register atom carries amount = kClearsExpiry: it
//     stands for a "none" value named by its own dot.
// A "none" named by a dot (a flagged register, or an alias) is dead when a
// deadline atom present covers that dot: the EXPIRE came causally after that
// SET. The key's expiry is the merge of the live values: "none" if any is
// "none" (or there is none at all), else the latest deadline. So:
//   - SET then EXPIRE: the EXPIRE covers the SET's dot; the deadline applies.
//   - EXPIRE then SET: the SET removed the expiry atom it observed; persistent.
//   - EXPIRE || SET: the EXPIRE does not cover the SET's dot, and the SET did
//     not remove the EXPIRE's atom: "none" meets a deadline, "none" wins.
//   - EXPIRE || EXPIRE: both atoms stay, the latest deadline wins.
//   - EXPIRE || PERSIST: PERSIST writes an explicit "none" atom; it wins.
//   - EXPIRE || SET KEEPTTL, INCR, HSET, SADD: they write no value, so the
//     deadline applies, as if they had come first. A write that removes a
//     flagged register without clearing the TTL itself (SET KEEPTTL, a write
//     of another type claiming the key) keeps that SET's "none" alive in an
//     alias atom named by the same dot, so an EXPIRE that covered the SET
//     covers the alias too, and one that did not still meets "none".
// Cost: a SET writes one register atom, as without expiry; an EXPIRE one atom
// (its covers are the partition's context, a few intervals per replica); a SET
// KEEPTTL right after a SET one alias atom, until the next SET or EXPIRE.
//
// DEL and FLUSH remove the expiry atoms they observed, like any atom. A write
// of another type does not (ClaimKey leaves the expiry slot alone: HSET on a
// hash with a TTL keeps it); the commands remove a key that no reader can see
// (expired, or holding only expiry atoms) before writing to it, so a new key
// starts persistent (RemoveIfDead).
//
// Reads take the reading node's clock as an argument (the CRDT stays pure): a
// key whose deadline is before now_ms is absent to every read (LiveView).
// Physically, an expired key is removed by RemoveIfDead, an observed-remove
// as DEL: a write concurrent with it survives, and it is idempotent.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "crdt/delta.h"
#include "crdt/state.h"

namespace geokv::crdt {

// The amount of an expiry atom that means "none" (persistent).
inline constexpr int64_t kNoDeadline = 0;
// The amount of a string register atom written by a SET that cleared the TTL.
inline constexpr int64_t kClearsExpiry = 1;

// The key's deadline in ms since the Unix epoch, or nullopt if it is
// persistent (or holds nothing). Costs a scan of the key's expiry atoms, plus
// one of its string registers when it has any.
std::optional<int64_t> Deadline(const StateView& state, std::string_view key);

// True if the key's deadline is before now_ms (Redis: a key expires once the
// clock is past its deadline).
bool IsExpired(const StateView& state, std::string_view key, int64_t now_ms);

// True if the key holds atoms that no reader at now_ms can see: it expired,
// or it holds expiry atoms only (a DEL concurrent with an EXPIRE leaves those).
bool IsDead(const StateView& state, std::string_view key, int64_t now_ms);

// EXPIRE and its kin: replaces the expiry the replica observed with a deadline
// that covers everything the replica has seen. REQUIRES: deadline_ms >= 1.
void SetDeadline(DeltaBuilder& builder, std::string_view key, int64_t deadline_ms);

// PERSIST: if the key has a deadline, replaces what the replica observed with
// "none" and returns true; otherwise changes nothing and returns false.
bool Persist(DeltaBuilder& builder, std::string_view key);

// The expiry part of a SET without KEEPTTL (or with EX ...): removes the
// expiry atoms the replica observed. The SET's register atom then carries
// kClearsExpiry (TtlEffect::kClear) to stand for "none" against concurrent
// EXPIREs, or the caller writes a deadline (kReplace).
void ClearExpiry(DeltaBuilder& builder, std::string_view key);

// For a write that removes the key's string registers but writes no TTL value
// (TtlEffect::kKeep, a claim by another type): keeps the "none" of the flagged
// registers it observed alive in an alias atom. No-op when there are none.
void CarryClearedTtl(DeltaBuilder& builder, std::string_view key);

// The physical removal of a dead key (IsDead at now_ms): an observed-remove of
// all of its atoms, as DEL. Returns whether the key was dead.
bool RemoveIfDead(DeltaBuilder& builder, std::string_view key, int64_t now_ms);

// `inner` as a client reading at now_ms sees it: every atom of a dead key is
// hidden. Holds references; `inner` must outlive it and not change while a
// Scan runs. Not thread-safe.
class LiveView final : public StateView {
 public:
  LiveView(const StateView& inner, int64_t now_ms) : inner_(inner), now_ms_(now_ms) {}

  const DotContext& Context() const override { return inner_.Context(); }
  // Key and field scopes: nothing if the key is dead, else what inner holds.
  // The partition scope: two passes over inner, the first to find dead keys.
  void Scan(const Scope& scope, const AtomVisitor& visit) const override;

 private:
  bool Dead(const std::string& key) const;

  const StateView& inner_;
  int64_t now_ms_;
  // The last key asked about (a read asks about one key several times).
  mutable std::string cached_key_;
  mutable bool cached_dead_ = false;
  mutable bool cached_ = false;
};

}  // namespace geokv::crdt
