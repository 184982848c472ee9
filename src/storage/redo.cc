#include "storage/redo.h"

#include <msgpack.hpp>

#include "crdt/codec.h"
#include "crdt/msgpack_reader.h"

namespace geokv::storage::internal {

namespace {

using Packer = msgpack::packer<RedoWriter>;

void PackBin(Packer& pk, std::string_view s) {
  pk.pack_bin(static_cast<uint32_t>(s.size()));
  pk.pack_bin_body(s.data(), static_cast<uint32_t>(s.size()));
}

void PackPosition(Packer& pk, RedoOp op, size_t n, uint32_t part, const crdt::Path& path,
                  const crdt::Dot& dot) {
  pk.pack_array(static_cast<uint32_t>(n));
  pk.pack_uint8(static_cast<uint8_t>(op));
  pk.pack_uint32(part);
  PackBin(pk, path.key);
  pk.pack_uint8(static_cast<uint8_t>(path.slot));
  PackBin(pk, path.field);
  pk.pack_uint64(dot.origin);
  pk.pack_uint64(dot.counter);
}

constexpr size_t kMaxBytes = size_t{1} << 30;

}  // namespace

void RedoWriter::Put(uint32_t part, const crdt::Path& path, const crdt::Atom& atom) {
  Packer pk(*this);
  PackPosition(pk, RedoOp::kPut, 11, part, path, atom.dot);
  pk.pack_uint64(atom.first);
  pk.pack_uint64(atom.hlc.value);
  pk.pack_int64(atom.amount);
  PackBin(pk, atom.bytes);
}

void RedoWriter::Erase(uint32_t part, const crdt::Path& path, const crdt::Dot& dot) {
  Packer pk(*this);
  PackPosition(pk, RedoOp::kErase, 7, part, path, dot);
}

void RedoWriter::Join(uint32_t part, const crdt::DotContext& dots) {
  Packer pk(*this);
  pk.pack_array(3);
  pk.pack_uint8(static_cast<uint8_t>(RedoOp::kJoin));
  pk.pack_uint32(part);
  PackBin(pk, crdt::EncodeDotContext(dots));
}

void RedoWriter::Applied(uint32_t part, crdt::ReplicaId origin, uint64_t seq) {
  Packer pk(*this);
  pk.pack_array(4);
  pk.pack_uint8(static_cast<uint8_t>(RedoOp::kApplied));
  pk.pack_uint32(part);
  pk.pack_uint64(origin);
  pk.pack_uint64(seq);
}

void RedoWriter::Meta(std::string_view name, std::string_view value) {
  Packer pk(*this);
  pk.pack_array(3);
  pk.pack_uint8(static_cast<uint8_t>(RedoOp::kMeta));
  PackBin(pk, name);
  PackBin(pk, value);
}

void RedoWriter::LogAppend(uint32_t part, crdt::ReplicaId origin, uint64_t first, uint64_t last,
                           std::string_view delta) {
  Packer pk(*this);
  pk.pack_array(6);
  pk.pack_uint8(static_cast<uint8_t>(RedoOp::kLogAppend));
  pk.pack_uint32(part);
  pk.pack_uint64(origin);
  pk.pack_uint64(first);
  pk.pack_uint64(last);
  PackBin(pk, delta);
}

void RedoWriter::LogDrop(uint32_t part, crdt::ReplicaId origin, uint64_t through) {
  Packer pk(*this);
  pk.pack_array(4);
  pk.pack_uint8(static_cast<uint8_t>(RedoOp::kLogDrop));
  pk.pack_uint32(part);
  pk.pack_uint64(origin);
  pk.pack_uint64(through);
}

Status ForEachRedo(uint64_t id, std::string_view blob, uint32_t partitions,
                   const std::function<Status(const RedoRecord&)>& visit) {
  auto corrupt = [&](const std::string& what) {
    return Status::Corrupt("redo row " + std::to_string(id) + ": " + what);
  };
  size_t offset = 0;
  RedoRecord rec;
  while (offset < blob.size()) {
    msgpack::object_handle handle;
    try {
      msgpack::unpack(handle, blob.data(), blob.size(), offset);
    } catch (const std::exception& e) {
      return corrupt(std::string("does not decode (") + e.what() + ")");
    }
    crdt::MsgpackReader r;
    size_t n = 0;
    const msgpack::object* e =
        r.Array(handle.get(), crdt::MsgpackReader::kAny, 16, &n, "redo record");
    if (!r.ok() || n < 2) return corrupt("a record is not an array of at least 2");
    const uint64_t op = r.Uint(e[0], "op");
    rec.op = static_cast<RedoOp>(op);
    size_t want = 0;
    switch (rec.op) {
      case RedoOp::kPut: want = 11; break;
      case RedoOp::kErase: want = 7; break;
      case RedoOp::kJoin: want = 3; break;
      case RedoOp::kApplied: want = 4; break;
      case RedoOp::kMeta: want = 3; break;
      case RedoOp::kLogAppend: want = 6; break;
      case RedoOp::kLogDrop: want = 4; break;
      default: return corrupt("unknown op " + std::to_string(op));
    }
    if (n != want) return corrupt("op " + std::to_string(op) + " has a wrong number of fields");
    if (rec.op == RedoOp::kMeta) {
      rec.name = r.Bin(e[1], kMaxBytes, "name");
      rec.value = r.Bin(e[2], kMaxBytes, "value");
    } else {
      const uint64_t part = r.Uint(e[1], "partition");
      if (r.ok() && part >= partitions) return corrupt("partition " + std::to_string(part));
      rec.part = static_cast<uint32_t>(part);
      switch (rec.op) {
        case RedoOp::kPut:
        case RedoOp::kErase: {
          rec.path.key.assign(r.Bin(e[2], kMaxBytes, "key"));
          const uint64_t slot = r.Uint(e[3], "slot");
          if (r.ok() && !crdt::IsValidSlot(slot)) return corrupt("bad slot");
          rec.path.slot = static_cast<crdt::Slot>(slot);
          rec.path.field.assign(r.Bin(e[4], kMaxBytes, "field"));
          rec.atom.dot = crdt::Dot{r.Uint(e[5], "origin"), r.Uint(e[6], "counter")};
          if (rec.op == RedoOp::kPut) {
            rec.atom.first = r.Uint(e[7], "first");
            rec.atom.hlc.value = r.Uint(e[8], "hlc");
            rec.atom.amount = r.Int(e[9], "amount");
            rec.atom.bytes.assign(r.Bin(e[10], kMaxBytes, "bytes"));
          }
          break;
        }
        case RedoOp::kJoin: {
          auto dots = crdt::DecodeDotContext(r.Bin(e[2], kMaxBytes, "dots"));
          if (!dots.ok()) return corrupt("dots: " + dots.status().message());
          rec.dots = std::move(*dots);
          break;
        }
        case RedoOp::kApplied:
        case RedoOp::kLogDrop:
          rec.origin = r.Uint(e[2], "origin");
          rec.first = r.Uint(e[3], "seq");
          break;
        case RedoOp::kLogAppend:
          rec.origin = r.Uint(e[2], "origin");
          rec.first = r.Uint(e[3], "first");
          rec.last = r.Uint(e[4], "last");
          rec.value = r.Bin(e[5], kMaxBytes, "delta");
          if (r.ok() && (rec.first < 1 || rec.first > rec.last)) return corrupt("bad log range");
          break;
        case RedoOp::kMeta:
          break;
      }
    }
    if (!r.ok()) return corrupt(r.error());
    if (Status s = visit(rec); !s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace geokv::storage::internal
