#include "replica/commands/command_util.h"

#include <xxhash.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>

#include "common/assert.h"
#include "common/prng.h"
#include "crdt/scalar.h"

namespace geokv::replica {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const char x = (a[i] >= 'A' && a[i] <= 'Z') ? static_cast<char>(a[i] + 32) : a[i];
    const char y = (b[i] >= 'A' && b[i] <= 'Z') ? static_cast<char>(b[i] + 32) : b[i];
    if (x != y) return false;
  }
  return true;
}

std::optional<int64_t> IntegerArg(RespWriter& reply, const std::string& arg) {
  auto value = crdt::ParseInt64(arg);
  if (!value) reply.Error(errors::kNotInteger);
  return value;
}

crdt::LiveView StateOf(CommandContext& ctx, std::string_view key) {
  return crdt::LiveView(ctx.partitions.State(ctx.partitions.PartitionOf(key)),
                        ctx.partitions.NowMs());
}

void ForEachLiveKey(CommandContext& ctx, uint32_t p,
                    const std::function<bool(const std::string&)>& visit) {
  const int64_t now_ms = ctx.partitions.NowMs();
  const crdt::MutableState& state = ctx.partitions.State(p);
  ctx.partitions.ForEachKey(
      p, [&](const std::string& key) { return crdt::IsDead(state, key, now_ms) || visit(key); });
}

void RemoveIfDead(CommandContext& ctx, uint32_t partition, std::string_view key) {
  crdt::DeltaBuilder builder(ctx.partitions.State(partition), ctx.partitions.self());
  if (crdt::RemoveIfDead(builder, key, ctx.partitions.NowMs())) {
    ctx.partitions.Commit(partition, std::move(builder).Finish());
  }
}

void DeleteIfEmptied(CommandContext& ctx, std::string_view key) {
  RemoveIfDead(ctx, ctx.partitions.PartitionOf(key), key);
}

std::optional<crdt::ValueType> CheckType(CommandContext& ctx, std::string_view key,
                                         crdt::ValueType expected) {
  const crdt::ValueType type = crdt::VisibleType(StateOf(ctx, key), key);
  if (type != expected && type != crdt::ValueType::kNone) {
    ctx.reply.Error(errors::kWrongType);
    return std::nullopt;
  }
  return type;
}

std::optional<int64_t> CheckedIncrement(CommandContext& ctx, const crdt::ScalarValue& current,
                                        int64_t by, std::string_view not_integer) {
  int64_t result = 0;
  switch (crdt::IncrementedValue(current, by, &result)) {
    case crdt::IncrementError::kNotInteger:
      ctx.reply.Error(not_integer);
      return std::nullopt;
    case crdt::IncrementError::kOverflow:
      ctx.reply.Error(errors::kOverflow);
      return std::nullopt;
    case crdt::IncrementError::kNone:
      break;
  }
  return result;
}

namespace {

// Redis's string2ld: strtold over the whole text (a NUL inside ends it
// early: refused), no leading space, no overflow or total underflow, no NaN.
std::optional<long double> ParseLongDouble(std::string_view text) {
  constexpr size_t kLongDoubleCharsMax = 5 * 1024;  // Redis's MAX_LONG_DOUBLE_CHARS
  if (text.empty() || text.size() >= kLongDoubleCharsMax) return std::nullopt;
  const std::string buffer(text);
  errno = 0;
  char* end = nullptr;
  const long double value = std::strtold(buffer.c_str(), &end);
  if (std::isspace(static_cast<unsigned char>(buffer[0])) ||
      end != buffer.c_str() + buffer.size() ||
      (errno == ERANGE && (value == HUGE_VALL || value == -HUGE_VALL || value == 0)) ||
      std::isnan(value)) {
    return std::nullopt;
  }
  return value;
}

// Redis's ld2string(..., LD_STR_HUMAN).
std::string FormatLongDouble(long double value) {
  char buffer[5 * 1024 + 32];
  int length = std::snprintf(buffer, sizeof(buffer), "%.17Lf", value);
  GEOKV_ASSERT(length > 0 && static_cast<size_t>(length) < sizeof(buffer));
  std::string out(buffer, static_cast<size_t>(length));
  if (out.find('.') != std::string::npos) {
    while (out.back() == '0') out.pop_back();
    if (out.back() == '.') out.pop_back();
  }
  if (out == "-0") out = "0";
  return out;
}

}  // namespace

