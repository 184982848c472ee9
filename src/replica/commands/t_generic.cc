// Commands on keys of any type and on the whole key space: DEL UNLINK EXISTS
// TOUCH TYPE DBSIZE SCAN KEYS RANDOMKEY RENAME RENAMENX COPY OBJECT TIME
// FLUSHDB FLUSHALL, and geokv's GEOKV.WHERE and GEOKV.DIGEST.
#include <xxhash.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "common/assert.h"
#include "crdt/codec.h"
#include "crdt/join.h"
#include "crdt/key_type.h"
#include "crdt/mv_register.h"
#include "crdt/or_map.h"
#include "crdt/or_set.h"
#include "crdt/scalar.h"
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
// The cursor is (partition << kPartitionShift) | position: the partition to
// go on with and the position (ScanPosition) reached in it. Keys are visited
// in position order, so a key present for the whole scan is returned at least
// once whatever is written or deleted between calls. A call reads the keys of
// the partitions it visits, and returns about COUNT keys (before MATCH and
// TYPE filter them, as in Redis).
void CmdScan(CommandContext& ctx, const Args& args) {
  constexpr int kPartitionShift = 49;  // positions are below 2^48 (+1)
  auto cursor = CursorArg(ctx, args[1]);
  if (!cursor) return;
  auto options = ScanOptionsArg(ctx, args, 2, /*allow_type=*/true);
  if (!options) return;
  const uint64_t start_partition = *cursor >> kPartitionShift;
  uint64_t position = *cursor & ((uint64_t{1} << kPartitionShift) - 1);
  std::vector<std::string> found;
  uint64_t visited = 0, next = 0;
  for (uint32_t p : ctx.partitions.HeldPartitions()) {
    GEOKV_ASSERT(p < (uint64_t{1} << (64 - kPartitionShift)));
    if (p < start_partition) continue;
    if (p > start_partition) position = 0;
    if (visited >= options->count) {
      next = uint64_t{p} << kPartitionShift;
      break;
    }
    std::vector<std::string> keys;
    ForEachLiveKey(ctx, p, [&](const std::string& key) {
      keys.push_back(key);
      return true;
    });
    uint64_t rest = 0;
    const auto batch = ScanBatch(keys, position, options->count - visited, &rest);
    visited += batch.size();
    for (size_t i : batch) {
      const std::string& key = keys[i];
      if (!GlobMatch(options->pattern, key)) continue;
      if (options->type && !EqualsIgnoreCase(*options->type, crdt::TypeName(crdt::VisibleType(
                                                                 ctx.partitions.State(p), key)))) {
        continue;
      }
      found.push_back(key);
    }
    if (rest != 0) {
      next = (uint64_t{p} << kPartitionShift) | rest;
      break;
    }
  }
  ctx.reply.ArrayHeader(2);
  ctx.reply.Bulk(std::to_string(next));
  ctx.reply.ArrayHeader(found.size());
  for (const auto& k : found) ctx.reply.Bulk(k);
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

namespace {

bool Exists(CommandContext& ctx, const std::string& key) {
  return crdt::VisibleType(StateOf(ctx, key), key) != crdt::ValueType::kNone;
}

// Replaces `to` (whatever it held) by a copy of `from`'s visible value and its
// TTL: a string becomes a register of its bytes, collections are written
// afresh.
// REQUIRES: `from` exists.
void CopyValue(CommandContext& ctx, const std::string& from, const std::string& to) {
  const crdt::LiveView source = StateOf(ctx, from);
  const crdt::ValueType type = crdt::VisibleType(source, from);
  std::string bytes;
  std::vector<std::string> items;  // set members or mvreg siblings
  std::vector<std::pair<std::string, crdt::ScalarValue>> fields;
  switch (type) {
    case crdt::ValueType::kString:
      bytes = crdt::ReadScalar(source, crdt::ScalarRef{from, std::nullopt}).ToBytes();
      break;
    case crdt::ValueType::kSet:
      items = crdt::Members(source, from);
      break;
    case crdt::ValueType::kHash:
      fields = crdt::ReadFields(source, from);
      break;
    case crdt::ValueType::kMvRegister:
      items = crdt::MvGet(source, from).values;
      break;
    case crdt::ValueType::kNone:
      GEOKV_ASSERT(false);
  }
  const std::optional<int64_t> deadline = crdt::Deadline(source, from);
  const crdt::Hlc now = ctx.partitions.Now();
  Mutate(ctx, to, [&](crdt::DeltaBuilder& b) {
    crdt::DeleteKey(b, to);
    crdt::Atom atom;
    atom.hlc = now;
    switch (type) {
      case crdt::ValueType::kString:
        atom.bytes = bytes;
        // As a SET: "none" against concurrent EXPIREs unless a TTL is copied.
        if (!deadline) atom.amount = crdt::kClearsExpiry;
        b.Add(crdt::Path{to, crdt::Slot::kRegister, ""}, atom);
        break;
      case crdt::ValueType::kSet:
        for (const auto& m : items) b.Add(crdt::Path{to, crdt::Slot::kMember, m}, crdt::Atom{});
        break;
      case crdt::ValueType::kHash:
        for (const auto& [name, value] : fields) {
          atom.bytes = value.ToBytes();
          b.Add(crdt::Path{to, crdt::Slot::kFieldRegister, name}, atom);
        }
        break;
      case crdt::ValueType::kMvRegister:
        for (const auto& v : items) {
          crdt::Atom sibling;
          sibling.bytes = v;
          b.Add(crdt::Path{to, crdt::Slot::kMultiValue, ""}, sibling);
        }
        break;
      case crdt::ValueType::kNone:
        break;
    }
    if (deadline) crdt::SetDeadline(b, to, *deadline);  // Redis copies the TTL
  });
}

void Rename(CommandContext& ctx, const Args& args, bool nx) {
  const std::string &from = args[1], &to = args[2];
  if (!Exists(ctx, from)) return ctx.reply.Error(errors::kNoSuchKey);
  if (from == to) return nx ? ctx.reply.Integer(0) : ctx.reply.Simple("OK");
  if (nx && Exists(ctx, to)) return ctx.reply.Integer(0);
  CopyValue(ctx, from, to);
  Mutate(ctx, from, [&](crdt::DeltaBuilder& b) { crdt::DeleteKey(b, from); });
  return nx ? ctx.reply.Integer(1) : ctx.reply.Simple("OK");
}

// OBJECT ENCODING: the name Redis 7.0 would give the value's encoding (clients
// and tools only show it).
std::string EncodingName(CommandContext& ctx, const std::string& key) {
  const crdt::LiveView state = StateOf(ctx, key);
  switch (crdt::VisibleType(state, key)) {
    case crdt::ValueType::kString: {
      const std::string value =
          crdt::ReadScalar(state, crdt::ScalarRef{key, std::nullopt}).ToBytes();
      if (crdt::ParseInt64(value)) return "int";
      return value.size() <= 44 ? "embstr" : "raw";
    }
    case crdt::ValueType::kSet: {
      const auto members = crdt::Members(state, key);
      const bool integers = members.size() <= 512 &&
                            std::all_of(members.begin(), members.end(), [](const std::string& m) {
                              return crdt::ParseInt64(m).has_value();
                            });
      return integers ? "intset" : "hashtable";
    }
    case crdt::ValueType::kHash: {
      const auto fields = crdt::ReadFields(state, key);
      const bool small =
          fields.size() <= 128 && std::all_of(fields.begin(), fields.end(), [](const auto& f) {
            return f.first.size() <= 64 && f.second.ToBytes().size() <= 64;
          });
      return small ? "listpack" : "hashtable";
    }
    case crdt::ValueType::kMvRegister:
    case crdt::ValueType::kNone:
      break;
  }
  return "raw";
}

}  // namespace

void CmdTouch(CommandContext& ctx, const Args& args) {
  int64_t count = 0;
  for (size_t i = 1; i < args.size(); ++i) count += Exists(ctx, args[i]) ? 1 : 0;
  ctx.reply.Integer(count);
}

// KEYS pattern: every key of this node's partitions that matches, partition by
// partition (a full pass, as in Redis).
void CmdKeys(CommandContext& ctx, const Args& args) {
  std::vector<std::string> keys;
  for (uint32_t p : ctx.partitions.HeldPartitions()) {
    ForEachLiveKey(ctx, p, [&](const std::string& key) {
      if (GlobMatch(args[1], key)) keys.push_back(key);
      return true;
    });
  }
  ctx.reply.ArrayHeader(keys.size());
  for (const auto& k : keys) ctx.reply.Bulk(k);
}

// RANDOMKEY: a partition drawn by its key count, then one of its live keys
// (the counts include keys that expired and are not yet removed: a partition
// left with none of its own passes the draw on to the next).
void CmdRandomKey(CommandContext& ctx, const Args&) {
  const auto held = ctx.partitions.HeldPartitions();
  uint64_t total = 0;
  for (uint32_t p : held) total += ctx.partitions.KeyCount(p);
  if (total == 0) return ctx.reply.Null();
  uint64_t pick = RandomBelow(total);
  size_t first = 0;
  while (first + 1 < held.size() && pick >= ctx.partitions.KeyCount(held[first])) {
    pick -= ctx.partitions.KeyCount(held[first++]);
  }
  for (size_t i = 0; i < held.size(); ++i) {
    std::vector<std::string> live;
    ForEachLiveKey(ctx, held[(first + i) % held.size()], [&](const std::string& key) {
      live.push_back(key);
      return true;
    });
    if (!live.empty()) return ctx.reply.Bulk(live[RandomBelow(live.size())]);
  }
  ctx.reply.Null();
}

void CmdRename(CommandContext& ctx, const Args& args) { Rename(ctx, args, /*nx=*/false); }
void CmdRenameNx(CommandContext& ctx, const Args& args) { Rename(ctx, args, /*nx=*/true); }

// COPY source destination [DB destination-db] [REPLACE]
void CmdCopy(CommandContext& ctx, const Args& args) {
  bool replace = false;
  int64_t db = 0;
  for (size_t i = 3; i < args.size(); ++i) {
    if (EqualsIgnoreCase(args[i], "replace")) {
      replace = true;
    } else if (EqualsIgnoreCase(args[i], "db") && i + 1 < args.size()) {
      auto n = IntegerArg(ctx, args[++i]);
      if (!n) return;
      db = *n;
    } else {
      return ctx.reply.Error(errors::kSyntax);
    }
  }
  if (db != 0) return ctx.reply.Error(errors::kDbIndex);
  const std::string &from = args[1], &to = args[2];
  if (from == to) return ctx.reply.Error(errors::kSameObject);
  if (!Exists(ctx, from) || (!replace && Exists(ctx, to))) return ctx.reply.Integer(0);
  CopyValue(ctx, from, to);
  ctx.reply.Integer(1);
}

std::optional<std::vector<int>> ObjectKeys(const Args& args) {
  if (args.size() < 3) return std::vector<int>{};
  return std::vector<int>{2};
}

// OBJECT ENCODING|FREQ|IDLETIME|REFCOUNT key, OBJECT HELP
void CmdObject(CommandContext& ctx, const Args& args) {
  const std::string& sub = args[1];
  const bool keyed = EqualsIgnoreCase(sub, "encoding") || EqualsIgnoreCase(sub, "freq") ||
                     EqualsIgnoreCase(sub, "idletime") || EqualsIgnoreCase(sub, "refcount");
  if (EqualsIgnoreCase(sub, "help") && args.size() == 2) {
    static const char* const kHelp[] = {
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Print this help."};
    ctx.reply.ArrayHeader(std::size(kHelp));
    for (const char* line : kHelp) ctx.reply.Simple(line);
    return;
  }
  if (!keyed && !EqualsIgnoreCase(sub, "help")) {
    return ctx.reply.Error("ERR unknown subcommand '" + sub.substr(0, 128) + "'. Try OBJECT HELP.");
  }
  if (args.size() != (keyed ? 3u : 2u)) {
    std::string name = "object|" + sub;
    for (char& c : name) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    }
    return ctx.reply.Error("ERR wrong number of arguments for '" + name + "' command");
  }
  if (!Exists(ctx, args[2])) return ctx.reply.Null();
  if (EqualsIgnoreCase(sub, "encoding")) return ctx.reply.Bulk(EncodingName(ctx, args[2]));
  if (EqualsIgnoreCase(sub, "freq")) {
    return ctx.reply.Error(errors::kLfuNotSelected);
  }
  // IDLETIME: access times are not tracked (0); REFCOUNT: values are not shared.
  ctx.reply.Integer(EqualsIgnoreCase(sub, "idletime") ? 0 : 1);
}

void CmdTime(CommandContext& ctx, const Args&) {
  const auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  ctx.reply.ArrayHeader(2);
  ctx.reply.Bulk(std::to_string(now / 1'000'000));
  ctx.reply.Bulk(std::to_string(now % 1'000'000));
}

}  // namespace geokv::replica
