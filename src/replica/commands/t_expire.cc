// Key expiry commands (Redis's expire.c): EXPIRE PEXPIRE EXPIREAT PEXPIREAT
// (NX XX GT LT), TTL PTTL EXPIRETIME PEXPIRETIME, PERSIST. Replies and errors
// as Redis 7.0. Semantics across DCs: docs/crdt.md "Expiry (TTL)"; the clock is
// this node's wall clock (Partitions::NowMs).
#include <limits>

#include "crdt/expiry.h"
#include "crdt/key_type.h"
#include "replica/commands/command_util.h"
#include "replica/commands/handlers.h"

namespace geokv::replica {

namespace {

// EXPIRE key when [NX | XX | GT | LT], in Redis 7.0's order of checks: the
// options, the number, then the key.
void ExpireGeneric(CommandContext& ctx, const Args& args, TtlUnit unit) {
  bool nx = false, xx = false, gt = false, lt = false;
  for (size_t i = 3; i < args.size(); ++i) {
    if (EqualsIgnoreCase(args[i], "nx")) {
      nx = true;
    } else if (EqualsIgnoreCase(args[i], "xx")) {
      xx = true;
    } else if (EqualsIgnoreCase(args[i], "gt")) {
      gt = true;
    } else if (EqualsIgnoreCase(args[i], "lt")) {
      lt = true;
    } else {
      return ctx.reply.Error("ERR Unsupported option " + args[i].substr(0, 128));
    }
  }
  if (nx && (xx || gt || lt)) {
    return ctx.reply.Error("ERR NX and XX, GT or LT options at the same time are not compatible");
  }
  if (gt && lt) {
    return ctx.reply.Error("ERR GT and LT options at the same time are not compatible");
  }
  auto when = IntegerArg(ctx, args[2]);
  if (!when) return;
  // EXPIRE allows negative numbers (the key goes at once); only overflows of
  // the unit conversion or of adding now are refused.
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  if (unit.seconds) {
    if (*when > kMax / 1000 || *when < kMin / 1000) return ReplyInvalidExpireTime(ctx, args);
    *when *= 1000;
  }
  const int64_t now_ms = ctx.partitions.NowMs();
  if (unit.relative) {
    if (*when > kMax - now_ms) return ReplyInvalidExpireTime(ctx, args);
    *when += now_ms;
  }

  const std::string& key = args[1];
  const crdt::LiveView state = StateOf(ctx, key);
  if (crdt::VisibleType(state, key) == crdt::ValueType::kNone) return ctx.reply.Integer(0);
  const std::optional<int64_t> current = crdt::Deadline(state, key);  // nullopt: none
  // No expiry counts as an infinite one for GT and LT.
  if ((nx && current) || (xx && !current) || (gt && (!current || *when <= *current)) ||
      (lt && current && *when >= *current)) {
    return ctx.reply.Integer(0);
  }
  Mutate(ctx, key, [&](crdt::DeltaBuilder& b) {
    if (*when <= now_ms) {
      crdt::DeleteKey(b, key);  // already expired: Redis deletes it at once
    } else {
      crdt::SetDeadline(b, key, *when);
    }
  });
  ctx.reply.Integer(1);
}

// TTL and its kin: -2 for no key, -1 for no expiry.
void TtlGeneric(CommandContext& ctx, const Args& args, bool in_ms, bool absolute) {
  const std::string& key = args[1];
  const crdt::LiveView state = StateOf(ctx, key);
  if (crdt::VisibleType(state, key) == crdt::ValueType::kNone) return ctx.reply.Integer(-2);
  const std::optional<int64_t> deadline = crdt::Deadline(state, key);
  if (!deadline) return ctx.reply.Integer(-1);
  int64_t ttl = absolute ? *deadline : *deadline - ctx.partitions.NowMs();
  if (ttl < 0) ttl = 0;
  ctx.reply.Integer(in_ms ? ttl : (ttl + 500) / 1000);  // Redis rounds to the nearest second
}

}  // namespace

void CmdExpire(CommandContext& ctx, const Args& args) {
  ExpireGeneric(ctx, args, {.seconds = true, .relative = true});
}
void CmdPExpire(CommandContext& ctx, const Args& args) {
  ExpireGeneric(ctx, args, {.seconds = false, .relative = true});
}
void CmdExpireAt(CommandContext& ctx, const Args& args) {
  ExpireGeneric(ctx, args, {.seconds = true, .relative = false});
}
void CmdPExpireAt(CommandContext& ctx, const Args& args) {
  ExpireGeneric(ctx, args, {.seconds = false, .relative = false});
}

void CmdTtl(CommandContext& ctx, const Args& args) { TtlGeneric(ctx, args, false, false); }
void CmdPTtl(CommandContext& ctx, const Args& args) { TtlGeneric(ctx, args, true, false); }
void CmdExpireTime(CommandContext& ctx, const Args& args) { TtlGeneric(ctx, args, false, true); }
void CmdPExpireTime(CommandContext& ctx, const Args& args) { TtlGeneric(ctx, args, true, true); }

void CmdPersist(CommandContext& ctx, const Args& args) {
  const std::string& key = args[1];
  if (crdt::VisibleType(StateOf(ctx, key), key) == crdt::ValueType::kNone) {
    return ctx.reply.Integer(0);
  }
  bool removed = false;
  Mutate(ctx, key, [&](crdt::DeltaBuilder& b) { removed = crdt::Persist(b, key); });
  ctx.reply.Integer(removed ? 1 : 0);
}

}  // namespace geokv::replica
