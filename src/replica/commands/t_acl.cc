// ACL SETUSER GETUSER DELUSER LIST USERS WHOAMI CAT LOAD SAVE: Redis's
// replies, over the node's AccessControl.
#include "replica/commands/access_control.h"
#include "replica/commands/command_util.h"
#include "replica/commands/handlers.h"

namespace geokv::replica {

namespace {

void ReplyStatus(RespWriter& w, const Status& s) {
  if (s.ok()) return w.Simple("OK");
  w.Error(s.message().rfind("ERR ", 0) == 0 ? s.message() : "ERR " + s.message());
}

void ReplyGetUser(RespWriter& w, const AclUser& user) {
  w.MapHeader(6);
  w.Bulk("flags");
  w.SetHeader(user.nopass ? 2 : 1);
  w.Bulk(user.enabled ? "on" : "off");
  if (user.nopass) w.Bulk("nopass");
  w.Bulk("passwords");
  w.ArrayHeader(user.password_hashes.size());
  for (const std::string& h : user.password_hashes) w.Bulk(h);
  w.Bulk("commands");
  w.Bulk(user.command_rules);
  w.Bulk("keys");
  std::string keys;
  if (user.all_keys) keys = "~*";
  for (const std::string& p : user.key_patterns) keys += (keys.empty() ? "~" : " ~") + p;
  w.Bulk(keys);
  w.Bulk("channels");
  w.Bulk(user.all_channels ? "&*" : "");
  w.Bulk("selectors");
  w.ArrayHeader(0);
}

}  // namespace

// ACL <subcommand> [arguments]
void CmdAcl(ConnectionContext& ctx, const Args& args) {
  RespWriter& w = ctx.reply;
  AccessControl& access = ctx.server.access();
  std::string sub = args[1].substr(0, 64);
  for (char& c : sub) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
  const size_t argc = args.size();
  // Arity per subcommand, Redis's: minimum, maximum.
  struct Arity {
    const char* name;
    size_t min, max;
  };
  static constexpr Arity kArity[] = {{"setuser", 3, SIZE_MAX},
                                     {"getuser", 3, 3},
                                     {"deluser", 3, SIZE_MAX},
                                     {"list", 2, 2},
                                     {"users", 2, 2},
                                     {"whoami", 2, 2},
                                     {"cat", 2, 3},
                                     {"load", 2, 2},
                                     {"save", 2, 2}};
  const Arity* arity = nullptr;
  for (const Arity& a : kArity) {
    if (sub == a.name) arity = &a;
  }
  if (arity == nullptr) {
    return w.Error("ERR unknown subcommand '" + args[1].substr(0, 128) + "'. Try ACL HELP.");
  }
  if (argc < arity->min || argc > arity->max) {
    return w.Error("ERR wrong number of arguments for 'acl|" + sub + "' command");
  }
  if (sub == "setuser") {
    ReplyStatus(w, access.SetUser(args[2], {args.begin() + 3, args.end()}));
  } else if (sub == "getuser") {
    const AclUser* user = access.FindUser(args[2]);
    user == nullptr ? w.Null() : ReplyGetUser(w, *user);
  } else if (sub == "deluser") {
    auto removed = access.DelUsers({args.begin() + 2, args.end()});
    removed.ok() ? w.Integer(*removed) : w.Error(removed.status().message());
  } else if (sub == "list") {
    w.ArrayHeader(access.users().size());
    for (const auto& [name, user] : access.users()) w.Bulk("user " + name + " " + user.Describe());
  } else if (sub == "users") {
    w.ArrayHeader(access.users().size());
    for (const auto& [name, user] : access.users()) w.Bulk(name);
  } else if (sub == "whoami") {
    w.Bulk(ctx.client.authenticated ? ctx.client.user : "default");
  } else if (sub == "cat" && argc == 2) {
    w.ArrayHeader(kAclCategoryCount);
    for (const char* name : kAclCategoryNames) w.Bulk(name);
  } else if (sub == "cat") {
    auto bit = AclCategoryBit(args[2]);
    if (!bit) return w.Error("ERR Unknown category '" + args[2].substr(0, 128) + "'");
    std::vector<const char*> names;
    for (const CommandSpec& spec : AllCommands()) {
      if (AclCategories(spec) & *bit) names.push_back(spec.name);
    }
    w.ArrayHeader(names.size());
    for (const char* name : names) w.Bulk(name);
  } else if (sub == "load") {
    const Status s = access.Load();
    if (s.ok() || s.message().rfind("This Redis", 0) == 0) return ReplyStatus(w, s);
    w.Error("ERR " + s.message() +
            ". WARNING: ACL errors detected, no change to the previously active ACL rules was "
            "performed");
  } else {
    const Status s = access.Save();
    if (s.ok() || s.message().rfind("This Redis", 0) == 0) return ReplyStatus(w, s);
    w.Error(
        "ERR There was an error trying to save the ACLs. Please check the server logs for "
        "more information");
  }
}

}  // namespace geokv::replica
