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
inline constexpr std::string_view kNotInTransaction = "ERR Command not allowed inside a transaction";
inline constexpr std::string_view kTransactionTooLarge =
    "ERR transaction too large: at most 100000 commands and 64 MiB queued";

}  // namespace geokv::replica::errors