std::optional<long double> FloatArg(CommandContext& ctx, const std::string& arg) {
  auto value = ParseLongDouble(arg);
  if (!value) ctx.reply.Error(errors::kNotFloat);
  return value;
}

std::optional<FloatIncrement> CheckedFloatIncrement(CommandContext& ctx,
                                                    const crdt::StateView& state,
                                                    const crdt::ScalarRef& ref, long double by,
                                                    std::string_view not_float) {
  const crdt::ScalarValue current = crdt::ReadScalar(state, ref);
  long double value = 0;
  if (current.present()) {
    auto parsed = ParseLongDouble(current.ToBytes());
    if (!parsed) {
      ctx.reply.Error(not_float);
      return std::nullopt;
    }
    value = *parsed;
  }
  value += by;
  if (std::isnan(value) || std::isinf(value)) {
    ctx.reply.Error(errors::kFloatNanOrInf);
    return std::nullopt;
  }
  FloatIncrement step;
  step.reply = FormatLongDouble(value);
  auto result = crdt::Decimal::Parse(step.reply);
  GEOKV_ASSERT(result.has_value());  // %.17Lf of a finite value is a decimal
  auto exact = crdt::ExactScalar(state, ref);
  if (!exact) {
    step.rewrite = true;
  } else {
    step.delta = *result - *exact;
  }
  return step;
}

void ReplyScalar(CommandContext& ctx, const crdt::ScalarValue& value) {
  if (!value.present()) {
    ctx.reply.Null();
  } else {
    ctx.reply.Bulk(value.ToBytes());
  }
}

void ReplyInvalidExpireTime(CommandContext& ctx, const Args& args) {
  std::string name = args[0].substr(0, 32);
  for (char& c : name) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  }
  ctx.reply.Error("ERR invalid expire time in '" + name + "' command");
}

std::optional<int64_t> SetOptionDeadline(CommandContext& ctx, const Args& args,
                                         const std::string& value, TtlUnit unit) {
  auto ms = IntegerArg(ctx, value);
  if (!ms) return std::nullopt;
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  if (*ms <= 0 || (unit.seconds && *ms > kMax / 1000)) {
    ReplyInvalidExpireTime(ctx, args);
    return std::nullopt;
  }
  if (unit.seconds) *ms *= 1000;
  if (unit.relative) {
    const int64_t now_ms = ctx.partitions.NowMs();
    if (*ms > kMax - now_ms) {  // Redis's sum wraps negative and is refused
      ReplyInvalidExpireTime(ctx, args);
      return std::nullopt;
    }
    *ms += now_ms;
  }
  return ms;
}

std::string ReadString(CommandContext& ctx, const std::string& key) {
  const crdt::ScalarValue v =
      crdt::ReadScalar(StateOf(ctx, key), crdt::ScalarRef{key, std::nullopt});
  return v.present() ? v.ToBytes() : std::string();
}

void ReplaceString(CommandContext& ctx, const std::string& key, std::string value,
                   crdt::TtlEffect ttl) {
  GEOKV_ASSERT(ttl != crdt::TtlEffect::kReplace);
  const crdt::Hlc now = ctx.partitions.Now();
  Mutate(ctx, key, [&](crdt::DeltaBuilder& b) {
    crdt::ClaimKey(b, key, crdt::ValueType::kString);
    if (ttl == crdt::TtlEffect::kClear) crdt::ClearExpiry(b, key);
    crdt::SetScalar(b, crdt::ScalarRef{key, std::nullopt}, now, std::move(value), ttl);
  });
}

