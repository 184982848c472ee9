#include "crdt/expiry.h"

#include <algorithm>
#include <set>
#include <vector>

#include "common/assert.h"
#include "crdt/codec.h"
#include "crdt/key_type.h"

namespace geokv::crdt {

namespace {

Scope ExpiryScope(std::string_view key) { return Scope::Key(std::string(key), Bit(Slot::kExpiry)); }

// Reads one key's expiry from its atoms, fed in any order.
class ExpiryAccumulator {
 public:
  void Add(const Path& path, const Atom& atom) {
    if (path.slot != Slot::kExpiry) {
      any_value_ = true;
      if (path.slot == Slot::kRegister && atom.amount == kClearsExpiry)
        named_none_.Insert(atom.dot);
      return;
    }
    any_expiry_ = true;
    if (atom.amount != kNoDeadline) {
      latest_ = std::max(latest_, atom.amount);
      covers_.push_back(atom.bytes);
    } else if (atom.bytes.empty()) {
      none_ = true;
    } else {
      named_none_.Join(Decode(atom.bytes));
    }
  }

  std::optional<int64_t> Deadline() const {
    if (!any_expiry_ || none_ || latest_ == 0) return std::nullopt;
    if (named_none_.empty()) return latest_;
    // Every named "none" must be covered by some deadline (decoded only now:
    // most keys with a TTL have no named "none" left to check).
    DotContext covered;
    for (const std::string& bytes : covers_) covered.Join(Decode(bytes));
    for (const auto& [origin, intervals] : named_none_.by_origin()) {
      for (const auto& [begin, end] : intervals) {
        if (!covered.ContainsRange(origin, begin, end)) return std::nullopt;
      }
    }
    return latest_;
  }

  bool any_expiry() const { return any_expiry_; }
  bool any_value() const { return any_value_; }

  bool Dead(int64_t now_ms) const {
    if (!any_expiry_) return false;
    if (!any_value_) return true;
    const auto deadline = Deadline();
    return deadline && *deadline < now_ms;
  }

 private:
  // Atoms come from the builder or the decoder, which checked the encoding; a
  // failure here could only make the key persistent.
  static DotContext Decode(const std::string& bytes) {
    if (bytes.empty()) return {};
    auto dots = DecodeDotContext(bytes);
    return dots.ok() ? std::move(*dots) : DotContext{};
  }

  bool any_expiry_ = false;
  bool any_value_ = false;
  bool none_ = false;
  int64_t latest_ = 0;
  std::vector<std::string> covers_;  // of the deadline atoms
  DotContext named_none_;            // flagged registers and aliases
};

// Feeds the accumulator the key's expiry atoms and, only if there are any, the
// atoms that decide the rest (string registers; or any value atom).
ExpiryAccumulator ReadKey(const StateView& state, std::string_view key, bool need_any_value) {
  ExpiryAccumulator acc;
  auto feed = [&](const Path& path, const Atom& atom) {
    acc.Add(path, atom);
    return true;
  };
  // One scope, its slots changed between scans: a command reads this for
  // every key it writes, and each copy of a long key is an allocation.
  Scope scope = ExpiryScope(key);
  state.Scan(scope, feed);
  if (!acc.any_expiry()) return acc;
  scope.slots = Bit(Slot::kRegister);
  state.Scan(scope, feed);
  if (need_any_value && !acc.any_value()) {
    scope.slots = kAllSlots & ~Bit(Slot::kExpiry) & ~Bit(Slot::kRegister);
    state.Scan(scope,
               [&](const Path& path, const Atom& atom) {
                 acc.Add(path, atom);
                 return false;  // one is enough
               });
  }
  return acc;
}

}  // namespace

std::optional<int64_t> Deadline(const StateView& state, std::string_view key) {
  return ReadKey(state, key, false).Deadline();
}

bool IsExpired(const StateView& state, std::string_view key, int64_t now_ms) {
  const auto deadline = Deadline(state, key);
  return deadline && *deadline < now_ms;
}

bool IsDead(const StateView& state, std::string_view key, int64_t now_ms) {
  return ReadKey(state, key, true).Dead(now_ms);
}

void SetDeadline(DeltaBuilder& builder, std::string_view key, int64_t deadline_ms) {
  GEOKV_ASSERT(deadline_ms >= 1);
  builder.RemoveObserved(ExpiryScope(key));
  Atom atom;
  atom.amount = deadline_ms;
  if (!builder.state().Context().empty()) atom.bytes = EncodeDotContext(builder.state().Context());
  builder.Add(Path{std::string(key), Slot::kExpiry, ""}, std::move(atom));
}

bool Persist(DeltaBuilder& builder, std::string_view key) {
  if (!Deadline(builder.state(), key)) return false;
  builder.RemoveObserved(ExpiryScope(key));
  Atom atom;
  atom.amount = kNoDeadline;
  builder.Add(Path{std::string(key), Slot::kExpiry, ""}, std::move(atom));
  return true;
}

void ClearExpiry(DeltaBuilder& builder, std::string_view key) {
  builder.RemoveObserved(ExpiryScope(key));
}

void CarryClearedTtl(DeltaBuilder& builder, std::string_view key) {
  DotContext named;
  builder.state().Scan(Scope::Key(std::string(key), Bit(Slot::kRegister)),
                       [&](const Path&, const Atom& atom) {
                         if (atom.amount == kClearsExpiry) named.Insert(atom.dot);
                         return true;
                       });
  if (named.empty()) return;
  Atom alias;
  alias.amount = kNoDeadline;
  alias.bytes = EncodeDotContext(named);
  builder.Add(Path{std::string(key), Slot::kExpiry, ""}, std::move(alias));
}

bool RemoveIfDead(DeltaBuilder& builder, std::string_view key, int64_t now_ms) {
  if (!IsDead(builder.state(), key, now_ms)) return false;
  DeleteKey(builder, key);
  return true;
}

bool LiveView::Dead(const std::string& key) const {
  if (!cached_ || cached_key_ != key) {
    cached_dead_ = IsDead(inner_, key, now_ms_);
    cached_key_ = key;
    cached_ = true;
  }
  return cached_dead_;
}

void LiveView::Scan(const Scope& scope, const AtomVisitor& visit) const {
  if (scope.kind != Scope::Kind::kPartition) {
    if (!Dead(scope.key)) inner_.Scan(scope, visit);
    return;
  }
  // Atoms come ordered by key: accumulate each key's, note the dead ones.
  std::set<std::string> dead;
  std::string current;
  ExpiryAccumulator acc;
  bool started = false;
  inner_.Scan(scope, [&](const Path& path, const Atom& atom) {
    if (!started || path.key != current) {
      if (started && acc.Dead(now_ms_)) dead.insert(current);
      current = path.key;
      acc = ExpiryAccumulator();
      started = true;
    }
    acc.Add(path, atom);
    return true;
  });
  if (started && acc.Dead(now_ms_)) dead.insert(current);
  inner_.Scan(scope, [&](const Path& path, const Atom& atom) {
    return dead.contains(path.key) || visit(path, atom);
  });
}

}  // namespace geokv::crdt
