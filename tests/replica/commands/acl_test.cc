// ACL users and rules (acl_user.h) and the permission check and ACL file of
// AccessControl (access_control.h), without a server.
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "common/prng.h"
#include "replica/commands/access_control.h"
#include "seed.h"

namespace geokv::replica {
namespace {

AclUser UserWith(std::initializer_list<const char*> rules) {
  AclUser user("u");
  for (const char* rule : rules) {
    INFO(rule);
    REQUIRE(user.ApplyRule(rule).ok());
  }
  return user;
}

const CommandSpec& Cmd(const char* name) {
  const CommandSpec* spec = FindCommand(name);
  REQUIRE(spec != nullptr);
  return *spec;
}

std::string TempPath(const std::string& name) {
  return "/tmp/geokv-acl-test-" + std::to_string(::getpid()) + "-" + name;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::map<std::string, std::string> Descriptions(const AccessControl& access) {
  std::map<std::string, std::string> out;
  for (const auto& [name, user] : access.users()) out[name] = user.Describe();
  return out;
}

TEST_CASE("Acl: passwords are kept as SHA-256 and checked", "[unit]") {
  CHECK(Sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  AclUser user = UserWith({"on", ">apw", ">second"});
  CHECK(user.password_hashes.size() == 2);
  CHECK(user.password_hashes[0] == Sha256Hex("apw"));
  CHECK(user.Describe().find("apw") == std::string::npos);  // never the password itself
  CHECK(user.CheckPassword("apw"));
  CHECK(user.CheckPassword("second"));
  CHECK_FALSE(user.CheckPassword("wrong"));
  REQUIRE(user.ApplyRule("<second").ok());
  CHECK_FALSE(user.CheckPassword("second"));
  CHECK(user.ApplyRule("<never-set").message() ==
        "The password you are trying to remove from the user does not exist");
  REQUIRE(user.ApplyRule("#" + Sha256Hex("hashed")).ok());
  CHECK(user.CheckPassword("hashed"));
  CHECK(user.ApplyRule("#XYZ").message() ==
        "The password hash must be exactly 64 characters and contain only lowercase "
        "hexadecimal characters");
  REQUIRE(user.ApplyRule("nopass").ok());
  CHECK(user.CheckPassword("anything"));
  REQUIRE(user.ApplyRule("resetpass").ok());
  CHECK_FALSE(user.CheckPassword("anything"));
  CHECK_FALSE(user.CheckPassword("apw"));
}

TEST_CASE("Acl: command and category rules apply in order", "[unit]") {
  AclUser user = UserWith({"+@read", "+set", "-@dangerous"});
  CHECK(user.MayRun(Cmd("get")));
  CHECK(user.MayRun(Cmd("hgetall")));
  CHECK(user.MayRun(Cmd("set")));
  CHECK_FALSE(user.MayRun(Cmd("del")));
  CHECK_FALSE(user.MayRun(Cmd("keys")));  // @read but also @dangerous, removed after
  CHECK_FALSE(user.MayRun(Cmd("config")));
  CHECK(user.MayRun(Cmd("auth")));  // no_auth commands: always
  CHECK(user.Describe() == "off resetchannels -@all +@read +set -@dangerous");

  AclUser strings = UserWith({"allcommands", "-@string"});
  CHECK_FALSE(strings.MayRun(Cmd("get")));
  CHECK(strings.MayRun(Cmd("sadd")));
  CHECK(strings.MayRun(Cmd("flushall")));
  REQUIRE(strings.ApplyRule("nocommands").ok());
  CHECK_FALSE(strings.MayRun(Cmd("sadd")));
  CHECK(strings.command_rules == "-@all");

  // The rules kept for ACL LIST are bounded; a refused rule changes nothing.
  AclUser many = UserWith({"+@READ"});
  CHECK(many.command_rules == "-@all +@read");
  Status full;
  for (int i = 0; i < 100'000 && full.ok(); ++i) full = many.ApplyRule(i % 2 ? "+get" : "-get");
  CHECK(full.message() == "Too many command rules");
  CHECK(many.command_rules.size() <= AclUser::kCommandRulesBytesMax);
  const bool get_allowed = many.MayRun(Cmd("get"));
  CHECK(many.ApplyRule(get_allowed ? "-get" : "+get").message() == "Too many command rules");
  CHECK(many.MayRun(Cmd("get")) == get_allowed);

  AclUser u("u");
  CHECK(u.ApplyRule("+@nosuch").message() == "Unknown command or category name in ACL");
  CHECK(u.ApplyRule("+nosuch").message() == "Unknown command or category name in ACL");
  CHECK(u.ApplyRule("+config|get").message() == "Unknown command or category name in ACL");
  CHECK(u.ApplyRule("bogus").message() == "Syntax error");
  CHECK(u.ApplyRule("%R~key").message() == "Syntax error");     // read/write keys: not modelled
  CHECK(u.ApplyRule("(+get ~k)").message() == "Syntax error");  // selectors: not modelled
}

TEST_CASE("Acl: key patterns are glob patterns over every key of the command", "[unit]") {
  AclUser user = UserWith({"~app:*", "~{t}?"});
  CHECK(user.MayAccessKey("app:1"));
  CHECK(user.MayAccessKey("{t}x"));
  CHECK_FALSE(user.MayAccessKey("other"));
  CHECK_FALSE(user.MayAccessKey("{t}xy"));
  REQUIRE(user.ApplyRule("allkeys").ok());
  CHECK(user.MayAccessKey("other"));
  REQUIRE(user.ApplyRule("resetkeys").ok());
  CHECK_FALSE(user.MayAccessKey("app:1"));
  CHECK(user.ApplyRule("~a b").message() == "Syntax error");  // a pattern is one file word

  AccessControl access;
  REQUIRE(access.SetUser("app", {"on", ">pw", "~app:*", "+@all"}).ok());
  ClientSession client;
  REQUIRE(access.Authenticate(client, "app", "pw"));
  CHECK_FALSE(access.Check(client, Cmd("mset"), {"mset", "app:1", "v", "app:2", "v"}));
  CHECK(access.Check(client, Cmd("mset"), {"mset", "app:1", "v", "x", "v"}) ==
        "NOPERM this user has no permissions to access one of the keys used as arguments");
  // The values of MSET are not keys; SINTERCARD's keys come from numkeys.
  CHECK_FALSE(access.Check(client, Cmd("mset"), {"mset", "app:1", "x"}));
  CHECK(access.Check(client, Cmd("sintercard"), {"sintercard", "2", "app:1", "x"}).has_value());
  CHECK_FALSE(access.Check(client, Cmd("sintercard"), {"sintercard", "1", "app:1", "LIMIT", "x"}));
}

TEST_CASE("Acl: clients need AUTH once the default user has a password", "[unit]") {
  AccessControl access;
  ClientSession client;
  CHECK_FALSE(access.AuthConfigured());
  CHECK_FALSE(access.Check(client, Cmd("get"), {"get", "k"}));
  access.SetRequirePass("secret");
  CHECK(access.AuthConfigured());
  CHECK(access.Check(client, Cmd("get"), {"get", "k"}) == "NOAUTH Authentication required.");
  CHECK_FALSE(access.Check(client, Cmd("auth"), {"auth", "x"}));
  CHECK_FALSE(access.Authenticate(client, "default", "wrong"));
  CHECK(access.Authenticate(client, "default", "secret"));
  CHECK_FALSE(access.Check(client, Cmd("get"), {"get", "k"}));

  REQUIRE(access.SetUser("ro", {"on", ">p", "allkeys", "+@read"}).ok());
  ClientSession ro;
  REQUIRE(access.Authenticate(ro, "ro", "p"));
  CHECK(access.Check(ro, Cmd("set"), {"set", "k", "v"}) ==
        "NOPERM this user has no permissions to run the 'set' command");
  // A disabled user cannot authenticate; a deleted one's clients must again.
  REQUIRE(access.SetUser("ro", {"off"}).ok());
  ClientSession again;
  CHECK_FALSE(access.Authenticate(again, "ro", "p"));
  REQUIRE(access.DelUsers({"ro"}).ok());
  CHECK(access.Check(ro, Cmd("get"), {"get", "k"}) == "NOAUTH Authentication required.");
  CHECK(access.DelUsers({"ro", "default"}).status().message() ==
        "ERR The 'default' user cannot be removed");
}

TEST_CASE("Acl: the peer user exists only with a cluster secret and cannot be set", "[unit]") {
  AccessControl access;
  access.SetRequirePass("secret");
  ClientSession peer;
  const std::string peer_user(AccessControl::kPeerUser);
  CHECK_FALSE(access.Authenticate(peer, peer_user, "s3"));
  access.SetPeerSecret("s3");
  CHECK_FALSE(access.Authenticate(peer, peer_user, "wrong"));
  REQUIRE(access.Authenticate(peer, peer_user, "s3"));
  CHECK_FALSE(access.Check(peer, Cmd("geokv.forwarder"), {"geokv.forwarder"}));
  CHECK_FALSE(access.Check(peer, Cmd("set"), {"set", "any", "v"}));
  CHECK_FALSE(access.SetUser(peer_user, {"on", "nopass", "+@all"}).ok());
  CHECK(access.FindUser(peer_user) == nullptr);

  // A client with every data command but not @admin cannot claim to be a
  // forwarding link.
  REQUIRE(access.SetUser("app", {"on", ">pw", "allkeys", "+@all", "-@admin"}).ok());
  ClientSession app;
  REQUIRE(access.Authenticate(app, "app", "pw"));
  CHECK(access.Check(app, Cmd("geokv.forwarder"), {"geokv.forwarder"}).has_value());
}

TEST_CASE("Acl: the ACL file loads atomically and saves what it loads", "[unit]") {
  const std::string path = TempPath("users.acl");
  WriteFile(path,
            "user default on #" + Sha256Hex("dpw") +
                " ~* &* +@all\n\nuser app on >apw ~app:* resetchannels -@all +@read +set\r\n");
  AccessControl access;
  REQUIRE(access.UseAclFile(path).ok());
  CHECK(access.AuthConfigured());
  ClientSession client;
  CHECK(access.Authenticate(client, "app", "apw"));
  CHECK(access.Check(client, Cmd("del"), {"del", "app:1"}).has_value());

  // A broken file names its line and changes nothing.
  WriteFile(path, "user default on nopass ~* +@all\nuser x on bogus\n");
  Status s = access.Load();
  CHECK(s.message() == path + ":2: Syntax error");
  CHECK(access.FindUser("app") != nullptr);
  WriteFile(path, "user a on\nnot-a-user-line\n");
  CHECK(access.Load().message() ==
        path + ":2 should start with user keyword followed by the username");
  WriteFile(path, "user a on\nuser a off\n");
  CHECK(access.Load().message() == path + ":2: Duplicate user 'a' found");
  WriteFile(path, "user geokv-peer on nopass +@all\n");
  CHECK_FALSE(access.Load().ok());

  // SAVE then LOAD gives the same users.
  REQUIRE(access.SetUser("new", {"on", ">npw", "~n:*", "+get", "-@write"}).ok());
  REQUIRE(access.Save().ok());
  const std::string saved = ReadFile(path);
  CHECK(saved.find("user new on #" + Sha256Hex("npw") +
                   " ~n:* resetchannels -@all +get -@write\n") != std::string::npos);
  AccessControl reloaded;
  REQUIRE(reloaded.UseAclFile(path).ok());
  for (const auto& [name, user] : access.users()) {
    INFO(name);
    REQUIRE(reloaded.FindUser(name) != nullptr);
    CHECK(reloaded.FindUser(name)->Describe() == user.Describe());
    CHECK(reloaded.FindUser(name)->allowed == user.allowed);
  }
  std::remove(path.c_str());

  AccessControl no_file;
  CHECK(no_file.Load().message().rfind("This Redis instance is not configured", 0) == 0);
  CHECK_FALSE(no_file.UseAclFile(TempPath("missing.acl")).ok());
  CHECK(no_file.aclfile().empty());
}

// Rules from clients are arbitrary bytes: any rule either applies or gives an
// error, the user stays describable, and a description round-trips.
// ([hostile]: also run under ASan and UBSan by make test-sanitized.)
TEST_CASE("Acl: random rules never break a user", "[hostile]") {
  const uint64_t seed = test::TestSeed();
  INFO("GEOKV_SEED=" << seed);
  Prng rng(seed);
  static const char* const kPieces[] = {
      "+",   "-",     "@",   "~",     "#",      ">",       "<",  "!",    "&", "*",
      "get", "@read", "all", "on",    "off",    "key",     " ",  "\n",   "|", "[",
      "\\",  "(",     ")",   "reset", "nopass", "allkeys", "%R", "\xff", "\0"};
  const int cases = test::CaseCount(3000);
  for (int i = 0; i < cases; ++i) {
    AclUser user("fuzz");
    for (int r = 0, rules = static_cast<int>(rng.Below(6)); r < rules; ++r) {
      std::string rule;
      for (int p = 0, pieces = static_cast<int>(rng.Below(5)); p < pieces; ++p) {
        rule += std::string(kPieces[rng.Below(std::size(kPieces))]);
        if (rng.Chance(5)) rule += std::string(rng.Below(100'000), 'x');  // huge
      }
      const AclUser before = user;
      const Status s = user.ApplyRule(rule);
      if (!s.ok()) CHECK(user.Describe() == before.Describe());
    }
    AccessControl access;
    std::vector<std::string> words;
    std::string description = user.Describe();
    for (size_t at = 0; at <= description.size();) {
      const size_t space = std::min(description.find(' ', at), description.size());
      words.push_back(description.substr(at, space - at));
      at = space + 1;
    }
    REQUIRE(access.SetUser("fuzz", words).ok());
    CHECK(access.FindUser("fuzz")->Describe() == description);
    CHECK(access.FindUser("fuzz")->allowed == user.allowed);
  }
}

// ACL files and AUTH arguments are untrusted too: random and mutated files
// load or fail with a line number, never half-load; huge credentials are
// refused.
TEST_CASE("Acl: random ACL files and credentials never crash or half-load", "[hostile]") {
  const uint64_t seed = test::TestSeed();
  INFO("GEOKV_SEED=" << seed);
  Prng rng(seed);
  const std::string path = TempPath("random.acl");
  const std::string good = "user default on >admin ~* &* +@all\nuser app on >apw ~app:* +@read\n";
  AccessControl access;
  WriteFile(path, good);
  REQUIRE(access.UseAclFile(path).ok());
  const int cases = test::CaseCount(500);
  for (int i = 0; i < cases; ++i) {
    std::string text = good;
    for (int m = 0, mutations = 1 + static_cast<int>(rng.Below(8)); m < mutations; ++m) {
      const size_t at = rng.Below(text.size() + 1);
      switch (rng.Below(3)) {
        case 0:
          text.insert(at, 1, static_cast<char>(rng.Below(256)));
          break;
        case 1:
          if (at < text.size()) text.erase(at, 1 + rng.Below(8));
          break;
        default:
          text.insert(at, rng.Chance(50) ? " " : "\n");
      }
    }
    WriteFile(path, text);
    const auto before = Descriptions(access);
    const Status s = access.Load();
    if (!s.ok()) {
      INFO(s.message());
      CHECK(s.message().rfind(path + ":", 0) == 0);  // names the file and line
      CHECK(Descriptions(access) == before);         // all or nothing
    }
    CHECK(access.FindUser("default") != nullptr);
    // Restore a known state now and then.
    if (rng.Chance(20)) {
      WriteFile(path, good);
      REQUIRE(access.Load().ok());
    }
  }
  // The huge inputs below meet the known state: the last random file may have
  // lost its `user default` line, and then default is Redis's nopass default.
  WriteFile(path, good);
  REQUIRE(access.Load().ok());
  std::remove(path.c_str());

  ClientSession client;
  const std::string huge(size_t{8} << 20, 'p');
  CHECK_FALSE(access.Authenticate(client, huge, huge));
  CHECK_FALSE(access.Authenticate(client, "default", huge));
  CHECK_FALSE(access.Authenticate(client, "", ""));
  CHECK_FALSE(access.SetUser(huge, {"on"}).ok());
  CHECK_FALSE(access.SetUser("x", {"~" + huge}).ok());
  CHECK_FALSE(access.SetUser(std::string("a\0b", 3), {"on"}).ok());
  CHECK(access.FindUser("x") == nullptr);
}

}  // namespace
}  // namespace geokv::replica
