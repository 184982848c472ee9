#include "replica/commands/command.h"

#include <algorithm>
#include <unordered_map>

#include "replica/commands/command_util.h"
#include "replica/commands/handlers.h"

namespace geokv::replica {

namespace {

constexpr uint32_t kW = kWrite, kR = kReadOnly, kK = kKeyless, kF = kFast;

// name, arity, flags, first key, last key, step, handler (nullptr: the
// connection or server layer answers it).
const std::vector<CommandSpec>& Table() {
  static const std::vector<CommandSpec> table = [] {
    std::vector<CommandSpec> t = {
        // connection and server
        {"ping", -1, kK | kF, 0, 0, 0, CmdPing},
        {"echo", 2, kK | kF, 0, 0, 0, CmdEcho},
        {"quit", -1, kK | kF, 0, 0, 0, nullptr},
        {"select", 2, kK | kF, 0, 0, 0, CmdSelect},
        {"hello", -1, kK | kF, 0, 0, 0, nullptr},
        {"client", -2, kK, 0, 0, 0, nullptr},
        {"command", -1, kK, 0, 0, 0, CmdCommand},
        {"config", -2, kK, 0, 0, 0, nullptr},
        {"info", -1, kK, 0, 0, 0, nullptr},
        {"wait", 3, kK, 0, 0, 0, nullptr},
        // key space
        {"dbsize", 1, kR | kK, 0, 0, 0, CmdDbSize},
        {"scan", -2, kR | kK, 0, 0, 0, CmdScan},
        {"type", 2, kR | kF, 1, 1, 1, CmdType},
        {"exists", -2, kR | kF, 1, -1, 1, CmdExists},
        {"del", -2, kW, 1, -1, 1, CmdDel},
        {"flushdb", -1, kW | kK, 0, 0, 0, CmdFlush},
        {"flushall", -1, kW | kK, 0, 0, 0, CmdFlush},
        // strings and counters
        {"get", 2, kR | kF, 1, 1, 1, CmdGet},
        {"set", -3, kW, 1, 1, 1, CmdSet},
        {"getset", 3, kW | kF, 1, 1, 1, CmdGetSet},
        {"mset", -3, kW, 1, -1, 2, CmdMSet},
        {"mget", -2, kR | kF, 1, -1, 1, CmdMGet},
        {"strlen", 2, kR | kF, 1, 1, 1, CmdStrLen},
        {"incr", 2, kW | kF, 1, 1, 1, CmdIncr},
        {"decr", 2, kW | kF, 1, 1, 1, CmdDecr},
        {"incrby", 3, kW | kF, 1, 1, 1, CmdIncrBy},
        {"decrby", 3, kW | kF, 1, 1, 1, CmdDecrBy},
        // key expiry
        {"expire", -3, kW | kF, 1, 1, 1, CmdExpire},
        {"pexpire", -3, kW | kF, 1, 1, 1, CmdPExpire},
        {"expireat", -3, kW | kF, 1, 1, 1, CmdExpireAt},
        {"pexpireat", -3, kW | kF, 1, 1, 1, CmdPExpireAt},
        {"ttl", 2, kR | kF, 1, 1, 1, CmdTtl},
        {"pttl", 2, kR | kF, 1, 1, 1, CmdPTtl},
        {"expiretime", 2, kR | kF, 1, 1, 1, CmdExpireTime},
        {"pexpiretime", 2, kR | kF, 1, 1, 1, CmdPExpireTime},
        {"persist", 2, kW | kF, 1, 1, 1, CmdPersist},
        {"setex", 4, kW, 1, 1, 1, CmdSetEx},
        {"psetex", 4, kW, 1, 1, 1, CmdPSetEx},
        {"setnx", 3, kW | kF, 1, 1, 1, CmdSetNx},
        {"getex", -2, kW | kF, 1, 1, 1, CmdGetEx},
        {"getdel", 2, kW | kF, 1, 1, 1, CmdGetDel},
        // sets
        {"sadd", -3, kW | kF, 1, 1, 1, CmdSAdd},
        {"srem", -3, kW | kF, 1, 1, 1, CmdSRem},
        {"smembers", 2, kR, 1, 1, 1, CmdSMembers},
        {"sismember", 3, kR | kF, 1, 1, 1, CmdSIsMember},
        {"smismember", -3, kR | kF, 1, 1, 1, CmdSMIsMember},
        {"scard", 2, kR | kF, 1, 1, 1, CmdSCard},
        // hashes
        {"hset", -4, kW | kF, 1, 1, 1, CmdHSet},
        {"hget", 3, kR | kF, 1, 1, 1, CmdHGet},
        {"hmget", -3, kR | kF, 1, 1, 1, CmdHMGet},
        {"hdel", -3, kW | kF, 1, 1, 1, CmdHDel},
        {"hgetall", 2, kR, 1, 1, 1, CmdHGetAll},
        {"hkeys", 2, kR, 1, 1, 1, CmdHKeys},
        {"hvals", 2, kR, 1, 1, 1, CmdHVals},
        {"hlen", 2, kR | kF, 1, 1, 1, CmdHLen},
        {"hexists", 3, kR | kF, 1, 1, 1, CmdHExists},
        {"hincrby", 4, kW | kF, 1, 1, 1, CmdHIncrBy},
        // multi-value registers
        {"mvset", -3, kW | kF, 1, 1, 1, CmdMvSet},
        {"mvget", 2, kR | kF, 1, 1, 1, CmdMvGet},
        // geokv
        {"geokv.where", 2, kK | kF, 0, 0, 0, CmdGeokvWhere},
        {"geokv.digest", 1, kR | kK, 0, 0, 0, CmdGeokvDigest},
    };
    std::sort(t.begin(), t.end(), [](const CommandSpec& a, const CommandSpec& b) {
      return std::string_view(a.name) < b.name;
    });
    return t;
  }();
  return table;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  }
  return out;
}

void ReplyCommandInfo(RespWriter& reply, const CommandSpec& spec) {
  reply.ArrayHeader(10);
  reply.Bulk(spec.name);
  reply.Integer(spec.arity);
  std::vector<const char*> flags;
  if (spec.flags & kWrite) flags.push_back("write");
  if (spec.flags & kReadOnly) flags.push_back("readonly");
  if (spec.flags & kFast) flags.push_back("fast");
  reply.ArrayHeader(flags.size());
  for (const char* f : flags) reply.Simple(f);
  reply.Integer(spec.first_key);
  reply.Integer(spec.last_key);
  reply.Integer(spec.key_step);
  for (int i = 0; i < 4; ++i) reply.ArrayHeader(0);  // ACL categories, tips, key specs, subcommands
}

}  // namespace

