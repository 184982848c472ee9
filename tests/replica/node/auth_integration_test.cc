// Authentication and ACLs on real geokv-server processes: --requirepass,
// --aclfile, ACL LOAD/SAVE, forwarded requests under the client's rights, the
// refusal to serve a non-loopback address open; redis-cli and redis-py.
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "server_process.h"

namespace geokv::test {
namespace {

using replica::RespClient;
using replica::RespValue;

const std::string kNoAuth = "NOAUTH Authentication required.";
const std::string kWrongPass = "WRONGPASS invalid username-password pair or user is disabled.";
const std::string kNoPermKey =
    "NOPERM this user has no permissions to access one of the keys used as arguments";

// The reply's text: the string of a simple, bulk or error reply.
std::string Text(RespClient& c, const std::vector<std::string>& args) {
  auto reply = c.Command(args);
  REQUIRE(reply.ok());
  return reply->str;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// An authenticated client of node i.
RespClient AuthedClient(TestCluster& cluster, size_t i, const std::string& user,
                        const std::string& password) {
  RespClient c = cluster.Client(i);
  REQUIRE(Text(c, {"AUTH", user, password}) == "OK");
  return c;
}

TEST_CASE("Auth: with --requirepass a client gets NOAUTH until AUTH, WRONGPASS on a wrong one",
          "[integration]") {
  TestCluster cluster(1, 1, 1);
  REQUIRE(cluster.Start(0, {"--requirepass", "s3cret", "--synchronous", "normal"}).ok());
  RespClient c = cluster.Client(0);
  CHECK(Text(c, {"PING"}) == kNoAuth);
  CHECK(Text(c, {"SET", "k", "v"}) == kNoAuth);
  CHECK(Text(c, {"NOSUCH"}).rfind("ERR unknown command 'NOSUCH'", 0) == 0);  // before NOAUTH
  CHECK(Text(c, {"HELLO", "3"}).rfind("NOAUTH HELLO must be called", 0) == 0);
  CHECK(Text(c, {"AUTH", "wrong"}) == kWrongPass);
  CHECK(Text(c, {"AUTH", "default", "wrong"}) == kWrongPass);
  CHECK(Text(c, {"AUTH", "nobody", "s3cret"}) == kWrongPass);
  CHECK(Text(c, {"AUTH", "s3cret"}) == "OK");
  CHECK(Text(c, {"SET", "k", "v"}) == "OK");
  CHECK(Text(c, {"ACL", "WHOAMI"}) == "default");
  auto config = c.Command({"CONFIG", "GET", "requirepass"});
  REQUIRE(config.ok());
  REQUIRE(config->elements.size() == 2);
  CHECK(config->elements[1].str == "s3cret");

  RespClient hello = cluster.Client(0);
  auto reply = hello.Command({"HELLO", "2", "AUTH", "default", "s3cret", "SETNAME", "app"});
  REQUIRE(reply.ok());
  CHECK_FALSE(reply->is_error());
  CHECK(Text(hello, {"GET", "k"}) == "v");
  CHECK(Text(hello, {"CLIENT", "GETNAME"}) == "app");

  // Real clients: redis-cli -a, and redis-py's password argument.
  const std::string port = std::to_string(cluster.nodes()[0].client_port);
  CHECK(RunCommand("redis-cli -p " + port + " --no-auth-warning -a s3cret GET k") == "v\n");
  CHECK(RunCommand("redis-cli -p " + port + " GET k") == kNoAuth + "\n\n");
  int status = -1;
  const std::string py = RunCommand(
      "/usr/bin/python3 -c \"import redis, sys\n"
      "r = redis.Redis(port=" +
          port +
          ", password='s3cret', decode_responses=True)\n"
          "assert r.get('k') == 'v', r.get('k')\n"
          "try:\n"
          "    redis.Redis(port=" +
          port +
          ", password='wrong').get('k')\n"
          "    sys.exit('wrong password accepted')\n"
          "except redis.exceptions.ResponseError as e:\n"
          "    assert str(e).startswith('WRONGPASS'), e\n"
          "print('redis-py ok')\" 2>&1",
      &status);
  INFO(py);
  CHECK(status == 0);
  CHECK(py == "redis-py ok\n");

  // CONFIG SET requirepass rotates the password; clients already in stay in.
  CHECK(Text(c, {"CONFIG", "SET", "requirepass", "rotated"}) == "OK");
  CHECK(Text(c, {"GET", "k"}) == "v");
  RespClient after = cluster.Client(0);
  CHECK(Text(after, {"AUTH", "s3cret"}) == kWrongPass);
  CHECK(Text(after, {"AUTH", "rotated"}) == "OK");
}

TEST_CASE("Auth: an ACL file's users are held to their commands and keys; LOAD and SAVE",
          "[integration]") {
  TestCluster cluster(1, 1, 1);
  const std::string acl = cluster.dir() + "/users.acl";
  WriteFile(acl,
            "user default on >admin ~* &* +@all\n"
            "user app on >apw ~app:* resetchannels -@all +@read +set +multi +exec\n");
  REQUIRE(cluster.Start(0, {"--aclfile", acl, "--synchronous", "normal"}).ok());
  RespClient app = AuthedClient(cluster, 0, "app", "apw");
  CHECK(Text(app, {"SET", "app:1", "v"}) == "OK");
  CHECK(Text(app, {"GET", "app:1"}) == "v");
  CHECK(Text(app, {"GET", "other"}) == kNoPermKey);
  CHECK(Text(app, {"MGET", "app:1", "other"}) == kNoPermKey);
  CHECK(Text(app, {"DEL", "app:1"}) ==
        "NOPERM this user has no permissions to run the 'del' command");
  CHECK(Text(app, {"ACL", "LIST"}) ==
        "NOPERM this user has no permissions to run the 'acl|list' command");
  // Inside MULTI a refused command aborts the transaction, as in Redis.
  CHECK(Text(app, {"MULTI"}) == "OK");
  CHECK(Text(app, {"SET", "app:2", "v"}) == "QUEUED");
  CHECK(Text(app, {"SET", "other", "v"}) == kNoPermKey);
  CHECK(Text(app, {"EXEC"}) == "EXECABORT Transaction discarded because of previous errors.");
  CHECK(Text(app, {"GET", "app:2"}).empty());

  const std::string port = std::to_string(cluster.nodes()[0].client_port);
  CHECK(RunCommand("redis-cli -p " + port + " --no-auth-warning --user app --pass apw GET app:1") ==
        "v\n");
  CHECK(
      RunCommand("redis-cli -p " + port + " --no-auth-warning --user app --pass no GET app:1 2>&1")
          .find("WRONGPASS") != std::string::npos);

  // ACL SETUSER + SAVE writes the file; a broken file keeps the old users on
  // LOAD; a fixed one replaces them.
  RespClient admin = AuthedClient(cluster, 0, "default", "admin");
  CHECK(Text(admin, {"ACL", "SETUSER", "ops", "on", ">opw", "allkeys", "+@all"}) == "OK");
  CHECK(Text(admin, {"ACL", "SAVE"}) == "OK");
  CHECK(ReadFile(acl).find("user ops on #") != std::string::npos);
  CHECK(ReadFile(acl).find("opw") == std::string::npos);  // only the hash
  WriteFile(acl, "user default on >admin ~* &* +@all\nuser broken on +nosuchcommand\n");
  CHECK(Text(admin, {"ACL", "LOAD"}) ==
        "ERR " + acl +
            ":2: Unknown command or category name in ACL. WARNING: ACL errors detected, no "
            "change to the previously active ACL rules was performed");
  AuthedClient(cluster, 0, "ops", "opw");  // still there
  WriteFile(acl, "user default on >admin ~* &* +@all\nuser late on >lpw ~* +get\n");
  CHECK(Text(admin, {"ACL", "LOAD"}) == "OK");
  RespClient late = AuthedClient(cluster, 0, "late", "lpw");
  CHECK(Text(late, {"GET", "app:1"}) == "v");
  RespClient gone = cluster.Client(0);
  CHECK(Text(gone, {"AUTH", "ops", "opw"}) == kWrongPass);
  // A client of a user ACL LOAD removed must authenticate again.
  CHECK(Text(app, {"GET", "app:1"}) == kNoAuth);
}

TEST_CASE("Auth: a forwarded request runs with the rights of the client that sent it",
          "[integration]") {
  TestCluster cluster(4, 1, 3, 16);
  const std::string acl = cluster.dir() + "/users.acl";
  const std::string secret = cluster.dir() + "/cluster.secret";
  WriteFile(acl,
            "user default on >admin ~* &* +@all\n"
            "user app on >apw ~app:* resetchannels +@all -@admin\n");
  WriteFile(secret, "a-long-cluster-secret\n");
  for (size_t i = 0; i < 4; ++i) {
    Status s = cluster.Start(i, {"--aclfile", acl, "--cluster-secret-file", secret});
    INFO(s.ToString());
    REQUIRE(s.ok());
  }
  // Keys node 0 holds no replica of: its requests for them are forwarded.
  RespClient admin = AuthedClient(cluster, 0, "default", "admin");
  auto not_held = [&](const std::string& prefix) {
    for (int k = 0;; ++k) {
      const std::string key = prefix + std::to_string(k);
      auto where = admin.Command({"GEOKV.WHERE", key});
      REQUIRE(where.ok());
      REQUIRE(where->elements.size() == 2);
      bool held = false;
      for (const RespValue& id : where->elements[1].elements) held |= id.str == "dc1-a";
      if (!held) return key;
    }
  };
  const std::string allowed = not_held("app:"), forbidden = not_held("other:");
  RespClient app = AuthedClient(cluster, 0, "app", "apw");
  CHECK(Text(app, {"SET", allowed, "v"}) == "OK");  // forwarded, peer-authenticated
  CHECK(Text(app, {"GET", allowed}) == "v");
  // WAIT on a forwarded write asks the target over a link of its own, which
  // authenticates too.
  auto waited = app.Command({"WAIT", "1", "5000"});
  REQUIRE(waited.ok());
  INFO(waited->ToString());
  CHECK(waited->type == RespValue::Type::kInteger);
  CHECK(waited->integer >= 1);
  // A RESP3 client's forwarding link authenticates, then switches protocol.
  const std::string port = std::to_string(cluster.nodes()[0].client_port);
  CHECK(RunCommand("redis-cli -3 -p " + port + " --no-auth-warning --user app --pass apw GET " +
                   allowed + " 2>&1") == "v\n");
  CHECK(Text(app, {"SET", forbidden, "v"}) == kNoPermKey);
  CHECK(Text(admin, {"GET", forbidden}).empty());  // nothing was written
  // A client cannot make itself a forwarding link, nor log in as the peer
  // user without the secret.
  CHECK(Text(app, {"GEOKV.FORWARDER"}) ==
        "NOPERM this user has no permissions to run the 'geokv.forwarder' command");
  RespClient intruder = cluster.Client(1);
  CHECK(Text(intruder, {"AUTH", "geokv-peer", "guess"}) == kWrongPass);
  CHECK(Text(intruder, {"GEOKV.FORWARDER"}) == kNoAuth);
}

TEST_CASE("Auth: a node refuses to start open on a non-loopback address or with a broken ACL file",
          "[integration]") {
  TempDir dir;
  const std::string topology = dir.path() + "/open.toml";
  const uint16_t port = FreePort();
  WriteFile(topology,
            "[cluster]\nname = \"open\"\npartitions = 4\nreplicas = 1\nvnodes = 8\n"
            "[[datacenters]]\nname = \"dc1\"\n"
            "  [[datacenters.nodes]]\n  id = \"dc1-a\"\n  client = \"0.0.0.0:" +
                std::to_string(port) +
                "\"\n  repl = \"tcp://127.0.0.1:" + std::to_string(FreePort()) +
                "\"\n  sync = \"tcp://127.0.0.1:" + std::to_string(FreePort()) + "\"\n");
  const std::string server = std::string(GEOKV_SERVER_BIN) + " --topology " + topology +
                             " --node dc1-a --data " + dir.path() + "/data";
  int status = -1;
  std::string out = RunCommand("timeout 20 " + server + " 2>&1", &status);
  INFO(out);
  CHECK(status != 0);
  CHECK(out.find("refusing to serve clients on 0.0.0.0:" + std::to_string(port)) !=
        std::string::npos);
  CHECK(out.find("--unprotected") != std::string::npos);

  const std::string acl = dir.path() + "/broken.acl";
  WriteFile(acl, "user default on nopass ~* +@all\n\nuser x on ~k* +get bogus\n");
  out = RunCommand("timeout 20 " + server + " --aclfile " + acl + " 2>&1", &status);
  CHECK(status != 0);
  CHECK(out.find(acl + ":3: Syntax error") != std::string::npos);

  out = RunCommand("timeout 20 " + server + " --aclfile " + acl + " --requirepass x 2>&1", &status);
  CHECK(status != 0);
  CHECK(out.find("--requirepass and --aclfile together") != std::string::npos);

  TestCluster cluster(2, 1, 2);
  CHECK_FALSE(cluster.Start(0, {"--requirepass", "pw"}).ok());
  CHECK(cluster.Log(0).find("needs --cluster-secret-file") != std::string::npos);
}

}  // namespace
}  // namespace geokv::test
