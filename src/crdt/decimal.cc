#include "crdt/decimal.h"

#include <algorithm>

#include "common/assert.h"

namespace geokv::crdt {

namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Magnitudes as digit strings of equal length (a >= b for Subtract).
std::string AddDigits(const std::string& a, const std::string& b) {
  std::string out(a.size() + 1, '0');
  int carry = 0;
  for (size_t i = a.size(); i-- > 0;) {
    const int d = (a[i] - '0') + (b[i] - '0') + carry;
    out[i + 1] = static_cast<char>('0' + d % 10);
    carry = d / 10;
  }
  out[0] = static_cast<char>('0' + carry);
  return out;
}

std::string SubtractDigits(const std::string& a, const std::string& b) {
  std::string out(a.size(), '0');
  int borrow = 0;
  for (size_t i = a.size(); i-- > 0;) {
    int d = (a[i] - '0') - (b[i] - '0') - borrow;
    borrow = d < 0 ? 1 : 0;
    out[i] = static_cast<char>('0' + (d + 10) % 10);
  }
  GEOKV_ASSERT(borrow == 0);
  return out;
}

}  // namespace

Decimal Decimal::FromInt64(int64_t value) {
  Decimal d;
  d.negative_ = value < 0;
  const uint64_t magnitude =
      value < 0 ? uint64_t{0} - static_cast<uint64_t>(value) : static_cast<uint64_t>(value);
  d.digits_ = std::to_string(magnitude);
  d.Normalize();
  return d;
}

void Decimal::Normalize() {
  size_t lead = 0;
  while (lead < digits_.size() && digits_[lead] == '0') ++lead;
  digits_.erase(0, lead);
  while (scale_ > 0 && !digits_.empty() && digits_.back() == '0') {
    digits_.pop_back();
    --scale_;
  }
  if (digits_.empty()) {
    negative_ = false;
    scale_ = 0;
  }
  // Fraction digits beyond the stored ones are leading zeros of the fraction.
}

std::optional<Decimal> Decimal::Parse(std::string_view text) {
  return Parse(text, kDecimalDigitsMax);
}

std::optional<Decimal> Decimal::Parse(std::string_view text, size_t digits_max) {
  // Text longer than twice the digits (plus sign, point, exponent) cannot fit.
  if (text.empty() || text.size() > 2 * digits_max + 16) return std::nullopt;
  size_t i = 0;
  Decimal d;
  if (text[i] == '+' || text[i] == '-') d.negative_ = text[i++] == '-';
  size_t mantissa_digits = 0;
  while (i < text.size() && IsDigit(text[i])) {
    d.digits_ += text[i++];
    ++mantissa_digits;
  }
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && IsDigit(text[i])) {
      d.digits_ += text[i++];
      ++d.scale_;
      ++mantissa_digits;
    }
  }
  if (mantissa_digits == 0) return std::nullopt;
  int64_t exponent = 0;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    bool negative_exponent = false;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) negative_exponent = text[i++] == '-';
    if (i == text.size()) return std::nullopt;
    while (i < text.size() && IsDigit(text[i])) {
      exponent = std::min<int64_t>(exponent * 10 + (text[i++] - '0'), 1'000'000);
    }
    if (negative_exponent) exponent = -exponent;
  }
  if (i != text.size()) return std::nullopt;
  d.Normalize();
  if (d.digits_.empty()) return d;  // zero, whatever the exponent
  // Apply the exponent: shift the decimal point.
  if (exponent > 0) {
    const auto shift = static_cast<size_t>(exponent);
    if (shift <= d.scale_) {
      d.scale_ -= shift;
    } else {
      if (shift - d.scale_ + d.digits_.size() > digits_max) return std::nullopt;
      d.digits_.append(shift - d.scale_, '0');
      d.scale_ = 0;
    }
  } else if (exponent < 0) {
    d.scale_ += static_cast<size_t>(-exponent);
  }
  if (std::max(d.digits_.size(), d.scale_) > digits_max) return std::nullopt;
  d.Normalize();
  return d;
}

std::optional<Decimal> Decimal::ParseCanonical(std::string_view text) {
  auto d = Parse(text, kDecimalCanonicalDigitsMax);
  if (!d || d->ToCanonical() != text) return std::nullopt;
  return d;
}

std::string Decimal::ToCanonical() const {
  if (digits_.empty()) return "0";
  std::string padded = digits_;
  if (padded.size() <= scale_) padded.insert(0, scale_ - padded.size() + 1, '0');
  std::string out = negative_ ? "-" : "";
  out += padded.substr(0, padded.size() - scale_);
  if (scale_ > 0) out += "." + padded.substr(padded.size() - scale_);
  return out;
}

std::string Decimal::FormatHuman() const {
  constexpr size_t kFractionDigits = 17;
  Decimal rounded = *this;
  if (scale_ > kFractionDigits) {
    // Round half to even at the 17th fraction digit.
    const size_t cut = scale_ - kFractionDigits;  // digits dropped
    std::string padded = digits_;
    if (padded.size() < scale_ + 1) padded.insert(0, scale_ + 1 - padded.size(), '0');
    std::string kept = padded.substr(0, padded.size() - cut);
    const std::string dropped = padded.substr(padded.size() - cut);
    const bool above_half =
        dropped[0] > '5' ||
        (dropped[0] == '5' && dropped.find_first_not_of('0', 1) != std::string::npos);
    const bool half = dropped[0] == '5' && dropped.find_first_not_of('0', 1) == std::string::npos;
    const bool odd = (kept.back() - '0') % 2 == 1;
    if (above_half || (half && odd)) {
      kept = AddDigits(kept, std::string(kept.size() - 1, '0') + "1");
    }
    rounded.digits_ = kept;
    rounded.scale_ = kFractionDigits;
    rounded.Normalize();
  }
  return rounded.ToCanonical();  // trimmed already; a rounded-away "-0" is "0"
}

std::optional<int64_t> Decimal::ToInt64() const {
  if (scale_ != 0 || digits_.size() > 19) return std::nullopt;
  if (digits_.empty()) return 0;
  const unsigned long long magnitude = std::stoull(digits_);
  if (negative_) {
    if (magnitude > static_cast<unsigned long long>(INT64_MAX) + 1) return std::nullopt;
    return static_cast<int64_t>(0 - magnitude);
  }
  if (magnitude > static_cast<unsigned long long>(INT64_MAX)) return std::nullopt;
  return static_cast<int64_t>(magnitude);
}

Decimal operator+(const Decimal& a, const Decimal& b) {
  // Align the scales, then pad the magnitudes to one length.
  const size_t scale = std::max(a.scale_, b.scale_);
  std::string x = a.digits_ + std::string(scale - a.scale_, '0');
  std::string y = b.digits_ + std::string(scale - b.scale_, '0');
  const size_t width = std::max(x.size(), y.size());
  x.insert(0, width - x.size(), '0');
  y.insert(0, width - y.size(), '0');
  Decimal sum;
  sum.scale_ = scale;
  if (a.negative_ == b.negative_) {
    sum.digits_ = AddDigits(x, y);
    sum.negative_ = a.negative_;
  } else if (x >= y) {
    sum.digits_ = SubtractDigits(x, y);
    sum.negative_ = a.negative_;
  } else {
    sum.digits_ = SubtractDigits(y, x);
    sum.negative_ = b.negative_;
  }
  sum.Normalize();
  return sum;
}

Decimal operator-(const Decimal& a, const Decimal& b) {
  Decimal negated = b;
  if (!negated.digits_.empty()) negated.negative_ = !negated.negative_;
  return a + negated;
}

}  // namespace geokv::crdt
