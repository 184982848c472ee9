// The bytes C++ code holds from operator new, counted as it allocates (as
// Redis's zmalloc counts used_memory), so that reading the figure costs a few
// loads whatever the heap looks like.
//
// Why not glibc's mallinfo2 (memory_limit.h's default): it walks every free
// chunk of every arena under that arena's lock, and a heap that a key-value
// store churns has many: 1M keys in a std::unordered_map, after 1M random
// overwrites, 99 ms per call (156k free chunks); after 500k deletes more,
// 654 ms (1.2M fastbin chunks), while every thread allocating in the arena
// waits (glibc 2.36, this project's VM).
//
// allocation_counter.cc replaces the global operator new and delete, every
// non-aligned form (array, nothrow, sized: a sanitizer runtime replaces each
// form, so none may be left to it), of the program it is linked into; the
// aligned forms stay the library's, uncounted, and pair among themselves.
// Link it into executables only (geokv-server, a test), never into a
// library. Each allocation adds its malloc_usable_size to one of 16
// cache-line-sized counters (a thread's own, chosen once), each delete
// subtracts it (the same figure read from mimalloc's page header where
// geokv-server links mimalloc, GEOKV_MALLOC in CMakeLists.txt, or from glibc's
// chunk header where a probe at first use shows it equal:
// allocation_counter.cc).
#pragma once

#include <cstdint>

namespace geokv::replica {

// Bytes handed out by operator new and not yet deleted, over all threads.
// Thread-safe; a sum of 16 relaxed loads (an allocation racing with it may or
// may not be in it).
uint64_t CountedBytes();

// geokv-server's used memory, what --maxmemory limits: CountedBytes plus what
// SQLite holds from its allocator (sqlite3_memory_used: its page cache and
// statements). Thread-safe and cheap.
uint64_t UsedMemoryBytes();

}  // namespace geokv::replica
