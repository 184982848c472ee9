// Differential test of authentication and ACLs: Debian's redis-server and a
// one-node geokv-server load the same ACL file and get the same sessions of
// AUTH, HELLO AUTH, ACL and refused commands; every reply (errors included)
// must be equal byte for byte, but for HELLO's map (server name, version,
// client id). The differences geokv keeps on purpose (ACL LIST's command
// rules as given, subcommand rules) are listed in docs/compatibility.md and
// left out of the script.
#include <signal.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <string>
#include <vector>

#include "common/subprocess.h"
#include "server_process.h"

namespace geokv::test {
namespace {

using replica::RespClient;
using Args = std::vector<std::string>;

const char* const kAclFile =
    "user default on >admin ~* &* +@all\n"
    "user app on >apw ~app:* resetchannels -@all +@read +set +multi +exec\n";

// Each session runs on a fresh connection to each server.
const std::vector<std::vector<Args>> kSessions = {
    {
        {"PING"},
        {"GET", "k"},
        {"NOSUCH", "x"},
        {"GET"},
        {"HELLO", "3"},
        {"AUTH", "wrong"},
        {"AUTH", "default", "wrong"},
        {"AUTH", "nobody", "x"},
        {"AUTH", "a", "b", "c"},
        {"HELLO", "3", "AUTH", "default", "wrong"},
        {"HELLO", "3", "AUTH", "default"},
        {"AUTH", "admin"},
        {"SET", "app:1", "v"},
        {"ACL", "WHOAMI"},
        {"ACL", "GETUSER", "nobody"},
        {"ACL", "CAT", "nosuch"},
        {"ACL", "SETUSER", "a b"},
        {"ACL", "SETUSER", "bob", "#xyz"},
        {"ACL", "SETUSER", "bob", "+@foo"},
        {"ACL", "SETUSER", "bob", "+nosuch"},
        {"ACL", "SETUSER", "bob", "bogus"},
        {"ACL", "SETUSER", "bob", "~a b"},
        {"ACL", "SETUSER", "bob", "<never"},
        {"ACL", "SETUSER", "bob", "on", ">bpw", "~b:*", "+get"},
        {"ACL", "GETUSER", "bob"},
        {"ACL", "USERS"},
        {"ACL", "DELUSER", "default"},
        {"ACL", "DELUSER", "zz", "bob"},
        {"ACL", "FOO"},
        {"ACL", "SETUSER"},
        {"ACL", "GETUSER", "a", "b"},
        {"ACL", "LOAD", "x"},
    },
    {
        {"AUTH", "app", "apw"},
        {"ACL", "GETUSER", "app"},  // geokv denies it too: app has no @admin
        {"GET", "app:1"},
        {"GET", "other"},
        {"MGET", "app:1", "other"},
        {"SET", "app:2", "v"},
        {"DEL", "app:1"},
        {"MULTI"},
        {"SET", "app:3", "v"},
        {"SET", "other", "v"},
        {"EXEC"},
        {"GET", "app:3"},
        {"AUTH", "app", "wrong"},
        {"GET", "app:2"},  // a failed AUTH keeps the user
    },
    {
        {"HELLO", "2", "AUTH", "app", "apw", "SETNAME", "x"},
        {"CLIENT", "GETNAME"},
        {"HSET", "app:h", "f", "v"},
    },
};

TEST_CASE("Compat: AUTH, HELLO AUTH and ACL replies are redis-server's", "[integration]") {
  TempDir redis_dir;
  const uint16_t redis_port = FreePort();
  std::ofstream(redis_dir.path() + "/users.acl") << kAclFile;
  auto pid = Spawn({"/usr/bin/redis-server", "--port", std::to_string(redis_port), "--bind",
                    "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", redis_dir.path(),
                    "--aclfile", redis_dir.path() + "/users.acl"},
                   redis_dir.path() + "/redis.log");
  REQUIRE(pid.ok());
  struct Reaper {
    pid_t pid;
    ~Reaper() {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  } reaper{*pid};
  REQUIRE(replica::WaitUntilServing("127.0.0.1", redis_port, *pid, 10'000).ok());

  TestCluster geokv(1, 1, 1);
  const std::string acl = geokv.dir() + "/users.acl";
  std::ofstream(acl) << kAclFile;
  REQUIRE(geokv.Start(0, {"--aclfile", acl, "--synchronous", "normal"}).ok());

  for (const auto& session : kSessions) {
    RespClient to_redis;
    REQUIRE(to_redis.Connect("127.0.0.1", redis_port).ok());
    RespClient to_geokv = geokv.Client(0);
    for (const Args& args : session) {
      std::string shown;
      for (const auto& a : args) shown += " " + a;
      INFO("command:" << shown);
      auto want = to_redis.Command(args);
      auto got = to_geokv.Command(args);
      REQUIRE(want.ok());
      REQUIRE(got.ok());
      if (args[0] == "HELLO" && !want->is_error()) {
        CHECK_FALSE(got->is_error());  // server name, version and client id differ
      } else {
        CHECK(got->ToString() == want->ToString());
      }
    }
  }
}

}  // namespace
}  // namespace geokv::test
