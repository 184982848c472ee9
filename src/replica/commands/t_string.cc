// String and counter commands: GET SET MSET MGET GETSET STRLEN INCR INCRBY DECR
// DECRBY. Semantics: docs/crdt.md (a string is a register with increments on
// top). Each handler: check routing, check type, read, mutate, reply.
#include "crdt/key_type.h"
#include "crdt/scalar.h"
#include "replica/commands/command_util.h"
#include "replica/commands/handlers.h"

namespace geokv::replica {

namespace {

using crdt::ScalarRef;
using crdt::ValueType;

ScalarRef StringRef(const std::string& key) { return ScalarRef{key, std::nullopt}; }

// Replaces whatever the key holds (any type) with a string.
void Overwrite(CommandContext& ctx, const std::string& key, const std::string& value) {
  const crdt::Hlc now = ctx.partitions.Now();
  Mutate(ctx, key, [&](crdt::DeltaBuilder& b) {
    crdt::ClaimKey(b, key, ValueType::kString);
    crdt::SetScalar(b, StringRef(key), now, value);
  });
}

void IncrementBy(CommandContext& ctx, const std::string& key, int64_t by) {
  if (!CheckType(ctx, key, ValueType::kString)) return;
  const auto result = CheckedIncrement(ctx, crdt::ReadScalar(StateOf(ctx, key), StringRef(key)), by,
                                       errors::kNotInteger);
  if (!result) return;
  Mutate(ctx, key, [&](crdt::DeltaBuilder& b) { crdt::IncrementScalar(b, StringRef(key), by); });
  ctx.reply.Integer(*result);
}

}  // namespace

void CmdGet(CommandContext& ctx, const Args& args) {
  if (!CheckType(ctx, args[1], ValueType::kString)) return;
  ReplyScalar(ctx, crdt::ReadScalar(StateOf(ctx, args[1]), StringRef(args[1])));
}

// SET key value [NX | XX] [GET]
void CmdSet(CommandContext& ctx, const Args& args) {
  bool nx = false, xx = false, get = false;
  for (size_t i = 3; i < args.size(); ++i) {
    if (EqualsIgnoreCase(args[i], "nx") && !xx) {
      nx = true;
    } else if (EqualsIgnoreCase(args[i], "xx") && !nx) {
      xx = true;
    } else if (EqualsIgnoreCase(args[i], "get")) {
      get = true;
    } else if (EqualsIgnoreCase(args[i], "ex") || EqualsIgnoreCase(args[i], "px") ||
               EqualsIgnoreCase(args[i], "exat") || EqualsIgnoreCase(args[i], "pxat") ||
               EqualsIgnoreCase(args[i], "keepttl")) {
      return ctx.reply.Error("ERR geokv does not support key expiry");
    } else {
      return ctx.reply.Error(errors::kSyntax);
    }
  }
  const std::string& key = args[1];
  const ValueType type = crdt::VisibleType(StateOf(ctx, key), key);
  if (get && type != ValueType::kString && type != ValueType::kNone) {
    return ctx.reply.Error(errors::kWrongType);
  }
  const crdt::ScalarValue old =
      get ? crdt::ReadScalar(StateOf(ctx, key), StringRef(key)) : crdt::ScalarValue{};
  const bool exists = type != ValueType::kNone;
  if ((nx && exists) || (xx && !exists)) {
    return get ? ReplyScalar(ctx, old) : ctx.reply.Null();
  }
  Overwrite(ctx, key, args[2]);
  if (get) {
    ReplyScalar(ctx, old);
  } else {
    ctx.reply.Simple("OK");
  }
}

void CmdGetSet(CommandContext& ctx, const Args& args) {
  if (!CheckType(ctx, args[1], ValueType::kString)) return;
  const crdt::ScalarValue old = crdt::ReadScalar(StateOf(ctx, args[1]), StringRef(args[1]));
  Overwrite(ctx, args[1], args[2]);
  ReplyScalar(ctx, old);
}

void CmdMSet(CommandContext& ctx, const Args& args) {
  if (args.size() % 2 != 1) {
    return ctx.reply.Error("ERR wrong number of arguments for 'mset' command");
  }
  for (size_t i = 1; i + 1 < args.size(); i += 2) Overwrite(ctx, args[i], args[i + 1]);
  ctx.reply.Simple("OK");
}

void CmdMGet(CommandContext& ctx, const Args& args) {
  ctx.reply.ArrayHeader(args.size() - 1);
  for (size_t i = 1; i < args.size(); ++i) {
    const crdt::MutableState& state = StateOf(ctx, args[i]);
    if (crdt::VisibleType(state, args[i]) != ValueType::kString) {
      ctx.reply.Null();  // Redis: MGET answers nil for a key of another type
    } else {
      ReplyScalar(ctx, crdt::ReadScalar(state, StringRef(args[i])));
    }
  }
}

void CmdStrLen(CommandContext& ctx, const Args& args) {
  if (!CheckType(ctx, args[1], ValueType::kString)) return;
  const crdt::ScalarValue v = crdt::ReadScalar(StateOf(ctx, args[1]), StringRef(args[1]));
  ctx.reply.Integer(v.present() ? static_cast<int64_t>(v.ToBytes().size()) : 0);
}

void CmdIncr(CommandContext& ctx, const Args& args) { IncrementBy(ctx, args[1], 1); }
void CmdDecr(CommandContext& ctx, const Args& args) { IncrementBy(ctx, args[1], -1); }

void CmdIncrBy(CommandContext& ctx, const Args& args) {
  if (auto by = IntegerArg(ctx, args[2])) IncrementBy(ctx, args[1], *by);
}

void CmdDecrBy(CommandContext& ctx, const Args& args) {
  auto by = IntegerArg(ctx, args[2]);
  if (!by) return;
  if (*by == INT64_MIN) return ctx.reply.Error("ERR decrement would overflow");
  IncrementBy(ctx, args[1], -*by);
}

}  // namespace geokv::replica
