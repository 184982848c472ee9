// Connection commands: PING ECHO QUIT SELECT AUTH HELLO CLIENT. They answer from
// the client's session, and CLIENT LIST/KILL from the server's connections.
#include <algorithm>
#include <optional>

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

// RESET: the connection's state back to a new connection's, as Redis 6.2's
// RESET: no transaction or watched keys, no name, RESP2, the default user (so
// authenticated only if that user needs no password), consistency 1 1.
void CmdReset(ConnectionContext& ctx, const Args&) {
  ctx.client.multi = Transaction{};
  ctx.client.name.clear();
  ctx.client.watched.reset();
  ctx.client.user = "default";
  ctx.client.authenticated = false;
  ctx.client.consistency = ConsistencyLevel{};
  ctx.SetProtocol(kResp2);
  ctx.reply.Simple("RESET");
}

// GEOKV.CONSISTENCY [READ r] [WRITE w] [TIMEOUT ms]: sets the connection's
// consistency level (any of the three, all or nothing); with no argument,
// shows it as a map (CONFIG GET's shape: name, value, ...).
void CmdGeokvConsistency(ConnectionContext& ctx, const Args& args) {
  RespWriter& w = ctx.reply;
  ConsistencyLevel& level = ctx.client.consistency;
  if (args.size() == 1) {
    w.MapHeader(3);
    w.Bulk("read");
    w.Integer(level.read);
    w.Bulk("write");
    w.Integer(level.write);
    w.Bulk("timeout");
    w.Integer(level.timeout_ms);
    return;
  }
  if (args.size() % 2 == 0) return w.Error(errors::kSyntax);
  const uint32_t dcs = ctx.server.PartitionDcs();
  ConsistencyLevel next = level;
  bool seen[3] = {false, false, false};
  for (size_t i = 1; i + 1 < args.size(); i += 2) {
    const int which = EqualsIgnoreCase(args[i], "read")      ? 0
                      : EqualsIgnoreCase(args[i], "write")   ? 1
                      : EqualsIgnoreCase(args[i], "timeout") ? 2
                                                             : -1;
    if (which < 0 || seen[which]) return w.Error(errors::kSyntax);
    seen[which] = true;
    auto value = crdt::ParseInt64(args[i + 1]);
    if (which == 2) {
      if (!value || *value < 1 || *value > ConsistencyLevel::kTimeoutMaxMs) {
        return w.Error("ERR TIMEOUT must be between 1 and " +
                       std::to_string(ConsistencyLevel::kTimeoutMaxMs) + " ms");
      }
      next.timeout_ms = *value;
      continue;
    }
    if (!value || *value < 1 || *value > static_cast<int64_t>(dcs)) {
      return w.Error(std::string("ERR ") + (which == 0 ? "READ" : "WRITE") +
                     " must be between 1 and " + std::to_string(dcs) +
                     " (the datacenters each partition is replicated to)");
    }
    (which == 0 ? next.read : next.write) = static_cast<uint32_t>(*value);
  }
  level = next;
  w.Simple("OK");
}

namespace {

// One line of CLIENT LIST / CLIENT INFO, in Redis 7.0's field order. Fields
// about Redis's memory layout that geokv has no counterpart for (argv-mem,
// rbs, tot-mem, ...) read 0; events is "r".
std::string ClientLine(const ClientInfo& c) {
  std::string flags = c.in_multi ? "x" : "N";
  return "id=" + std::to_string(c.id) + " addr=" + c.address + " laddr=" + c.local_address +
         " fd=" + std::to_string(c.fd) + " name=" + c.name + " age=" + std::to_string(c.age_s) +
         " idle=" + std::to_string(c.idle_s) + " flags=" + flags +
         " db=0 sub=0 psub=0 ssub=0 multi=" + std::to_string(c.multi_queued) +
         " qbuf=" + std::to_string(c.query_buffer_bytes) +
         " qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=" +
         std::to_string(c.output_bytes) + " tot-mem=0 events=r cmd=" + c.last_command +
         " user=default redir=-1 resp=" + std::to_string(c.protocol) + "\n";
}

// CLIENT KILL's filters (the new form): every one given must match.
struct KillFilter {
  std::optional<uint64_t> id;
  std::optional<std::string> addr;
  std::optional<std::string> laddr;
  bool skip_me = true;
  bool none = false;  // a TYPE no geokv client has
};

}  // namespace

