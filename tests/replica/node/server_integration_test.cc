// The real geokv-server on loopback, driven by real clients: Debian's
// redis-cli and the project's RespClient. Hostile clients must get an error
// and lose their connection, while everyone else is still served.
#include <catch2/catch.hpp>
#include <fstream>
#include <thread>

#include "server_process.h"

namespace geokv::test {
namespace {

using replica::RespClient;
using replica::RespValue;

std::string Cli(const TestCluster& cluster, const std::string& args) {
  return RunCommand("redis-cli --no-raw -p " + std::to_string(cluster.nodes()[0].client_port) +
                    " " + args + " 2>&1");
}

// One node holding every partition.
struct SingleNode {
  SingleNode(const std::vector<std::string>& flags = {}) : cluster(1, 1, 1) {
    Status s = cluster.Start(0, flags);
    INFO(s.ToString());
    REQUIRE(s.ok());
  }
  TestCluster cluster;
};

bool Serves(TestCluster& cluster) {
  RespClient client;
  if (!client.Connect("127.0.0.1", cluster.nodes()[0].client_port).ok()) return false;
  auto pong = client.Command({"PING"});
  return pong.ok() && pong->str == "PONG";
}

TEST_CASE("Server: redis-cli walks the command table", "[integration]") {
  SingleNode node;
  const std::vector<std::pair<std::string, std::string>> walk = {
      {"PING", "PONG"},
      {"ECHO hi", "\"hi\""},
      {"SELECT 0", "OK"},
      {"SELECT 1", "(error) ERR DB index is out of range"},
      {"SET k v", "OK"},
      {"GET k", "\"v\""},
      {"SET k w NX", "(nil)"},
      {"SET k w XX GET", "\"v\""},
      {"GETSET k x", "\"w\""},
      {"STRLEN k", "(integer) 1"},
      {"MSET a 1 b 2", "OK"},
      {"MGET a b nope", "1) \"1\"\n2) \"2\"\n3) (nil)"},
      {"INCR a", "(integer) 2"},
      {"INCRBY a 10", "(integer) 12"},
      {"DECR a", "(integer) 11"},
      {"DECRBY a 20", "(integer) -9"},
      {"INCR k", "(error) ERR value is not an integer or out of range"},
      {"SADD s x y", "(integer) 2"},
      {"SREM s y", "(integer) 1"},
      {"SMEMBERS s", "1) \"x\""},
      {"SISMEMBER s x", "(integer) 1"},
      {"SMISMEMBER s x y", "1) (integer) 1\n2) (integer) 0"},
      {"SCARD s", "(integer) 1"},
      {"GET s", "(error) WRONGTYPE Operation against a key holding the wrong kind of value"},
      {"HSET h f 1 g 2", "(integer) 2"},
      {"HGET h f", "\"1\""},
      {"HMGET h f nope", "1) \"1\"\n2) (nil)"},
      {"HINCRBY h f 4", "(integer) 5"},
      {"HDEL h g", "(integer) 1"},
      {"HGETALL h", "1) \"f\"\n2) \"5\""},
      {"HKEYS h", "1) \"f\""},
      {"HVALS h", "1) \"5\""},
      {"HLEN h", "(integer) 1"},
      {"HEXISTS h f", "(integer) 1"},
      {"MVSET m v1", "OK"},
      {"TYPE m", "mvreg"},
      {"TYPE h", "hash"},
      {"EXISTS k s nope", "(integer) 2"},
      {"DEL k nope", "(integer) 1"},
      {"DBSIZE", "(integer) 5"},
      {"GEOKV.WHERE k", ""},  // checked below: shape only
      {"CLIENT SETNAME me", "OK"},
      {"CONFIG GET maxclients", "1) \"maxclients\"\n2) \"10000\""},
      {"WAIT 0 0", "(integer) 0"},
      {"NOPE x", "(error) ERR unknown command 'NOPE', with args beginning with: 'x' "},
      {"GET", "(error) ERR wrong number of arguments for 'get' command"},
      {"FLUSHALL", "OK"},
      {"DBSIZE", "(integer) 0"},
  };
  for (const auto& [args, expected] : walk) {
    INFO(args);
    std::string out = Cli(node.cluster, args);
    while (!out.empty() && out.back() == '\n') out.pop_back();
    if (args == "GEOKV.WHERE k") {
      CHECK(out.find("1) (integer) ") == 0);
      CHECK(out.find("\"dc1-a\"") != std::string::npos);
    } else {
      CHECK(out == expected);
    }
  }
}

TEST_CASE("Server: pipelined requests are answered in order", "[integration]") {
  SingleNode node;
  RespClient client = node.cluster.Client(0);
  // Null replies parse as such in the project's client.
  CHECK(client.Command({"GET", "missing"})->type == RespValue::Type::kNull);
  CHECK(client.Command({"MGET", "missing"})->elements.at(0).type == RespValue::Type::kNull);
  std::string pipeline;
  for (int i = 0; i < 500; ++i) {
    pipeline += replica::EncodeRequest({"SET", "key:" + std::to_string(i), std::to_string(i)});
    pipeline += replica::EncodeRequest({"PING"});  // answered on the I/O thread
    pipeline += replica::EncodeRequest({"GET", "key:" + std::to_string(i)});
  }
  REQUIRE(client.SendRaw(pipeline).ok());
  for (int i = 0; i < 500; ++i) {
    auto set = client.ReadReply();
    auto ping = client.ReadReply();
    auto get = client.ReadReply();
    REQUIRE(set.ok());
    REQUIRE(get.ok());
    REQUIRE(set->str == "OK");
    REQUIRE(ping->str == "PONG");
    REQUIRE(get->str == std::to_string(i));
  }
}

TEST_CASE("Server: malformed RESP gets a protocol error and the connection closed",
          "[integration]") {
  SingleNode node;
  const std::vector<std::pair<const char*, std::string>> hostile = {
      {"bad type byte", "*1\r\n:5\r\n"},
      {"negative bulk length", "*1\r\n$-5\r\n"},
      {"huge bulk length", "*1\r\n$99999999999\r\n"},
      {"multibulk count of 2^31", "*2147483648\r\n"},
      {"missing CRLF after bulk", "*1\r\n$3\r\nGETXY"},
      {"unbalanced quotes", "SET \"abc\r\n"},
  };
  for (const auto& [name, bytes] : hostile) {
    INFO(name);
    RespClient client = node.cluster.Client(0);
    REQUIRE(client.SendRaw(bytes).ok());
    auto reply = client.ReadReply();
    REQUIRE(reply.ok());
    CHECK(reply->is_error());
    CHECK(reply->str.rfind("ERR Protocol error: ", 0) == 0);
    CHECK_FALSE(client.ReadReply().ok());  // closed by the server
    CHECK(Serves(node.cluster));
  }
}

TEST_CASE("Server: a bulk over the configured limit is refused", "[integration]") {
  SingleNode node({"--proto-max-bulk-len", "1000"});
  RespClient client = node.cluster.Client(0);
  REQUIRE(client.SendRaw("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1001\r\n").ok());
  auto reply = client.ReadReply();
  REQUIRE(reply.ok());
  CHECK(reply->str == "ERR Protocol error: invalid bulk length");
  CHECK(Serves(node.cluster));
}

TEST_CASE("Server: a stalled half request does not hold up other clients", "[integration]") {
  SingleNode node;
  RespClient staller = node.cluster.Client(0);
  REQUIRE(staller.SendRaw("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nabc").ok());
  for (int i = 0; i < 20; ++i) REQUIRE(Serves(node.cluster));
  // The staller finishes its request later and gets its answer.
  REQUIRE(staller.SendRaw(std::string(97, 'x') + "\r\n").ok());
  auto reply = staller.ReadReply();
  REQUIRE(reply.ok());
  CHECK(reply->str == "OK");
}

TEST_CASE("Server: clients that vanish mid-reply, and 10,000 short connections", "[integration]") {
  SingleNode node;
  RespClient writer = node.cluster.Client(0);
  REQUIRE(writer.Command({"SET", "big", std::string(8 << 20, 'x')})->str == "OK");
  for (int i = 0; i < 20; ++i) {
    RespClient client = node.cluster.Client(0);
    REQUIRE(client.SendRaw(replica::EncodeRequest({"GET", "big"})).ok());
    client.Close();  // before the 8 MiB reply is read
  }
  for (int i = 0; i < 10'000; ++i) {
    RespClient client;
    REQUIRE(client.Connect("127.0.0.1", node.cluster.nodes()[0].client_port).ok());
    if (i % 2 == 0) REQUIRE(client.SendRaw("PING\r\n").ok());
  }
  REQUIRE(Serves(node.cluster));
  // Every dropped connection is gone: only ours remains (allow the server a moment).
  int64_t clients = -1;
  for (int attempt = 0; attempt < 100 && clients != 1; ++attempt) {
    auto info = writer.Command({"INFO", "clients"});
    REQUIRE(info.ok());
    clients = std::stoll(info->str.substr(info->str.find("connected_clients:") + 18));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(clients == 1);
}

TEST_CASE("Server: a client that does not read its replies is disconnected at the limit",
          "[integration]") {
  SingleNode node({"--client-output-buffer-limit", "4000000"});
  RespClient writer = node.cluster.Client(0);
  REQUIRE(writer.Command({"SET", "v", std::string(100'000, 'x')})->str == "OK");
  RespClient greedy = node.cluster.Client(0);
  std::string pipeline;
  for (int i = 0; i < 1000; ++i) pipeline += replica::EncodeRequest({"GET", "v"});  // 100 MB
  greedy.set_timeout_ms(500);
  (void)greedy.SendRaw(pipeline);  // may fail once the server hangs up
  // The server needs a moment to run the pipeline (longer on a loaded
  // machine): poll, bounded.
  bool disconnected = false;
  for (int attempt = 0; attempt < 200 && !disconnected; ++attempt) {
    auto info = writer.Command({"INFO", "stats"});
    REQUIRE(info.ok());
    disconnected =
        info->str.find("client_output_buffer_limit_disconnections:0") == std::string::npos;
    if (!disconnected) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(disconnected);
  CHECK(Serves(node.cluster));
}

TEST_CASE("Server: maxclients refuses connections beyond the limit", "[integration]") {
  SingleNode node;
  RespClient admin = node.cluster.Client(0);
  REQUIRE(admin.Command({"CONFIG", "SET", "maxclients", "2"})->str == "OK");
  RespClient second = node.cluster.Client(0);
  REQUIRE(second.Command({"PING"})->str == "PONG");
  RespClient third = node.cluster.Client(0);
  auto reply = third.ReadReply();
  REQUIRE(reply.ok());
  CHECK(reply->str == "ERR max number of clients reached");
}

TEST_CASE("Server: acknowledged writes survive kill -9, and SIGTERM stops cleanly",
          "[integration]") {
  SingleNode node;
  {
    RespClient client = node.cluster.Client(0);
    for (int i = 0; i < 300; ++i) {
      const std::string k = std::to_string(i);
      REQUIRE(client.Command({"SET", "k" + k, k})->str == "OK");
      REQUIRE(client.Command({"SADD", "set", k})->integer == 1);
      REQUIRE(client.Command({"HINCRBY", "cart", "sku" + std::to_string(i % 7), "1"}).ok());
    }
  }
  node.cluster.Kill(0);
  REQUIRE(node.cluster.Start(0).ok());
  {
    RespClient client = node.cluster.Client(0);
    for (int i = 0; i < 300; ++i) {
      REQUIRE(client.Command({"GET", "k" + std::to_string(i)})->str == std::to_string(i));
    }
    CHECK(client.Command({"SCARD", "set"})->integer == 300);
    CHECK(client.Command({"HGET", "cart", "sku0"})->str == "43");  // 0, 7, ..., 294
    REQUIRE(client.Command({"SET", "after", "restart"})->str == "OK");
  }
  CHECK(node.cluster.Stop(0) == 0);
  REQUIRE(node.cluster.Start(0).ok());
  RespClient client = node.cluster.Client(0);
  CHECK(client.Command({"GET", "after"})->str == "restart");
}

TEST_CASE("Server: a second server on the same data directory is refused", "[integration]") {
  SingleNode node;
  int status = 0;
  const std::string out =
      RunCommand(std::string(GEOKV_SERVER_BIN) + " --topology " + node.cluster.topology_path() +
                     " --node dc1-a --data " + node.cluster.dir() + "/dc1-a 2>&1",
                 &status);
  CHECK(status != 0);
  CHECK(out.find("geokv.db") != std::string::npos);
  CHECK(Serves(node.cluster));
}

TEST_CASE("Server: a broken --peer-routes file stops the start with its line", "[integration]") {
  SingleNode node;
  const std::string routes = node.cluster.dir() + "/routes.toml";
  REQUIRE(static_cast<bool>(std::ofstream(routes) << "[[peers]]\nid = \"dc2-a\"\nclient = 7\n"));
  int status = 0;
  const std::string out = RunCommand(std::string(GEOKV_SERVER_BIN) + " --topology " +
                                         node.cluster.topology_path() + " --peer-routes " + routes +
                                         " --node dc1-a --data " + node.cluster.dir() + "/other 2>&1",
                                     &status);
  CHECK(status != 0);
  CHECK(out.find("--peer-routes: " + routes + ":1: peers[0].repl: missing") != std::string::npos);
  CHECK(out.find(routes + ":3: peers[0].client: must be \"host:port\"") != std::string::npos);
  CHECK(Serves(node.cluster));
}

TEST_CASE("Server: MULTI/EXEC runs queued commands at once, WATCH aborts on a change",
          "[integration]") {
  SingleNode node;
  RespClient a = node.cluster.Client(0);
  RespClient b = node.cluster.Client(0);
  auto run = [](RespClient& c, std::vector<std::string> args) {
    auto r = c.Command(args);
    REQUIRE(r.ok());
    return r->ToString();
  };
  CHECK(run(a, {"MULTI"}) == "OK");
  CHECK(run(a, {"SET", "k", "1"}) == "QUEUED");
  CHECK(run(a, {"INCR", "n"}) == "QUEUED");
  CHECK(run(a, {"GET", "k"}) == "QUEUED");
  CHECK(run(b, {"GET", "k"}) == "(nil)");  // nothing ran yet
  CHECK(run(a, {"EXEC"}) == "[OK, (integer) 1, \"1\"]");
  CHECK(run(b, {"GET", "k"}) == "\"1\"");

  // A refused command aborts the whole transaction; nothing of it applies.
  CHECK(run(a, {"MULTI"}) == "OK");
  CHECK(run(a, {"SET", "k", "2"}) == "QUEUED");
  CHECK(run(a, {"NOPE"}).rfind("(error) ERR unknown command", 0) == 0);
  CHECK(run(a, {"PING"}) == "(error) ERR Command not allowed inside a transaction");
  CHECK(run(a, {"EXEC"}) == "(error) EXECABORT Transaction discarded because of previous errors.");
  CHECK(run(b, {"GET", "k"}) == "\"1\"");

  // WATCH: a write by another client between WATCH and EXEC aborts it.
  CHECK(run(a, {"WATCH", "k"}) == "OK");
  CHECK(run(b, {"SET", "k", "3"}) == "OK");
  CHECK(run(a, {"MULTI"}) == "OK");
  CHECK(run(a, {"SET", "k", "4"}) == "QUEUED");
  CHECK(run(a, {"EXEC"}) == "(nil)");
  CHECK(run(b, {"GET", "k"}) == "\"3\"");
  // ... and without a change it runs (EXEC unwatched the key).
  CHECK(run(a, {"WATCH", "k"}) == "OK");
  CHECK(run(a, {"MULTI"}) == "OK");
  CHECK(run(a, {"SET", "k", "5"}) == "QUEUED");
  CHECK(run(a, {"EXEC"}) == "[OK]");
  CHECK(run(b, {"GET", "k"}) == "\"5\"");

  // Pipelined in one write, as client libraries send it.
  std::string pipeline;
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"MULTI"}, {"SADD", "s", "x"}, {"SCARD", "s"}, {"EXEC"}}) {
    pipeline += replica::EncodeRequest(args);
  }
  REQUIRE(a.SendRaw(pipeline).ok());
  std::vector<std::string> replies;
  for (int i = 0; i < 4; ++i) {
    auto r = a.ReadReply();
    REQUIRE(r.ok());
    replies.push_back(r->ToString());
  }
  CHECK(replies ==
        std::vector<std::string>{"OK", "QUEUED", "QUEUED", "[(integer) 1, (integer) 1]"});
  CHECK(run(a, {"DISCARD"}) == "(error) ERR DISCARD without MULTI");
}

TEST_CASE("Server: HELLO 3 switches the connection to RESP3 (maps, sets, nulls)", "[integration]") {
  SingleNode node;
  RespClient c = node.cluster.Client(0);
  auto run = [&](std::vector<std::string> args) {
    auto r = c.Command(args);
    REQUIRE(r.ok());
    return r->ToString();
  };
  CHECK(run({"HELLO", "4"}) == "(error) NOPROTO sorry, this protocol version is not supported.");
  CHECK(run({"HELLO", "x"}) == "(error) ERR Protocol version is not an integer or out of range");
  CHECK(run({"HELLO", "2", "AUTH", "bob", "pw"}) ==
        "(error) WRONGPASS invalid username-password pair or user is disabled.");
  CHECK(run({"HELLO", "2", "BOGUS"}) == "(error) ERR Syntax error in HELLO option 'BOGUS'");
  CHECK(run({"HELLO", "2", "AUTH", "default", "pw", "SETNAME", "app"}).find("proto") !=
        std::string::npos);
  CHECK(run({"CLIENT", "GETNAME"}) == "\"app\"");
  REQUIRE(run({"HSET", "h", "f", "v"}) == "(integer) 1");
  REQUIRE(run({"SADD", "s", "m"}) == "(integer) 1");
  // RESP3 as a real client reads it.
  const std::string cli =
      "redis-cli --no-raw -3 -p " + std::to_string(node.cluster.nodes()[0].client_port);
  CHECK(RunCommand(cli + " HGETALL h 2>&1") == "1# \"f\" => \"v\"\n");
  CHECK(RunCommand(cli + " SMEMBERS s 2>&1") == "1~ \"m\"\n");
  CHECK(RunCommand(cli + " GET missing 2>&1") == "(nil)\n");
  CHECK(RunCommand(cli + " CONFIG GET databases 2>&1") == "1# \"databases\" => \"1\"\n");
  const std::string hello = RunCommand(cli + " HELLO 3 2>&1");
  CHECK(hello.rfind("1# \"server\" => \"geokv\"\n", 0) == 0);
  CHECK(hello.find("3# \"proto\" => (integer) 3\n") != std::string::npos);
}

TEST_CASE("Server: CONFIG SET takes Redis's encoding tunables as accepted no-ops",
          "[integration]") {
  SingleNode node;
  RespClient c = node.cluster.Client(0);
  CHECK(c.Command(
             {"CONFIG", "SET", "hash-max-ziplist-value", "128", "set-max-intset-entries", "1024"})
            ->str == "OK");
  CHECK(c.Command({"CONFIG", "GET", "hash-max-ziplist-value"})->ToString() ==
        "[\"hash-max-ziplist-value\", \"128\"]");
  CHECK(c.Command({"CONFIG", "GET", "set-max-intset-entries"})->ToString() ==
        "[\"set-max-intset-entries\", \"1024\"]");
  CHECK(c.Command({"CONFIG", "RESETSTAT"})->str == "OK");
  CHECK(c.Command({"HSET", "h", "f", std::string(200, 'x')})->integer == 1);  // nothing changed
}

}  // namespace
}  // namespace geokv::test
