// Set commands: SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD (add-wins OR-set).
#include <set>

#include "crdt/or_set.h"
#include "replica/commands/command_util.h"
#include "replica/commands/handlers.h"

namespace geokv::replica {

using crdt::ValueType;

namespace {
bool ReadableSet(CommandContext& ctx, const Args& args) {
  return CheckType(ctx, args[1], ValueType::kSet).has_value();
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

}  // namespace geokv::replica
