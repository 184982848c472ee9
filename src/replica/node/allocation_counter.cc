#include "replica/node/allocation_counter.h"

#include <malloc.h>
#include <sqlite3.h>

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

namespace {

constexpr unsigned kShards = 16;

struct alignas(64) Shard {
  std::atomic<int64_t> bytes{0};
};

// Constant-initialized: usable by allocations before main and after exit.
Shard shards[kShards];
std::atomic<unsigned> next_shard{0};

Shard& ThisThreadsShard() {
  // Constant-initialized thread_local (no TLS init function, no allocation).
  thread_local unsigned shard = kShards;
  if (shard == kShards) shard = next_shard.fetch_add(1, std::memory_order_relaxed) % kShards;
  return shards[shard];
}

}  // namespace

namespace geokv::replica {

uint64_t CountedBytes() {
  int64_t sum = 0;
  for (const Shard& s : shards) sum += s.bytes.load(std::memory_order_relaxed);
  // A block allocated on one shard and freed on another can make a partial
  // sum dip below zero for a moment.
  return sum > 0 ? static_cast<uint64_t>(sum) : 0;
}

uint64_t UsedMemoryBytes() { return CountedBytes() + static_cast<uint64_t>(sqlite3_memory_used()); }

}  // namespace geokv::replica

// As the standard's: retry through the new-handler, else throw.
void* operator new(std::size_t size) {
  for (;;) {
    if (void* p = std::malloc(size == 0 ? 1 : size)) {
      ThisThreadsShard().bytes.fetch_add(static_cast<int64_t>(malloc_usable_size(p)),
                                         std::memory_order_relaxed);
      return p;
    }
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
  }
}

void operator delete(void* p) noexcept {
  if (p == nullptr) return;
  ThisThreadsShard().bytes.fetch_sub(static_cast<int64_t>(malloc_usable_size(p)),
                                     std::memory_order_relaxed);
  std::free(p);
}

// Every other non-aligned form, through the two above: libstdc++ would route
// them there, but a sanitizer's runtime replaces each form with its own, and
// a block from its nothrow new must not reach our delete.
void* operator new[](std::size_t size) { return ::operator new(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return ::operator new(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return ::operator new(size, std::nothrow);
}
void operator delete[](void* p) noexcept { ::operator delete(p); }
void operator delete(void* p, std::size_t) noexcept { ::operator delete(p); }
void operator delete[](void* p, std::size_t) noexcept { ::operator delete(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { ::operator delete(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { ::operator delete(p); }
