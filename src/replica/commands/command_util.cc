#include "replica/commands/command_util.h"

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

crdt::MutableState& StateOf(CommandContext& ctx, std::string_view key) {
  return ctx.partitions.State(ctx.partitions.PartitionOf(key));
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

}  // namespace geokv::replica
