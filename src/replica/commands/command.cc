#include "replica/commands/command.h"

#include <algorithm>
#include <unordered_map>

#include "replica/commands/handlers.h"

namespace geokv::replica {

namespace {

constexpr uint32_t kW = kWrite, kR = kReadOnly, kF = kFast, kA = kAdmin, kT = kTransactionControl,
                   kN = kNoAuth, kS = kSubcommands, kD = kDenyOom;

// name, arity, flags, first key, last key, key step, handler[, key finder].
const std::vector<CommandSpec>& Table() {
  static const std::vector<CommandSpec> table = [] {
    std::vector<CommandSpec> t = {
        // connection (t_connection.cc)
        {"ping", -1, kF, 0, 0, 0, CmdPing},
        {"echo", 2, kF, 0, 0, 0, CmdEcho},
        {"quit", -1, kF | kT | kN, 0, 0, 0, CmdQuit},
        {"select", 2, kF, 0, 0, 0, CmdSelect},
        {"auth", -2, kF | kN, 0, 0, 0, CmdAuth},
        {"hello", -1, kF | kN, 0, 0, 0, CmdHello},
        {"client", -2, kS, 0, 0, 0, CmdClient},
        {"reset", 1, kF | kT | kN, 0, 0, 0, CmdReset},
        // transactions (t_transaction.cc)
        {"multi", 1, kF | kT, 0, 0, 0, CmdMulti},
        {"exec", 1, kT, 0, 0, 0, CmdExec},
        {"discard", 1, kF | kT, 0, 0, 0, CmdDiscard},
        {"watch", -2, kF | kT, 0, 0, 0, CmdWatch},
        {"unwatch", 1, kF, 0, 0, 0, CmdUnwatch},
        // server (t_server.cc)
        {"command", -1, kS, 0, 0, 0, CmdCommand},
        {"acl", -2, kA | kS, 0, 0, 0, CmdAcl},
        {"config", -2, kA | kS, 0, 0, 0, CmdConfig},
        {"info", -1, 0, 0, 0, 0, CmdInfo},
        {"slowlog", -2, kA | kS, 0, 0, 0, CmdSlowLog},
        {"latency", -2, kA | kS, 0, 0, 0, CmdLatency},
        {"wait", 3, 0, 0, 0, 0, CmdWait},
        // key space (t_generic.cc)
        {"dbsize", 1, kR | kF, 0, 0, 0, CmdDbSize},
        {"scan", -2, kR, 0, 0, 0, CmdScan},
        {"type", 2, kR | kF, 1, 1, 1, CmdType},
        {"exists", -2, kR | kF, 1, -1, 1, CmdExists},
        {"del", -2, kW, 1, -1, 1, CmdDel},
        {"flushdb", -1, kW, 0, 0, 0, CmdFlush},
        {"flushall", -1, kW, 0, 0, 0, CmdFlush},
        {"unlink", -2, kW | kF, 1, -1, 1, CmdDel},
        {"touch", -2, kR | kF, 1, -1, 1, CmdTouch},
        {"keys", 2, kR, 0, 0, 0, CmdKeys},
        {"randomkey", 1, kR, 0, 0, 0, CmdRandomKey},
        {"rename", 3, kW, 1, 2, 1, CmdRename},
        {"renamenx", 3, kW | kF, 1, 2, 1, CmdRenameNx},
        {"copy", -3, kW | kD, 1, 2, 1, CmdCopy},
        {"object", -2, kR | kS, 0, 0, 0, CmdObject, ObjectKeys},
        {"time", 1, kR | kF, 0, 0, 0, CmdTime},
        // strings and counters (t_string.cc)
        {"get", 2, kR | kF, 1, 1, 1, CmdGet},
        {"set", -3, kW | kD, 1, 1, 1, CmdSet},
        {"getset", 3, kW | kD | kF, 1, 1, 1, CmdGetSet},
        {"mset", -3, kW | kD, 1, -1, 2, CmdMSet},
        {"mget", -2, kR | kF, 1, -1, 1, CmdMGet},
        {"strlen", 2, kR | kF, 1, 1, 1, CmdStrLen},
        {"incr", 2, kW | kD | kF, 1, 1, 1, CmdIncr},
        {"decr", 2, kW | kD | kF, 1, 1, 1, CmdDecr},
        {"incrby", 3, kW | kD | kF, 1, 1, 1, CmdIncrBy},
        {"decrby", 3, kW | kD | kF, 1, 1, 1, CmdDecrBy},
        // strings with a TTL (t_string.cc)
        {"setex", 4, kW | kD, 1, 1, 1, CmdSetEx},
        {"psetex", 4, kW | kD, 1, 1, 1, CmdPSetEx},
        {"setnx", 3, kW | kD | kF, 1, 1, 1, CmdSetNx},
        {"getex", -2, kW | kF, 1, 1, 1, CmdGetEx},
        {"getdel", 2, kW | kF, 1, 1, 1, CmdGetDel},
        // key expiry (t_expire.cc)
        {"expire", -3, kW | kF, 1, 1, 1, CmdExpire},
        {"pexpire", -3, kW | kF, 1, 1, 1, CmdPExpire},
        {"expireat", -3, kW | kF, 1, 1, 1, CmdExpireAt},
        {"pexpireat", -3, kW | kF, 1, 1, 1, CmdPExpireAt},
        {"ttl", 2, kR | kF, 1, 1, 1, CmdTtl},
        {"pttl", 2, kR | kF, 1, 1, 1, CmdPTtl},
        {"expiretime", 2, kR | kF, 1, 1, 1, CmdExpireTime},
        {"pexpiretime", 2, kR | kF, 1, 1, 1, CmdPExpireTime},
        {"persist", 2, kW | kF, 1, 1, 1, CmdPersist},
        {"incrbyfloat", 3, kW | kD | kF, 1, 1, 1, CmdIncrByFloat},
        {"msetnx", -3, kW | kD, 1, -1, 2, CmdMSetNx},
        {"append", 3, kW | kD | kF, 1, 1, 1, CmdAppend},
        {"setrange", 4, kW | kD, 1, 1, 1, CmdSetRange},
        {"getrange", 4, kR, 1, 1, 1, CmdGetRange},
        {"substr", 4, kR, 1, 1, 1, CmdGetRange},
        {"lcs", -3, kR, 1, 2, 1, CmdLcs},
        {"setbit", 4, kW | kD, 1, 1, 1, CmdSetBit},
        {"getbit", 3, kR | kF, 1, 1, 1, CmdGetBit},
        {"bitcount", -2, kR, 1, 1, 1, CmdBitCount},
        {"bitpos", -3, kR, 1, 1, 1, CmdBitPos},
        {"bitop", -4, kW | kD, 2, -1, 1, CmdBitOp},
        // sets (t_set.cc)
        {"sadd", -3, kW | kD | kF, 1, 1, 1, CmdSAdd},
        {"srem", -3, kW | kF, 1, 1, 1, CmdSRem},
        {"smembers", 2, kR, 1, 1, 1, CmdSMembers},
        {"sismember", 3, kR | kF, 1, 1, 1, CmdSIsMember},
        {"smismember", -3, kR | kF, 1, 1, 1, CmdSMIsMember},
        {"scard", 2, kR | kF, 1, 1, 1, CmdSCard},
        {"sinter", -2, kR, 1, -1, 1, CmdSInter},
        {"sintercard", -3, kR, 0, 0, 0, CmdSInterCard, SInterCardKeys},
        {"sinterstore", -3, kW | kD, 1, -1, 1, CmdSInterStore},
        {"sunion", -2, kR, 1, -1, 1, CmdSUnion},
        {"sunionstore", -3, kW | kD, 1, -1, 1, CmdSUnionStore},
        {"sdiff", -2, kR, 1, -1, 1, CmdSDiff},
        {"sdiffstore", -3, kW | kD, 1, -1, 1, CmdSDiffStore},
        {"smove", 4, kW | kF, 1, 2, 1, CmdSMove},
        {"spop", -2, kW | kF, 1, 1, 1, CmdSPop},
        {"srandmember", -2, kR, 1, 1, 1, CmdSRandMember},
        {"sscan", -3, kR, 1, 1, 1, CmdSScan},
        // hashes (t_hash.cc)
        {"hset", -4, kW | kD | kF, 1, 1, 1, CmdHSet},
        {"hget", 3, kR | kF, 1, 1, 1, CmdHGet},
        {"hmget", -3, kR | kF, 1, 1, 1, CmdHMGet},
        {"hdel", -3, kW | kF, 1, 1, 1, CmdHDel},
        {"hgetall", 2, kR, 1, 1, 1, CmdHGetAll},
        {"hkeys", 2, kR, 1, 1, 1, CmdHKeys},
        {"hvals", 2, kR, 1, 1, 1, CmdHVals},
        {"hlen", 2, kR | kF, 1, 1, 1, CmdHLen},
        {"hexists", 3, kR | kF, 1, 1, 1, CmdHExists},
        {"hincrby", 4, kW | kD | kF, 1, 1, 1, CmdHIncrBy},
        {"hsetnx", 4, kW | kD | kF, 1, 1, 1, CmdHSetNx},
        {"hstrlen", 3, kR | kF, 1, 1, 1, CmdHStrLen},
        {"hrandfield", -2, kR, 1, 1, 1, CmdHRandField},
        {"hmset", -4, kW | kD | kF, 1, 1, 1, CmdHMSet},
        {"hincrbyfloat", 4, kW | kD | kF, 1, 1, 1, CmdHIncrByFloat},
        {"hscan", -3, kR, 1, 1, 1, CmdHScan},
        // multi-value registers (t_mvreg.cc)
        {"mvset", -3, kW | kD | kF, 1, 1, 1, CmdMvSet},
        {"mvget", 2, kR | kF, 1, 1, 1, CmdMvGet},
        // geokv (t_generic.cc)
        {"geokv.forwarder", 1, kF, 0, 0, 0, CmdGeokvForwarder},
        {"geokv.consistency", -1, kF, 0, 0, 0, CmdGeokvConsistency},
        // nodes only (a quorum read's fetch and repair: docs/consistency.md)
        {"geokv.atoms", -3, kA, 0, 0, 0, CmdGeokvAtoms},
        {"geokv.repair", 3, kA, 0, 0, 0, CmdGeokvRepair},
        {"geokv.hint", -3, kA, 0, 0, 0, CmdGeokvHint},
        {"geokv.waitown", -4, 0, 0, 0, 0, CmdGeokvWaitOwn},
        {"geokv.where", 2, kR | kF, 0, 0, 0, CmdGeokvWhere},
        {"geokv.digest", 1, kR, 0, 0, 0, CmdGeokvDigest},
        {"geokv.aae", -2, kAdmin | kS, 0, 0, 0, CmdGeokvAae},
        {"geokv.rebuild", 2, kAdmin, 0, 0, 0, CmdGeokvRebuild},
        {"geokv.topology", -1, kAdmin, 0, 0, 0, CmdGeokvTopology},
        {"geokv.members", 1, kAdmin, 0, 0, 0, CmdGeokvMembers},
        {"geokv.moves", 1, kAdmin, 0, 0, 0, CmdGeokvMoves},
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

}  // namespace geokv::replica
