#include "replica/commands/glob.h"

#include <catch2/catch.hpp>

namespace geokv::replica {
namespace {

TEST_CASE("Glob: Redis MATCH patterns", "[unit]") {
  CHECK(GlobMatch("*", ""));
  CHECK(GlobMatch("user:*", "user:42"));
  CHECK_FALSE(GlobMatch("user:*", "cart:42"));
  CHECK(GlobMatch("h?llo", "hello"));
  CHECK_FALSE(GlobMatch("h?llo", "hllo"));
  CHECK(GlobMatch("h[ae]llo", "hallo"));
  CHECK_FALSE(GlobMatch("h[ae]llo", "hillo"));
  CHECK(GlobMatch("h[^e]llo", "hallo"));
  CHECK_FALSE(GlobMatch("h[^e]llo", "hello"));
  CHECK(GlobMatch("h[a-c]llo", "hbllo"));
  CHECK(GlobMatch("a\\*b", "a*b"));
  CHECK_FALSE(GlobMatch("a\\*b", "axb"));
  CHECK(GlobMatch("*a*b*c*", "xxaxxbxxcxx"));
  CHECK_FALSE(GlobMatch("*a*b*c*", "xxaxxcxxbxx"));
  // A pathological pattern finishes quickly (no exponential backtracking).
  CHECK_FALSE(GlobMatch("*a*a*a*a*a*a*a*a*a*b", std::string(5000, 'a')));
}

}  // namespace
}  // namespace geokv::replica
