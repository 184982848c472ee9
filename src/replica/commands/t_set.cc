// Set commands (add-wins OR-set): SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD
// SINTER SINTERCARD SINTERSTORE SUNION SUNIONSTORE SDIFF SDIFFSTORE SMOVE SPOP
// SRANDMEMBER SSCAN. A *STORE writes its destination as a new set: it removes
// what it observed there, so members added concurrently at the destination
// survive (add wins), as for any SADD.
#include <algorithm>
#include <set>

#include "crdt/key_type.h"
#include "crdt/or_set.h"
#include "replica/commands/command_util.h"
#include "replica/commands/glob.h"
#include "replica/commands/handlers.h"

namespace geokv::replica {

using crdt::ValueType;

namespace {
bool ReadableSet(CommandContext& ctx, const Args& args) {
  return CheckType(ctx, args[1], ValueType::kSet).has_value();
}
}  // namespace

namespace {

using Members = std::vector<std::string>;

// The members of each key (a missing key is an empty set), or nullopt after
// WRONGTYPE when any key holds another type (Redis checks every key first).
std::optional<std::vector<Members>> ReadSets(CommandContext& ctx, const Args& args, size_t first,
                                             size_t end) {
  for (size_t i = first; i < end; ++i) {
    if (!CheckType(ctx, args[i], ValueType::kSet)) return std::nullopt;
  }
  std::vector<Members> sets;
  for (size_t i = first; i < end; ++i)
    sets.push_back(crdt::Members(StateOf(ctx, args[i]), args[i]));
  return sets;
}

enum class SetOp { kInter, kUnion, kDiff };

// Members in byte order (every input is).
Members Combine(const std::vector<Members>& sets, SetOp op, size_t limit = SIZE_MAX) {
  Members out;
  if (sets.empty()) return out;
  switch (op) {
    case SetOp::kInter:
      out = sets[0];
      for (size_t i = 1; i < sets.size() && !out.empty(); ++i) {
        Members next;
        std::set_intersection(out.begin(), out.end(), sets[i].begin(), sets[i].end(),
                              std::back_inserter(next));
        out = std::move(next);
      }
      break;
    case SetOp::kUnion: {
      std::set<std::string> all;
      for (const auto& s : sets) all.insert(s.begin(), s.end());
      out.assign(all.begin(), all.end());
      break;
    }
    case SetOp::kDiff:
      out = sets[0];
      for (size_t i = 1; i < sets.size() && !out.empty(); ++i) {
        Members next;
        std::set_difference(out.begin(), out.end(), sets[i].begin(), sets[i].end(),
                            std::back_inserter(next));
        out = std::move(next);
      }
      break;
  }
  if (out.size() > limit) out.resize(limit);
  return out;
}

// As Redis 7.0: a set in RESP3 where members are distinct (SINTER, SPOP n),
// an array where they may repeat or are a sample (SRANDMEMBER, SSCAN).
void ReplyMembers(CommandContext& ctx, const Members& members, bool as_set) {
  as_set ? ctx.reply.SetHeader(members.size()) : ctx.reply.ArrayHeader(members.size());
  for (const auto& m : members) ctx.reply.Bulk(m);
}

// Replaces `key` (whatever it held) by the set `members`; no members: deletes it.
void StoreSet(CommandContext& ctx, const std::string& key, const Members& members) {
  Mutate(ctx, key, [&](crdt::DeltaBuilder& b) {
    crdt::DeleteKey(b, key);
    for (const auto& m : members) b.Add(crdt::Path{key, crdt::Slot::kMember, m}, crdt::Atom{});
  });
}

// SINTER/SUNION/SDIFF key [key ...]
void SetOpCommand(CommandContext& ctx, const Args& args, SetOp op) {
  auto sets = ReadSets(ctx, args, 1, args.size());
  if (sets) ReplyMembers(ctx, Combine(*sets, op), /*as_set=*/true);
}

// SINTERSTORE/SUNIONSTORE/SDIFFSTORE destination key [key ...]
void SetOpStoreCommand(CommandContext& ctx, const Args& args, SetOp op) {
  auto sets = ReadSets(ctx, args, 2, args.size());
  if (!sets) return;
  const Members result = Combine(*sets, op);
  StoreSet(ctx, args[1], result);
  ctx.reply.Integer(static_cast<int64_t>(result.size()));
}

}  // namespace

void CmdSAdd(CommandContext& ctx, const Args& args) {
  if (!ReadableSet(ctx, args)) return;
  const std::string& key = args[1];
  int64_t added = 0;
  std::set<std::string_view> seen;
  Mutate(ctx, key, [&](crdt::DeltaBuilder& b) {
    for (size_t i = 2; i < args.size(); ++i) {
      if (!seen.insert(args[i]).second) continue;
      if (!crdt::IsMember(b.state(), key, args[i])) ++added;
      crdt::AddMember(b, key, args[i]);
    }
  });
  ctx.reply.Integer(added);
}

void CmdSRem(CommandContext& ctx, const Args& args) {
  if (!ReadableSet(ctx, args)) return;
  int64_t removed = 0;
  std::set<std::string_view> seen;
  Mutate(ctx, args[1], [&](crdt::DeltaBuilder& b) {
    for (size_t i = 2; i < args.size(); ++i) {
      if (seen.insert(args[i]).second && crdt::RemoveMember(b, args[1], args[i])) ++removed;
    }
  });
  DeleteIfEmptied(ctx, args[1]);
  ctx.reply.Integer(removed);
}

void CmdSMembers(CommandContext& ctx, const Args& args) {
  if (!ReadableSet(ctx, args)) return;
  const auto members = crdt::Members(StateOf(ctx, args[1]), args[1]);
  ctx.reply.SetHeader(members.size());
  for (const auto& m : members) ctx.reply.Bulk(m);
}

void CmdSIsMember(CommandContext& ctx, const Args& args) {
  if (!ReadableSet(ctx, args)) return;
  ctx.reply.Integer(crdt::IsMember(StateOf(ctx, args[1]), args[1], args[2]) ? 1 : 0);
}

void CmdSMIsMember(CommandContext& ctx, const Args& args) {
  if (!ReadableSet(ctx, args)) return;
  ctx.reply.ArrayHeader(args.size() - 2);
  for (size_t i = 2; i < args.size(); ++i) {
    ctx.reply.Integer(crdt::IsMember(StateOf(ctx, args[1]), args[1], args[i]) ? 1 : 0);
  }
}

void CmdSCard(CommandContext& ctx, const Args& args) {
  if (!ReadableSet(ctx, args)) return;
  ctx.reply.Integer(static_cast<int64_t>(crdt::Cardinality(StateOf(ctx, args[1]), args[1])));
}

void CmdSInter(CommandContext& ctx, const Args& args) { SetOpCommand(ctx, args, SetOp::kInter); }
void CmdSUnion(CommandContext& ctx, const Args& args) { SetOpCommand(ctx, args, SetOp::kUnion); }
void CmdSDiff(CommandContext& ctx, const Args& args) { SetOpCommand(ctx, args, SetOp::kDiff); }
void CmdSInterStore(CommandContext& ctx, const Args& args) {
  SetOpStoreCommand(ctx, args, SetOp::kInter);
}
void CmdSUnionStore(CommandContext& ctx, const Args& args) {
  SetOpStoreCommand(ctx, args, SetOp::kUnion);
}
void CmdSDiffStore(CommandContext& ctx, const Args& args) {
  SetOpStoreCommand(ctx, args, SetOp::kDiff);
}

std::optional<std::vector<int>> SInterCardKeys(const Args& args) {
  auto numkeys = crdt::ParseInt64(args.size() > 1 ? args[1] : "");
  if (!numkeys || *numkeys < 1 || *numkeys > static_cast<int64_t>(args.size()) - 2) {
    return std::nullopt;
  }
  std::vector<int> keys;
  for (int i = 0; i < *numkeys; ++i) keys.push_back(2 + i);
  return keys;
}

// SINTERCARD numkeys key [key ...] [LIMIT limit]
void CmdSInterCard(CommandContext& ctx, const Args& args) {
  auto numkeys = crdt::ParseInt64(args[1]);
  if (!numkeys || *numkeys < 1) return ctx.reply.Error(errors::kNumKeysPositive);
  if (*numkeys > static_cast<int64_t>(args.size()) - 2) {
    return ctx.reply.Error(errors::kNumKeysTooMany);
  }
  const size_t end = 2 + static_cast<size_t>(*numkeys);
  int64_t limit = 0;
  for (size_t i = end; i < args.size(); i += 2) {
    if (!EqualsIgnoreCase(args[i], "limit") || i + 1 >= args.size()) {
      return ctx.reply.Error(errors::kSyntax);
    }
    auto n = crdt::ParseInt64(args[i + 1]);
    if (!n || *n < 0) return ctx.reply.Error(errors::kLimitNegative);
    limit = *n;
  }
  auto sets = ReadSets(ctx, args, 2, end);
  if (!sets) return;
  const Members result =
      Combine(*sets, SetOp::kInter, limit == 0 ? SIZE_MAX : static_cast<size_t>(limit));
  ctx.reply.Integer(static_cast<int64_t>(result.size()));
}

// SMOVE source destination member
void CmdSMove(CommandContext& ctx, const Args& args) {
  const std::string &source = args[1], &destination = args[2], &member = args[3];
  const ValueType source_type = crdt::VisibleType(StateOf(ctx, source), source);
  if (source_type == ValueType::kNone) return ctx.reply.Integer(0);
  if (!CheckType(ctx, source, ValueType::kSet) || !CheckType(ctx, destination, ValueType::kSet)) {
    return;
  }
  const bool present = crdt::IsMember(StateOf(ctx, source), source, member);
  if (source == destination || !present) return ctx.reply.Integer(present ? 1 : 0);
  Mutate(ctx, source, [&](crdt::DeltaBuilder& b) { crdt::RemoveMember(b, source, member); });
  DeleteIfEmptied(ctx, source);
  Mutate(ctx, destination, [&](crdt::DeltaBuilder& b) { crdt::AddMember(b, destination, member); });
  ctx.reply.Integer(1);
}

// SPOP key [count]
void CmdSPop(CommandContext& ctx, const Args& args) {
  if (args.size() > 3) return ctx.reply.Error(errors::kSyntax);
  int64_t count = 1;
  if (args.size() == 3) {
    auto n = crdt::ParseInt64(args[2]);
    if (!n || *n < 0) return ctx.reply.Error(errors::kPositiveCount);
    count = *n;
  }
  if (!ReadableSet(ctx, args)) return;
  Members members = crdt::Members(StateOf(ctx, args[1]), args[1]);
  if (args.size() == 2 && members.empty()) return ctx.reply.Null();
  KeepRandom(members, static_cast<uint64_t>(count));
  Mutate(ctx, args[1], [&](crdt::DeltaBuilder& b) {
    for (const auto& m : members) crdt::RemoveMember(b, args[1], m);
  });
  DeleteIfEmptied(ctx, args[1]);
  if (args.size() == 2) return ctx.reply.Bulk(members[0]);
  ReplyMembers(ctx, members, /*as_set=*/true);
}

// SRANDMEMBER key [count]: a positive count gives distinct members, a negative
// one may repeat them.
void CmdSRandMember(CommandContext& ctx, const Args& args) {
  if (args.size() > 3) return ctx.reply.Error(errors::kSyntax);
  std::optional<int64_t> count;
  if (args.size() == 3) {
    count = RandomCountArg(ctx, args[2]);
    if (!count) return;
  }
  if (!ReadableSet(ctx, args)) return;
  Members members = crdt::Members(StateOf(ctx, args[1]), args[1]);
  if (!count) {
    if (members.empty()) return ctx.reply.Null();
    return ctx.reply.Bulk(members[RandomBelow(members.size())]);
  }
  if (*count < 0) {
    if (members.empty()) return ctx.reply.ArrayHeader(0);
    ctx.reply.ArrayHeader(static_cast<size_t>(-*count));
    for (int64_t i = 0; i < -*count; ++i) ctx.reply.Bulk(members[RandomBelow(members.size())]);
    return;
  }
  KeepRandom(members, static_cast<uint64_t>(*count));
  ReplyMembers(ctx, members, /*as_set=*/false);
}

// SSCAN key cursor [MATCH pattern] [COUNT count]
void CmdSScan(CommandContext& ctx, const Args& args) {
  auto cursor = CursorArg(ctx, args[2]);
  if (!cursor || !ReadableSet(ctx, args)) return;
  const Members members = crdt::Members(StateOf(ctx, args[1]), args[1]);
  if (members.empty()) return ReplyEmptyScan(ctx);  // Redis: before the options
  auto options = ScanOptionsArg(ctx, args, 3, /*allow_type=*/false);
  if (!options) return;
  uint64_t next = 0;
  Members batch;
  for (size_t i : ScanBatch(members, *cursor, options->count, &next)) {
    if (GlobMatch(options->pattern, members[i])) batch.push_back(members[i]);
  }
  ctx.reply.ArrayHeader(2);
  ctx.reply.Bulk(std::to_string(next));
  ReplyMembers(ctx, batch, /*as_set=*/false);
}

}  // namespace geokv::replica
