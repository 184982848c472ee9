// Commands on keys of any type and on the whole key space: DEL EXISTS TYPE
// DBSIZE SCAN FLUSHDB FLUSHALL, and geokv's GEOKV.WHERE and GEOKV.DIGEST.
#include <xxhash.h>

#include <cstdio>

#include "crdt/codec.h"
#include "crdt/join.h"
#include "crdt/key_type.h"
#include "replica/commands/command_util.h"
#include "replica/commands/glob.h"
#include "replica/commands/handlers.h"

namespace geokv::replica {

void CmdDel(CommandContext& ctx, const Args& args) {
  int64_t deleted = 0;
  for (size_t i = 1; i < args.size(); ++i) {
    Mutate(ctx, args[i], [&](crdt::DeltaBuilder& b) {
      if (crdt::DeleteKey(b, args[i])) ++deleted;
    });
  }
  ctx.reply.Integer(deleted);
}

void CmdExists(CommandContext& ctx, const Args& args) {
  int64_t count = 0;
  for (size_t i = 1; i < args.size(); ++i) {
    if (crdt::VisibleType(StateOf(ctx, args[i]), args[i]) != crdt::ValueType::kNone) ++count;
  }
  ctx.reply.Integer(count);
}

void CmdType(CommandContext& ctx, const Args& args) {
  ctx.reply.Simple(crdt::TypeName(crdt::VisibleType(StateOf(ctx, args[1]), args[1])));
}

// DBSIZE: the keys this node holds. As in Redis, a key whose TTL passed counts
// until it is removed (active expiry does within a few cycles): an exact count
// would cost a pass over every key.
void CmdDbSize(CommandContext& ctx, const Args&) {
  int64_t total = 0;
  for (uint32_t p : ctx.partitions.HeldPartitions()) {
    total += static_cast<int64_t>(ctx.partitions.KeyCount(p));
  }
  ctx.reply.Integer(total);
}

// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
//
// The cursor is the number of the next partition to scan (0: from the start;
// a returned 0: done). Each call returns whole partitions until COUNT keys are
// reached, so every key present for the whole scan is returned exactly once;
// COUNT is a hint, as in Redis.
void CmdScan(CommandContext& ctx, const Args& args) {
  auto cursor = crdt::ParseInt64(args[1]);
  if (!cursor || *cursor < 0) return ctx.reply.Error("ERR invalid cursor");
  std::string_view pattern = "*";
  int64_t count = 10;
  std::optional<std::string> type;
  for (size_t i = 2; i < args.size(); i += 2) {
    if (i + 1 >= args.size()) return ctx.reply.Error(errors::kSyntax);
    if (EqualsIgnoreCase(args[i], "match")) {
      pattern = args[i + 1];
    } else if (EqualsIgnoreCase(args[i], "count")) {
      auto n = IntegerArg(ctx, args[i + 1]);
      if (!n) return;
      if (*n < 1) return ctx.reply.Error(errors::kSyntax);
      count = *n;
    } else if (EqualsIgnoreCase(args[i], "type")) {
      type = args[i + 1];
    } else {
      return ctx.reply.Error(errors::kSyntax);
    }
  }
  std::vector<std::string> keys;
  int64_t next = 0;
  for (uint32_t p : ctx.partitions.HeldPartitions()) {
    if (p < *cursor) continue;
    if (static_cast<int64_t>(keys.size()) >= count) {
      next = p;
      break;
    }
    ForEachLiveKey(ctx, p, [&](const std::string& key) {
      if (!GlobMatch(pattern, key)) return true;
      if (type &&
          !EqualsIgnoreCase(*type, crdt::TypeName(crdt::VisibleType(ctx.partitions.State(p), key)))) {
        return true;
      }
      keys.push_back(key);
      return true;
    });
  }
  ctx.reply.ArrayHeader(2);
  ctx.reply.Bulk(std::to_string(next));
  ctx.reply.ArrayHeader(keys.size());
  for (const auto& k : keys) ctx.reply.Bulk(k);
}

// FLUSHDB / FLUSHALL [ASYNC | SYNC]: an observed-remove of every key this node
// holds, replicated like any write.
void CmdFlush(CommandContext& ctx, const Args& args) {
  if (args.size() > 2 || (args.size() == 2 && !EqualsIgnoreCase(args[1], "async") &&
                          !EqualsIgnoreCase(args[1], "sync"))) {
    return ctx.reply.Error(errors::kSyntax);
  }
  for (uint32_t p : ctx.partitions.HeldPartitions()) {
    crdt::DeltaBuilder b(ctx.partitions.State(p), ctx.partitions.self());
    crdt::FlushPartition(b);
    if (!b.empty()) ctx.partitions.Commit(p, std::move(b).Finish());
  }
  ctx.reply.Simple("OK");
}

// GEOKV.WHERE key -> [partition, [node id, ...]] in preference order.
void CmdGeokvWhere(CommandContext& ctx, const Args& args) {
  const uint32_t p = ctx.partitions.PartitionOf(args[1]);
  const auto nodes = ctx.partitions.PreferenceList(p);
  ctx.reply.ArrayHeader(2);
  ctx.reply.Integer(p);
  ctx.reply.ArrayHeader(nodes.size());
  for (const auto& n : nodes) ctx.reply.Bulk(n);
}

std::string PartitionDigest(const crdt::StateView& state) {
  const std::string bytes = crdt::EncodeSnapshot(crdt::TakeSnapshot(state));
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx",
                static_cast<unsigned long long>(XXH64(bytes.data(), bytes.size(), 0)));
  return hex;
}

// GEOKV.DIGEST -> [[partition, hex digest], ...] for the partitions this node
// holds. Equal digests mean equal replica states (atoms and causal context).
void CmdGeokvDigest(CommandContext& ctx, const Args&) {
  const auto held = ctx.partitions.HeldPartitions();
  ctx.reply.ArrayHeader(held.size());
  for (uint32_t p : held) {
    ctx.reply.ArrayHeader(2);
    ctx.reply.Integer(p);
    ctx.reply.Bulk(PartitionDigest(ctx.partitions.State(p)));
  }
}

}  // namespace geokv::replica
