// Transactions: MULTI EXEC DISCARD WATCH UNWATCH (transaction.h). While a
// transaction is open the node queues every other command (node.cc); these
// rows carry kTransactionControl so that they run at once.
#include "replica/commands/handlers.h"

namespace geokv::replica {

namespace {
void Reset(ClientSession& client) {
  client.multi = Transaction{};
  client.watched.reset();  // EXEC and DISCARD unwatch, as in Redis
}
}  // namespace

void CmdMulti(ConnectionContext& ctx, const Args&) {
  if (ctx.client.multi.active) return ctx.reply.Error("ERR MULTI calls can not be nested");
  ctx.client.multi.active = true;
  ctx.reply.Simple("OK");
}

void CmdDiscard(ConnectionContext& ctx, const Args&) {
  if (!ctx.client.multi.active) return ctx.reply.Error("ERR DISCARD without MULTI");
  Reset(ctx.client);
  ctx.reply.Simple("OK");
}

void CmdExec(ConnectionContext& ctx, const Args&) {
  if (!ctx.client.multi.active) return ctx.reply.Error("ERR EXEC without MULTI");
  const bool aborted = ctx.client.multi.aborted;
  std::vector<Args> queued = std::move(ctx.client.multi.queued);
  std::shared_ptr<WatchedKeys> watched = std::move(ctx.client.watched);
  Reset(ctx.client);
  if (aborted) return ctx.reply.Error(errors::kExecAbort);
  ctx.server.Exec(ctx.client, std::move(queued), std::move(watched), ctx.Defer());
}

void CmdWatch(ConnectionContext& ctx, const Args& args) {
  if (ctx.client.multi.active) return ctx.reply.Error("ERR WATCH inside MULTI is not allowed");
  ctx.server.Watch(ctx.client, Args(args.begin() + 1, args.end()), ctx.Defer());
}

void CmdUnwatch(ConnectionContext& ctx, const Args&) {
  ctx.client.watched.reset();
  ctx.reply.Simple("OK");
}

}  // namespace geokv::replica