const std::vector<CommandSpec>& AllCommands() { return Table(); }

const CommandSpec* FindCommand(std::string_view name) {
  static const std::unordered_map<std::string, const CommandSpec*> index = [] {
    std::unordered_map<std::string, const CommandSpec*> m;
    for (const CommandSpec& spec : Table()) m.emplace(spec.name, &spec);
    return m;
  }();
  if (name.size() > 32) return nullptr;
  auto it = index.find(Lower(name));
  return it == index.end() ? nullptr : it->second;
}

bool CheckArity(const CommandSpec& spec, const Args& args, RespWriter& reply) {
  const int argc = static_cast<int>(args.size());
  if ((spec.arity > 0 && argc != spec.arity) || (spec.arity < 0 && argc < -spec.arity)) {
    reply.Error(std::string("ERR wrong number of arguments for '") + spec.name + "' command");
    return false;
  }
  return true;
}

void ReplyUnknownCommand(const Args& args, RespWriter& reply) {
  std::string message =
      "ERR unknown command '" + args[0].substr(0, 128) + "', with args beginning with: ";
  for (size_t i = 1; i < args.size() && message.size() < 256; ++i) {
    message += "'" + args[i].substr(0, 128) + "' ";
  }
  reply.Error(message);
}

std::vector<std::string_view> CommandKeys(const CommandSpec& spec, const Args& args) {
  std::vector<std::string_view> keys;
  if (spec.key_finder != nullptr) {
    if (auto indexes = spec.key_finder(args)) {
      for (int i : *indexes) {
        if (i > 0 && i < static_cast<int>(args.size())) keys.push_back(args[i]);
      }
    }
    return keys;
  }
  if (spec.first_key <= 0) return keys;
  const int argc = static_cast<int>(args.size());
  const int last = spec.last_key < 0 ? argc + spec.last_key : spec.last_key;
  for (int i = spec.first_key; i <= last && i < argc; i += spec.key_step) keys.push_back(args[i]);
  return keys;
}

void CmdPing(CommandContext& ctx, const Args& args) {
  if (args.size() > 2) {
    return ctx.reply.Error("ERR wrong number of arguments for 'ping' command");
  }
  if (args.size() == 2) return ctx.reply.Bulk(args[1]);
  ctx.reply.Simple("PONG");
}

void CmdEcho(CommandContext& ctx, const Args& args) { ctx.reply.Bulk(args[1]); }

void CmdSelect(CommandContext& ctx, const Args& args) {
  auto index = IntegerArg(ctx, args[1]);
  if (!index) return;
  if (*index != 0) return ctx.reply.Error("ERR DB index is out of range");
  ctx.reply.Simple("OK");
}

// COMMAND, COMMAND COUNT, COMMAND INFO name..., COMMAND DOCS [name...]
void CmdCommand(CommandContext& ctx, const Args& args) {
  if (args.size() == 1) {
    ctx.reply.ArrayHeader(AllCommands().size());
    for (const CommandSpec& spec : AllCommands()) ReplyCommandInfo(ctx.reply, spec);
  } else if (EqualsIgnoreCase(args[1], "count")) {
    ctx.reply.Integer(static_cast<int64_t>(AllCommands().size()));
  } else if (EqualsIgnoreCase(args[1], "info")) {
    ctx.reply.ArrayHeader(args.size() - 2);
    for (size_t i = 2; i < args.size(); ++i) {
      if (const CommandSpec* spec = FindCommand(args[i])) {
        ReplyCommandInfo(ctx.reply, *spec);
      } else {
        ctx.reply.NullArray();
      }
    }
  } else if (EqualsIgnoreCase(args[1], "docs")) {
    ctx.reply.ArrayHeader(0);  // no docs: clients fall back to plain help
  } else {
    ctx.reply.Error("ERR unknown subcommand '" + args[1].substr(0, 128) + "'. Try COMMAND HELP.");
  }
}

}  // namespace geokv::replica
