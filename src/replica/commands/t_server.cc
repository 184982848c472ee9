// Server commands: COMMAND CONFIG INFO SLOWLOG LATENCY WAIT. The protocol lives here; the
// node supplies the values through ServerControl.
#include <cctype>
#include <cstdint>

#include "crdt/scalar.h"
#include "replica/commands/access_control.h"
#include "replica/commands/acl_user.h"
#include "replica/commands/command_util.h"
#include "replica/commands/glob.h"
#include "replica/commands/handlers.h"
#include "replica/commands/latency_monitor.h"
#include "replica/commands/slowlog.h"

namespace geokv::replica {

namespace {

// Whether the connection is another node's: its forwarding link
// (GEOKV.FORWARDER), authenticated as the peer user when the cluster has a
// secret. Writes NOPERM otherwise. (Without a secret nodes do not
// authenticate to each other at all: any client may say GEOKV.FORWARDER.)
bool FromPeer(ConnectionContext& ctx) {
  const bool peer = ctx.client.forwarder && (!ctx.server.access().HasPeerSecret() ||
                                             ctx.client.user == AccessControl::kPeerUser);
  if (!peer) ctx.reply.Error("NOPERM this command is for geokv's nodes only");
  return peer;
}

std::optional<uint32_t> PartitionArg(RespWriter& reply, const std::string& arg) {
  auto p = crdt::ParseInt64(arg);
  if (!p || *p < 0 || *p > UINT32_MAX) {
    reply.Error(errors::kNotInteger);
    return std::nullopt;
  }
  return static_cast<uint32_t>(*p);
}

void ReplyCommandInfo(RespWriter& reply, const CommandSpec& spec) {
  reply.ArrayHeader(10);
  reply.Bulk(spec.name);
  reply.Integer(spec.arity);
  std::vector<const char*> flags;
  if (spec.flags & kWrite) flags.push_back("write");
  if (spec.flags & kReadOnly) flags.push_back("readonly");
  if (spec.flags & kDenyOom) flags.push_back("denyoom");
  if (spec.flags & kFast) flags.push_back("fast");
  if (spec.flags & kAdmin) flags.push_back("admin");
  if (spec.key_finder != nullptr) flags.push_back("movablekeys");
  reply.SetHeader(flags.size());
  for (const char* f : flags) reply.Simple(f);
  reply.Integer(spec.first_key);
  reply.Integer(spec.last_key);
  reply.Integer(spec.key_step);
  std::vector<std::string> categories;
  const uint32_t mask = AclCategories(spec);
  for (size_t i = 0; i < kAclCategoryCount; ++i) {
    if (mask & (uint32_t{1} << i)) categories.push_back(std::string("@") + kAclCategoryNames[i]);
  }
  reply.SetHeader(categories.size());
  for (const std::string& c : categories) reply.Simple(c);
  for (int i = 0; i < 3; ++i) reply.ArrayHeader(0);  // tips, key specs, subcommands
}

}  // namespace

// COMMAND, COMMAND COUNT, COMMAND INFO name..., COMMAND DOCS [name...]
void CmdCommand(ConnectionContext& ctx, const Args& args) {
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

// CONFIG GET pattern... | SET name value [name value ...] | RESETSTAT
void CmdConfig(ConnectionContext& ctx, const Args& args) {
  RespWriter& w = ctx.reply;
  std::vector<ConfigParam> params = ctx.server.ConfigParams();
  if (EqualsIgnoreCase(args[1], "get") && args.size() >= 3) {
    std::vector<const ConfigParam*> matched;
    for (const ConfigParam& p : params) {
      for (size_t i = 2; i < args.size(); ++i) {
        if (GlobMatch(args[i], p.name)) {
          matched.push_back(&p);
          break;
        }
      }
    }
    w.MapHeader(matched.size());
    for (const ConfigParam* p : matched) {
      w.Bulk(p->name);
      w.Bulk(p->value);
    }
  } else if (EqualsIgnoreCase(args[1], "set") && args.size() >= 4 && args.size() % 2 == 0) {
    // Validate every pair first: all or nothing, as Redis does.
    std::vector<std::pair<const ConfigParam*, int64_t>> changes;
    std::vector<std::pair<const ConfigParam*, const std::string*>> text_changes;
    for (size_t i = 2; i + 1 < args.size(); i += 2) {
      const ConfigParam* found = nullptr;
      for (const ConfigParam& p : params) {
        if (EqualsIgnoreCase(args[i], p.name)) found = &p;
      }
      if (found != nullptr && found->set_text) {
        text_changes.emplace_back(found, &args[i + 1]);
        continue;
      }
      if (found == nullptr || (found->settable == nullptr && !found->set_integer)) {
        return w.Error("ERR Unknown option or number of arguments for CONFIG SET - '" +
                       args[i].substr(0, 64) + "'");
      }
      auto value = crdt::ParseInt64(args[i + 1]);
      const int64_t min = found->set_integer ? found->min_value : 1;
      const int64_t max = found->set_integer ? found->max_value : INT64_MAX;
      if (!value || *value < min || *value > max) {
        return w.Error("ERR CONFIG SET failed (possibly related to argument '" +
                       args[i].substr(0, 64) + "') - argument " +
                       (found->set_integer ? "must be between " + std::to_string(min) + " and " +
                                                 std::to_string(max) + " inclusive"
                                           : std::string("must be a positive integer")));
      }
      changes.emplace_back(found, *value);
    }
    for (auto [param, text] : text_changes) {
      if (std::string refused = param->set_text(*text); !refused.empty()) {
        return w.Error("ERR CONFIG SET failed (possibly related to argument '" +
                       std::string(param->name) + "') - " + refused);
      }
    }
    for (auto [param, value] : changes) {
      if (param->set_integer) {
        param->set_integer(value);
      } else {
        *param->settable = static_cast<size_t>(value);
      }
    }
    w.Simple("OK");
  } else if (EqualsIgnoreCase(args[1], "resetstat") && args.size() == 2) {
    w.Simple("OK");
  } else {
    w.Error("ERR unknown subcommand or wrong number of arguments for '" + args[1].substr(0, 64) +
            "'. Try CONFIG HELP.");
  }
}

// INFO [section ...]: the node answers; sections are passed lower-cased, and
// none means "default".
void CmdInfo(ConnectionContext& ctx, const Args& args) {
  std::string sections;
  for (size_t i = 1; i < args.size(); ++i) {
    if (i > 1) sections += ' ';
    for (char c : args[i])
      sections += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  ctx.server.Info(sections.empty() ? "default" : sections, ctx.Defer());
}

// SLOWLOG GET [count] | LEN | RESET | HELP
void CmdSlowLog(ConnectionContext& ctx, const Args& args) {
  RespWriter& w = ctx.reply;
  SlowLog* log = ctx.server.slowlog();
  if (EqualsIgnoreCase(args[1], "get") && args.size() <= 3) {
    size_t count = 10;  // Redis's default
    if (args.size() == 3) {
      auto n = crdt::ParseInt64(args[2]);
      if (!n || *n < -1) {
        return w.Error("ERR count should be greater than or equal to -1");
      }
      count = *n == -1 ? SIZE_MAX : static_cast<size_t>(*n);
    }
    std::vector<SlowLogEntry> entries;
    if (log != nullptr) entries = log->Latest(count);
    w.ArrayHeader(entries.size());
    for (const SlowLogEntry& e : entries) {
      w.ArrayHeader(6);
      w.Integer(static_cast<int64_t>(e.id));
      w.Integer(e.unix_time_s);
      w.Integer(e.duration_us);
      w.ArrayHeader(e.args.size());
      for (const std::string& a : e.args) w.Bulk(a);
      w.Bulk(e.client_address);
      w.Bulk(e.client_name);
    }
  } else if (EqualsIgnoreCase(args[1], "len") && args.size() == 2) {
    w.Integer(log != nullptr ? static_cast<int64_t>(log->size()) : 0);
  } else if (EqualsIgnoreCase(args[1], "reset") && args.size() == 2) {
    if (log != nullptr) log->Reset();
    w.Simple("OK");
  } else if (EqualsIgnoreCase(args[1], "get")) {
    // Redis 7.0's words for GET with too many arguments.
    w.Error("ERR unknown subcommand or wrong number of arguments for '" + args[1].substr(0, 64) +
            "'. Try SLOWLOG HELP.");
  } else {
    ReplySubcommandError(w, "SLOWLOG", args[1], {"len", "reset"});
  }
}

// LATENCY LATEST | HISTORY event | RESET [event ...]
void CmdLatency(ConnectionContext& ctx, const Args& args) {
  RespWriter& w = ctx.reply;
  LatencyMonitor* monitor = ctx.server.latency_monitor();
  if (EqualsIgnoreCase(args[1], "latest") && args.size() == 2) {
    std::vector<LatencyMonitor::Latest> latest;
    if (monitor != nullptr) latest = monitor->LatestSamples();
    w.ArrayHeader(latest.size());
    for (const auto& l : latest) {
      w.ArrayHeader(4);
      w.Bulk(l.event);
      w.Integer(l.unix_time_s);
      w.Integer(l.latest_ms);
      w.Integer(l.max_ms);
    }
  } else if (EqualsIgnoreCase(args[1], "history") && args.size() == 3) {
    std::vector<LatencyMonitor::Sample> samples;
    if (monitor != nullptr) samples = monitor->History(args[2]);
    w.ArrayHeader(samples.size());
    for (const auto& s : samples) {
      w.ArrayHeader(2);
      w.Integer(s.unix_time_s);
      w.Integer(s.ms);
    }
  } else if (EqualsIgnoreCase(args[1], "reset")) {
    const std::vector<std::string> events(args.begin() + 2, args.end());
    w.Integer(monitor != nullptr ? static_cast<int64_t>(monitor->Reset(events)) : 0);
  } else {
    ReplySubcommandError(w, "LATENCY", args[1], {"latest", "history"});
  }
}

// WAIT numdcs timeout_ms: how many other datacenters have applied every write
// this connection made (Redis's WAIT, with datacenters for replicas).
void CmdWait(ConnectionContext& ctx, const Args& args) {
  auto numdcs = crdt::ParseInt64(args[1]);
  auto timeout = crdt::ParseInt64(args[2]);
  if (!numdcs || !timeout || *numdcs < 0 || *timeout < 0) {
    return ctx.reply.Error(errors::kNotInteger);
  }
  ctx.server.Wait(ctx.client, *numdcs, *timeout, ctx.Defer());
}

// GEOKV.WAITOWN numdcs timeout_ms partition [partition ...]: how many other
// datacenters have applied everything this node wrote so far in those
// partitions. A node asks it of the node it forwarded a client's writes to,
// to answer that client's WAIT (docs/replication.md, "WAIT").
void CmdGeokvWaitOwn(ConnectionContext& ctx, const Args& args) {
  auto numdcs = crdt::ParseInt64(args[1]);
  auto timeout = crdt::ParseInt64(args[2]);
  if (!numdcs || !timeout || *numdcs < 0 || *timeout < 0) {
    return ctx.reply.Error(errors::kNotInteger);
  }
  std::vector<uint32_t> partitions;
  for (size_t i = 3; i < args.size(); ++i) {
    auto p = crdt::ParseInt64(args[i]);
    if (!p || *p < 0 || *p > UINT32_MAX) return ctx.reply.Error(errors::kNotInteger);
    partitions.push_back(static_cast<uint32_t>(*p));
  }
  ctx.server.WaitOwn(std::move(partitions), *numdcs, *timeout, ctx.Defer());
}

// GEOKV.ATOMS partition key [key ...]: this node's atoms of the keys (all in
// the partition) with the partition's causal context, as one encoded
// crdt::Snapshot: what a quorum read at another node joins
// (docs/consistency.md). Nodes only.
void CmdGeokvAtoms(ConnectionContext& ctx, const Args& args) {
  if (!FromPeer(ctx)) return;
  const std::optional<uint32_t> p = PartitionArg(ctx.reply, args[1]);
  if (!p) return;
  ctx.server.Atoms(*p, std::vector<std::string>(args.begin() + 2, args.end()), ctx.Defer());
}

// GEOKV.REPAIR partition repair: joins a read repair (the atoms this node's
// replica lacked, crdt/read_repair.h) into the partition. Nodes only.
void CmdGeokvRepair(ConnectionContext& ctx, const Args& args) {
  if (!FromPeer(ctx)) return;
  const std::optional<uint32_t> p = PartitionArg(ctx.reply, args[1]);
  if (!p) return;
  ctx.server.Repair(*p, args[2], ctx.Defer());
}

// GEOKV.HINT partition delta [epoch]: joins a hint another node kept for
// this partition (hinted handoff, docs/replication.md); +OK once committed
// (or already here), -TRYAGAIN while the partition is not served here or
// this node runs another epoch than the keeper's, -ERR hint refused for a
// malformed one. Nodes only.
void CmdGeokvHint(ConnectionContext& ctx, const Args& args) {
  if (!FromPeer(ctx)) return;
  if (args.size() > 4) return ctx.reply.Error(errors::kSyntax);
  const std::optional<uint32_t> p = PartitionArg(ctx.reply, args[1]);
  if (!p) return;
  std::optional<uint64_t> epoch;
  if (args.size() == 4) {
    const std::optional<int64_t> e = crdt::ParseInt64(args[3]);
    if (!e || *e < 0) return ctx.reply.Error(errors::kNotInteger);
    epoch = static_cast<uint64_t>(*e);
  }
  ctx.server.Hint(*p, args[2], epoch, ctx.Defer());
}

// GEOKV.AAE STATUS -> [[partition, peer, ms since, result], ...];
// GEOKV.AAE RUN [partition] -> how many exchanges were queued
// (docs/replication.md, "Anti-entropy").
void CmdGeokvAae(ConnectionContext& ctx, const Args& args) {
  if (EqualsIgnoreCase(args[1], "status") && args.size() == 2) {
    return ctx.server.AntiEntropyStatus(ctx.Defer());
  }
  if (EqualsIgnoreCase(args[1], "run") && args.size() <= 3) {
    std::optional<uint32_t> p;
    if (args.size() == 3) {
      p = PartitionArg(ctx.reply, args[2]);
      if (!p) return;
    }
    return ctx.server.RunAntiEntropy(p, ctx.Defer());
  }
  ReplySubcommandError(ctx.reply, "GEOKV.AAE", args[1], {"status", "run"});
}

// GEOKV.REBUILD partition: refills this node's replica of the partition from
// the other replicas (ReplicationCore::Rebuild); +OK once it has begun.
void CmdGeokvRebuild(ConnectionContext& ctx, const Args& args) {
  auto p = PartitionArg(ctx.reply, args[1]);
  if (p) ctx.server.Rebuild(*p, ctx.Defer());
}

// GEOKV.TOPOLOGY [APPLY text]: the running topology, or a new one to run
// (DESIGN.md "Membership change").
void CmdGeokvTopology(ConnectionContext& ctx, const Args& args) {
  if (args.size() == 1) return ctx.server.Topology(std::nullopt, ctx.Defer());
  if (EqualsIgnoreCase(args[1], "apply") && args.size() == 3) {
    return ctx.server.Topology(args[2], ctx.Defer());
  }
  ReplySubcommandError(ctx.reply, "GEOKV.TOPOLOGY", args[1], {"apply"});
}

// GEOKV.MEMBERS: every node with its datacenter, rack, epoch, state and
// partitions (docs/operations.md, "Watch the change").
void CmdGeokvMembers(ConnectionContext& ctx, const Args&) { ctx.server.Members(ctx.Defer()); }

// GEOKV.MOVES: every partition moving at this node, its role and whom it
// waits for (docs/operations.md, "Watch the change").
void CmdGeokvMoves(ConnectionContext& ctx, const Args&) { ctx.server.Moves(ctx.Defer()); }

}  // namespace geokv::replica
