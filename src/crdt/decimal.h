// Decimal: exact decimal numbers for float increments (INCRBYFLOAT,
// HINCRBYFLOAT).
//
// Binary floating-point sums depend on the order and grouping of their terms,
// so replicas that add the same increments in different orders (or fold
// different subsets of them) would disagree in the last bits. Increments are
// therefore kept as exact decimals: addition is exact, hence associative and
// commutative, and every replica computes the same bytes. Rounding happens
// only when a value is shown (FormatHuman, as Redis prints long doubles).
//
// Canonical text, used on the wire and in storage: an optional '-', the
// integer digits without leading zeros ("0" if none), then optionally '.' and
// fraction digits without trailing zeros; zero is "0". What clients write is
// bounded by kDecimalDigitsMax; exact sums and differences of such values are
// longer, so canonical text (geokv's own) has the looser bound
// kDecimalCanonicalDigitsMax.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace geokv::crdt {

// Digits (integer and fraction) a decimal may have: enough for every finite
// long double written out in full (about 4933 integer digits, 4951 fraction
// digits for the smallest subnormals) with room for sums of many of them.
inline constexpr size_t kDecimalDigitsMax = 12'000;
// Sums of many such values and differences between them stay far below it.
inline constexpr size_t kDecimalCanonicalDigitsMax = size_t{1} << 20;

class Decimal {
 public:
  Decimal() = default;  // zero
  static Decimal FromInt64(int64_t value);

  // A number as Redis's string2ld reads plain decimals: [+-] digits [. digits]
  // [e[+-]digits], at least one mantissa digit, no spaces. Hexadecimal, inf and
  // nan are not decimals (nullopt), nor is anything past kDecimalDigitsMax.
  static std::optional<Decimal> Parse(std::string_view text);
  // Canonical text only (see above), up to kDecimalCanonicalDigitsMax digits;
  // anything else is nullopt.
  static std::optional<Decimal> ParseCanonical(std::string_view text);

  std::string ToCanonical() const;
  // As Redis prints a long double for humans ("%.17Lf", then trailing zeros
  // and a trailing '.' trimmed, "-0" as "0"), rounding half to even at the
  // 17th fraction digit.
  std::string FormatHuman() const;
  // The value if it is an integer within int64.
  std::optional<int64_t> ToInt64() const;

  friend Decimal operator+(const Decimal& a, const Decimal& b);
  friend Decimal operator-(const Decimal& a, const Decimal& b);
  bool operator==(const Decimal&) const = default;

 private:
  void Normalize();
  static std::optional<Decimal> Parse(std::string_view text, size_t digits_max);

  bool negative_ = false;
  std::string digits_;  // magnitude = digits_ * 10^-scale_; no leading zeros; "" is zero
  size_t scale_ = 0;    // fraction digits; digits_ has no trailing zero within them
};

}  // namespace geokv::crdt
