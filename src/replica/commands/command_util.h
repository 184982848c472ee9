// Helpers shared by the command handlers (t_*.cc): argument parsing, type
// checks and the mutate-then-commit step. Internal to src/replica/commands.
#pragma once

#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "crdt/delta.h"
#include "crdt/expiry.h"
#include "crdt/key_type.h"
#include "crdt/scalar.h"
#include "replica/commands/command.h"

namespace geokv::replica {

// Case-insensitive ASCII comparison (option words such as NX, MATCH).
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// Redis 7's reply to a container command (CLIENT, SLOWLOG, ...) whose
// subcommand `sub` is unknown ("ERR unknown subcommand 'x'. Try CLIENT HELP.")
// or, when it is one of `known`, has the wrong number of arguments ("ERR wrong
// number of arguments for 'client|setname' command").
void ReplySubcommandError(RespWriter& reply, std::string_view container, const std::string& sub,
                          std::initializer_list<std::string_view> known);

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

// After a removal from a set or hash (SREM, SPOP, SMOVE, HDEL): if the key
// has nothing left but its TTL, deletes it with the TTL, as Redis deletes a
// collection that became empty (a later write then starts a persistent key,
// and DBSIZE does not count it).
void DeleteIfEmptied(CommandContext& ctx, std::string_view key);

// The value `current` incremented by `by`; or nullopt after writing the error
// (`not_integer` when the value is not an integer, overflow otherwise).
std::optional<int64_t> CheckedIncrement(CommandContext& ctx, const crdt::ScalarValue& current,
                                        int64_t by, std::string_view not_integer);

// A float increment as Redis computes it (long double arithmetic, the result
// printed with 17 fraction digits), turned into an exact step.
struct FloatIncrement {
  std::string reply;     // the new value as Redis prints it
  crdt::Decimal delta;   // exact: the current exact value + delta == reply
  bool rewrite = false;  // the current value is not a decimal (hex, say):
                         // write `reply` as a register instead of adding
};
// `by` must already have been checked (FloatArg). Writes `not_float` when the
// current value is not a float, or the NaN/Infinity error, and returns nullopt.
std::optional<FloatIncrement> CheckedFloatIncrement(CommandContext& ctx,
                                                    const crdt::StateView& state,
                                                    const crdt::ScalarRef& ref, long double by,
                                                    std::string_view not_float);
// Parses a float argument as Redis's string2ld; on failure writes "value is
// not a valid float" and returns nullopt.
std::optional<long double> FloatArg(CommandContext& ctx, const std::string& arg);

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

// The largest string a command may build (Redis's default proto-max-bulk-len;
// errors::kStringTooLong past it).
inline constexpr size_t kStringBytesMax = size_t{512} << 20;

// The bytes of a string key ("" when absent). REQUIRES: its type was checked.
std::string ReadString(CommandContext& ctx, const std::string& key);
// Replaces whatever `key` holds (any type) with a string register of `value`;
// `ttl`: kKeep (APPEND, SETRANGE, SETBIT) or kClear (as SET: BITOP, MSETNX).
void ReplaceString(CommandContext& ctx, const std::string& key, std::string value,
                   crdt::TtlEffect ttl);

// Negative counts of SRANDMEMBER and HRANDFIELD repeat elements: the reply is
// bounded here rather than by the client's number (errors::kRandomCountRange
// past it).
inline constexpr int64_t kRandomRepeatsMax = int64_t{1} << 20;

// Uniform in [0, n) from a per-thread generator seeded once from the OS: for
// the commands that choose at random (SPOP, SRANDMEMBER, HRANDFIELD,
// RANDOMKEY). REQUIRES: n > 0.
uint64_t RandomBelow(uint64_t n);

// Keeps min(n, size) distinct elements of `items`, chosen at random (a
// partial Fisher-Yates shuffle), in random order.
template <typename T>
void KeepRandom(std::vector<T>& items, uint64_t n) {
  const size_t kept = n < items.size() ? static_cast<size_t>(n) : items.size();
  for (size_t i = 0; i < kept; ++i) std::swap(items[i], items[i + RandomBelow(items.size() - i)]);
  items.resize(kept);
}

// The count of SRANDMEMBER and HRANDFIELD: an integer in
// [-kRandomRepeatsMax, INT64_MAX]; otherwise writes Redis's error (or
// geokv's bound) and returns nullopt.
std::optional<int64_t> RandomCountArg(CommandContext& ctx, const std::string& arg);

// Parses a SCAN-family cursor as Redis does (strtoull: an optional sign, then
// decimal digits, no spaces); on failure writes "invalid cursor".
std::optional<uint64_t> CursorArg(CommandContext& ctx, const std::string& arg);

// Parses Redis's "[MATCH pattern] [COUNT n]" (and, with allow_type, SCAN's
// "[TYPE name]") options from args[from]; on failure writes the error.
struct ScanOptions {
  std::string pattern = "*";
  uint64_t count = 10;
  std::optional<std::string> type;
};
std::optional<ScanOptions> ScanOptionsArg(CommandContext& ctx, const Args& args, size_t from,
                                          bool allow_type);

// The 48-bit position of an element in a scan: elements are visited in this
// order, so a cursor survives inserts and removals between calls.
uint64_t ScanPosition(std::string_view element);

// The reply of a scan over a missing key: cursor 0, no elements.
void ReplyEmptyScan(CommandContext& ctx);

// One call's batch of a scan over `elements`: the indexes of the elements at
// positions >= cursor, in position order, `count` of them (and any that tie
// with the last, so none is skipped). *next is the cursor of the following
// call (last position + 1), or 0 when the batch reached the end.
std::vector<size_t> ScanBatch(const std::vector<std::string>& elements, uint64_t cursor,
                              uint64_t count, uint64_t* next);

}  // namespace geokv::replica
