// Connection commands: PING ECHO QUIT SELECT AUTH HELLO CLIENT. They answer from
// the client's session alone.
#include "crdt/scalar.h"
#include "replica/commands/access_control.h"
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

// AUTH [username] password
void CmdAuth(ConnectionContext& ctx, const Args& args) {
  if (args.size() > 3) return ctx.reply.Error(errors::kSyntax);
  AccessControl& access = ctx.server.access();
  if (args.size() == 2 && access.DefaultIsNopass()) {
    return ctx.reply.Error(
        "ERR AUTH <password> called without any password configured for the default user. Are "
        "you sure your configuration is correct?");
  }
  const std::string& user = args.size() == 2 ? "default" : args[1];
  if (!access.Authenticate(ctx.client, user, args.back())) {
    return ctx.reply.Error(errors::kWrongPass);
  }
  ctx.reply.Simple("OK");
}

// HELLO [protover [AUTH username password] [SETNAME clientname]]
void CmdHello(ConnectionContext& ctx, const Args& args) {
  int protocol = ctx.client.protocol;
  if (args.size() >= 2) {
    auto version = crdt::ParseInt64(args[1]);
    if (!version) return ctx.reply.Error("ERR Protocol version is not an integer or out of range");
    if (*version != kResp2 && *version != kResp3) {
      return ctx.reply.Error("NOPROTO sorry, this protocol version is not supported.");
    }
    protocol = static_cast<int>(*version);
  }
  const std::string* name = nullptr;
  for (size_t i = 2; i < args.size(); ++i) {
    const size_t left = args.size() - i - 1;  // arguments after this option word
    if (EqualsIgnoreCase(args[i], "auth") && left >= 2) {
      if (!ctx.server.access().Authenticate(ctx.client, args[i + 1], args[i + 2])) {
        return ctx.reply.Error(errors::kWrongPass);
      }
      i += 2;
    } else if (EqualsIgnoreCase(args[i], "setname") && left >= 1) {
      name = &args[++i];
    } else {
      return ctx.reply.Error("ERR Syntax error in HELLO option '" + args[i].substr(0, 64) + "'");
    }
  }
  if (ctx.server.access().NeedsAuth(ctx.client)) {
    return ctx.reply.Error(
        "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO "
        "AUTH <user> <pass> option can be used to authenticate the client and select the RESP "
        "protocol version at the same time");
  }
  if (name != nullptr) ctx.client.name = *name;
  ctx.SetProtocol(protocol);
  RespWriter& w = ctx.reply;
  w.MapHeader(7);
  w.Bulk("server");
  w.Bulk("geokv");
  w.Bulk("version");
  w.Bulk("0.1.0");
  w.Bulk("proto");
  w.Integer(protocol);
  w.Bulk("id");
  w.Integer(static_cast<int64_t>(ctx.client.id));
  w.Bulk("mode");
  w.Bulk("standalone");
  w.Bulk("role");
  w.Bulk("master");
  w.Bulk("modules");
  w.ArrayHeader(0);
}

// GEOKV.FORWARDER: this connection carries requests another node forwarded;
// they are served here or refused, never forwarded again.
void CmdGeokvForwarder(ConnectionContext& ctx, const Args&) {
  ctx.client.forwarder = true;
  ctx.reply.Simple("OK");
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
