// --maxmemory's pieces: Redis's memory units, the sampled used-memory figure,
// its peak and its sampling thread, and the allocator reading it is taken from.
#include "replica/node/memory_limit.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

namespace geokv::replica {
namespace {

TEST_CASE("Maxmemory: sizes parse with Redis's units, anything else is refused", "[unit]") {
  CHECK(ParseMemoryBytes("0") == uint64_t{0});
  CHECK(ParseMemoryBytes("12345") == uint64_t{12345});
  CHECK(ParseMemoryBytes("7b") == uint64_t{7});
  CHECK(ParseMemoryBytes("100k") == uint64_t{100'000});
  CHECK(ParseMemoryBytes("100kb") == uint64_t{102'400});
  CHECK(ParseMemoryBytes("100mb") == uint64_t{104'857'600});  // CONFIG GET in redis-server
  CHECK(ParseMemoryBytes("3M") == uint64_t{3'000'000});
  CHECK(ParseMemoryBytes("2GB") == uint64_t{2} << 30);
  CHECK(ParseMemoryBytes("1g") == uint64_t{1'000'000'000});
  CHECK(ParseMemoryBytes("18446744073709551615") == UINT64_MAX);
  for (const char* bad : {"", "mb", "-1", "+5", "1.5mb", "10 mb", "10tb", "10mbb", "0x10",
                          "18446744073709551616", "18446744073709551615kb", "99999999999gb"}) {
    INFO(bad);
    CHECK_FALSE(ParseMemoryBytes(bad).has_value());
  }
}

TEST_CASE("Maxmemory: over only past a set limit, by the latest sample; the peak stays", "[unit]") {
  auto allocated = std::make_shared<std::atomic<uint64_t>>(1000);
  MemoryLimit limit([allocated] { return allocated->load(); });
  CHECK(limit.used_bytes() == 1000);  // sampled at construction
  CHECK(limit.max_bytes() == 0);
  CHECK_FALSE(limit.over());  // no limit

  limit.set_max_bytes(1000);
  CHECK_FALSE(limit.over());  // equal is not over (Redis: used > maxmemory)
  *allocated = 1001;
  CHECK_FALSE(limit.over());  // not sampled yet
  limit.Sample();
  CHECK(limit.over());
  *allocated = 400;
  limit.Sample();
  CHECK_FALSE(limit.over());  // freed: writes go on again
  CHECK(limit.used_bytes() == 400);
  CHECK(limit.peak_bytes() == 1001);
  limit.set_max_bytes(300);
  CHECK(limit.over());
  limit.set_max_bytes(0);
  CHECK_FALSE(limit.over());
}

TEST_CASE("Maxmemory: a thread samples every period until the limit goes away", "[unit]") {
  auto calls = std::make_shared<std::atomic<int>>(0);
  {
    MemoryLimit limit([calls] { return static_cast<uint64_t>(++*calls); });
    limit.Start(std::chrono::milliseconds(5));
    // 1 at construction, then one per period: 40 in 200 ms on an idle
    // machine, far fewer on a loaded one, so wait for 5 (up to 10 s) rather
    // than for a time.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (*calls < 5 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    CHECK(*calls >= 5);
    CHECK(limit.used_bytes() <= static_cast<uint64_t>(calls->load()));
  }
  const int after = *calls;
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(*calls == after);  // stopped with the limit
}

TEST_CASE("Maxmemory: a slow sample stretches the period to 100x its duration", "[unit]") {
  auto calls = std::make_shared<std::atomic<int>>(0);
  MemoryLimit limit([calls] {
    std::this_thread::sleep_for(std::chrono::milliseconds(4));
    return static_cast<uint64_t>(++*calls);
  });
  CHECK(limit.sample_us() >= 4000);
  limit.Start(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // A period of 1 ms would have sampled ~60 times; 100 x 4 ms = 400 ms: none yet.
  CHECK(*calls == 1);
}

TEST_CASE("Maxmemory: the allocator's figure follows allocations and frees", "[unit]") {
  // Memory that is touched, so that it is really handed out; 64 MiB in blocks
  // below and above glibc's mmap threshold.
  const uint64_t before = AllocatedBytes();
  std::vector<std::unique_ptr<char[]>> blocks;
  for (int i = 0; i < 512; ++i) {
    const size_t size = i % 2 == 0 ? 4096 : 256 * 1024;
    blocks.emplace_back(new char[size]);
    blocks.back()[0] = 1;
  }
  const uint64_t total = 256 * 4096 + 256 * 256 * 1024;
  const uint64_t held = AllocatedBytes();
  CHECK(held >= before + total);
  CHECK(held < before + total + total / 4);
  blocks.clear();
  CHECK(AllocatedBytes() < held - total / 2);
}

}  // namespace
}  // namespace geokv::replica
