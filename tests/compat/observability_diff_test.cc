// Differential test of the operator's commands: INFO, CLIENT, SLOWLOG and
// LATENCY on geokv-server and on Debian's redis-server 7.0. Values differ
// (two different servers); what a dashboard or redis_exporter relies on must
// not: the sections, the field names and the format of their values, the
// shapes of the replies, and the error messages.
#include <catch2/catch.hpp>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "redis_server.h"
#include "server_process.h"

namespace geokv::test {
namespace {

using replica::RespClient;
using replica::RespValue;

// INFO text -> field -> (section, value).
std::map<std::string, std::pair<std::string, std::string>> Fields(const std::string& info) {
  std::map<std::string, std::pair<std::string, std::string>> out;
  std::istringstream lines(info);
  std::string section;
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind("# ", 0) == 0) {
      section = line.substr(2);
    } else if (const size_t colon = line.find(':'); colon != std::string::npos) {
      out[line.substr(0, colon)] = {section, line.substr(colon + 1)};
    }
  }
  return out;
}

// A value's format: numbers become 9, byte counts with a unit H.
std::string Shape(const std::string& value) {
  std::string s = std::regex_replace(value, std::regex(R"(^[0-9a-f]{40}$)"), "RUNID");
  s = std::regex_replace(s, std::regex(R"([0-9]+(\.[0-9]+)?[BKMGT]\b)"), "H");
  s = std::regex_replace(s, std::regex(R"([0-9]+)"), "9");
  return s;
}

std::vector<std::string> Sections(const std::string& info) {
  std::vector<std::string> out;
  std::istringstream lines(info);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("# ", 0) == 0) out.push_back(line.substr(2, line.find('\r') - 2));
  }
  return out;
}

// The keys of a CLIENT LIST line, in order.
std::vector<std::string> ClientKeys(const std::string& line) {
  std::vector<std::string> keys;
  std::istringstream words(line);
  for (std::string w; words >> w;) keys.push_back(w.substr(0, w.find('=')));
  return keys;
}

// A reply's types and array lengths, not its values.
std::string ReplyShape(const RespValue& v) {
  std::string out = std::to_string(static_cast<int>(v.type));
  if (v.type == RespValue::Type::kArray) {
    out += "[";
    for (const auto& e : v.elements) out += ReplyShape(e) + ",";
    out += "]";
  }
  return out;
}

struct Pair {
  Pair() : cluster(1, 1, 1) {
    REQUIRE(cluster.Start(0).ok());
    REQUIRE(redis_client.Connect("127.0.0.1", redis.port()).ok());
    REQUIRE(geokv_client.Connect("127.0.0.1", cluster.nodes()[0].client_port).ok());
  }
  // Sends to both; returns (redis, geokv).
  std::pair<RespValue, RespValue> Both(const std::vector<std::string>& args) {
    auto r = redis_client.Command(args);
    auto g = geokv_client.Command(args);
    REQUIRE(r.ok());
    REQUIRE(g.ok());
    return {*r, *g};
  }
  RedisServer redis;
  TestCluster cluster;
  RespClient redis_client;
  RespClient geokv_client;
};