uint64_t RandomBelow(uint64_t n) {
  thread_local Prng rng([] {
    std::random_device device;
    return (static_cast<uint64_t>(device()) << 32) ^ device();
  }());
  return rng.Below(n);
}

std::optional<int64_t> RandomCountArg(CommandContext& ctx, const std::string& arg) {
  auto count = IntegerArg(ctx, arg);
  if (!count) return std::nullopt;
  if (*count == INT64_MIN) {
    ctx.reply.Error(errors::kCountRange);
    return std::nullopt;
  }
  if (*count < -kRandomRepeatsMax) {
    ctx.reply.Error(errors::kRandomCountRange);
    return std::nullopt;
  }
  return count;
}

std::optional<uint64_t> CursorArg(CommandContext& ctx, const std::string& arg) {
  // strtoull, as Redis: "-1" wraps around, "+1" is 1.
  errno = 0;
  char* end = nullptr;
  const unsigned long long value = std::strtoull(arg.c_str(), &end, 10);
  if (arg.empty() || std::isspace(static_cast<unsigned char>(arg[0])) ||
      end != arg.c_str() + arg.size() || errno == ERANGE) {
    ctx.reply.Error(errors::kInvalidCursor);
    return std::nullopt;
  }
  return value;
}

std::optional<ScanOptions> ScanOptionsArg(CommandContext& ctx, const Args& args, size_t from,
                                          bool allow_type) {
  ScanOptions options;
  for (size_t i = from; i < args.size(); i += 2) {
    const bool has_value = i + 1 < args.size();
    if (has_value && EqualsIgnoreCase(args[i], "count")) {
      auto n = IntegerArg(ctx, args[i + 1]);
      if (!n) return std::nullopt;
      if (*n < 1) {
        ctx.reply.Error(errors::kSyntax);
        return std::nullopt;
      }
      options.count = static_cast<uint64_t>(*n);
    } else if (has_value && EqualsIgnoreCase(args[i], "match")) {
      options.pattern = args[i + 1];
    } else if (has_value && allow_type && EqualsIgnoreCase(args[i], "type")) {
      options.type = args[i + 1];
    } else {
      ctx.reply.Error(errors::kSyntax);
      return std::nullopt;
    }
  }
  return options;
}

uint64_t ScanPosition(std::string_view element) {
  return XXH64(element.data(), element.size(), 0) >> 16;
}

void ReplyEmptyScan(CommandContext& ctx) {
  ctx.reply.ArrayHeader(2);
  ctx.reply.Bulk("0");
  ctx.reply.ArrayHeader(0);
}

std::vector<size_t> ScanBatch(const std::vector<std::string>& elements, uint64_t cursor,
                              uint64_t count, uint64_t* next) {
  std::vector<std::pair<uint64_t, size_t>> ahead;
  for (size_t i = 0; i < elements.size(); ++i) {
    const uint64_t position = ScanPosition(elements[i]);
    if (position >= cursor) ahead.emplace_back(position, i);
  }
  std::sort(ahead.begin(), ahead.end());
  size_t end = std::min<uint64_t>(count, ahead.size());
  while (end > 0 && end < ahead.size() && ahead[end].first == ahead[end - 1].first) ++end;
  *next = end < ahead.size() ? ahead[end - 1].first + 1 : 0;
  std::vector<size_t> batch;
  batch.reserve(end);
  for (size_t i = 0; i < end; ++i) batch.push_back(ahead[i].second);
  return batch;
}

void ReplySubcommandError(RespWriter& reply, std::string_view container, const std::string& sub,
                          std::initializer_list<std::string_view> known) {
  for (std::string_view k : known) {
    if (EqualsIgnoreCase(sub, k)) {
      std::string name;
      for (char c : container)
        name += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return reply.Error("ERR wrong number of arguments for '" + name + "|" + std::string(k) +
                         "' command");
    }
  }
  reply.Error("ERR unknown subcommand '" + sub.substr(0, 128) + "'. Try " + std::string(container) +
              " HELP.");
}

}  // namespace geokv::replica
