#include "replica/node/allocation_counter.h"

#include <malloc.h>
#include <sqlite3.h>

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <new>

#ifdef GEOKV_MALLOC_MIMALLOC
#include <mimalloc.h>
#endif

namespace {

constexpr unsigned kShards = 16;

struct alignas(64) Shard {
  std::atomic<int64_t> bytes{0};
};

// Constant-initialized: usable by allocations before main and after exit.
Shard shards[kShards];
std::atomic<unsigned> next_shard{0};

// Where the usable size of a block comes from; chosen by a probe at first
// use, since what malloc is depends on how the program was linked.
enum class SizeSource : int {
  kUnprobed,
  // mimalloc (GEOKV_MALLOC_MIMALLOC: linked into geokv-server, it replaces
  // malloc for the whole process): mi_usable_size, the same figure
  // malloc_usable_size gives, read from the block's page header (mostly in
  // cache) without a lookup.
  kMimalloc,
  // glibc's chunk header, below.
  kGlibcHeader,
  // malloc_usable_size: any other malloc (a preloaded or debugging one).
  kMallocUsableSize,
};

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

// What a block from glibc's malloc holds, as malloc_usable_size(p) says, read
// from its chunk header: the size word before the block (low 3 bits flags,
// 2 = mmapped), less the header's share. malloc_usable_size gives the same
// figure but also reads the next chunk's header (whether this one is in use),
// one more cache line per new and delete: 3.6% of a profile under SET -P 16
// (docs/benchmarks.md). Used only once the probe found it equal to
// malloc_usable_size for small, medium and mmapped blocks, and never in a
// sanitizer build (whose malloc has no such header, and where reading before
// a block is an error).
size_t HeaderUsableSize(const void* p) {
  // The header lies outside the block the compiler knows of: hide where the
  // address came from (else -Warray-bounds, rightly for portable code).
  auto address = reinterpret_cast<uintptr_t>(p) - sizeof(size_t);
  asm("" : "+r"(address));
  size_t word;
  std::memcpy(&word, reinterpret_cast<const void*>(address), sizeof(word));
  const size_t chunk = word & ~size_t{7};
  return (word & 2) != 0 ? chunk - 2 * sizeof(size_t) : chunk - sizeof(size_t);
}

constexpr size_t kProbeSizes[] = {1, 24, 25, 100, 1000, 5000, 70'000, 300'000, 5'000'000};

#ifdef GEOKV_MALLOC_MIMALLOC
// Whether malloc is mimalloc's (it is unless something preloaded another).
bool ProbeMimalloc() {
  void* block = std::malloc(1);
  // GCC takes the const void* parameter for a read of the new block's
  // uninitialized byte (-Wmaybe-uninitialized); it is only an address.
  asm("" : "+r"(block));
  const bool ours = block != nullptr && mi_is_in_heap_region(block);
  std::free(block);
  return ours;
}
#endif

bool ProbeHeaders() {
  if (kSanitized) return false;
  void* blocks[std::size(kProbeSizes)];
  bool same = true;
  for (size_t i = 0; i < std::size(kProbeSizes); ++i) {
    blocks[i] = std::malloc(kProbeSizes[i]);
    same = same && blocks[i] != nullptr &&
           HeaderUsableSize(blocks[i]) == malloc_usable_size(blocks[i]);
  }
  for (void* b : blocks) std::free(b);
  return same;
}

SizeSource Probe() {
#ifdef GEOKV_MALLOC_MIMALLOC
  if (ProbeMimalloc()) return SizeSource::kMimalloc;
#endif
  return ProbeHeaders() ? SizeSource::kGlibcHeader : SizeSource::kMallocUsableSize;
}

std::atomic<SizeSource> size_source{SizeSource::kUnprobed};

size_t UsableSize(void* p) {
  SizeSource source = size_source.load(std::memory_order_relaxed);
  if (source == SizeSource::kUnprobed) {
    source = Probe();
    size_source.store(source, std::memory_order_relaxed);
  }
  switch (source) {
#ifdef GEOKV_MALLOC_MIMALLOC
    case SizeSource::kMimalloc:
      return mi_usable_size(p);
#endif
    case SizeSource::kGlibcHeader:
      return HeaderUsableSize(p);
    default:
      return malloc_usable_size(p);
  }
}

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
      ThisThreadsShard().bytes.fetch_add(static_cast<int64_t>(UsableSize(p)),
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
  ThisThreadsShard().bytes.fetch_sub(static_cast<int64_t>(UsableSize(p)),
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
