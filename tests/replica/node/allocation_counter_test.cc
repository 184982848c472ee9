// The operator new/delete count geokv-server's used memory comes from
// (allocation_counter.cc is linked into this test program too).
#include "replica/node/allocation_counter.h"

#include <malloc.h>

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#ifdef GEOKV_MALLOC_MIMALLOC
#include <mimalloc.h>
#endif

namespace geokv::replica {
namespace {

TEST_CASE("Allocation counter: new adds what it handed out, delete takes it back", "[unit]") {
  const uint64_t before = CountedBytes();
  auto block = std::make_unique<char[]>(10'000'000);
  block[0] = 1;
  const uint64_t held = CountedBytes();
  CHECK(held >= before + 10'000'000);
  // What the block holds: glibc rounds it up to a page, mimalloc to 10 MiB.
  CHECK(held < before + 11'000'000);
  block.reset();
  CHECK(CountedBytes() < before + 100'000);
}

TEST_CASE("Allocation counter: each block counts exactly what malloc_usable_size says", "[unit]") {
  // Whether the counter reads glibc's chunk headers or asks malloc, a block
  // must add and take back the very figure malloc_usable_size gives, or the
  // count drifts. Sizes from the smallest chunk to mmapped blocks.
  for (size_t size : {size_t{1}, size_t{8}, size_t{24}, size_t{25}, size_t{40}, size_t{100},
                      size_t{1000}, size_t{1032}, size_t{4096}, size_t{100'000}, size_t{131'072},
                      size_t{500'000}, size_t{3'000'001}}) {
    INFO("size " << size);
    const uint64_t before = CountedBytes();
    void* block = ::operator new(size);
    const uint64_t held = CountedBytes();
    CHECK(held - before == malloc_usable_size(block));
    ::operator delete(block);
    CHECK(CountedBytes() == before);
  }
}

#ifdef GEOKV_MALLOC_MIMALLOC
TEST_CASE("Allocation counter: linked with mimalloc, every malloc in the process is mimalloc's",
          "[unit]") {
  // The counter then reads mi_usable_size; a block from another malloc would
  // make it read a page header that is not there. SQLite allocates through
  // malloc too: its blocks are counted in UsedMemoryBytes by SQLite itself.
  void* from_new = ::operator new(100);
  void* from_malloc = std::malloc(100'000);
  CHECK(mi_is_in_heap_region(from_new));
  CHECK(mi_is_in_heap_region(from_malloc));
  CHECK(malloc_usable_size(from_new) == mi_usable_size(from_new));
  std::free(from_malloc);
  ::operator delete(from_new);
}
#endif

TEST_CASE("Allocation counter: threads allocating and freeing leave the count where it was",
          "[unit]") {
  const uint64_t before = CountedBytes();
  std::vector<std::thread> threads;
  std::vector<std::vector<std::string>> kept(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&kept, t] {
      std::vector<std::string> strings;
      for (int i = 0; i < 50'000; ++i) strings.emplace_back(100 + i % 50, 'x');
      for (int i = 0; i < 50'000; i += 2) kept[t].push_back(std::move(strings[i]));
    });  // half freed on the allocating thread
  }
  for (auto& t : threads) t.join();
  const uint64_t holding = CountedBytes();
  CHECK(holding >= before + 4 * 25'000 * 100);
  kept.clear();  // the other half, freed on this thread
  CHECK(CountedBytes() < before + 100'000);
  CHECK(UsedMemoryBytes() >= CountedBytes());
}

}  // namespace
}  // namespace geokv::replica
