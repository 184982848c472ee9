// The command table: every command the server knows, declared once.
//
// Dispatch, arity checks and the reply to COMMAND are all driven by this
// table (as Redis's src/commands/*.json drive Redis). A handler receives the
// request's arguments (args[0] is the command name) and writes exactly one
// reply. Handlers of data commands touch state only through the Partitions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "replica/commands/partitions.h"
#include "replica/resp/resp_writer.h"

namespace geokv::replica {

using Args = std::vector<std::string>;

enum CommandFlags : uint32_t {
  kWrite = 1 << 0,     // may mutate data (its deltas need a durable commit before the reply)
  kReadOnly = 1 << 1,  // reads data
  kKeyless = 1 << 2,   // touches no key (connection and server commands)
  kFast = 1 << 3,
};

// What a handler may use besides the keyspace.
struct CommandContext {
  Partitions& partitions;
  RespWriter& reply;
};

using Handler = void (*)(CommandContext& ctx, const Args& args);
// For commands whose keys first/last/step cannot describe (a numkeys argument,
// as SINTERCARD's): the argument indexes of the keys, or nullopt when the
// arguments are malformed (the handler then replies with the error).
using KeyFinder = std::optional<std::vector<int>> (*)(const Args& args);

struct CommandSpec {
  const char* name;  // lower case
  int arity;         // Redis convention: n = exactly n args, -n = at least n
  uint32_t flags;
  int first_key;  // 0 = no key
  int last_key;   // -1 = last argument
  int key_step;
  Handler handler;  // nullptr: handled by the connection/server layer
  KeyFinder key_finder = nullptr;  // set: overrides first/last/step for routing
};

// The spec of a command by case-insensitive name, or nullptr.
const CommandSpec* FindCommand(std::string_view name);
// All commands, in name order (for COMMAND).
const std::vector<CommandSpec>& AllCommands();

// Checks arity. Returns false after writing Redis's error when it is wrong.
bool CheckArity(const CommandSpec& spec, const Args& args, RespWriter& reply);
// Writes Redis's reply to an unknown command.
void ReplyUnknownCommand(const Args& args, RespWriter& reply);

// The keys a request names, per the spec (for routing).
std::vector<std::string_view> CommandKeys(const CommandSpec& spec, const Args& args);

// Redis's error strings, shared by handlers.
namespace errors {
inline constexpr std::string_view kWrongType =
    "WRONGTYPE Operation against a key holding the wrong kind of value";
inline constexpr std::string_view kNotInteger = "ERR value is not an integer or out of range";
inline constexpr std::string_view kOverflow = "ERR increment or decrement would overflow";
inline constexpr std::string_view kHashNotInteger = "ERR hash value is not an integer";
inline constexpr std::string_view kSyntax = "ERR syntax error";
}  // namespace errors

}  // namespace geokv::replica
