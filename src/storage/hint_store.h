// HintStore: the hints a node keeps for partitions it holds no replica of
// (hinted handoff, docs/replication.md), durable in a small SQLite database
// of their own (`hints.db` in the data directory), apart from the engine's.
//
// A hint is (id, partition, the EncodeDelta bytes of its delta, the node ids
// that acknowledged it). Add commits before it returns, with
// synchronous=FULL: a hint acknowledged to a client survives a crash or a
// power loss. Acknowledgements and deletions commit with synchronous=NORMAL
// (WAL): a power loss may undo the last ones, and the hint is handed off
// again (replicas answer "already here"). Every hint is also kept in memory (bounded by the limits), so
// the handoff never reads the database.
//
// Schema (version 1):
//   hints(id INTEGER PRIMARY KEY, partition INTEGER, delta BLOB,
//         acked TEXT  -- acknowledgements (node id@epoch, hints.h), one per line
//         , created_ms INTEGER)
//
// Thread-safe: every call takes the store's mutex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"

namespace geokv::storage {

struct HintLimits {
  size_t bytes_max = size_t{64} << 20;  // delta bytes of every hint kept
  size_t count_max = 100'000;           // hints kept
};

struct StoredHint {
  uint64_t id = 0;
  uint32_t partition = 0;
  std::string delta;            // crdt::EncodeDelta bytes
  std::set<std::string> acked;  // acknowledgements (hints.h: node id@epoch)
  uint64_t created_ms = 0;
};

class HintStore {
 public:
  // Opens (creating if missing) the database at `path` and loads every hint
  // it holds (even beyond the limits: they were accepted once). Io/Corrupt if
  // the file cannot be opened or read.
  static Result<std::unique_ptr<HintStore>> Open(const std::string& path, HintLimits limits);
  ~HintStore();
  HintStore(const HintStore&) = delete;
  HintStore& operator=(const HintStore&) = delete;

  // Keeps the hints of one command, (partition, delta bytes) each, all or
  // none (one transaction), durable on return; their ids, ascending (ids
  // grow, never reused while the file lives). Busy (nothing kept) if they
  // would take the store over either limit; Io if the commit failed.
  [[nodiscard]] Result<std::vector<uint64_t>> Add(
      std::vector<std::pair<uint32_t, std::string>> hints, uint64_t now_ms);
  // Records that `node` acknowledged hint `id` (nothing if `id` is gone).
  [[nodiscard]] Status Ack(uint64_t id, const std::string& node);
  // Forgets hint `id` (handed off to every replica).
  [[nodiscard]] Status Remove(uint64_t id);

  // Up to `max` hints with id > after, ascending (copies).
  std::vector<StoredHint> After(uint64_t after, size_t max) const;
  bool Contains(uint64_t id) const;
  // Whether a hint of `partition` is kept.
  bool KeepsFor(uint32_t partition) const;
  size_t count() const;
  size_t bytes() const;
  const HintLimits& limits() const { return limits_; }

 private:
  struct Impl;
  explicit HintStore(HintLimits limits);
  HintLimits limits_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace geokv::storage
