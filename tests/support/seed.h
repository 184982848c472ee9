// The seed of this test run.
//
// Every randomized test derives its randomness from TestSeed(). It is
// GEOKV_SEED from the environment when set (to replay a failure), otherwise
// drawn fresh once per process; test_main prints it at start, and tests put it
// in their failure messages as "GEOKV_SEED=<n>".
#pragma once

#include <cstdint>

namespace geokv::test {

uint64_t TestSeed();

// How many random cases a property test runs: GEOKV_CASES when set, else
// `fallback`. Long on-demand runs raise it.
int CaseCount(int fallback);

}  // namespace geokv::test
