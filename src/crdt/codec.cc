#include "crdt/codec.h"

#include <limits>
#include <msgpack.hpp>

#include "crdt/decimal.h"
#include "crdt/expiry.h"
#include "crdt/msgpack_reader.h"

namespace geokv::crdt {

namespace {

// Packs straight into the std::string an encoder returns. msgpack::sbuffer
// starts at 8 KiB and its bytes are then copied into a string: two
// allocations per encoding, one of them big, where a delta of a write is
// about a hundred bytes.
class StringBuffer {
 public:
  explicit StringBuffer(size_t reserve_bytes) { out_.reserve(reserve_bytes); }
  void write(const char* data, size_t n) { out_.append(data, n); }
  std::string Take() && { return std::move(out_); }

 private:
  std::string out_;
};

// Room a small encoding (a write's delta, a context of a few origins) fits in.
constexpr size_t kEncodeReserveBytes = 256;

using Packer = msgpack::packer<StringBuffer>;

void PackBin(Packer& pk, std::string_view s) {
  pk.pack_bin(static_cast<uint32_t>(s.size()));
  pk.pack_bin_body(s.data(), static_cast<uint32_t>(s.size()));
}

void PackDots(Packer& pk, const DotContext& dots) {
  pk.pack_array(static_cast<uint32_t>(dots.by_origin().size()));
  for (const auto& [origin, intervals] : dots.by_origin()) {
    pk.pack_array(2);
    pk.pack_uint64(origin);
    pk.pack_array(static_cast<uint32_t>(intervals.size() * 2));
    for (const auto& [begin, end] : intervals) {
      pk.pack_uint64(begin);
      pk.pack_uint64(end);
    }
  }
}

void PackPayload(Packer& pk, Slot slot, const Atom& atom) {
  switch (slot) {
    case Slot::kRegister:
    case Slot::kFieldRegister:
      pk.pack_uint64(atom.hlc.value);
      PackBin(pk, atom.bytes);
      if (atom.amount != 0) pk.pack_uint64(static_cast<uint64_t>(atom.amount));
      return;
    case Slot::kCounter:
    case Slot::kFieldCounter:
      pk.pack_int64(atom.amount);
      if (!atom.bytes.empty()) PackBin(pk, atom.bytes);
      return;
    case Slot::kMember:
      return;
    case Slot::kMultiValue:
      PackBin(pk, atom.bytes);
      return;
    case Slot::kExpiry:
      pk.pack_uint64(static_cast<uint64_t>(atom.amount));
      PackBin(pk, atom.bytes);
      return;
  }
}

// The number of payload elements `atom` encodes to at `slot`.
size_t PayloadSize(Slot slot, const Atom& atom) {
  switch (slot) {
    case Slot::kRegister:
    case Slot::kFieldRegister:
      return atom.amount != 0 ? 3 : 2;
    case Slot::kCounter:
    case Slot::kFieldCounter:
      return atom.bytes.empty() ? 1 : 2;
    case Slot::kMultiValue:
      return 1;
    case Slot::kExpiry:
      return 2;
    case Slot::kMember:
      return 0;
  }
  return 0;
}

// Whether `n` payload elements fit `slot` (a string register's flags and a
// counter's decimal are optional).
bool PayloadSizeFits(Slot slot, size_t n) {
  Atom flagged;
  flagged.amount = kClearsExpiry;
  if (IsCounterSlot(slot)) return n == 1 || n == 2;
  return n == PayloadSize(slot, Atom{}) ||
         (slot == Slot::kRegister && n == PayloadSize(slot, flagged));
}

// The codec's reads: the shared checks (msgpack_reader.h) with this codec's
// limits, plus the shapes of deltas and snapshots.
class Reader : public MsgpackReader {
 public:
  explicit Reader(const DecodeLimits& limits) : limits_(limits) {}

  Status status(std::string_view what) const {
    return Status::Corrupt(std::string(what) + ": " + error());
  }

  // The elements of an array of exactly n (or, with n == kAny, any) elements.
  const msgpack::object* Array(const msgpack::object& o, size_t n, size_t* size, const char* what) {
    return MsgpackReader::Array(o, n, limits_.max_elements, size, what);
  }

  std::string Bin(const msgpack::object& o, const char* what) {
    return std::string(MsgpackReader::Bin(o, limits_.max_bytes, what));
  }

