// An ACL user as Redis 6+/7 models one, and the rules that change it.
//
// A user is on or off, has passwords (kept only as SHA-256 hex digests) or is
// `nopass`, may run a set of commands (by command table row, given as
// +command / -command / +@category / -@category rules, applied in order), and
// may touch the keys matching its ~patterns. The rule grammar is Redis's
// (ACL SETUSER, the ACL file); what geokv does not model (subcommand rules,
// selectors, read/write key permissions) is refused with an error, never
// silently widened.
//
// Categories: a command's come from its table flags (@read @write @fast/@slow
// @admin @dangerous) plus its data type (@string @hash @set @keyspace
// @connection ...), listed beside the table in acl_user.cc.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "replica/commands/command.h"

namespace geokv::replica {

// The SHA-256 of `text` as 64 lower-case hex digits (OpenSSL's libcrypto).
std::string Sha256Hex(std::string_view text);

// Redis's ACL categories, in the order ACL CAT lists them.
inline constexpr const char* kAclCategoryNames[] = {
    "keyspace", "read",   "write",       "set",       "sortedset",  "list",        "hash",
    "string",   "bitmap", "hyperloglog", "geo",       "stream",     "pubsub",      "admin",
    "fast",     "slow",   "blocking",    "dangerous", "connection", "transaction", "scripting"};
inline constexpr size_t kAclCategoryCount = std::size(kAclCategoryNames);
static_assert(kAclCategoryCount <= 32, "categories are bits of a uint32_t");

// The bit of a category by name (without '@'), or nullopt.
std::optional<uint32_t> AclCategoryBit(std::string_view name);
// The categories (a mask of AclCategoryBit bits) of a command table row: from
// its flags and from AclTypeCategories.
uint32_t AclCategories(const CommandSpec& spec);
// The categories a command has by what it works on (@string @set @keyspace
// @connection ..., listed beside the table in acl_user.cc); 0 for a name not
// listed (the command table test requires every row to be).
uint32_t AclTypeCategories(std::string_view command_name);

struct AclUser {
  // Limits on what one user may hold (rules come from clients).
  static constexpr size_t kPasswordsMax = 1024;
  static constexpr size_t kKeyPatternsMax = 1024;
  static constexpr size_t kRuleBytesMax = 64 * 1024;
  static constexpr size_t kCommandRulesBytesMax = 64 * 1024;

  std::string name;
  bool enabled = false;
  bool nopass = false;
  std::vector<std::string> password_hashes;  // SHA-256 hex, no duplicates
  // Which rows of AllCommands() the user may run, by index.
  std::vector<bool> allowed = std::vector<bool>(AllCommands().size(), false);
  // The command rules as given since the last allcommands/nocommands, for
  // ACL LIST/GETUSER/SAVE (replaying them rebuilds `allowed`).
  std::string command_rules = "-@all";
  bool all_keys = false;                  // ~* or allkeys
  std::vector<std::string> key_patterns;  // without the '~'; unused when all_keys
  bool all_channels = false;              // kept for Redis's ACL files; no pub/sub here

  // A new user as ACL SETUSER creates one: off, no password, no commands, no keys.
  explicit AclUser(std::string user_name) : name(std::move(user_name)) {}

  // Applies one rule. On error returns Redis's message for it (without the
  // "ERR Error in ACL SETUSER modifier" prefix) and leaves the user as it was.
  [[nodiscard]] Status ApplyRule(std::string_view rule);

  // Whether `password` is one of the user's (or the user is nopass).
  // Constant time in the password's digest.
  bool CheckPassword(std::string_view password) const;
  bool MayRun(const CommandSpec& spec) const;
  bool MayAccessKey(std::string_view key) const;

  // The user as ACL LIST shows it and an ACL file stores it, without the
  // leading "user <name> ": "on #<hash> ~app:* resetchannels -@all +get".
  std::string Describe() const;

 private:
  void SetCommands(uint32_t category_mask, bool allow);
};

}  // namespace geokv::replica
