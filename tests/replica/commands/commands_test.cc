// The command table against an in-memory key space: each command's exact RESP
// reply, including Redis's error replies. (The same handlers run in the server,
// where integration tests check them through real clients.)
#include <catch2/catch.hpp>
#include <cstdlib>
#include <map>
#include <set>

#include "crdt/join.h"
#include "crdt/key_type.h"
#include "crdt/memory_state.h"
#include "memory_partitions.h"
#include "replica/commands/access_control.h"
#include "replica/commands/acl_user.h"
#include "replica/commands/command.h"

namespace geokv::replica {
namespace {

using test::KeyIn;
using test::kPartitions;
using test::MemoryPartitions;

// The server side of connection commands: fixed parameters, and a record of
// what INFO and WAIT were asked.
class TestServer final : public ServerControl {
 public:
  AccessControl& access() override { return access_control; }
  std::vector<ConfigParam> ConfigParams() override {
    return {{"maxclients", std::to_string(max_clients), &max_clients}, {"databases", "1", nullptr}};
  }
  void Info(const std::string& section, Reply reply) override {
    reply("$" + std::to_string(section.size()) + "\r\n" + section + "\r\n");
  }
  void Wait(ClientSession&, int64_t numdcs, int64_t timeout_ms, Reply reply) override {
    reply(":" + std::to_string(numdcs + timeout_ms) + "\r\n");
  }
  void WaitOwn(std::vector<uint32_t> partitions, int64_t numdcs, int64_t timeout_ms,
               Reply reply) override {
    reply(":" + std::to_string(partitions.size() + numdcs + timeout_ms) + "\r\n");
  }
  void Watch(ClientSession&, std::vector<std::string> keys, Reply reply) override {
    watched_keys += keys.size();
    reply("+OK\r\n");
  }
  void Exec(ClientSession&, std::vector<Args> queued, std::shared_ptr<WatchedKeys> watched,
            Reply reply) override {
    exec_had_watch = watched != nullptr;
    reply(":" + std::to_string(queued.size()) + "\r\n");
  }
  size_t watched_keys = 0;
  bool exec_had_watch = false;
  size_t max_clients = 100;
  AccessControl access_control;
};

TestServer& Server() {
  static TestServer server;
  return server;
}

// Runs one request as the node does: table lookup, arity, then the row's
// handler (data commands are not routed here: the test holds every key).
std::string Run(MemoryPartitions& ks, Args args, ClientSession* session = nullptr) {
  const CommandSpec* spec = FindCommand(args[0]);
  if (spec == nullptr || spec->is_data()) return RunData(ks, std::move(args));
  std::string out;
  RespWriter reply(&out);
  if (CheckArity(*spec, args, reply)) {
    ClientSession own;
    ConnectionContext ctx(session ? *session : own, Server(),
                          [&out](std::string resp) { out += resp; });
    std::get<ConnectionHandler>(spec->handler)(ctx, args);
    ctx.Finish();
  }
  return out;
}

const std::string kWrongType =
    "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";

TEST_CASE("Commands: strings, SET options and counters", "[unit]") {
  MemoryPartitions ks;
  CHECK(Run(ks, {"GET", "a"}) == "$-1\r\n");
  CHECK(Run(ks, {"set", "a", "1"}) == "+OK\r\n");
  CHECK(Run(ks, {"GET", "a"}) == "$1\r\n1\r\n");
  CHECK(Run(ks, {"SET", "a", "2", "NX"}) == "$-1\r\n");
  CHECK(Run(ks, {"SET", "b", "2", "XX"}) == "$-1\r\n");
  CHECK(Run(ks, {"SET", "a", "3", "XX", "GET"}) == "$1\r\n1\r\n");
  CHECK(Run(ks, {"SET", "a", "3", "NX", "XX"}) == "-ERR syntax error\r\n");
  CHECK(Run(ks, {"INCR", "a"}) == ":4\r\n");
  CHECK(Run(ks, {"INCRBY", "a", "-10"}) == ":-6\r\n");
  CHECK(Run(ks, {"DECRBY", "a", "4"}) == ":-10\r\n");
  CHECK(Run(ks, {"DECR", "n"}) == ":-1\r\n");
  CHECK(Run(ks, {"GET", "a"}) == "$3\r\n-10\r\n");
  CHECK(Run(ks, {"STRLEN", "a"}) == ":3\r\n");
  CHECK(Run(ks, {"INCRBY", "a", "x"}) == "-ERR value is not an integer or out of range\r\n");
  CHECK(Run(ks, {"SET", "big", "9223372036854775807"}) == "+OK\r\n");
  CHECK(Run(ks, {"INCR", "big"}) == "-ERR increment or decrement would overflow\r\n");
  CHECK(Run(ks, {"DECRBY", "a", "-9223372036854775808"}) == "-ERR decrement would overflow\r\n");
  CHECK(Run(ks, {"SET", "t", "text"}) == "+OK\r\n");
  CHECK(Run(ks, {"INCR", "t"}) == "-ERR value is not an integer or out of range\r\n");
  CHECK(Run(ks, {"GETSET", "t", "new"}) == "$4\r\ntext\r\n");
  CHECK(Run(ks, {"MSET", "m1", "x", "m2", "y"}) == "+OK\r\n");
  CHECK(Run(ks, {"MSET", "m1", "x", "m2"}) ==
        "-ERR wrong number of arguments for 'mset' command\r\n");
  CHECK(Run(ks, {"SADD", "s", "x"}) == ":1\r\n");
  CHECK(Run(ks, {"MGET", "m1", "nope", "s", "m2"}) == "*4\r\n$1\r\nx\r\n$-1\r\n$-1\r\n$1\r\ny\r\n");
  CHECK(Run(ks, {"GET", "s"}) == kWrongType);
  CHECK(Run(ks, {"INCR", "s"}) == kWrongType);
  CHECK(Run(ks, {"SET", "s", "now a string"}) == "+OK\r\n");  // SET overwrites any type
  CHECK(Run(ks, {"TYPE", "s"}) == "+string\r\n");
}

TEST_CASE("Commands: sets", "[unit]") {
  MemoryPartitions ks;
  CHECK(Run(ks, {"SADD", "s", "b", "a", "b"}) == ":2\r\n");
  CHECK(Run(ks, {"SADD", "s", "a", "c"}) == ":1\r\n");
  CHECK(Run(ks, {"SMEMBERS", "s"}) == "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n");
  CHECK(Run(ks, {"SCARD", "s"}) == ":3\r\n");
  CHECK(Run(ks, {"SISMEMBER", "s", "a"}) == ":1\r\n");
  CHECK(Run(ks, {"SMISMEMBER", "s", "a", "z"}) == "*2\r\n:1\r\n:0\r\n");
  CHECK(Run(ks, {"SREM", "s", "a", "z", "a"}) == ":1\r\n");
  CHECK(Run(ks, {"SCARD", "nope"}) == ":0\r\n");
  CHECK(Run(ks, {"SMEMBERS", "nope"}) == "*0\r\n");
  CHECK(Run(ks, {"SET", "str", "v"}) == "+OK\r\n");
  CHECK(Run(ks, {"SADD", "str", "x"}) == kWrongType);
  CHECK(Run(ks, {"SADD", "s"}) == "-ERR wrong number of arguments for 'sadd' command\r\n");
  CHECK(Run(ks, {"TYPE", "s"}) == "+set\r\n");
}

TEST_CASE("Commands: hashes, as a cart", "[unit]") {
  MemoryPartitions ks;
  CHECK(Run(ks, {"HSET", "cart", "sku1", "1", "sku2", "5", "sku1", "2"}) == ":2\r\n");
  CHECK(Run(ks, {"HGET", "cart", "sku1"}) == "$1\r\n2\r\n");
  CHECK(Run(ks, {"HINCRBY", "cart", "sku1", "3"}) == ":5\r\n");
  CHECK(Run(ks, {"HINCRBY", "cart", "sku3", "1"}) == ":1\r\n");
  CHECK(Run(ks, {"HMGET", "cart", "sku1", "nope"}) == "*2\r\n$1\r\n5\r\n$-1\r\n");
  CHECK(Run(ks, {"HLEN", "cart"}) == ":3\r\n");
  CHECK(Run(ks, {"HEXISTS", "cart", "sku2"}) == ":1\r\n");
  CHECK(Run(ks, {"HDEL", "cart", "sku2", "nope"}) == ":1\r\n");
  CHECK(Run(ks, {"HGETALL", "cart"}) == "*4\r\n$4\r\nsku1\r\n$1\r\n5\r\n$4\r\nsku3\r\n$1\r\n1\r\n");
  CHECK(Run(ks, {"HKEYS", "cart"}) == "*2\r\n$4\r\nsku1\r\n$4\r\nsku3\r\n");
  CHECK(Run(ks, {"HVALS", "cart"}) == "*2\r\n$1\r\n5\r\n$1\r\n1\r\n");
  CHECK(Run(ks, {"HSET", "cart", "name", "x"}) == ":1\r\n");
  CHECK(Run(ks, {"HINCRBY", "cart", "name", "1"}) == "-ERR hash value is not an integer\r\n");
  CHECK(Run(ks, {"HSET", "cart", "f"}) == "-ERR wrong number of arguments for 'hset' command\r\n");
  CHECK(Run(ks, {"TYPE", "cart"}) == "+hash\r\n");
  CHECK(Run(ks, {"GET", "cart"}) == kWrongType);
}

TEST_CASE("Commands: multi-value registers with tokens", "[unit]") {
  MemoryPartitions ks;
  CHECK(Run(ks, {"MVGET", "mv"}) == "*2\r\n$0\r\n\r\n*0\r\n");
  CHECK(Run(ks, {"MVSET", "mv", "a"}) == "+OK\r\n");
  const std::string reply = Run(ks, {"MVGET", "mv"});
  // *2 $<n> <token> *1 $1 a
  const size_t start = reply.find("\r\n", 4) + 2;
  const std::string token = reply.substr(start, reply.find("\r\n", start) - start);
  CHECK(reply.substr(reply.size() - 11) == "*1\r\n$1\r\na\r\n");
  CHECK(Run(ks, {"MVSET", "mv", "b", token}) == "+OK\r\n");
  CHECK(Run(ks, {"MVGET", "mv"}).substr(Run(ks, {"MVGET", "mv"}).size() - 11) ==
        "*1\r\n$1\r\nb\r\n");
  CHECK(Run(ks, {"MVSET", "mv", "c", "not-hex"}) == "-ERR invalid MV token\r\n");
  CHECK(Run(ks, {"TYPE", "mv"}) == "+mvreg\r\n");
}

TEST_CASE("Commands: DEL, EXISTS, DBSIZE, SCAN, FLUSHALL", "[unit]") {
  MemoryPartitions ks;
  std::vector<std::string> keys;
  for (uint32_t p = 0; p < kPartitions; ++p) {
    keys.push_back(KeyIn(ks, p));
    CHECK(Run(ks, {"SET", keys.back(), "v"}) == "+OK\r\n");
  }
  CHECK(Run(ks, {"DBSIZE"}) == ":8\r\n");
  CHECK(Run(ks, {"EXISTS", keys[0], keys[0], "nope"}) == ":2\r\n");
  // SCAN with COUNT 1 walks partition by partition and ends at cursor 0.
  std::string cursor = "0";
  std::set<std::string> seen;
  for (int calls = 0; calls < 20; ++calls) {
    std::string reply = Run(ks, {"SCAN", cursor, "COUNT", "1"});
    size_t pos = reply.find("$");
    size_t len_end = reply.find("\r\n", pos);
    const int len = std::stoi(reply.substr(pos + 1, len_end - pos - 1));
    cursor = reply.substr(len_end + 2, len);
    for (const auto& k : keys) {
      if (reply.find("\r\n" + k + "\r\n") != std::string::npos) seen.insert(k);
    }
    if (cursor == "0") break;
  }
  CHECK(cursor == "0");
  CHECK(seen.size() == keys.size());
  CHECK(Run(ks, {"SCAN", "0", "MATCH", "nomatch*", "COUNT", "100"}) == "*2\r\n$1\r\n0\r\n*0\r\n");
  CHECK(Run(ks, {"SCAN", "x"}) == "-ERR invalid cursor\r\n");
  CHECK(Run(ks, {"DEL", keys[0], keys[1], "nope"}) == ":2\r\n");
  CHECK(Run(ks, {"DBSIZE"}) == ":6\r\n");
  CHECK(Run(ks, {"FLUSHALL"}) == "+OK\r\n");
  CHECK(Run(ks, {"DBSIZE"}) == ":0\r\n");
  CHECK(Run(ks, {"FLUSHALL", "BOGUS"}) == "-ERR syntax error\r\n");
}

TEST_CASE("Commands: routing keys come from the table's key spec", "[unit]") {
  auto keys = [](Args args) {
    const CommandSpec* spec = FindCommand(args[0]);
    REQUIRE(spec != nullptr);
    std::vector<std::string> out;
    for (std::string_view k : CommandKeys(*spec, args)) out.emplace_back(k);
    return out;
  };
  using V = std::vector<std::string>;
  CHECK(keys({"GET", "a"}) == V{"a"});
  CHECK(keys({"MSET", "a", "1", "b", "2"}) == V{"a", "b"});
  CHECK(keys({"DEL", "a", "b", "c"}) == V{"a", "b", "c"});
  CHECK(keys({"HSET", "h", "f", "v"}) == V{"h"});
  // GEOKV.WHERE names a key but is answered by any node: it is not routed.
  CHECK(keys({"GEOKV.WHERE", "a"}).empty());
  CHECK(keys({"DBSIZE"}).empty());
  MemoryPartitions ks;
  ks.not_held = 7;
  const std::string foreign = KeyIn(ks, 7);
  CHECK(Run(ks, {"GEOKV.WHERE", foreign}) == "*2\r\n:7\r\n*2\r\n$5\r\ndc2-a\r\n$5\r\ndc3-a\r\n");
}

TEST_CASE("Commands: every table row has a handler, valid flags and a valid key spec", "[unit]") {
  std::string previous;
  for (const CommandSpec& spec : AllCommands()) {
    INFO(spec.name);
    const std::string name = spec.name;
    CHECK(name > previous);  // sorted, no duplicates
    previous = name;
    for (char c : name) CHECK_FALSE((c >= 'A' && c <= 'Z'));
    CHECK(FindCommand(name) == &spec);
    CHECK(spec.arity != 0);
    CHECK((spec.flags & ~kAllCommandFlags) == 0);
    CHECK(AclTypeCategories(name) != 0);  // ACL +@string etc. (acl_user.cc)
    CHECK_FALSE(((spec.flags & kWrite) && (spec.flags & kReadOnly)));
    // A row's kind and flags agree: data commands read or write data,
    // connection commands do neither.
    const bool touches_data = (spec.flags & (kWrite | kReadOnly)) != 0;
    CHECK(spec.is_data() == touches_data);
    if (spec.is_data()) {
      CHECK(std::get<DataHandler>(spec.handler) != nullptr);
    } else {
      CHECK(std::get<ConnectionHandler>(spec.handler) != nullptr);
      CHECK(spec.first_key == 0);  // connection commands are never routed
      CHECK(spec.key_finder == nullptr);
    }
    if (spec.first_key > 0) {
      CHECK(spec.key_step > 0);
      CHECK((spec.last_key < 0 || spec.last_key >= spec.first_key));
      // The arity guarantees the first key is present.
      CHECK(std::abs(spec.arity) > spec.first_key);
    } else {
      CHECK(spec.last_key == 0);
      CHECK(spec.key_step == 0);
    }
  }
}

TEST_CASE("Commands: exactly the rows Redis 7.0 marks denyoom (and MVSET) refuse past maxmemory",
          "[unit]") {
  // `COMMAND INFO` of Debian's redis-server 7.0.15: the commands geokv has
  // whose flags hold denyoom. MVSET is geokv's own: it adds a value as SET does.
  const std::set<std::string> deny_oom = {
      "append",       "bitop",  "copy",  "decr",     "decrby",      "getset",     "hincrby",
      "hincrbyfloat", "hmset",  "hset",  "hsetnx",   "incr",        "incrby",     "incrbyfloat",
      "mset",         "msetnx", "mvset", "psetex",   "sadd",        "sdiffstore", "set",
      "setbit",       "setex",  "setnx", "setrange", "sinterstore", "sunionstore"};
  for (const CommandSpec& spec : AllCommands()) {
    INFO(spec.name);
    CHECK(((spec.flags & kDenyOom) != 0) == (deny_oom.count(spec.name) == 1));
    // Reads, deletes and admin commands go on past the limit.
    if (spec.flags & kDenyOom) CHECK((spec.flags & kWrite));
  }
  for (const std::string& name : deny_oom) CHECK(FindCommand(name) != nullptr);
  // COMMAND shows the flag where Redis does: "write denyoom [fast]".
  MemoryPartitions ks;
  CHECK(Run(ks, {"COMMAND", "INFO", "set"}).find("+write\r\n+denyoom\r\n") != std::string::npos);
  CHECK(Run(ks, {"COMMAND", "INFO", "del"}).find("denyoom") == std::string::npos);
}

TEST_CASE("Commands: connection and server commands through the connection context", "[unit]") {
  MemoryPartitions ks;
  ClientSession session;
  session.id = 9;
  CHECK(Run(ks, {"CLIENT", "SETNAME", "app"}, &session) == "+OK\r\n");
  CHECK(session.name == "app");
  CHECK(Run(ks, {"CLIENT", "GETNAME"}, &session) == "$3\r\napp\r\n");
  CHECK(Run(ks, {"CLIENT", "ID"}, &session) == ":9\r\n");
  CHECK(Run(ks, {"CONFIG", "GET", "max*"}) == "*2\r\n$10\r\nmaxclients\r\n$3\r\n100\r\n");
  CHECK(Run(ks, {"CONFIG", "SET", "maxclients", "7"}) == "+OK\r\n");
  CHECK(Run(ks, {"CONFIG", "GET", "maxclients"}) == "*2\r\n$10\r\nmaxclients\r\n$1\r\n7\r\n");
  CHECK(Run(ks, {"CONFIG", "SET", "databases", "2"})
            .rfind("-ERR Unknown option or number of arguments for CONFIG SET", 0) == 0);
  // INFO and WAIT answer later, through the deferred reply.
  CHECK(Run(ks, {"INFO", "keyspace"}) == "$8\r\nkeyspace\r\n");
  CHECK(Run(ks, {"WAIT", "2", "100"}) == ":102\r\n");
  CHECK(Run(ks, {"WAIT", "x", "100"}) == "-ERR value is not an integer or out of range\r\n");
  CHECK(Run(ks, {"QUIT"}, &session) == "+OK\r\n");
  CHECK(session.close_after_reply);
}

TEST_CASE("Commands: MULTI, EXEC, DISCARD and WATCH keep the connection's transaction", "[unit]") {
  MemoryPartitions ks;
  ClientSession session;
  CHECK(Run(ks, {"EXEC"}, &session) == "-ERR EXEC without MULTI\r\n");
  CHECK(Run(ks, {"DISCARD"}, &session) == "-ERR DISCARD without MULTI\r\n");
  CHECK(Run(ks, {"WATCH", "a", "b"}, &session) == "+OK\r\n");
  CHECK(Server().watched_keys == 2);
  session.watched = std::make_shared<WatchedKeys>();  // as the node would have set it
  CHECK(Run(ks, {"MULTI"}, &session) == "+OK\r\n");
  CHECK(session.multi.active);
  CHECK(Run(ks, {"MULTI"}, &session) == "-ERR MULTI calls can not be nested\r\n");
  CHECK(Run(ks, {"WATCH", "c"}, &session) == "-ERR WATCH inside MULTI is not allowed\r\n");
  session.multi.queued = {{"SET", "a", "1"}, {"GET", "a"}};  // as the node queues them
  CHECK(Run(ks, {"EXEC"}, &session) == ":2\r\n");
  CHECK(Server().exec_had_watch);
  CHECK_FALSE(session.multi.active);
  CHECK(session.watched == nullptr);  // EXEC unwatches
  // A command refused while queuing aborts the transaction.
  CHECK(Run(ks, {"MULTI"}, &session) == "+OK\r\n");
  session.multi.aborted = true;
  CHECK(Run(ks, {"EXEC"}, &session) ==
        "-EXECABORT Transaction discarded because of previous errors.\r\n");
  CHECK_FALSE(session.multi.active);
  CHECK(Run(ks, {"MULTI"}, &session) == "+OK\r\n");
  CHECK(Run(ks, {"DISCARD"}, &session) == "+OK\r\n");
  CHECK_FALSE(session.multi.active);
}

TEST_CASE("Commands: a key's WATCH version changes with every write to it", "[unit]") {
  MemoryPartitions ks;
  auto version = [&](const std::string& key) {
    return KeyVersion(ks.State(ks.PartitionOf(key)), key);
  };
  const uint64_t empty = version("k");
  Run(ks, {"SET", "k", "1"});
  const uint64_t v1 = version("k");
  CHECK(v1 != empty);
  Run(ks, {"SET", "other", "1"});
  CHECK(version("k") == v1);   // another key's write does not touch it
  Run(ks, {"SET", "k", "1"});  // same value, new write
  CHECK(version("k") != v1);
  WatchedKeys watched;
  watched.Add("k", version("k"));
  CHECK(watched.Unchanged(ks));
  Run(ks, {"DEL", "k"});
  CHECK_FALSE(watched.Unchanged(ks));
}

TEST_CASE("Commands: reads and no-op writes commit nothing", "[unit]") {
  MemoryPartitions ks;
  Run(ks, {"GET", "a"});
  Run(ks, {"SREM", "s", "x"});
  Run(ks, {"HDEL", "h", "f"});
  Run(ks, {"DEL", "nope"});
  CHECK(ks.commits == 0);
  Run(ks, {"SET", "a", "1"});
  CHECK(ks.commits == 1);
}

TEST_CASE("Commands: unknown commands, arity and the command table", "[unit]") {
  MemoryPartitions ks;
  CHECK(Run(ks, {"NOPE", "a", "b"}) ==
        "-ERR unknown command 'NOPE', with args beginning with: 'a' 'b' \r\n");
  CHECK(Run(ks, {"GET"}) == "-ERR wrong number of arguments for 'get' command\r\n");
  CHECK(Run(ks, {"GET", "a", "b"}) == "-ERR wrong number of arguments for 'get' command\r\n");
  CHECK(Run(ks, {"GEOKV.MOVES", "x"}) ==
        "-ERR wrong number of arguments for 'geokv.moves' command\r\n");
  CHECK(Run(ks, {"geokv.moves"}) == "-ERR GEOKV.MOVES is not served here\r\n");
  // In GEOKV.MEMBERS's ACL categories (@admin @dangerous @slow).
  REQUIRE(FindCommand("geokv.moves") != nullptr);
  CHECK(AclCategories(*FindCommand("geokv.moves")) == AclCategories(*FindCommand("geokv.members")));
  CHECK(Run(ks, {"PING"}) == "+PONG\r\n");
  CHECK(Run(ks, {"PING", "hi"}) == "$2\r\nhi\r\n");
  CHECK(Run(ks, {"ECHO", "x"}) == "$1\r\nx\r\n");
  CHECK(Run(ks, {"SELECT", "0"}) == "+OK\r\n");
  CHECK(Run(ks, {"SELECT", "1"}) == "-ERR DB index is out of range\r\n");
  CHECK(Run(ks, {"COMMAND", "COUNT"}) == ":" + std::to_string(AllCommands().size()) + "\r\n");
  CHECK(Run(ks, {"COMMAND", "INFO", "get"}).rfind("*1\r\n*10\r\n$3\r\nget\r\n:2\r\n", 0) == 0);
}

// Bulk strings of a RESP array reply (flat; nested arrays are flattened).
std::vector<std::string> Bulks(const std::string& reply) {
  std::vector<std::string> out;
  for (size_t at = reply.find('$'); at != std::string::npos; at = reply.find('$', at)) {
    const size_t eol = reply.find("\r\n", at);
    const long length = std::stol(reply.substr(at + 1, eol - at - 1));
    if (length < 0) {
      at = eol;
      continue;
    }
    out.push_back(reply.substr(eol + 2, static_cast<size_t>(length)));
    at = eol + 2 + static_cast<size_t>(length) + 2;
  }
  return out;
}

TEST_CASE(
    "Commands: SCAN and SSCAN return every element present for the whole scan while "
    "others come and go",
    "[unit]") {
  MemoryPartitions ks;
  std::set<std::string> stable;
  for (int i = 0; i < 150; ++i) {
    stable.insert("stable:" + std::to_string(i));
    Run(ks, {"SET", "stable:" + std::to_string(i), "v"});
    Run(ks, {"SADD", "set", "stable:" + std::to_string(i)});
    Run(ks, {"SET", "churn:" + std::to_string(i), "v"});
    Run(ks, {"SADD", "set", "churn:" + std::to_string(i)});
  }
  for (const std::string name : {"SCAN", "SSCAN"}) {
    INFO(name);
    std::set<std::string> seen;
    std::string cursor = "0";
    int calls = 0, churn = 0;
    do {
      Args args = name == "SCAN" ? Args{"SCAN", cursor, "COUNT", "7"}
                                 : Args{"SSCAN", "set", cursor, "COUNT", "7"};
      const std::vector<std::string> bulks = Bulks(Run(ks, args));
      REQUIRE(!bulks.empty());
      cursor = bulks[0];
      seen.insert(bulks.begin() + 1, bulks.end());
      // Between calls, elements that are not stable are deleted and added.
      const std::string gone = "churn:" + std::to_string(churn),
                        born = "new:" + std::to_string(churn);
      ++churn;
      Run(ks, name == "SCAN" ? Args{"DEL", gone} : Args{"SREM", "set", gone});
      Run(ks, name == "SCAN" ? Args{"SET", born, "v"} : Args{"SADD", "set", born});
      REQUIRE(++calls < 1000);
    } while (cursor != "0");
    CHECK(calls > 10);  // bounded batches, not everything at once
    for (const std::string& key : stable) {
      INFO(key);
      CHECK(seen.count(key) == 1);
    }
  }
}

TEST_CASE("Commands: INCRBYFLOAT and HINCRBYFLOAT step as Redis and stay exact", "[unit]") {
  MemoryPartitions ks;
  CHECK(Run(ks, {"INCRBYFLOAT", "f", "0.1"}) == "$3\r\n0.1\r\n");
  CHECK(Run(ks, {"INCRBYFLOAT", "f", "0.2"}) == "$3\r\n0.3\r\n");
  CHECK(Run(ks, {"GET", "f"}) == "$3\r\n0.3\r\n");
  CHECK(Run(ks, {"INCR", "f"}) == "-ERR value is not an integer or out of range\r\n");
  CHECK(Run(ks, {"INCRBYFLOAT", "f", "0.7"}) == "$1\r\n1\r\n");
  CHECK(Run(ks, {"INCR", "f"}) == ":2\r\n");  // "1" is an integer again
  // Redis adds in long double: 2 is lost beside 1e20, here too.
  CHECK(Run(ks, {"INCRBYFLOAT", "f", "1e20"}) == "$21\r\n100000000000000000000\r\n");
  CHECK(Run(ks, {"INCRBYFLOAT", "f", "inf"}) == "-ERR increment would produce NaN or Infinity\r\n");
  CHECK(Run(ks, {"INCRBYFLOAT", "f", "x"}) == "-ERR value is not a valid float\r\n");
  CHECK(Run(ks, {"SET", "hex", "0x10"}) == "+OK\r\n");
  CHECK(Run(ks, {"INCRBYFLOAT", "hex", "1"}) == "$2\r\n17\r\n");
  CHECK(Run(ks, {"INCRBYFLOAT", "hex", "0.5"}) == "$4\r\n17.5\r\n");
  CHECK(Run(ks, {"SET", "t", "abc"}) == "+OK\r\n");
  CHECK(Run(ks, {"INCRBYFLOAT", "t", "1"}) == "-ERR value is not a valid float\r\n");
  CHECK(Run(ks, {"HINCRBYFLOAT", "h", "a", "1.5"}) == "$3\r\n1.5\r\n");
  CHECK(Run(ks, {"HINCRBYFLOAT", "h", "a", "-1.5"}) == "$1\r\n0\r\n");
  CHECK(Run(ks, {"HINCRBYFLOAT", "h", "a", "inf"}) == "-ERR value is NaN or Infinity\r\n");
  CHECK(Run(ks, {"HSET", "h", "s", "abc"}) == ":1\r\n");
  CHECK(Run(ks, {"HINCRBYFLOAT", "h", "s", "1"}) == "-ERR hash value is not a float\r\n");
  CHECK(Run(ks, {"HINCRBYFLOAT", "t", "s", "1"}) == kWrongType);
}

TEST_CASE("Commands: SPOP removes what it returns; COPY and RENAME carry every type", "[unit]") {
  MemoryPartitions ks;
  CHECK(Run(ks, {"SADD", "s", "a", "b", "c"}) == ":3\r\n");
  const auto popped = Bulks(Run(ks, {"SPOP", "s", "2"}));
  REQUIRE(popped.size() == 2);
  CHECK(Run(ks, {"SCARD", "s"}) == ":1\r\n");
  for (const auto& m : popped) CHECK(Run(ks, {"SISMEMBER", "s", m}) == ":0\r\n");
  CHECK(Bulks(Run(ks, {"SPOP", "s"})).size() == 1);
  CHECK(Run(ks, {"SPOP", "s"}) == "$-1\r\n");
  CHECK(Run(ks, {"EXISTS", "s"}) == ":0\r\n");

  CHECK(Run(ks, {"MVSET", "mv", "x"}) == "+OK\r\n");
  CHECK(Run(ks, {"COPY", "mv", "mv2"}) == ":1\r\n");
  CHECK(Bulks(Run(ks, {"MVGET", "mv2"})).back() == "x");
  CHECK(Run(ks, {"HSET", "h", "f", "1"}) == ":1\r\n");
  CHECK(Run(ks, {"HINCRBY", "h", "f", "2"}) == ":3\r\n");
  CHECK(Run(ks, {"RENAME", "h", "h2"}) == "+OK\r\n");
  CHECK(Run(ks, {"HGETALL", "h2"}) == "*2\r\n$1\r\nf\r\n$1\r\n3\r\n");
  CHECK(Run(ks, {"EXISTS", "h"}) == ":0\r\n");
  CHECK(Run(ks, {"RENAMENX", "h2", "mv"}) == ":0\r\n");
  CHECK(Run(ks, {"COPY", "h2", "mv", "REPLACE"}) == ":1\r\n");
  CHECK(Run(ks, {"TYPE", "mv"}) == "+hash\r\n");
  CHECK(Run(ks, {"COPY", "h2", "x", "DB", "1"}) == "-ERR DB index is out of range\r\n");
}

TEST_CASE("Commands: a set or hash emptied by a removal is deleted with its TTL, as in Redis",
          "[unit]") {
  MemoryPartitions ks;
  for (const Args& empty_it : {Args{"SREM", "k", "a"}, Args{"SPOP", "k"},
                               Args{"SMOVE", "k", "other", "a"}, Args{"HDEL", "k", "a"}}) {
    INFO(empty_it[0]);
    Run(ks, {"FLUSHALL"});
    Run(ks, empty_it[0] == "HDEL" ? Args{"HSET", "k", "a", "1"} : Args{"SADD", "k", "a"});
    CHECK(Run(ks, {"EXPIRE", "k", "1000"}) == ":1\r\n");
    Run(ks, empty_it);
    CHECK(Run(ks, {"DBSIZE"}) == (empty_it[0] == "SMOVE" ? ":1\r\n" : ":0\r\n"));
    CHECK(Run(ks, {"SADD", "k", "b"}) == ":1\r\n");
    CHECK(Run(ks, {"TTL", "k"}) == ":-1\r\n");  // a new, persistent key
  }
}

TEST_CASE("Commands: SINTERCARD's keys come from its numkeys argument", "[unit]") {
  const CommandSpec* spec = FindCommand("sintercard");
  REQUIRE(spec != nullptr);
  const Args args{"sintercard", "2", "a", "b", "LIMIT", "1"};
  CHECK(CommandKeys(*spec, args) == std::vector<std::string_view>{"a", "b"});
  const Args too_few{"sintercard", "3", "a", "b"}, not_a_number{"sintercard", "x", "a"};
  CHECK(CommandKeys(*spec, too_few).empty());
  CHECK(CommandKeys(*spec, not_a_number).empty());
}

}  // namespace
}  // namespace geokv::replica
