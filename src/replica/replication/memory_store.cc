#include "replica/replication/memory_store.h"

#include <string>

#include "common/assert.h"

namespace geokv::replication {

MemoryReplicaStore::MemoryReplicaStore(uint32_t partitions, size_t log_max_bytes_per_partition)
    : parts_(partitions), log_max_bytes_(log_max_bytes_per_partition) {
  GEOKV_ASSERT(partitions >= 1 && log_max_bytes_per_partition >= 1);
}

MemoryReplicaStore::Part& MemoryReplicaStore::At(uint32_t p) {
  GEOKV_ASSERT(p < parts_.size());
  return parts_[p];
}

crdt::MutableState& MemoryReplicaStore::Partition(uint32_t p) { return At(p).state; }
crdt::MemoryState& MemoryReplicaStore::State(uint32_t p) { return At(p).state; }

uint64_t MemoryReplicaStore::Applied(uint32_t p, crdt::ReplicaId origin) {
  const Part& part = At(p);
  auto it = part.applied.find(origin);
  return it == part.applied.end() ? 0 : it->second;
}

void MemoryReplicaStore::SetApplied(uint32_t p, crdt::ReplicaId origin, uint64_t seq) {
  At(p).applied[origin] = seq;
}

void MemoryReplicaStore::DropFront(Part& part, Log& log) {
  const Entry& front = log.entries.front();
  part.log_bytes -= front.bytes + kLogEntryOverheadBytes;
  log.floor = std::max(log.floor, front.delta.last);
  log.entries.pop_front();
}

void MemoryReplicaStore::AppendLog(uint32_t p, const crdt::Delta& delta, std::string_view encoded) {
  Part& part = At(p);
  GEOKV_ASSERT(delta.first >= 1 && delta.first <= delta.last);
  Log& log = part.logs[delta.origin];
  GEOKV_ASSERT(delta.first > std::max(log.last, log.floor));
  const size_t bytes = encoded.size();
  log.entries.push_back(Entry{delta, bytes});
  log.last = delta.last;
  part.log_bytes += bytes + kLogEntryOverheadBytes;
  // Over the bound: this origin's oldest first (never the entry just added),
  // then other origins'.
  while (part.log_bytes > log_max_bytes_ && log.entries.size() > 1) DropFront(part, log);
  for (auto& [origin, other] : part.logs) {
    while (part.log_bytes > log_max_bytes_ && &other != &log && !other.entries.empty()) {
      DropFront(part, other);
    }
  }
}

Result<std::vector<crdt::Delta>> MemoryReplicaStore::ReadLog(uint32_t p, crdt::ReplicaId origin,
                                                             uint64_t after, size_t max_bytes) {
  Part& part = At(p);
  std::vector<crdt::Delta> out;
  auto it = part.logs.find(origin);
  if (it == part.logs.end()) return out;
  const Log& log = it->second;
  if (after < log.floor) {
    return Status::NotFound("log truncated: partition " + std::to_string(p) + " origin " +
                            std::to_string(origin) + " dropped through " +
                            std::to_string(log.floor));
  }
  size_t total = 0;
  for (const Entry& e : log.entries) {
    if (e.delta.last <= after) continue;
    if (!out.empty() && total + e.bytes > max_bytes) break;
    total += e.bytes;
    out.push_back(e.delta);
  }
  return out;
}

void MemoryReplicaStore::TruncateLog(uint32_t p, crdt::ReplicaId origin, uint64_t through) {
  Part& part = At(p);
  auto it = part.logs.find(origin);
  if (it == part.logs.end()) return;
  Log& log = it->second;
  while (!log.entries.empty() && log.entries.front().delta.last <= through) {
    DropFront(part, log);
  }
}

std::vector<crdt::Delta> MemoryReplicaStore::LogEntries(uint32_t p, crdt::ReplicaId origin) const {
  GEOKV_ASSERT(p < parts_.size());
  std::vector<crdt::Delta> out;
  auto it = parts_[p].logs.find(origin);
  if (it == parts_[p].logs.end()) return out;
  for (const Entry& e : it->second.entries) out.push_back(e.delta);
  return out;
}

uint64_t MemoryReplicaStore::LogFloor(uint32_t p, crdt::ReplicaId origin) const {
  GEOKV_ASSERT(p < parts_.size());
  auto it = parts_[p].logs.find(origin);
  return it == parts_[p].logs.end() ? 0 : it->second.floor;
}

}  // namespace geokv::replication
