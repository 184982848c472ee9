#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "seed.h"

namespace geokv::test {

namespace {
uint64_t ChooseSeed() {
  if (const char* env = std::getenv("GEOKV_SEED"); env != nullptr && *env != '\0') {
    return std::strtoull(env, nullptr, 10);
  }
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device();
}
}  // namespace

uint64_t TestSeed() {
  static const uint64_t seed = ChooseSeed();
  return seed;
}

int CaseCount(int fallback) {
  if (const char* env = std::getenv("GEOKV_CASES"); env != nullptr && *env != '\0') {
    return std::atoi(env);
  }
  return fallback;
}

}  // namespace geokv::test

int main(int argc, char* argv[]) {
  std::printf("GEOKV_SEED=%llu (set it in the environment to replay this run)\n",
              static_cast<unsigned long long>(geokv::test::TestSeed()));
  return Catch::Session().run(argc, argv);
}
