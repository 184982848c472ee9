// Hash commands: HSET HGET HMGET HDEL HGETALL HKEYS HVALS HLEN HEXISTS HINCRBY
// (an OR-map of scalar fields: a cart's lines add up and survive concurrent
// deletes without resurrecting deleted quantities).
#include <set>

#include "crdt/or_map.h"
#include "replica/commands/command_util.h"
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

void CmdHSet(CommandContext& ctx, const Args& args) {
  if (args.size() % 2 != 0) {
    return ctx.reply.Error("ERR wrong number of arguments for 'hset' command");
  }
  if (!ReadableHash(ctx, args)) return;
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
  ctx.reply.Integer(created);
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

}  // namespace geokv::replica
