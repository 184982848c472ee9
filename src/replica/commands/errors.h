// The error replies geokv gives, in one place. Clients match on these strings
// (Redis's own wording wherever Redis has the same error), so they are
// constants, never composed inline at a call site.
#pragma once

#include <string_view>

namespace geokv::replica::errors {

inline constexpr std::string_view kWrongType =
    "WRONGTYPE Operation against a key holding the wrong kind of value";
inline constexpr std::string_view kNotInteger = "ERR value is not an integer or out of range";
inline constexpr std::string_view kOverflow = "ERR increment or decrement would overflow";
inline constexpr std::string_view kHashNotInteger = "ERR hash value is not an integer";
inline constexpr std::string_view kSyntax = "ERR syntax error";
inline constexpr std::string_view kCrossSlot =
    "CROSSSLOT Keys in request are not all held by one node";
inline constexpr std::string_view kMaxClients = "ERR max number of clients reached";
// The node's storage queue is full: nothing was done, the client may retry.
inline constexpr std::string_view kBusy = "BUSY geokv is overloaded, try again";
// Used memory is over --maxmemory (Redis 7.0's words): a command that may grow
// memory is refused; inside MULTI every queued command is, and EXEC of a
// transaction holding such a command aborts with kExecAbortOom.
inline constexpr std::string_view kOom = "OOM command not allowed when used memory > 'maxmemory'.";
inline constexpr std::string_view kExecAbortOom =
    "EXECABORT Transaction discarded because of: OOM command not allowed when used memory > "
    "'maxmemory'.";
inline constexpr std::string_view kTooManyWaiting = "ERR too many clients in WAIT";
// Prefix of the reply when a forwarded request's target has too many in flight.
inline constexpr std::string_view kBusyForwardPrefix = "BUSY too many requests in flight to node ";

// A forwarded request reached a node that does not hold its keys either (the
// two nodes disagree about placement, e.g. during a topology change).
inline constexpr std::string_view kForwardedTwice =
    "TRYAGAIN keys not held by the node a request was forwarded to; not forwarded again";
// A write to a partition whose own high-water mark this node is still
// learning from its peers after a start (never reuse a dot).
inline constexpr std::string_view kFenced =
    "TRYAGAIN this node is recovering its own writes to this partition from its peers";
inline constexpr std::string_view kExecAbort =
    "EXECABORT Transaction discarded because of previous errors.";
inline constexpr std::string_view kNotInTransaction =
    "ERR Command not allowed inside a transaction";
inline constexpr std::string_view kTransactionTooLarge =
    "ERR transaction too large: at most 100000 commands and 64 MiB queued";

// Authentication and ACLs, in Redis 7.0's wording (Redis 7.2 words NOPERM
// differently; clients match on the code).
inline constexpr std::string_view kNoAuth = "NOAUTH Authentication required.";
inline constexpr std::string_view kWrongPass =
    "WRONGPASS invalid username-password pair or user is disabled.";
// + the command's name + "' command".
inline constexpr std::string_view kNoPermCommandPrefix =
    "NOPERM this user has no permissions to run the '";
inline constexpr std::string_view kNoPermKey =
    "NOPERM this user has no permissions to access one of the keys used as arguments";

// Data commands, in Redis 7.0's wording (issue 13).
inline constexpr std::string_view kPositiveCount = "ERR value is out of range, must be positive";
inline constexpr std::string_view kCountRange =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
// SRANDMEMBER/HRANDFIELD with a count below -kRandomRepeatsMax (geokv's bound).
inline constexpr std::string_view kRandomCountRange =
    "ERR value is out of range, value must between -1048576 and 9223372036854775807";
inline constexpr std::string_view kOutOfRange = "ERR value is out of range";
inline constexpr std::string_view kNumKeysPositive = "ERR numkeys should be greater than 0";
inline constexpr std::string_view kNumKeysTooMany =
    "ERR Number of keys can't be greater than number of args";
inline constexpr std::string_view kLimitNegative = "ERR LIMIT can't be negative";
inline constexpr std::string_view kInvalidCursor = "ERR invalid cursor";
inline constexpr std::string_view kStringTooLong =
    "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
inline constexpr std::string_view kOffsetRange = "ERR offset is out of range";
inline constexpr std::string_view kLcsNotStrings =
    "ERR The specified keys must contain string values";
inline constexpr std::string_view kLcsLenAndIdx =
    "ERR If you want both the length and indexes, please just use IDX.";
inline constexpr std::string_view kLcsTooLarge =
    "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len";
inline constexpr std::string_view kBitOffset = "ERR bit offset is not an integer or out of range";
inline constexpr std::string_view kBitValue = "ERR bit is not an integer or out of range";
inline constexpr std::string_view kBitArgument = "ERR The bit argument must be 1 or 0.";
inline constexpr std::string_view kBitOpNot =
    "ERR BITOP NOT must be called with a single source key.";
inline constexpr std::string_view kNotFloat = "ERR value is not a valid float";
inline constexpr std::string_view kHashNotFloat = "ERR hash value is not a float";
inline constexpr std::string_view kFloatNanOrInf = "ERR increment would produce NaN or Infinity";
inline constexpr std::string_view kIncrementNanOrInf = "ERR value is NaN or Infinity";
inline constexpr std::string_view kNoSuchKey = "ERR no such key";
inline constexpr std::string_view kDbIndex = "ERR DB index is out of range";
inline constexpr std::string_view kSameObject = "ERR source and destination objects are the same";
inline constexpr std::string_view kLfuNotSelected =
    "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that "
    "when switching between policies at runtime LRU and LFU data will take some time to adjust.";

}  // namespace geokv::replica::errors