TEST_CASE("Compat: INFO has Redis's sections and dashboard fields, in Redis's format",
          "[integration]") {
  Pair p;
  for (const std::vector<std::string>& cmd :
       std::vector<std::vector<std::string>>{{"SET", "a", "1"},
                                             {"GET", "a"},
                                             {"GET", "nope"},
                                             {"INCR", "a", "b"},
                                             {"HGET", "a", "f"}}) {
    (void)p.Both(cmd);
  }
  const auto [redis_info, geokv_info] = p.Both({"INFO", "everything"});
  // Redis's sections that geokv has, in Redis's order.
  const std::vector<std::string> shared = {"Server",     "Clients",     "Memory", "Persistence",
                                           "Stats",      "Replication", "CPU",    "Commandstats",
                                           "Errorstats", "Keyspace"};
  std::vector<std::string> redis_sections;
  for (const std::string& s : Sections(redis_info.str)) {
    if (std::find(shared.begin(), shared.end(), s) != shared.end()) redis_sections.push_back(s);
  }
  std::vector<std::string> geokv_sections;
  for (const std::string& s : Sections(geokv_info.str)) {
    if (std::find(shared.begin(), shared.end(), s) != shared.end()) geokv_sections.push_back(s);
  }
  CHECK(redis_sections == shared);
  CHECK(geokv_sections == shared);
  // The fields redis_exporter and the common Grafana dashboards read.
  const auto redis_fields = Fields(redis_info.str);
  const auto geokv_fields = Fields(geokv_info.str);
  for (const char* name : {"redis_version",
                           "redis_mode",
                           "process_id",
                           "run_id",
                           "tcp_port",
                           "uptime_in_seconds",
                           "uptime_in_days",
                           "connected_clients",
                           "maxclients",
                           "blocked_clients",
                           "used_memory",
                           "used_memory_human",
                           "used_memory_rss",
                           "used_memory_peak",
                           "used_memory_peak_human",
                           "maxmemory",
                           "maxmemory_human",
                           "maxmemory_policy",
                           "loading",
                           "rdb_changes_since_last_save",
                           "rdb_last_save_time",
                           "rdb_last_bgsave_status",
                           "aof_enabled",
                           "total_connections_received",
                           "total_commands_processed",
                           "instantaneous_ops_per_sec",
                           "rejected_connections",
                           "expired_keys",
                           "evicted_keys",
                           "keyspace_hits",
                           "keyspace_misses",
                           "total_error_replies",
                           "used_cpu_sys",
                           "used_cpu_user",
                           "cmdstat_set",
                           "cmdstat_get",
                           "cmdstat_incr",
                           "cmdstat_hget",
                           "errorstat_ERR",
                           "errorstat_WRONGTYPE",
                           "db0"}) {
    INFO(name);
    REQUIRE(redis_fields.count(name) == 1);
    REQUIRE(geokv_fields.count(name) == 1);
    const auto& [rs, rv] = redis_fields.at(name);
    const auto& [gs, gv] = geokv_fields.at(name);
    CHECK(gs == rs);
    INFO("redis: " << rv << "  geokv: " << gv);
    CHECK(Shape(gv) == Shape(rv));
  }
  // Counting agrees where the two servers ran the same commands.
  CHECK(std::regex_replace(geokv_fields.at("cmdstat_incr").second,
                           std::regex("usec=[^,]*,usec_per_call=[^,]*,"), "") ==
        std::regex_replace(redis_fields.at("cmdstat_incr").second,
                           std::regex("usec=[^,]*,usec_per_call=[^,]*,"), ""));
  CHECK(geokv_fields.at("errorstat_WRONGTYPE").second ==
        redis_fields.at("errorstat_WRONGTYPE").second);
  CHECK(geokv_fields.at("keyspace_misses").second == redis_fields.at("keyspace_misses").second);
  // One section, or several, case-insensitive.
  const auto [r2, g2] = p.Both({"INFO", "CLIENTS", "keyspace"});
  CHECK(Sections(g2.str) == Sections(r2.str));
  const auto [r3, g3] = p.Both({"INFO", "nosuchsection"});
  CHECK(g3.str == r3.str);
}

