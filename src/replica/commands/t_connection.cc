// Connection commands: PING ECHO QUIT SELECT HELLO CLIENT. They answer from
// the client's session alone.
#include "replica/commands/command_util.h"
#include "replica/commands/handlers.h"

namespace geokv::replica {

void CmdPing(ConnectionContext& ctx, const Args& args) {
  if (args.size() > 2) {
    return ctx.reply.Error("ERR wrong number of arguments for 'ping' command");
  }
  if (args.size() == 2) return ctx.reply.Bulk(args[1]);
  ctx.reply.Simple("PONG");
}

void CmdEcho(ConnectionContext& ctx, const Args& args) { ctx.reply.Bulk(args[1]); }

void CmdQuit(ConnectionContext& ctx, const Args&) {
  ctx.client.close_after_reply = true;
  ctx.reply.Simple("OK");
}

void CmdSelect(ConnectionContext& ctx, const Args& args) {
  auto index = IntegerArg(ctx.reply, args[1]);
  if (!index) return;
  if (*index != 0) return ctx.reply.Error("ERR DB index is out of range");
  ctx.reply.Simple("OK");
}

// HELLO [protover [SETNAME name]]: RESP2 only.
void CmdHello(ConnectionContext& ctx, const Args& args) {
  if (args.size() >= 2 && args[1] != "2") {
    if (args[1] == "3") {
      return ctx.reply.Error("NOPROTO this server speaks RESP2 only; HELLO 2 or no HELLO");
    }
    return ctx.reply.Error("NOPROTO unsupported protocol version");
  }
  for (size_t i = 2; i + 1 < args.size(); ++i) {
    if (EqualsIgnoreCase(args[i], "setname")) ctx.client.name = args[++i];
  }
  RespWriter& w = ctx.reply;
  w.ArrayHeader(14);
  w.Bulk("server");
  w.Bulk("geokv");
  w.Bulk("version");
  w.Bulk("0.1.0");
  w.Bulk("proto");
  w.Integer(2);
  w.Bulk("id");
  w.Integer(static_cast<int64_t>(ctx.client.id));
  w.Bulk("mode");
  w.Bulk("standalone");
  w.Bulk("role");
  w.Bulk("master");
  w.Bulk("modules");
  w.ArrayHeader(0);
}

// CLIENT SETNAME name | GETNAME | ID | SETINFO ...
void CmdClient(ConnectionContext& ctx, const Args& args) {
  RespWriter& w = ctx.reply;
  if (EqualsIgnoreCase(args[1], "setname") && args.size() == 3) {
    ctx.client.name = args[2];
    w.Simple("OK");
  } else if (EqualsIgnoreCase(args[1], "getname") && args.size() == 2) {
    ctx.client.name.empty() ? w.Null() : w.Bulk(ctx.client.name);
  } else if (EqualsIgnoreCase(args[1], "id") && args.size() == 2) {
    w.Integer(static_cast<int64_t>(ctx.client.id));
  } else if (EqualsIgnoreCase(args[1], "setinfo")) {
    w.Simple("OK");  // client libraries announce themselves; nothing to keep
  } else {
    w.Error("ERR unknown subcommand or wrong number of arguments for '" + args[1].substr(0, 64) +
            "'. Try CLIENT HELP.");
  }
}

}  // namespace geokv::replica
