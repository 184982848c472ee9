// MsgpackReader: typed, bounds-checked reads out of an unpacked MessagePack
// object, shared by geokv's decoders (crdt/codec.cc, replication messages).
//
// The first problem becomes the error; every later read is a no-op returning
// a zero value, so a decoder reads straight through and checks ok() once.
// Nothing here trusts a length it has not checked against the caller's bound.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <msgpack.hpp>
#include <string>
#include <string_view>

namespace geokv::crdt {

class MsgpackReader {
 public:
  static constexpr size_t kAny = std::numeric_limits<size_t>::max();

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  void Fail(std::string msg) {
    if (error_.empty()) error_ = std::move(msg);
  }

  // The elements of an array of exactly n elements (kAny: any number up to
  // max); *size receives the count.
  const msgpack::object* Array(const msgpack::object& o, size_t n, size_t max, size_t* size,
                               const char* what) {
    *size = 0;
    if (!ok()) return nullptr;
    if (o.type != msgpack::type::ARRAY) {
      Fail(std::string(what) + " is not an array");
      return nullptr;
    }
    if ((n != kAny && o.via.array.size != n) || o.via.array.size > max) {
      Fail(std::string(what) + " has a wrong number of elements");
      return nullptr;
    }
    *size = o.via.array.size;
    return o.via.array.ptr;
  }

  uint64_t Uint(const msgpack::object& o, const char* what) {
    if (!ok()) return 0;
    if (o.type != msgpack::type::POSITIVE_INTEGER) {
      Fail(std::string(what) + " is not an unsigned integer");
      return 0;
    }
    return o.via.u64;
  }

  int64_t Int(const msgpack::object& o, const char* what) {
    if (!ok()) return 0;
    if (o.type == msgpack::type::NEGATIVE_INTEGER) return o.via.i64;
    if (o.type == msgpack::type::POSITIVE_INTEGER &&
        o.via.u64 <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return static_cast<int64_t>(o.via.u64);
    }
    Fail(std::string(what) + " is not a 64-bit signed integer");
    return 0;
  }

  // A byte string of at most max bytes, viewed in place (valid while the
  // unpacked object lives).
  std::string_view Bin(const msgpack::object& o, size_t max, const char* what) {
    if (!ok()) return {};
    if (o.type != msgpack::type::BIN || o.via.bin.size > max) {
      Fail(std::string(what) + " is not a byte string within the size limit");
      return {};
    }
    return std::string_view(o.via.bin.ptr, o.via.bin.size);
  }

 private:
  std::string error_;
};

}  // namespace geokv::crdt