TEST_CASE("Compat: past maxmemory, geokv refuses and allows what redis-server does, in its words",
          "[integration]") {
  Pair p;
  RespClient redis_admin, geokv_admin;  // CONFIG SET while the other connection is in MULTI
  REQUIRE(redis_admin.Connect("127.0.0.1", p.redis.port()).ok());
  REQUIRE(geokv_admin.Connect("127.0.0.1", p.cluster.nodes()[0].client_port).ok());
  auto limit_both = [&](const std::string& bytes) {
    REQUIRE(redis_admin.Command({"CONFIG", "SET", "maxmemory", bytes})->str == "OK");
    REQUIRE(geokv_admin.Command({"CONFIG", "SET", "maxmemory", bytes})->str == "OK");
  };
  using Cmd = std::vector<std::string>;
  auto same = [&](const std::vector<Cmd>& commands) {
    for (const Cmd& cmd : commands) {
      const auto [r, g] = p.Both(cmd);
      INFO(cmd[0] << (cmd.size() > 1 ? " " + cmd[1] : std::string()));
      CHECK(g.type == r.type);
      CHECK(g.str == r.str);
      CHECK(g.integer == r.integer);
      CHECK(g.elements.size() == r.elements.size());
    }
  };
  // The commands both servers have carry denyoom alike (COMMAND's flags).
  auto deny_oom = [](const RespValue& info) {
    for (const RespValue& flag : info.elements.at(2).elements) {
      if (flag.str == "denyoom") return true;
    }
    return false;
  };
  const auto all = p.geokv_client.Command({"COMMAND"});
  REQUIRE(all.ok());
  int compared = 0;
  for (const RespValue& info : all->elements) {
    const std::string& name = info.elements.at(0).str;
    const auto r = p.redis_client.Command({"COMMAND", "INFO", name});
    REQUIRE(r.ok());
    if (r->elements.at(0).type != RespValue::Type::kArray) continue;  // geokv's own
    INFO(name);
    CHECK(deny_oom(info) == deny_oom(r->elements[0]));
    ++compared;
  }
  CHECK(compared > 100);
  same({{"SET", "a", "1"}, {"SADD", "s", "m"}, {"HSET", "h", "f", "v"}});
  // A limit of one byte: both servers are past it at once.
  limit_both("1");
  same({{"SET", "a", "2"},
        {"SET", "new", "2"},
        {"SETNX", "new", "2"},
        {"MSET", "a", "1", "b", "2"},
        {"INCR", "n"},
        {"INCRBY", "n", "5"},
        {"APPEND", "a", "x"},
        {"SETRANGE", "a", "1", "x"},
        {"SADD", "s", "m2"},
        {"SINTERSTORE", "d", "s"},
        {"HSET", "h", "f", "w"},
        {"HINCRBY", "h", "n", "1"},
        {"COPY", "a", "c"},
        // Allowed: reads, deletes, writes that do not grow, admin.
        {"GET", "a"},
        {"SMEMBERS", "s"},
        {"HGET", "h", "f"},
        {"EXISTS", "a", "s"},
        {"PING"},
        {"SREM", "s", "nope"},
        {"HDEL", "h", "nope"},
        {"EXPIRE", "a", "1000"},
        {"PERSIST", "a"},
        {"GETDEL", "gone"},
        {"CONFIG", "GET", "maxmemory"},
        {"CONFIG", "GET", "maxmemory-policy"},
        // Inside MULTI everything queued is refused and the transaction aborts.
        {"MULTI"},
        {"GET", "a"},
        {"SET", "a", "3"},
        {"EXEC"},
        {"MULTI"},
        {"DISCARD"},
        {"DEL", "a"},
        {"SET", "a", "4"}});
  // EXEC of a queue holding a write, when the limit came after queueing.
  limit_both("0");
  same({{"MULTI"}, {"SET", "q", "1"}, {"GET", "q"}});
  limit_both("1");
  same({{"EXEC"}, {"GET", "q"}});
  // ... and of a queue of reads only: it runs.
  limit_both("0");
  same({{"MULTI"}, {"GET", "s"}, {"EXISTS", "h"}});
  limit_both("1");
  same({{"EXEC"}});
  // Without a limit, writes go on; CONFIG SET takes Redis's units.
  limit_both("0");
  same({{"SET", "a", "5"},
        {"CONFIG", "SET", "maxmemory", "100mb"},
        {"CONFIG", "GET", "maxmemory"},
        {"CONFIG", "SET", "maxmemory", "7kb"},
        {"CONFIG", "GET", "maxmemory"},
        {"CONFIG", "SET", "maxmemory", "1.5mb"},
        {"CONFIG", "SET", "maxmemory", "-1"},
        {"CONFIG", "SET", "maxmemory", "0"},
        {"CONFIG", "GET", "maxmemory"}});
}

