// The command table: every command the server knows, declared once, and the
// only way a request reaches code.
//
// Each row names a command, its arity, its flags, where its keys are, and its
// handler (as Redis's src/commands/*.json drive Redis). Dispatch, arity
// checks, routing and the reply to COMMAND are all driven by the table; no
// command is recognised by comparing its name anywhere else.
//
// Handlers come in two kinds, and a row's kind says where it runs:
//   - a DataHandler runs in a storage job against the node's Partitions (the
//     keys it is given are held by this node: routing, forwarding and
//     CROSSSLOT are decided once, before it runs, from the row's key spec);
//   - a ConnectionHandler runs on the connection's thread against the
//     connection and the server (PING, HELLO, CLIENT, CONFIG, INFO, WAIT, ...)
//     and touches no data.
// Either writes exactly one reply.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "replica/commands/connection.h"
#include "replica/commands/errors.h"
#include "replica/commands/partitions.h"
#include "replica/resp/resp_writer.h"

namespace geokv::replica {

// Flags, shown by COMMAND as Redis shows them.
enum CommandFlags : uint32_t {
  kWrite = 1 << 0,     // may mutate data (its deltas commit before the reply)
  kReadOnly = 1 << 1,  // reads data and never mutates it
  kFast = 1 << 2,      // O(1) or O(log n)
  kAdmin = 1 << 3,     // server administration (CONFIG)
  // Runs at once inside MULTI instead of being queued (MULTI EXEC DISCARD
  // WATCH QUIT); not shown by COMMAND.
  kTransactionControl = 1 << 4,
  // Runs before the client authenticated, whatever its user's rules (AUTH
  // HELLO QUIT: Redis's no_auth).
  kNoAuth = 1 << 5,
  // Its first argument names a subcommand (CONFIG GET): errors about the
  // command name "config|get", as Redis's do.
  kSubcommands = 1 << 6,
  // May grow memory: refused with -OOM while used memory is over --maxmemory
  // (Redis's denyoom; the rows that carry it are Redis 7.0's, plus geokv's
  // own writes that add data).
  kDenyOom = 1 << 7,
};
inline constexpr uint32_t kAllCommandFlags =
    kWrite | kReadOnly | kFast | kAdmin | kTransactionControl | kNoAuth | kSubcommands | kDenyOom;

// What a data handler may use.
struct CommandContext {
  Partitions& partitions;
  RespWriter& reply;
};

using DataHandler = void (*)(CommandContext& ctx, const Args& args);
using ConnectionHandler = void (*)(ConnectionContext& ctx, const Args& args);

// For commands whose keys first/last/step cannot describe (a numkeys argument,
// as SINTERCARD's): the argument indexes of the keys, or nullopt when the
// arguments are malformed (the handler then replies with the error).
using KeyFinder = std::optional<std::vector<int>> (*)(const Args& args);

struct CommandSpec {
  const char* name;  // lower case
  int arity;         // Redis convention: n = exactly n args, -n = at least n
  uint32_t flags;    // CommandFlags
  int first_key;     // 0 = no key
  int last_key;      // -1 = last argument
  int key_step;
  std::variant<DataHandler, ConnectionHandler> handler;
  KeyFinder key_finder = nullptr;  // set: overrides first/last/step

  bool is_data() const { return std::holds_alternative<DataHandler>(handler); }
};

// The spec of a command by case-insensitive name, or nullptr.
const CommandSpec* FindCommand(std::string_view name);
// All commands, in name order (for COMMAND).
const std::vector<CommandSpec>& AllCommands();

// Checks arity. Returns false after writing Redis's error when it is wrong.
bool CheckArity(const CommandSpec& spec, const Args& args, RespWriter& reply);
// Writes Redis's reply to an unknown command.
void ReplyUnknownCommand(const Args& args, RespWriter& reply);

// The keys a request names, per the spec (for routing). REQUIRES: the arity
// was checked.
std::vector<std::string_view> CommandKeys(const CommandSpec& spec, const Args& args);

}  // namespace geokv::replica
