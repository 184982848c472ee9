// GEOKV_ASSERT: invariant checks that stay on in release builds.
//
// A failed assertion means the program's own logic is wrong (never bad input:
// bad input gets a Status). Continuing could corrupt replicated state, so the
// process prints where it failed and aborts.
#pragma once

#include <cstdio>
#include <cstdlib>

#define GEOKV_ASSERT(cond)                                                              \
  do {                                                                                  \
    if (!(cond)) [[unlikely]] {                                                         \
      std::fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)