TEST_CASE("Compat: CLIENT, SLOWLOG and LATENCY reply as Redis 7.0 does", "[integration]") {
  Pair p;
  {
    const auto [r, g] = p.Both({"CLIENT", "LIST"});
    CHECK(ClientKeys(g.str) == ClientKeys(r.str));
  }
  {
    const auto [r, g] = p.Both({"CLIENT", "INFO"});
    CHECK(ClientKeys(g.str) == ClientKeys(r.str));
    CHECK(g.str.find("cmd=client") != std::string::npos);
  }
  // Replies and errors compared exactly.
  for (const std::vector<std::string>& cmd : std::vector<std::vector<std::string>>{
           {"CLIENT", "SETNAME", "a b"},
           {"CLIENT", "SETNAME", "ops"},
           {"CLIENT", "GETNAME"},
           {"CLIENT", "KILL", "1.2.3.4:5"},
           {"CLIENT", "KILL", "ID", "999999"},
           {"CLIENT", "KILL", "ID", "0"},
           {"CLIENT", "NOSUCH"},
           {"CONFIG", "SET", "slowlog-log-slower-than", "-2"},
           // (slowlog-max-len: geokv's bound is 1000000, Redis's LONG_MAX, so
           // the words of its range error differ.)
           {"CLIENT", "SETNAME"},
           {"CLIENT", "LIST", "x"},
           {"CLIENT", "KILL", "ID"},
           {"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"},
           {"CLIENT", "KILL", "TYPE", "pubsub"},
           {"CLIENT", "KILL", "TYPE", "nosuch"},
           {"CLIENT", "KILL", "USER", "nosuch"},
           {"SLOWLOG", "GET", "1", "2"},
           {"SLOWLOG", "LEN", "x"},
           {"LATENCY", "HISTORY"},
           {"CONFIG", "SET", "latency-monitor-threshold", "-1"},
           {"CONFIG", "GET", "slowlog-max-len"},
           {"SLOWLOG", "GET", "-2"},
           {"SLOWLOG", "NOSUCH"},
           {"SLOWLOG", "RESET"},
           {"LATENCY", "LATEST"},
           {"LATENCY", "RESET"},
           {"LATENCY", "HISTORY", "command"},
           {"LATENCY", "NOSUCH"},
           {"CONFIG", "SET", "slowlog-log-slower-than", "0"},
           {"SET", "k", "v"},
       }) {
    const auto [r, g] = p.Both(cmd);
    INFO(cmd[0] << " " << cmd[1] << ": redis " << r.ToString() << " geokv " << g.ToString());
    CHECK(g.type == r.type);
    CHECK(g.str == r.str);
    CHECK(g.integer == r.integer);
    CHECK(ReplyShape(g) == ReplyShape(r));
  }
  {  // The newest entries: SET k v, then CONFIG SET (Redis logs it too).
    const auto [r, g] = p.Both({"SLOWLOG", "GET", "2"});
    CHECK(ReplyShape(g) == ReplyShape(r));
    REQUIRE(g.elements.size() == 2);
    CHECK(g.elements[0].elements[3].elements[0].str == "SET");
    CHECK(g.elements[0].elements[5].str == "ops");
    CHECK(g.elements[0].elements[3].ToString() == r.elements[0].elements[3].ToString());
  }
  {
    const auto [r, g] = p.Both({"SLOWLOG", "LEN"});
    CHECK(g.type == RespValue::Type::kInteger);
    CHECK(r.type == RespValue::Type::kInteger);
  }
}

}  // namespace
}  // namespace geokv::test
