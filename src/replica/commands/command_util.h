// Helpers shared by the command handlers (t_*.cc): argument parsing, type
// checks and the mutate-then-commit step. Internal to src/replica/commands.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "crdt/delta.h"
#include "crdt/expiry.h"
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

// The state of the partition that holds `key` as a reader sees it now: a key
// whose TTL has passed is absent (crdt::LiveView at Partitions::NowMs). Every
// read goes through here. REQUIRES: the key is held (routing guarantees it
// for every key of the command's key spec).
crdt::LiveView StateOf(CommandContext& ctx, std::string_view key);

// Each key of partition p a reader sees now (no expired key), in byte order,
// until visit returns false: for SCAN, KEYS and the like.
void ForEachLiveKey(CommandContext& ctx, uint32_t p,
                    const std::function<bool(const std::string&)>& visit);

// Lazy expiry: if `key` is dead now (its TTL passed, or only expiry atoms are
// left), commits its removal (an observed-remove, as DEL), so that a write to
// it starts a new, persistent key. Mutate calls it first.
void RemoveIfDead(CommandContext& ctx, uint32_t partition, std::string_view key);

// The key's visible type if it is `expected` or none; otherwise writes
// WRONGTYPE and returns nullopt.
std::optional<crdt::ValueType> CheckType(CommandContext& ctx, std::string_view key,
                                         crdt::ValueType expected);

// Builds a delta for `key`'s partition with `mutator` and commits it, unless
// the mutator changed nothing. The builder reads the partition's raw state,
// after RemoveIfDead.
template <typename Mutator>
void Mutate(CommandContext& ctx, std::string_view key, Mutator&& mutator) {
  const uint32_t partition = ctx.partitions.PartitionOf(key);
  RemoveIfDead(ctx, partition, key);
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

// Expiry arguments (t_expire.cc, t_string.cc).

// Writes Redis's "ERR invalid expire time in '<command>' command".
void ReplyInvalidExpireTime(CommandContext& ctx, const Args& args);

// The unit and base of a TTL argument: EX/EXPIRE seconds, PX/PEXPIRE ms,
// EXAT/EXPIREAT seconds since the epoch, PXAT/PEXPIREAT ms since the epoch.
struct TtlUnit {
  bool seconds = false;
  bool relative = false;
};

// The absolute deadline in ms that a SET/GETEX/SETEX option value gives, as
// Redis 7.0 checks it: an integer (else the "not an integer" error) that is
// positive and neither overflows in ms nor when added to now (else the
// invalid-expire-time error). nullopt after writing the error.
std::optional<int64_t> SetOptionDeadline(CommandContext& ctx, const Args& args,
                                         const std::string& value, TtlUnit unit);

}  // namespace geokv::replica
