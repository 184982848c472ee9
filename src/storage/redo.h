// Redo records: the physical changes of a group of jobs, as one row of the
// `redo` table (schema.cc).
//
// A row's blob is a sequence of MessagePack arrays, one per change, in the
// order the jobs made them:
//
//   [0, part, key:bin, slot, field:bin, origin, counter, first, hlc, amount:int, bytes:bin]
//                                              put an atom (insert or overwrite)
//   [1, part, key:bin, slot, field:bin, origin, counter]     erase an atom
//   [2, part, dots:bin]                        join EncodeDotContext bytes into the context
//   [3, part, origin, seq]                     set the applied seq
//   [4, name:bin, value:bin]                   set a meta value
//   [5, part, origin, first, last, delta:bin]  append to the delta log
//   [6, part, origin, through]                 drop log entries through `through`
//
// Replaying a change again gives the same state (puts and erases name one
// atom, joins are idempotent, sets overwrite, an append already in the log
// table is skipped, a drop of what is already dropped does nothing): that is
// what lets a checkpoint record a redo position from before some of the
// state it wrote (store.h, "Checkpoints").
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "crdt/dot_context.h"
#include "crdt/state.h"

namespace geokv::storage::internal {

enum class RedoOp : uint8_t {
  kPut = 0,
  kErase = 1,
  kJoin = 2,
  kApplied = 3,
  kMeta = 4,
  kLogAppend = 5,
  kLogDrop = 6,
};

// Appends changes to a group's blob. Truncate undoes the tail (a job that is
// rolled back).
class RedoWriter {
 public:
  void Put(uint32_t part, const crdt::Path& path, const crdt::Atom& atom);
  void Erase(uint32_t part, const crdt::Path& path, const crdt::Dot& dot);
  void Join(uint32_t part, const crdt::DotContext& dots);
  void Applied(uint32_t part, crdt::ReplicaId origin, uint64_t seq);
  void Meta(std::string_view name, std::string_view value);
  void LogAppend(uint32_t part, crdt::ReplicaId origin, uint64_t first, uint64_t last,
                 std::string_view delta);
  void LogDrop(uint32_t part, crdt::ReplicaId origin, uint64_t through);

  size_t size() const { return buf_.size(); }
  bool empty() const { return buf_.empty(); }
  void Truncate(size_t size) { buf_.resize(size); }
  // The blob so far; leaves the writer empty.
  std::string Take() { return std::move(buf_); }
  // Room for `bytes` more without growing.
  void Reserve(size_t bytes) { buf_.reserve(buf_.size() + bytes); }

  // msgpack::packer's buffer interface.
  void write(const char* data, size_t n) { buf_.append(data, n); }

 private:
  std::string buf_;
};

// One decoded change. Views point into the row's bytes.
struct RedoRecord {
  RedoOp op = RedoOp::kPut;
  uint32_t part = 0;
  crdt::Path path;  // kPut, kErase
  crdt::Atom atom;  // kPut (dot also for kErase)
  crdt::DotContext dots;  // kJoin
  crdt::ReplicaId origin = 0;  // kApplied, kLogAppend, kLogDrop
  uint64_t first = 0;  // kLogAppend; kApplied: the seq; kLogDrop: through
  uint64_t last = 0;   // kLogAppend
  std::string_view name, value;  // kMeta; value also kLogAppend's delta
};

// Decodes row `id`'s blob and calls `visit` for each change in order. Returns
// Corrupt (naming the row) for anything malformed, or a partition >= partitions.
Status ForEachRedo(uint64_t id, std::string_view blob, uint32_t partitions,
                   const std::function<Status(const RedoRecord&)>& visit);

}  // namespace geokv::storage::internal
