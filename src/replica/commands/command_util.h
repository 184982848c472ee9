// Helpers shared by the command handlers (t_*.cc): argument parsing, type
// checks and the mutate-then-commit step. Internal to src/replica/commands.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "crdt/delta.h"
#include "crdt/key_type.h"
#include "crdt/scalar.h"
#include "replica/commands/command.h"

namespace geokv::replica {

// Case-insensitive ASCII comparison (option words such as NX, MATCH).
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// Parses an integer argument; on failure writes "value is not an integer" and
// returns nullopt.
std::optional<int64_t> IntegerArg(RespWriter& reply, const std::string& arg);
inline std::optional<int64_t> IntegerArg(CommandContext& ctx, const std::string& arg) {
  return IntegerArg(ctx.reply, arg);
}

// The state of the partition that holds `key`. REQUIRES: the key is held
// (routing guarantees it for every key of the command's key spec).
crdt::MutableState& StateOf(CommandContext& ctx, std::string_view key);

// The key's visible type if it is `expected` or none; otherwise writes
// WRONGTYPE and returns nullopt.
std::optional<crdt::ValueType> CheckType(CommandContext& ctx, std::string_view key,
                                         crdt::ValueType expected);

// Builds a delta for `key`'s partition with `mutator` and commits it, unless
// the mutator changed nothing.
template <typename Mutator>
void Mutate(CommandContext& ctx, std::string_view key, Mutator&& mutator) {
  const uint32_t partition = ctx.partitions.PartitionOf(key);
  crdt::DeltaBuilder builder(ctx.partitions.State(partition), ctx.partitions.self());
  mutator(builder);
  if (!builder.empty()) ctx.partitions.Commit(partition, std::move(builder).Finish());
}

// The value `current` incremented by `by`; or nullopt after writing the error
// (`not_integer` when the value is not an integer, overflow otherwise).
std::optional<int64_t> CheckedIncrement(CommandContext& ctx, const crdt::ScalarValue& current,
                                        int64_t by, std::string_view not_integer);

// Writes a scalar as a bulk string, or null when absent.
void ReplyScalar(CommandContext& ctx, const crdt::ScalarValue& value);

}  // namespace geokv::replica