  Slot SlotOf(const msgpack::object& o) {
    const uint64_t s = Uint(o, "slot");
    if (ok() && !IsValidSlot(s)) Fail("unknown slot " + std::to_string(s));
    return ok() ? static_cast<Slot>(s) : Slot::kRegister;
  }

  DotContext Dots(const msgpack::object& o) {
    DotContext dots;
    size_t n = 0;
    const msgpack::object* origins = Array(o, kAny, &n, "dots");
    for (size_t i = 0; ok() && i < n; ++i) {
      size_t two = 0, m = 0;
      const msgpack::object* entry = Array(origins[i], 2, &two, "dots entry");
      if (!ok()) break;
      const uint64_t origin = Uint(entry[0], "origin");
      const msgpack::object* bounds = Array(entry[1], kAny, &m, "intervals");
      if (ok() && m % 2 != 0) Fail("intervals have an odd count");
      for (size_t j = 0; ok() && j < m; j += 2) {
        const uint64_t begin = Uint(bounds[j], "interval begin");
        const uint64_t end = Uint(bounds[j + 1], "interval end");
        if (ok() && (begin < 1 || begin > end)) Fail("interval out of order");
        if (ok()) dots.InsertRange(origin, begin, end);
      }
    }
    return dots;
  }

  // Reads the payload of `slot` from the n elements at e[at...].
  // REQUIRES: PayloadSizeFits(slot, n).
  void Payload(const msgpack::object* e, size_t at, size_t n, Slot slot, Atom* atom) {
    switch (slot) {
      case Slot::kRegister:
      case Slot::kFieldRegister:
        atom->hlc = Hlc{Uint(e[at], "hlc")};
        atom->bytes = Bin(e[at + 1], "value");
        if (n == 3) {
          const uint64_t flags = Uint(e[at + 2], "register flags");
          if (ok() && flags != static_cast<uint64_t>(kClearsExpiry)) Fail("unknown register flags");
          atom->amount = kClearsExpiry;
        }
        return;
      case Slot::kExpiry: {
        const uint64_t deadline = Uint(e[at], "deadline");
        if (ok() && deadline > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
          Fail("deadline out of range");
        }
        atom->amount = static_cast<int64_t>(deadline);
        atom->bytes = Bin(e[at + 1], "covers");
        // The covers are a dots encoding (or empty), canonical so that equal
        // states encode equally.
        if (ok() && !atom->bytes.empty()) {
          auto covers = DecodeDotContext(atom->bytes, limits_);
          if (!covers.ok() || covers->empty() || EncodeDotContext(*covers) != atom->bytes) {
            Fail("expiry covers are not a canonical set of dots");
          }
        }
        return;
      }
      case Slot::kCounter:
      case Slot::kFieldCounter:
        atom->amount = Int(e[at], "amount");
        if (n == 2) {
          atom->bytes = Bin(e[at + 1], "decimal");
          if (ok() && !Decimal::ParseCanonical(atom->bytes)) Fail("decimal not canonical");
        }
        return;
      case Slot::kMember:
        return;
      case Slot::kMultiValue:
        atom->bytes = Bin(e[at], "value");
        return;
    }
  }

  // A path's key, slot and field from elements 0..2, field checked against slot.
  Path PathAt(const msgpack::object* e) {
    Path path;
    path.key = Bin(e[0], "key");
    path.slot = SlotOf(e[1]);
    path.field = Bin(e[2], "field");
    if (ok() && !HasField(path.slot) && !path.field.empty()) Fail("field on a slot without fields");
    return path;
  }

  Scope ScopeAt(const msgpack::object* e) {
    Scope scope;
    const uint64_t kind = Uint(e[0], "scope kind");
    scope.key = Bin(e[1], "scope key");
    const uint64_t slots = Uint(e[2], "scope slots");
    scope.field = Bin(e[3], "scope field");
    if (ok() && kind > 2) Fail("unknown scope kind");
    if (ok() && (slots == 0 || slots > kAllSlots)) Fail("bad scope slots");
    if (!ok()) return scope;
    scope.kind = static_cast<Scope::Kind>(kind);
    scope.slots = static_cast<SlotMask>(slots);
    switch (scope.kind) {
      case Scope::Kind::kPartition:
        if (!scope.key.empty() || !scope.field.empty()) Fail("partition scope with key or field");
        scope.slots = kAllSlots;  // a partition scope is every slot (older nodes had fewer)
        break;
      case Scope::Kind::kKey:
        if (!scope.field.empty()) Fail("key scope with a field");
        break;
      case Scope::Kind::kField:
        if ((slots & ~kFieldSlots) != 0) Fail("field scope on slots without fields");
        break;
    }
    return scope;
  }

