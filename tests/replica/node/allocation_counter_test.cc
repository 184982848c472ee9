// The operator new/delete count geokv-server's used memory comes from
// (allocation_counter.cc is linked into this test program too).
#include "replica/node/allocation_counter.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace geokv::replica {
namespace {

TEST_CASE("Allocation counter: new adds what it handed out, delete takes it back", "[unit]") {
  const uint64_t before = CountedBytes();
  auto block = std::make_unique<char[]>(10'000'000);
  block[0] = 1;
  const uint64_t held = CountedBytes();
  CHECK(held >= before + 10'000'000);
  CHECK(held < before + 10'100'000);
  block.reset();
  CHECK(CountedBytes() < before + 100'000);
}

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
