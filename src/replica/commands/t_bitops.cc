// Bit commands on strings: SETBIT GETBIT BITCOUNT BITPOS BITOP (Redis's
// bitops.c). A string is a register: SETBIT and BITOP write a new register
// value, so concurrent ones resolve as concurrent SETs do (the greater
// (HLC, replica) wins on the whole value; docs/crdt.md).
#include <algorithm>

#include "crdt/key_type.h"
#include "replica/commands/command_util.h"
#include "replica/commands/handlers.h"

namespace geokv::replica {

namespace {

using crdt::ValueType;

// A bit offset as Redis accepts it: 0 <= offset < 8 * kStringBytesMax.
std::optional<uint64_t> BitOffsetArg(CommandContext& ctx, const std::string& arg) {
  auto offset = crdt::ParseInt64(arg);
  if (!offset || *offset < 0 || static_cast<uint64_t>(*offset >> 3) >= kStringBytesMax) {
    ctx.reply.Error(errors::kBitOffset);
    return std::nullopt;
  }
  return static_cast<uint64_t>(*offset);
}

int BitAt(const std::string& s, uint64_t offset) {
  const uint64_t byte = offset >> 3;
  if (byte >= s.size()) return 0;
  return (static_cast<uint8_t>(s[byte]) >> (7 - (offset & 7))) & 1;
}

// A [start, end] range in bytes or (BIT) bits over a string of `length` bytes,
// normalized as Redis does (negative from the end, clamped). Returns the range
// in bits; empty when first > last.
struct BitRange {
  int64_t first = 0;
  int64_t last = -1;
};
BitRange NormalizeRange(int64_t start, int64_t end, int64_t length, bool in_bits) {
  const int64_t total = in_bits ? length * 8 : length;
  if (start < 0) start = total + start;
  if (end < 0) end = total + end;
  if (start < 0) start = 0;
  if (end < 0) end = 0;
  if (end >= total) end = total - 1;
  if (start > end) return {};
  return in_bits ? BitRange{start, end} : BitRange{start * 8, end * 8 + 7};
}

// Parses the optional BYTE|BIT unit; false after a syntax error.
bool UnitArg(CommandContext& ctx, const Args& args, size_t at, bool* in_bits) {
  *in_bits = false;
  if (args.size() <= at) return true;
  if (EqualsIgnoreCase(args[at], "bit")) {
    *in_bits = true;
  } else if (!EqualsIgnoreCase(args[at], "byte")) {
    ctx.reply.Error(errors::kSyntax);
    return false;
  }
  return true;
}

}  // namespace

// SETBIT key offset value
void CmdSetBit(CommandContext& ctx, const Args& args) {
  auto offset = BitOffsetArg(ctx, args[2]);
  if (!offset) return;
  auto bit = crdt::ParseInt64(args[3]);
  if (!bit || (*bit & ~int64_t{1}) != 0) {
    return ctx.reply.Error(errors::kBitValue);
  }
  if (!CheckType(ctx, args[1], ValueType::kString)) return;
  std::string value = ReadString(ctx, args[1]);
  const uint64_t byte = *offset >> 3;
  if (value.size() <= byte) value.resize(byte + 1, '\0');
  const int old = BitAt(value, *offset);
  const uint8_t mask = static_cast<uint8_t>(1u << (7 - (*offset & 7)));
  value[byte] = static_cast<char>(*bit ? (static_cast<uint8_t>(value[byte]) | mask)
                                       : (static_cast<uint8_t>(value[byte]) & ~mask));
  ReplaceString(ctx, args[1], std::move(value), crdt::TtlEffect::kKeep);
  ctx.reply.Integer(old);
}

// GETBIT key offset
void CmdGetBit(CommandContext& ctx, const Args& args) {
  auto offset = BitOffsetArg(ctx, args[2]);
  if (!offset || !CheckType(ctx, args[1], ValueType::kString)) return;
  ctx.reply.Integer(BitAt(ReadString(ctx, args[1]), *offset));
}

// BITCOUNT key [start end [BYTE|BIT]]
void CmdBitCount(CommandContext& ctx, const Args& args) {
  auto type = CheckType(ctx, args[1], ValueType::kString);
  if (!type) return;
  if (*type == ValueType::kNone) return ctx.reply.Integer(0);  // Redis: before the arguments
  const std::string value = ReadString(ctx, args[1]);
  const int64_t length = static_cast<int64_t>(value.size());
  BitRange range{0, length * 8 - 1};
  if (args.size() == 4 || args.size() == 5) {
    auto start = IntegerArg(ctx, args[2]);
    if (!start) return;
    auto end = IntegerArg(ctx, args[3]);
    if (!end) return;
    if (*start < 0 && *end < 0 && *start > *end) return ctx.reply.Integer(0);
    bool in_bits = false;
    if (!UnitArg(ctx, args, 4, &in_bits)) return;
    range = NormalizeRange(*start, *end, length, in_bits);
  } else if (args.size() != 2) {
    return ctx.reply.Error(errors::kSyntax);
  }
  int64_t count = 0;
  for (int64_t bit = range.first; bit <= range.last;) {
    if ((bit & 7) == 0 && bit + 7 <= range.last) {
      count += __builtin_popcount(static_cast<uint8_t>(value[bit >> 3]));
      bit += 8;
    } else {
      count += BitAt(value, static_cast<uint64_t>(bit));
      ++bit;
    }
  }
  ctx.reply.Integer(count);
}

// BITPOS key bit [start [end [BYTE|BIT]]]
void CmdBitPos(CommandContext& ctx, const Args& args) {
  auto bit = IntegerArg(ctx, args[2]);
  if (!bit) return;
  if (*bit != 0 && *bit != 1) return ctx.reply.Error(errors::kBitArgument);
  auto type = CheckType(ctx, args[1], ValueType::kString);
  if (!type) return;
  // A missing key is an infinite run of 0 bits.
  if (*type == ValueType::kNone) return ctx.reply.Integer(*bit ? -1 : 0);
  const std::string value = ReadString(ctx, args[1]);
  const int64_t length = static_cast<int64_t>(value.size());
  BitRange range{0, length * 8 - 1};
  bool end_given = false;
  if (args.size() >= 4 && args.size() <= 6) {
    auto start = IntegerArg(ctx, args[3]);
    if (!start) return;
    bool in_bits = false;
    if (!UnitArg(ctx, args, 5, &in_bits)) return;
    int64_t end = in_bits ? length * 8 - 1 : length - 1;
    if (args.size() >= 5) {
      auto given = IntegerArg(ctx, args[4]);
      if (!given) return;
      end = *given;
      end_given = true;
    }
    range = NormalizeRange(*start, end, length, in_bits);
  } else if (args.size() != 3) {
    return ctx.reply.Error(errors::kSyntax);
  }
  if (range.first > range.last) return ctx.reply.Integer(-1);
  for (int64_t i = range.first; i <= range.last; ++i) {
    if (BitAt(value, static_cast<uint64_t>(i)) == *bit) return ctx.reply.Integer(i);
  }
  // No clear bit in the string: the bits past its end are clear, unless the
  // client bounded the range.
  ctx.reply.Integer(*bit == 0 && !end_given ? range.last + 1 : -1);
}

// BITOP AND|OR|XOR|NOT destkey key [key ...]
void CmdBitOp(CommandContext& ctx, const Args& args) {
  enum class Op { kAnd, kOr, kXor, kNot };
  Op op;
  if (EqualsIgnoreCase(args[1], "and")) {
    op = Op::kAnd;
  } else if (EqualsIgnoreCase(args[1], "or")) {
    op = Op::kOr;
  } else if (EqualsIgnoreCase(args[1], "xor")) {
    op = Op::kXor;
  } else if (EqualsIgnoreCase(args[1], "not")) {
    op = Op::kNot;
  } else {
    return ctx.reply.Error(errors::kSyntax);
  }
  if (op == Op::kNot && args.size() != 4) {
    return ctx.reply.Error(errors::kBitOpNot);
  }
  std::vector<std::string> sources;
  size_t longest = 0;
  for (size_t i = 3; i < args.size(); ++i) {
    if (!CheckType(ctx, args[i], ValueType::kString)) return;
    sources.push_back(ReadString(ctx, args[i]));
    longest = std::max(longest, sources.back().size());
  }
  std::string result(longest, '\0');
  for (size_t j = 0; j < longest; ++j) {
    const auto byte = [&](size_t s) {
      return j < sources[s].size() ? static_cast<uint8_t>(sources[s][j]) : uint8_t{0};
    };
    uint8_t out = byte(0);
    for (size_t s = 1; s < sources.size(); ++s) {
      out = op == Op::kAnd ? (out & byte(s)) : op == Op::kOr ? (out | byte(s)) : (out ^ byte(s));
    }
    result[j] = static_cast<char>(op == Op::kNot ? static_cast<uint8_t>(~out) : out);
  }
  if (longest == 0) {
    Mutate(ctx, args[2], [&](crdt::DeltaBuilder& b) { crdt::DeleteKey(b, args[2]); });
  } else {
    ReplaceString(ctx, args[2], std::move(result), crdt::TtlEffect::kClear);
  }
  ctx.reply.Integer(static_cast<int64_t>(longest));
}

}  // namespace geokv::replica
