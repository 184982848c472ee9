// Glob-style pattern matching as Redis's MATCH and KEYS use it: * ? [abc] [^a]
// [a-z] and \ to escape. Iterative with a bounded amount of backtracking work
// per call (patterns come from clients).
#pragma once

#include <string_view>

namespace geokv::replica {

bool GlobMatch(std::string_view pattern, std::string_view text);

}  // namespace geokv::replica
