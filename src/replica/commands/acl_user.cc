#include "replica/commands/acl_user.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <bit>
#include <unordered_map>

#include "common/assert.h"
#include "replica/commands/command_util.h"
#include "replica/commands/glob.h"

namespace geokv::replica {

namespace {

uint32_t Bit(const char* name) {
  auto bit = AclCategoryBit(name);
  GEOKV_ASSERT(bit.has_value());
  return *bit;
}

// The data-type categories of each command (Redis's src/commands/*.json
// "acl_categories", less the ones the flags give). A row missing here fails
// the command table test.
const std::unordered_map<std::string, uint32_t>& TypeCategories() {
  static const std::unordered_map<std::string, uint32_t> table = [] {
    const uint32_t keyspace = Bit("keyspace"), string = Bit("string"), bitmap = Bit("bitmap"),
                   set = Bit("set"), hash = Bit("hash"), connection = Bit("connection"),
                   transaction = Bit("transaction"), dangerous = Bit("dangerous"),
                   admin = Bit("admin");
    std::unordered_map<std::string, uint32_t> t;
    for (const char* c : {"ping", "echo", "quit", "select", "auth", "hello", "client", "command",
                          "wait", "time", "reset", "geokv.consistency"}) {
      t[c] = connection;
    }
    t["client"] |= dangerous;
    for (const char* c : {"multi", "exec", "discard", "watch", "unwatch"}) t[c] = transaction;
    // GEOKV.FORWARDER, .WAITOWN, .ATOMS, .REPAIR and .HINT are nodes' own (the peer user's).
    for (const char* c :
         {"config", "info", "acl", "slowlog", "latency", "geokv.forwarder", "geokv.waitown",
          "geokv.digest", "geokv.atoms", "geokv.repair", "geokv.hint", "geokv.aae", "geokv.rebuild",
          "geokv.topology", "geokv.members", "geokv.moves"}) {
      t[c] = admin | dangerous;
    }
    for (const char* c : {"dbsize",     "scan",        "type",     "exists",     "del",  "unlink",
                          "touch",      "randomkey",   "rename",   "renamenx",   "copy", "object",
                          "expire",     "pexpire",     "expireat", "pexpireat",  "ttl",  "pttl",
                          "expiretime", "pexpiretime", "persist",  "geokv.where"}) {
      t[c] = keyspace;
    }
    for (const char* c : {"flushdb", "flushall", "keys"}) t[c] = keyspace | dangerous;
    for (const char* c :
         {"get",    "set",    "getset",   "mset",     "mget",   "strlen", "incr",   "decr",
          "incrby", "decrby", "setex",    "psetex",   "setnx",  "getex",  "getdel", "incrbyfloat",
          "msetnx", "append", "setrange", "getrange", "substr", "lcs",    "mvset",  "mvget"}) {
      t[c] = string;
    }
    for (const char* c : {"setbit", "getbit", "bitcount", "bitpos", "bitop"}) t[c] = bitmap;
    for (const char* c : {"sadd", "srem", "smembers", "sismember", "smismember", "scard", "sinter",
                          "sintercard", "sinterstore", "sunion", "sunionstore", "sdiff",
                          "sdiffstore", "smove", "spop", "srandmember", "sscan"}) {
      t[c] = set;
    }
    for (const char* c :
         {"hset", "hget", "hmget", "hdel", "hgetall", "hkeys", "hvals", "hlen", "hexists",
          "hincrby", "hsetnx", "hstrlen", "hrandfield", "hmset", "hincrbyfloat", "hscan"}) {
      t[c] = hash;
    }
    return t;
  }();
  return table;
}

bool IsLowerHex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

size_t CommandIndex(const CommandSpec& spec) {
  const auto& all = AllCommands();
  GEOKV_ASSERT(&spec >= all.data() && &spec < all.data() + all.size());
  return static_cast<size_t>(&spec - all.data());
}

}  // namespace

std::string Sha256Hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  const int ok = EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
  GEOKV_ASSERT(ok == 1 && length == 32);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 15];
  }
  return hex;
}

std::optional<uint32_t> AclCategoryBit(std::string_view name) {
  for (size_t i = 0; i < kAclCategoryCount; ++i) {
    if (EqualsIgnoreCase(name, kAclCategoryNames[i])) return uint32_t{1} << i;
  }
  return std::nullopt;
}

uint32_t AclCategories(const CommandSpec& spec) {
  uint32_t mask = 0;
  if (spec.flags & kWrite) mask |= Bit("write");
  if (spec.flags & kReadOnly) mask |= Bit("read");
  mask |= (spec.flags & kFast) ? Bit("fast") : Bit("slow");
  if (spec.flags & kAdmin) mask |= Bit("admin") | Bit("dangerous");
  return mask | AclTypeCategories(spec.name);
}

uint32_t AclTypeCategories(std::string_view command_name) {
  auto it = TypeCategories().find(std::string(command_name));
  return it == TypeCategories().end() ? 0 : it->second;
}

void AclUser::SetCommands(uint32_t category_mask, bool allow) {
  const auto& all = AllCommands();
  for (size_t i = 0; i < all.size(); ++i) {
    if (AclCategories(all[i]) & category_mask) allowed[i] = allow;
  }
}

