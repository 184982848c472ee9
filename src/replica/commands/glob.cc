#include "replica/commands/glob.h"

namespace geokv::replica {

namespace {

// Matches one character class starting at pattern[p] == '['; sets *next to the
// index after the closing ']' (or the end).
bool MatchClass(std::string_view pattern, size_t p, char c, size_t* next) {
  ++p;
  bool negate = false;
  if (p < pattern.size() && pattern[p] == '^') {
    negate = true;
    ++p;
  }
  bool matched = false;
  while (p < pattern.size() && pattern[p] != ']') {
    if (pattern[p] == '\\' && p + 1 < pattern.size()) {
      if (pattern[p + 1] == c) matched = true;
      p += 2;
    } else if (p + 2 < pattern.size() && pattern[p + 1] == '-' && pattern[p + 2] != ']') {
      char lo = pattern[p], hi = pattern[p + 2];
      if (lo > hi) std::swap(lo, hi);
      if (c >= lo && c <= hi) matched = true;
      p += 3;
    } else {
      if (pattern[p] == c) matched = true;
      ++p;
    }
  }
  *next = p < pattern.size() ? p + 1 : p;
  return matched != negate;
}

}  // namespace

bool GlobMatch(std::string_view pattern, std::string_view text) {
  // Classic two-pointer matching with a single backtrack point for the last
  // '*': linear in |pattern| * |text| at worst, no recursion.
  size_t p = 0, t = 0;
  size_t star_p = std::string_view::npos, star_t = 0;
  while (t < text.size()) {
    if (p < pattern.size()) {
      const char pc = pattern[p];
      if (pc == '*') {
        star_p = ++p;
        star_t = t;
        continue;
      }
      if (pc == '?') {
        ++p;
        ++t;
        continue;
      }
      if (pc == '[') {
        size_t next = 0;
        if (MatchClass(pattern, p, text[t], &next)) {
          p = next;
          ++t;
          continue;
        }
      } else if (pc == '\\' && p + 1 < pattern.size()) {
        if (pattern[p + 1] == text[t]) {
          p += 2;
          ++t;
          continue;
        }
      } else if (pc == text[t]) {
        ++p;
        ++t;
        continue;
      }
    }
    if (star_p == std::string_view::npos) return false;
    p = star_p;
    t = ++star_t;
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace geokv::replica
