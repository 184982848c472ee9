// Multi-value register commands (geokv's own):
//   MVSET key value [token]  -> OK
//   MVGET key                -> [token, [value, ...]]   (token "" and [] if absent)
#include "crdt/mv_register.h"
#include "replica/commands/command_util.h"
#include "replica/commands/handlers.h"

namespace geokv::replica {

using crdt::ValueType;

void CmdMvSet(CommandContext& ctx, const Args& args) {
  std::optional<crdt::DotContext> token;
  if (args.size() == 4) {
    auto decoded = crdt::DecodeMvToken(args[3]);
    if (!decoded.ok()) return ctx.reply.Error("ERR invalid MV token");
    token = std::move(*decoded);
  }
  if (!CheckType(ctx, args[1], ValueType::kMvRegister)) return;
  Mutate(ctx, args[1], [&](crdt::DeltaBuilder& b) {
    crdt::MvSet(b, args[1], args[2], token ? &*token : nullptr);
  });
  ctx.reply.Simple("OK");
}

void CmdMvGet(CommandContext& ctx, const Args& args) {
  if (!CheckType(ctx, args[1], ValueType::kMvRegister)) return;
  const crdt::MvSiblings siblings = crdt::MvGet(StateOf(ctx, args[1]), args[1]);
  ctx.reply.ArrayHeader(2);
  ctx.reply.Bulk(siblings.values.empty() ? "" : crdt::EncodeMvToken(siblings.token));
  ctx.reply.ArrayHeader(siblings.values.size());
  for (const auto& v : siblings.values) ctx.reply.Bulk(v);
}

}  // namespace geokv::replica