Status AclUser::ApplyRule(std::string_view rule) {
  auto syntax = [] { return Status::Invalid("Syntax error"); };
  if (rule.size() > kRuleBytesMax) return Status::Invalid("The rule is too long");
  if (EqualsIgnoreCase(rule, "on")) {
    enabled = true;
  } else if (EqualsIgnoreCase(rule, "off")) {
    enabled = false;
  } else if (EqualsIgnoreCase(rule, "nopass")) {
    nopass = true;
    password_hashes.clear();
  } else if (EqualsIgnoreCase(rule, "resetpass")) {
    nopass = false;
    password_hashes.clear();
  } else if (EqualsIgnoreCase(rule, "allkeys")) {
    all_keys = true;
    key_patterns.clear();
  } else if (EqualsIgnoreCase(rule, "resetkeys")) {
    all_keys = false;
    key_patterns.clear();
  } else if (EqualsIgnoreCase(rule, "allchannels")) {
    all_channels = true;
  } else if (EqualsIgnoreCase(rule, "resetchannels")) {
    all_channels = false;
  } else if (EqualsIgnoreCase(rule, "allcommands")) {
    return ApplyRule("+@all");
  } else if (EqualsIgnoreCase(rule, "nocommands")) {
    return ApplyRule("-@all");
  } else if (EqualsIgnoreCase(rule, "reset")) {
    AclUser fresh(name);
    *this = std::move(fresh);
  } else if (EqualsIgnoreCase(rule, "sanitize-payload") ||
             EqualsIgnoreCase(rule, "skip-sanitize-payload")) {
    // Redis's RESTORE payload checks: geokv has no RESTORE; accepted for
    // Redis's ACL files.
  } else if (rule.empty()) {
    return syntax();
  } else if (rule[0] == '>' || rule[0] == '#') {
    const std::string hash =
        rule[0] == '>' ? Sha256Hex(rule.substr(1)) : std::string(rule.substr(1));
    if (rule[0] == '#' && !IsLowerHex64(hash)) {
      return Status::Invalid(
          "The password hash must be exactly 64 characters and contain only lowercase "
          "hexadecimal characters");
    }
    if (std::find(password_hashes.begin(), password_hashes.end(), hash) == password_hashes.end()) {
      if (password_hashes.size() >= kPasswordsMax) return Status::Invalid("Too many passwords");
      password_hashes.push_back(hash);
    }
    nopass = false;
  } else if (rule[0] == '<' || rule[0] == '!') {
    const std::string hash =
        rule[0] == '<' ? Sha256Hex(rule.substr(1)) : std::string(rule.substr(1));
    if (rule[0] == '!' && !IsLowerHex64(hash)) {
      return Status::Invalid(
          "The password hash must be exactly 64 characters and contain only lowercase "
          "hexadecimal characters");
    }
    auto it = std::find(password_hashes.begin(), password_hashes.end(), hash);
    if (it == password_hashes.end()) {
      return Status::Invalid("The password you are trying to remove from the user does not exist");
    }
    password_hashes.erase(it);
  } else if (rule[0] == '~') {
    // A pattern is one word of an ACL file line.
    if (rule.find_first_of(std::string_view(" \t\r\n\0", 5)) != std::string_view::npos) {
      return syntax();
    }
    if (rule == "~*") {
      all_keys = true;
      key_patterns.clear();
    } else if (!all_keys) {
      std::string pattern(rule.substr(1));
      if (std::find(key_patterns.begin(), key_patterns.end(), pattern) == key_patterns.end()) {
        if (key_patterns.size() >= kKeyPatternsMax) return Status::Invalid("Too many key patterns");
        key_patterns.push_back(std::move(pattern));
      }
    }
  } else if (rule[0] == '&') {
    if (rule == "&*") all_channels = true;  // channel patterns: nothing to guard here
  } else if (rule[0] == '+' || rule[0] == '-') {
    const bool allow = rule[0] == '+';
    std::string_view what = rule.substr(1);
    if (EqualsIgnoreCase(what, "@all")) {
      allowed.assign(allowed.size(), allow);
      command_rules = allow ? "+@all" : "-@all";
      return Status::Ok();
    }
    // Checked before anything changes: the rule as ACL LIST will show it.
    auto bit = what.empty() || what[0] != '@' ? std::nullopt : AclCategoryBit(what.substr(1));
    const CommandSpec* spec = bit ? nullptr : FindCommand(what);
    if (!bit && spec == nullptr) {
      return Status::Invalid("Unknown command or category name in ACL");
    }
    const std::string shown = std::string(1, rule[0]) +
                              (bit ? "@" + std::string(kAclCategoryNames[std::countr_zero(*bit)])
                                   : std::string(spec->name));
    if (command_rules.size() + shown.size() + 1 > kCommandRulesBytesMax) {
      return Status::Invalid("Too many command rules");
    }
    command_rules += " " + shown;
    if (bit) {
      SetCommands(*bit, allow);
    } else {
      allowed[CommandIndex(*spec)] = allow;
    }
  } else {
    // Selectors "(...)", %R~ / %W~ key permissions: not modelled.
    return syntax();
  }
  return Status::Ok();
}

bool AclUser::CheckPassword(std::string_view password) const {
  if (nopass) return true;
  const std::string hash = Sha256Hex(password);
  bool match = false;
  for (const std::string& h : password_hashes) {
    match |= CRYPTO_memcmp(h.data(), hash.data(), hash.size()) == 0;
  }
  return match;
}

bool AclUser::MayRun(const CommandSpec& spec) const {
  return (spec.flags & kNoAuth) || allowed[CommandIndex(spec)];
}

bool AclUser::MayAccessKey(std::string_view key) const {
  if (all_keys) return true;
  for (const std::string& pattern : key_patterns) {
    if (GlobMatch(pattern, key)) return true;
  }
  return false;
}

std::string AclUser::Describe() const {
  std::string out = enabled ? "on" : "off";
  if (nopass) out += " nopass";
  for (const std::string& h : password_hashes) out += " #" + h;
  if (all_keys) {
    out += " ~*";
  } else {
    for (const std::string& p : key_patterns) out += " ~" + p;
  }
  out += all_channels ? " &*" : " resetchannels";
  out += " " + command_rules;
  return out;
}

}  // namespace geokv::replica
