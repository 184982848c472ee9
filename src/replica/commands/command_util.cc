#include "replica/commands/command_util.h"

#include <limits>

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

}  // namespace geokv::replica