 private:
  const DecodeLimits& limits_;
};

// Unpacks exactly one object spanning all of `bytes`.
Status Unpack(std::string_view bytes, const DecodeLimits& limits, msgpack::object_handle* out) {
  const size_t elements = limits.max_elements;
  const msgpack::unpack_limit limit(elements, elements, limits.max_bytes, limits.max_bytes, 0, 16);
  try {
    size_t offset = 0;
    *out = msgpack::unpack(bytes.data(), bytes.size(), offset, nullptr, nullptr, limit);
    if (offset != bytes.size()) return Status::Corrupt("trailing bytes after the message");
  } catch (const std::exception& e) {
    return Status::Corrupt(std::string("malformed MessagePack: ") + e.what());
  }
  return Status::Ok();
}

}  // namespace

std::string EncodeDotContext(const DotContext& dots) {
  StringBuffer buf(kEncodeReserveBytes);
  Packer pk(buf);
  PackDots(pk, dots);
  return std::move(buf).Take();
}

Result<DotContext> DecodeDotContext(std::string_view bytes, const DecodeLimits& limits) {
  msgpack::object_handle handle;
  if (Status s = Unpack(bytes, limits, &handle); !s.ok()) return s;
  Reader r(limits);
  DotContext dots = r.Dots(handle.get());
  if (!r.ok()) return r.status("dots");
  return dots;
}

std::string EncodeDelta(const Delta& delta) {
  StringBuffer buf(kEncodeReserveBytes);
  Packer pk(buf);
  pk.pack_array(6);
  pk.pack_uint64(kFormatVersion);
  pk.pack_uint64(delta.origin);
  pk.pack_uint64(delta.first);
  pk.pack_uint64(delta.last);
  pk.pack_array(static_cast<uint32_t>(delta.removals.size()));
  for (const Removal& removal : delta.removals) {
    pk.pack_array(5);
    pk.pack_uint64(static_cast<uint64_t>(removal.scope.kind));
    PackBin(pk, removal.scope.key);
    pk.pack_uint64(removal.scope.slots);
    PackBin(pk, removal.scope.field);
    PackDots(pk, removal.covered);
  }
  pk.pack_array(static_cast<uint32_t>(delta.additions.size()));
  for (const Addition& add : delta.additions) {
    pk.pack_array(static_cast<uint32_t>(4 + PayloadSize(add.path.slot, add.atom)));
    PackBin(pk, add.path.key);
    pk.pack_uint64(static_cast<uint64_t>(add.path.slot));
    PackBin(pk, add.path.field);
    pk.pack_uint64(add.atom.dot.counter);
    PackPayload(pk, add.path.slot, add.atom);
  }
  return std::move(buf).Take();
}

Result<Delta> DecodeDelta(std::string_view bytes, const DecodeLimits& limits) {
  msgpack::object_handle handle;
  if (Status s = Unpack(bytes, limits, &handle); !s.ok()) return s;
  Reader r(limits);
  Delta delta;
  size_t n = 0;
  const msgpack::object* e = r.Array(handle.get(), 6, &n, "delta");
  if (!r.ok()) return r.status("delta");
  if (r.Uint(e[0], "version") != kFormatVersion && r.ok()) r.Fail("unsupported format version");
  delta.origin = r.Uint(e[1], "origin");
  delta.first = r.Uint(e[2], "first");
  delta.last = r.Uint(e[3], "last");
  if (r.ok() && (delta.first < 1 || delta.first > delta.last ||
                 delta.last - delta.first >= limits.max_dots_per_delta)) {
    r.Fail("bad dot range");
  }

  size_t removals = 0;
  const msgpack::object* re = r.Array(e[4], Reader::kAny, &removals, "removals");
  for (size_t i = 0; r.ok() && i < removals; ++i) {
    size_t five = 0;
    const msgpack::object* fields = r.Array(re[i], 5, &five, "removal");
    if (!r.ok()) break;
    Removal removal;
    removal.scope = r.ScopeAt(fields);
    removal.covered = r.Dots(fields[4]);
    delta.removals.push_back(std::move(removal));
  }

  size_t additions = 0;
  const msgpack::object* ad = r.Array(e[5], Reader::kAny, &additions, "additions");
  uint64_t previous = 0;
  for (size_t i = 0; r.ok() && i < additions; ++i) {
    if (ad[i].type != msgpack::type::ARRAY || ad[i].via.array.size < 4) {
      r.Fail("addition is not an array of at least 4");
      break;
    }
    const msgpack::object* fields = ad[i].via.array.ptr;
    Addition add;
    add.path = r.PathAt(fields);
    if (!r.ok()) break;
    const size_t payload = ad[i].via.array.size - 4;
    if (!PayloadSizeFits(add.path.slot, payload)) {
      r.Fail("addition payload does not fit its slot");
      break;
    }
    add.atom.dot = Dot{delta.origin, r.Uint(fields[3], "counter")};
    add.atom.first = add.atom.dot.counter;
    r.Payload(fields, 4, payload, add.path.slot, &add.atom);
    const uint64_t c = add.atom.dot.counter;
    if (r.ok() && (c < delta.first || c > delta.last || c <= previous)) {
      r.Fail("addition dot outside the delta's range or out of order");
    }
    previous = c;
    delta.additions.push_back(std::move(add));
  }
  if (!r.ok()) return r.status("delta");
  return delta;
}

std::string EncodeSnapshot(const Snapshot& snapshot) {
  StringBuffer buf(kEncodeReserveBytes);
  Packer pk(buf);
  pk.pack_array(3);
  pk.pack_uint64(kFormatVersion);
  PackDots(pk, snapshot.context);
  pk.pack_array(static_cast<uint32_t>(snapshot.atoms.size()));
  for (const auto& [path, atom] : snapshot.atoms) {
    pk.pack_array(static_cast<uint32_t>(6 + PayloadSize(path.slot, atom)));
    PackBin(pk, path.key);
    pk.pack_uint64(static_cast<uint64_t>(path.slot));
    PackBin(pk, path.field);
    pk.pack_uint64(atom.dot.origin);
    pk.pack_uint64(atom.dot.counter);
    pk.pack_uint64(atom.first);
    PackPayload(pk, path.slot, atom);
  }
  return std::move(buf).Take();
}

Result<Snapshot> DecodeSnapshot(std::string_view bytes, const DecodeLimits& limits) {
  msgpack::object_handle handle;
  if (Status s = Unpack(bytes, limits, &handle); !s.ok()) return s;
  Reader r(limits);
  Snapshot snap;
  size_t n = 0;
  const msgpack::object* e = r.Array(handle.get(), 3, &n, "snapshot");
  if (!r.ok()) return r.status("snapshot");
  if (r.Uint(e[0], "version") != kFormatVersion && r.ok()) r.Fail("unsupported format version");
  snap.context = r.Dots(e[1]);
  size_t atoms = 0;
  const msgpack::object* at = r.Array(e[2], Reader::kAny, &atoms, "atoms");
  for (size_t i = 0; r.ok() && i < atoms; ++i) {
    if (at[i].type != msgpack::type::ARRAY || at[i].via.array.size < 6) {
      r.Fail("atom is not an array of at least 6");
      break;
    }
    const msgpack::object* fields = at[i].via.array.ptr;
    Path path = r.PathAt(fields);
    if (!r.ok()) break;
    const size_t payload = at[i].via.array.size - 6;
    if (!PayloadSizeFits(path.slot, payload)) {
      r.Fail("atom payload does not fit its slot");
      break;
    }
    Atom atom;
    atom.dot = Dot{r.Uint(fields[3], "origin"), r.Uint(fields[4], "counter")};
    atom.first = r.Uint(fields[5], "first");
    r.Payload(fields, 6, payload, path.slot, &atom);
    if (!r.ok()) break;
    const bool folded = atom.first != atom.dot.counter;
    if (atom.dot.counter < 1 || atom.first < 1 || atom.first > atom.dot.counter ||
        (folded && !IsCounterSlot(path.slot))) {
      r.Fail("atom dot or fold range invalid");
    } else if (!snap.context.ContainsRange(atom.dot.origin, atom.first, atom.dot.counter)) {
      r.Fail("atom dot not in the snapshot's context");
    } else if (!snap.atoms.empty() &&
               std::tie(snap.atoms.back().first, snap.atoms.back().second.dot) >=
                   std::tie(path, atom.dot)) {
      r.Fail("atoms not in order");
    }
    snap.atoms.emplace_back(std::move(path), std::move(atom));
  }
  if (!r.ok()) return r.status("snapshot");
  return snap;
}

}  // namespace geokv::crdt