// CLIENT SETNAME name | GETNAME | ID | INFO | LIST [ID id ...] | KILL ... |
// SETINFO ...
void CmdClient(ConnectionContext& ctx, const Args& args) {
  RespWriter& w = ctx.reply;
  if (EqualsIgnoreCase(args[1], "setname") && args.size() == 3) {
    for (char c : args[2]) {
      if (c < '!' || c > '~') {
        return w.Error("ERR Client names cannot contain spaces, newlines or special characters.");
      }
    }
    ctx.client.name = args[2];
    w.Simple("OK");
  } else if (EqualsIgnoreCase(args[1], "getname") && args.size() == 2) {
    ctx.client.name.empty() ? w.Null() : w.Bulk(ctx.client.name);
  } else if (EqualsIgnoreCase(args[1], "id") && args.size() == 2) {
    w.Integer(static_cast<int64_t>(ctx.client.id));
  } else if (EqualsIgnoreCase(args[1], "info") && args.size() == 2) {
    for (const ClientInfo& c : ctx.server.Clients()) {
      if (c.id == ctx.client.id) return w.Bulk(ClientLine(c));
    }
    w.Bulk("");
  } else if (EqualsIgnoreCase(args[1], "list")) {
    std::vector<uint64_t> ids;
    if (args.size() > 2) {
      if (!EqualsIgnoreCase(args[2], "id") || args.size() == 3) return w.Error(errors::kSyntax);
      for (size_t i = 3; i < args.size(); ++i) {
        auto id = crdt::ParseInt64(args[i]);
        if (!id || *id < 1) return w.Error("ERR Invalid client ID");
        ids.push_back(static_cast<uint64_t>(*id));
      }
    }
    std::string text;
    for (const ClientInfo& c : ctx.server.Clients()) {
      if (ids.empty() || std::find(ids.begin(), ids.end(), c.id) != ids.end()) {
        text += ClientLine(c);
      }
    }
    w.Bulk(text);
  } else if (EqualsIgnoreCase(args[1], "kill") && args.size() >= 3) {
    // The caller's own connection closes once this reply is written.
    auto kill = [&](uint64_t id) {
      if (id != ctx.client.id) return ctx.server.KillClient(id);
      ctx.client.close_after_reply = true;
      return true;
    };
    if (args.size() == 3) {  // old form: CLIENT KILL addr
      for (const ClientInfo& c : ctx.server.Clients()) {
        if (c.address == args[2] && kill(c.id)) return w.Simple("OK");
      }
      return w.Error("ERR No such client");
    }
    if (args.size() % 2 != 0) return w.Error(errors::kSyntax);
    KillFilter filter;
    for (size_t i = 2; i + 1 < args.size(); i += 2) {
      const std::string& value = args[i + 1];
      if (EqualsIgnoreCase(args[i], "id")) {
        auto id = crdt::ParseInt64(value);
        if (!id || *id < 1) return w.Error("ERR client-id should be greater than 0");
        filter.id = static_cast<uint64_t>(*id);
      } else if (EqualsIgnoreCase(args[i], "addr")) {
        filter.addr = value;
      } else if (EqualsIgnoreCase(args[i], "laddr")) {
        filter.laddr = value;
      } else if (EqualsIgnoreCase(args[i], "skipme")) {
        if (!EqualsIgnoreCase(value, "yes") && !EqualsIgnoreCase(value, "no")) {
          return w.Error(errors::kSyntax);
        }
        filter.skip_me = EqualsIgnoreCase(value, "yes");
      } else if (EqualsIgnoreCase(args[i], "type")) {
        // Every geokv client is a normal one (no replicas, no pub/sub).
        if (EqualsIgnoreCase(value, "normal")) continue;
        if (EqualsIgnoreCase(value, "master") || EqualsIgnoreCase(value, "replica") ||
            EqualsIgnoreCase(value, "slave") || EqualsIgnoreCase(value, "pubsub")) {
          filter.none = true;
          continue;
        }
        return w.Error("ERR Unknown client type '" + value.substr(0, 64) + "'");
      } else if (EqualsIgnoreCase(args[i], "user")) {
        if (value != "default") return w.Error("ERR No such user '" + value.substr(0, 64) + "'");
      } else {
        return w.Error(errors::kSyntax);
      }
    }
    int64_t killed = 0;
    for (const ClientInfo& c : filter.none ? std::vector<ClientInfo>{} : ctx.server.Clients()) {
      if ((filter.id && c.id != *filter.id) || (filter.addr && c.address != *filter.addr) ||
          (filter.laddr && c.local_address != *filter.laddr) ||
          (filter.skip_me && c.id == ctx.client.id)) {
        continue;
      }
      killed += kill(c.id) ? 1 : 0;
    }
    w.Integer(killed);
  } else if (EqualsIgnoreCase(args[1], "setinfo")) {
    w.Simple("OK");  // client libraries announce themselves; nothing to keep
  } else {
    ReplySubcommandError(w, "CLIENT", args[1], {"setname", "getname", "id", "info", "kill"});
  }
}

}  // namespace geokv::replica
