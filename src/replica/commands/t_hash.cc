// Hash commands: HSET HGET HMGET HDEL HGETALL HKEYS HVALS HLEN HEXISTS HINCRBY
// HSETNX HSTRLEN HRANDFIELD HINCRBYFLOAT HMSET HSCAN (an OR-map of scalar fields: a cart's lines add up and survive concurrent
// deletes without resurrecting deleted quantities).
#include <cmath>
#include <set>

#include "crdt/or_map.h"
#include "replica/commands/command_util.h"
#include "replica/commands/glob.h"
#include "replica/commands/handlers.h"

namespace geokv::replica {

using crdt::ValueType;

namespace {
bool ReadableHash(CommandContext& ctx, const Args& args) {
  return CheckType(ctx, args[1], ValueType::kHash).has_value();
}

enum class FieldPart { kBoth, kNames, kValues };
void ReplyFields(CommandContext& ctx, const Args& args, FieldPart part) {
  if (!ReadableHash(ctx, args)) return;
  const auto fields = crdt::ReadFields(StateOf(ctx, args[1]), args[1]);
  part == FieldPart::kBoth ? ctx.reply.MapHeader(fields.size())
                           : ctx.reply.ArrayHeader(fields.size());
  for (const auto& [name, value] : fields) {
    if (part != FieldPart::kValues) ctx.reply.Bulk(name);
    if (part != FieldPart::kNames) ctx.reply.Bulk(value.ToBytes());
  }
}
}  // namespace

// HSET and HMSET: writes the pairs; returns how many fields were created, or
// nullopt after an error.
static std::optional<int64_t> SetFields(CommandContext& ctx, const Args& args,
                                        std::string_view name) {
  if (args.size() % 2 != 0) {
    ctx.reply.Error("ERR wrong number of arguments for '" + std::string(name) + "' command");
    return std::nullopt;
  }
  if (!ReadableHash(ctx, args)) return std::nullopt;
  const std::string& key = args[1];
  const crdt::Hlc now = ctx.partitions.Now();
  int64_t created = 0;
  std::set<std::string_view> seen;
  Mutate(ctx, key, [&](crdt::DeltaBuilder& b) {
    // Later pairs win over earlier ones for the same field, as in Redis.
    for (size_t i = args.size() - 2; i >= 2; i -= 2) {
      if (!seen.insert(args[i]).second) continue;
      if (!crdt::ReadField(b.state(), key, args[i]).present()) ++created;
      crdt::SetField(b, key, args[i], now, args[i + 1]);
    }
  });
  return created;
}

void CmdHSet(CommandContext& ctx, const Args& args) {
  if (auto created = SetFields(ctx, args, "hset")) ctx.reply.Integer(*created);
}

void CmdHMSet(CommandContext& ctx, const Args& args) {
  if (SetFields(ctx, args, "hmset")) ctx.reply.Simple("OK");
}

void CmdHGet(CommandContext& ctx, const Args& args) {
  if (!ReadableHash(ctx, args)) return;
  ReplyScalar(ctx, crdt::ReadField(StateOf(ctx, args[1]), args[1], args[2]));
}

void CmdHMGet(CommandContext& ctx, const Args& args) {
  if (!ReadableHash(ctx, args)) return;
  ctx.reply.ArrayHeader(args.size() - 2);
  for (size_t i = 2; i < args.size(); ++i) {
    ReplyScalar(ctx, crdt::ReadField(StateOf(ctx, args[1]), args[1], args[i]));
  }
}

void CmdHDel(CommandContext& ctx, const Args& args) {
  if (!ReadableHash(ctx, args)) return;
  int64_t removed = 0;
  std::set<std::string_view> seen;
  Mutate(ctx, args[1], [&](crdt::DeltaBuilder& b) {
    for (size_t i = 2; i < args.size(); ++i) {
      if (seen.insert(args[i]).second && crdt::DeleteField(b, args[1], args[i])) ++removed;
    }
  });
  DeleteIfEmptied(ctx, args[1]);
  ctx.reply.Integer(removed);
}

void CmdHGetAll(CommandContext& ctx, const Args& args) { ReplyFields(ctx, args, FieldPart::kBoth); }
void CmdHKeys(CommandContext& ctx, const Args& args) { ReplyFields(ctx, args, FieldPart::kNames); }
void CmdHVals(CommandContext& ctx, const Args& args) { ReplyFields(ctx, args, FieldPart::kValues); }

void CmdHLen(CommandContext& ctx, const Args& args) {
  if (!ReadableHash(ctx, args)) return;
  ctx.reply.Integer(static_cast<int64_t>(crdt::ReadFields(StateOf(ctx, args[1]), args[1]).size()));
}

void CmdHExists(CommandContext& ctx, const Args& args) {
  if (!ReadableHash(ctx, args)) return;
  ctx.reply.Integer(crdt::ReadField(StateOf(ctx, args[1]), args[1], args[2]).present() ? 1 : 0);
}

void CmdHIncrBy(CommandContext& ctx, const Args& args) {
  auto by = IntegerArg(ctx, args[3]);
  if (!by || !ReadableHash(ctx, args)) return;
  const auto result = CheckedIncrement(
      ctx, crdt::ReadField(StateOf(ctx, args[1]), args[1], args[2]), *by, errors::kHashNotInteger);
  if (!result) return;
  Mutate(ctx, args[1],
         [&](crdt::DeltaBuilder& b) { crdt::IncrementField(b, args[1], args[2], *by); });
  ctx.reply.Integer(*result);
}

// HSETNX key field value
void CmdHSetNx(CommandContext& ctx, const Args& args) {
  if (!ReadableHash(ctx, args)) return;
  if (crdt::ReadField(StateOf(ctx, args[1]), args[1], args[2]).present()) {
    return ctx.reply.Integer(0);
  }
  const crdt::Hlc now = ctx.partitions.Now();
  Mutate(ctx, args[1],
         [&](crdt::DeltaBuilder& b) { crdt::SetField(b, args[1], args[2], now, args[3]); });
  ctx.reply.Integer(1);
}

void CmdHStrLen(CommandContext& ctx, const Args& args) {
  if (!ReadableHash(ctx, args)) return;
  const crdt::ScalarValue v = crdt::ReadField(StateOf(ctx, args[1]), args[1], args[2]);
  ctx.reply.Integer(v.present() ? static_cast<int64_t>(v.ToBytes().size()) : 0);
}

// HRANDFIELD key [count [WITHVALUES]]: a positive count gives distinct
// fields, a negative one may repeat them.
void CmdHRandField(CommandContext& ctx, const Args& args) {
  std::optional<int64_t> count;
  bool with_values = false;
  if (args.size() >= 3) {
    count = RandomCountArg(ctx, args[2]);
    if (!count) return;
    if (args.size() > 4 || (args.size() == 4 && !EqualsIgnoreCase(args[3], "withvalues"))) {
      return ctx.reply.Error(errors::kSyntax);
    }
    with_values = args.size() == 4;
    if (with_values && (*count < -(INT64_MAX / 2) || *count > INT64_MAX / 2)) {
      return ctx.reply.Error(errors::kOutOfRange);
    }
  }
  if (!ReadableHash(ctx, args)) return;
  auto fields = crdt::ReadFields(StateOf(ctx, args[1]), args[1]);
  if (!count) {
    if (fields.empty()) return ctx.reply.Null();
    return ctx.reply.Bulk(fields[RandomBelow(fields.size())].first);
  }
  // With values: RESP3 nests each pair in an array, RESP2 flattens them.
  const bool nested = with_values && ctx.reply.protocol() == kResp3;
  const auto reply_field = [&](const std::pair<std::string, crdt::ScalarValue>& field) {
    if (nested) ctx.reply.ArrayHeader(2);
    ctx.reply.Bulk(field.first);
    if (with_values) ctx.reply.Bulk(field.second.ToBytes());
  };
  const size_t width = with_values && !nested ? 2 : 1;
  if (*count < 0) {
    if (fields.empty()) return ctx.reply.ArrayHeader(0);
    ctx.reply.ArrayHeader(static_cast<size_t>(-*count) * width);
    for (int64_t i = 0; i < -*count; ++i) reply_field(fields[RandomBelow(fields.size())]);
    return;
  }
  KeepRandom(fields, static_cast<uint64_t>(*count));
  ctx.reply.ArrayHeader(fields.size() * width);
  for (const auto& field : fields) reply_field(field);
}

// HSCAN key cursor [MATCH pattern] [COUNT count]
void CmdHScan(CommandContext& ctx, const Args& args) {
  auto cursor = CursorArg(ctx, args[2]);
  if (!cursor || !ReadableHash(ctx, args)) return;
  const auto fields = crdt::ReadFields(StateOf(ctx, args[1]), args[1]);
  if (fields.empty()) return ReplyEmptyScan(ctx);  // Redis: before the options
  auto options = ScanOptionsArg(ctx, args, 3, /*allow_type=*/false);
  if (!options) return;
  std::vector<std::string> names;
  for (const auto& field : fields) names.push_back(field.first);
  uint64_t next = 0;
  std::vector<size_t> batch;
  for (size_t i : ScanBatch(names, *cursor, options->count, &next)) {
    if (GlobMatch(options->pattern, names[i])) batch.push_back(i);
  }
  ctx.reply.ArrayHeader(2);
  ctx.reply.Bulk(std::to_string(next));
  ctx.reply.ArrayHeader(batch.size() * 2);
  for (size_t i : batch) {
    ctx.reply.Bulk(fields[i].first);
    ctx.reply.Bulk(fields[i].second.ToBytes());
  }
}

// HINCRBYFLOAT key field increment: an exact counter step (see INCRBYFLOAT).
void CmdHIncrByFloat(CommandContext& ctx, const Args& args) {
  auto by = FloatArg(ctx, args[3]);
  if (!by) return;
  if (std::isnan(*by) || std::isinf(*by)) return ctx.reply.Error(errors::kIncrementNanOrInf);
  if (!ReadableHash(ctx, args)) return;
  const crdt::ScalarRef ref{args[1], args[2]};
  auto step = CheckedFloatIncrement(ctx, StateOf(ctx, args[1]), ref, *by, errors::kHashNotFloat);
  if (!step) return;
  const crdt::Hlc now = ctx.partitions.Now();
  Mutate(ctx, args[1], [&](crdt::DeltaBuilder& b) {
    crdt::ClaimKey(b, args[1], ValueType::kHash);
    if (step->rewrite) {
      crdt::SetScalar(b, ref, now, step->reply);
    } else {
      crdt::IncrementScalarDecimal(b, ref, step->delta);
    }
  });
  ctx.reply.Bulk(step->reply);
}

}  // namespace geokv::replica
