// Observability of a real geokv-server: /metrics over HTTP (its counters move
// with the load, the whole text parses, hostile HTTP clients are cut off
// without harm), INFO's sections, SLOWLOG, CLIENT LIST/KILL and LATENCY.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "server_process.h"

namespace geokv::test {
namespace {

using replica::RespClient;
using replica::RespValue;

// A raw TCP connection to 127.0.0.1:port, for HTTP by hand.
class RawSocket {
 public:
  explicit RawSocket(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~RawSocket() { ::close(fd_); }
  bool connected() const { return connected_; }
  // Sends what it can; false once the peer closed.
  bool Send(const std::string& bytes) {
    size_t at = 0;
    while (at < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
      if (n <= 0) return false;
      at += static_cast<size_t>(n);
    }
    return true;
  }
  // Reads until the peer closes or timeout_ms pass; *closed says which.
  std::string ReadAll(int timeout_ms, bool* closed) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    *closed = false;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now())
                            .count();
      if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(left, 1))) <= 0) continue;
      char buf[65536];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        *closed = true;
        break;
      }
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

// The response to one HTTP request (empty if the connection failed).
std::string Http(uint16_t port, const std::string& request) {
  RawSocket s(port);
  if (!s.connected() || !s.Send(request)) return "";
  bool closed = false;
  return s.ReadAll(5000, &closed);
}

std::string Body(const std::string& response) {
  const size_t at = response.find("\r\n\r\n");
  return at == std::string::npos ? "" : response.substr(at + 4);
}

std::string Scrape(const TestCluster& cluster, size_t i = 0) {
  const std::string r =
      Http(cluster.nodes()[i].metrics_port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  INFO(r.substr(0, 200));
  REQUIRE(r.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  return Body(r);
}

// Parses the Prometheus text format strictly: every line is a HELP or TYPE
// comment or `name{labels} value`; every sample belongs to a family with a
// TYPE declared before it. Returns "name{labels}" -> value; fails the test
// on a malformed line.
std::map<std::string, double> ParseMetrics(const std::string& text) {
  static const std::regex kHelp(R"(# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .+)");
  static const std::regex kType(
      R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped))");
  static const std::regex kSample(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\["\\n])*",?)*\})? )"
      R"(([-+]?([0-9.]+([eE][-+]?[0-9]+)?|Inf|NaN)))");
  std::map<std::string, std::string> types;
  std::map<std::string, double> samples;
  std::istringstream lines(text);
  REQUIRE(!text.empty());
  REQUIRE(text.back() == '\n');
  for (std::string line; std::getline(lines, line);) {
    INFO("line: " << line);
    std::smatch m;
    if (std::regex_match(line, m, kType)) {
      CHECK(types.count(m[1]) == 0);  // one TYPE per family
      types[m[1]] = m[2];
      continue;
    }
    if (std::regex_match(line, kHelp)) continue;
    REQUIRE(std::regex_match(line, m, kSample));
    std::string family = m[1];
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const std::string s(suffix);
      if (family.size() > s.size() && family.compare(family.size() - s.size(), s.size(), s) == 0 &&
          types.count(family.substr(0, family.size() - s.size())) &&
          types[family.substr(0, family.size() - s.size())] == "histogram") {
        family = family.substr(0, family.size() - s.size());
      }
    }
    CHECK(types.count(family) == 1);
    const std::string key = line.substr(0, line.rfind(' '));
    CHECK(samples.count(key) == 0);  // no sample twice
    samples[key] = std::stod(std::string(m[5]) == "+Inf" ? "inf" : std::string(m[5]));
  }
  return samples;
}

struct SingleNode {
  explicit SingleNode(const std::vector<std::string>& flags = {}) : cluster(1, 1, 1) {
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

double Metric(const std::map<std::string, double>& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? 0 : it->second;
}

TEST_CASE("Metrics: a scrape's command counters grow with the load", "[integration]") {
  SingleNode node;
  RespClient c = node.cluster.Client(0);
  const auto before = ParseMetrics(Scrape(node.cluster));
  constexpr int kSets = 200;
  for (int i = 0; i < kSets; ++i) {
    REQUIRE(c.Command({"SET", "k" + std::to_string(i), "v"})->str == "OK");
  }
  REQUIRE(c.Command({"GET", "k1"})->str == "v");
  REQUIRE(c.Command({"GET", "missing"})->type == RespValue::Type::kNull);
  REQUIRE(c.Command({"INCR", "k1"})->is_error());
  const auto after = ParseMetrics(Scrape(node.cluster));
  CHECK(Metric(after, R"(geokv_commands_total{cmd="set"})") -
            Metric(before, R"(geokv_commands_total{cmd="set"})") >=
        kSets);
  CHECK(Metric(after, R"(geokv_command_duration_seconds_count{cmd="set"})") >= kSets);
  CHECK(Metric(after, R"(geokv_command_duration_seconds_bucket{cmd="set",le="+Inf"})") ==
        Metric(after, R"(geokv_command_duration_seconds_count{cmd="set"})"));
  CHECK(Metric(after, R"(geokv_command_errors_total{cmd="incr"})") == 1);
  CHECK(Metric(after, R"(geokv_errors_total{code="ERR"})") >= 1);
  CHECK(Metric(after, "geokv_keyspace_hits_total") >= 1);
  CHECK(Metric(after, "geokv_keyspace_misses_total") >= 1);
  CHECK(Metric(after, "geokv_connected_clients") >= 1);
  CHECK(Metric(after, "geokv_resident_memory_bytes") > 1e6);
  CHECK(Metric(after, "geokv_storage_commit_duration_seconds_count") >= 1);
  double keys = 0;
  for (const auto& [name, value] : after) {
    if (name.rfind("geokv_keys{", 0) == 0) keys += value;
  }
  CHECK(keys == kSets);
  // Histogram buckets are cumulative.
  std::vector<double> buckets;
  for (const char* le : {"5e-05", "1e-04", "0.001", "0.01", "0.1", "1", "+Inf"}) {
    buckets.push_back(Metric(
        after,
        std::string(R"(geokv_command_duration_seconds_bucket{cmd="set",le=")") + le + "\"}"));
  }
  CHECK(std::is_sorted(buckets.begin(), buckets.end()));
}

TEST_CASE("Metrics: replication figures per peer in a three-datacenter cluster", "[integration]") {
  TestCluster cluster(3, 1, 3, 8);
  for (size_t i = 0; i < 3; ++i) REQUIRE(cluster.Start(i).ok());
  RespClient c = cluster.Client(0);
  for (int i = 0; i < 50; ++i)
    REQUIRE(c.Command({"SET", "r" + std::to_string(i), "v"})->str == "OK");
  // The peers report having applied our deltas within moments.
  std::map<std::string, double> m;
  for (int attempt = 0; attempt < 100; ++attempt) {
    m = ParseMetrics(Scrape(cluster, 0));
    if (m.count(R"(geokv_replication_lag_seconds{peer="dc2-a",dc="dc2"})") &&
        m.count(R"(geokv_replication_lag_seconds{peer="dc3-a",dc="dc3"})")) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (const char* peer : {R"({peer="dc2-a",dc="dc2"})", R"({peer="dc3-a",dc="dc3"})"}) {
    INFO(peer);
    CHECK(Metric(m, std::string("geokv_peer_up") + peer) == 1);
    CHECK(m.count(std::string("geokv_replication_lag_seconds") + peer) == 1);
    CHECK(m.count(std::string("geokv_replication_pending_deltas") + peer) == 1);
  }
  CHECK(Metric(m, "geokv_replication_batches_published_total") >= 1);
  // A lag figure needs one report, not all 50 deltas applied: wait for them.
  std::map<std::string, double> peer2;
  for (int attempt = 0; attempt < 100; ++attempt) {
    peer2 = ParseMetrics(Scrape(cluster, 1));
    if (Metric(peer2, "geokv_replication_deltas_applied_total") >= 50) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(Metric(peer2, "geokv_replication_deltas_applied_total") >= 50);
}

TEST_CASE("Metrics: wrong paths and methods get 404 and 405", "[hostile]") {
  SingleNode node;
  const uint16_t port = node.cluster.nodes()[0].metrics_port;
  CHECK(Http(port, "GET / HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 404", 0) == 0);
  CHECK(Http(port, "GET /metricsx HTTP/1.0\r\n\r\n").rfind("HTTP/1.1 404", 0) == 0);
  const std::string post = Http(port, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  CHECK(post.rfind("HTTP/1.1 405", 0) == 0);
  CHECK(post.find("Allow: GET\r\n") != std::string::npos);
  CHECK(Http(port, "GET /metrics?x=1 HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 200", 0) == 0);
}

TEST_CASE("Metrics: hostile HTTP clients are cut off and the node keeps serving", "[hostile]") {
  SingleNode node({"--metrics-timeout-ms", "500"});
  const uint16_t port = node.cluster.nodes()[0].metrics_port;
  {  // garbage
    CHECK(Http(port, std::string("\x16\x03\x01\x02\x00\r\n\r\n", 9)).rfind("HTTP/1.1 400", 0) == 0);
    CHECK(Http(port, "GARBAGE\r\n\r\n").rfind("HTTP/1.1 400", 0) == 0);
  }
  {  // a head over 8 KiB: 431 and closed, however much more is sent
    RawSocket s(port);
    REQUIRE(s.connected());
    (void)s.Send("GET /metrics HTTP/1.1\r\nX-Big: " + std::string(1 << 20, 'a'));
    bool closed = false;
    const std::string r = s.ReadAll(3000, &closed);
    CHECK(r.rfind("HTTP/1.1 431", 0) == 0);
    CHECK(closed);
  }
  {  // slowloris: a byte now and then, never a full head: closed at the timeout
    RawSocket s(port);
    REQUIRE(s.connected());
    const auto start = std::chrono::steady_clock::now();
    bool closed = false;
    for (int i = 0; i < 40 && !closed; ++i) {
      if (!s.Send("G")) break;
      (void)s.ReadAll(50, &closed);
    }
    if (!closed) (void)s.ReadAll(2000, &closed);
    CHECK(closed);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(3));
  }
  {  // more idle connections than the limit: the extra ones are closed at once
    std::vector<std::unique_ptr<RawSocket>> idle;
    for (int i = 0; i < 16; ++i) idle.push_back(std::make_unique<RawSocket>(port));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    RawSocket extra(port);
    bool closed = false;
    const std::string r = extra.ReadAll(300, &closed);
    CHECK(r.empty());
    CHECK(closed);
  }
  // Once the idle ones timed out, scrapes work again, and clients never noticed.
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  const auto m = ParseMetrics(Scrape(node.cluster));
  CHECK(m.count("geokv_uptime_seconds") == 1);
  CHECK(Serves(node.cluster));
}

std::set<std::string> Sections(const std::string& info) {
  std::set<std::string> out;
  std::istringstream lines(info);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("# ", 0) == 0) out.insert(line.substr(2, line.find('\r') - 2));
  }
  return out;
}

TEST_CASE("INFO: sections as Redis names them, selectable", "[integration]") {
  SingleNode node;
  RespClient c = node.cluster.Client(0);
  REQUIRE(c.Command({"SET", "a", "1"})->str == "OK");
  const std::string all = c.Command({"INFO", "everything"})->str;
  CHECK(Sections(all) == std::set<std::string>{"Server", "Clients", "Memory", "Persistence",
                                               "Stats", "Replication", "CPU", "Commandstats",
                                               "Errorstats", "Keyspace", "Peers", "Partitions",
                                               "Cluster", "Hints"});
  CHECK(Sections(c.Command({"INFO"})->str) ==
        std::set<std::string>{"Server", "Clients", "Memory", "Persistence", "Stats", "Replication",
                              "CPU", "Errorstats", "Keyspace", "Peers", "Cluster", "Hints"});
  CHECK(Sections(c.Command({"INFO", "ALL"})->str) == Sections(all));
  CHECK(Sections(c.Command({"INFO", "Server", "keyspace"})->str) ==
        std::set<std::string>{"Server", "Keyspace"});
  CHECK(c.Command({"INFO", "nosuchsection"})->str.empty());
  // Fields a dashboard reads, with Redis's format.
  for (const char* re :
       {R"(redis_version:\d+\.\d+\.\d+\r)",
        R"(process_id:\d+\r)",
        R"(tcp_port:\d+\r)",
        R"(uptime_in_seconds:\d+\r)",
        R"(connected_clients:\d+\r)",
        R"(used_memory:\d+\r)",
        R"(used_memory_human:[\d.]+[BKMGT]\r)",
        R"(used_memory_peak:\d+\r)",
        R"(total_connections_received:\d+\r)",
        R"(total_commands_processed:\d+\r)",
        R"(instantaneous_ops_per_sec:\d+\r)",
        R"(keyspace_hits:\d+\r)",
        R"(keyspace_misses:\d+\r)",
        R"(expired_keys:\d+\r)",
        R"(rejected_connections:\d+\r)",
        R"(cmdstat_set:calls=1,usec=\d+,usec_per_call=\d+\.\d\d,rejected_calls=0,failed_calls=0\r)",
        R"(db0:keys=1,expires=\d+,avg_ttl=\d+\r)",
        R"(redis_mode:standalone\r)",
        R"(run_id:[0-9a-f]{40}\r)",
        R"(role:geo-replica\r)"}) {
    INFO(re);
    CHECK(std::regex_search(all, std::regex(re)));
  }
  REQUIRE(c.Command({"GET"})->is_error());
  REQUIRE(c.Command({"INCR", "a", "b"})->is_error());
  REQUIRE(c.Command({"HGET", "a", "f"})->is_error());  // WRONGTYPE
  const std::string errors = c.Command({"INFO", "errorstats", "commandstats"})->str;
  CHECK(errors.find("errorstat_ERR:count=2\r\n") != std::string::npos);
  CHECK(errors.find("errorstat_WRONGTYPE:count=1\r\n") != std::string::npos);
  CHECK(std::regex_search(
      errors,
      std::regex(
          R"(cmdstat_get:calls=0,usec=0,usec_per_call=0\.00,rejected_calls=1,failed_calls=0)")));
  CHECK(std::regex_search(errors, std::regex(R"(cmdstat_hget:calls=1,.*,failed_calls=1)")));
}

TEST_CASE("SLOWLOG: with slowlog-log-slower-than 0 every command is logged", "[integration]") {
  SingleNode node;
  RespClient c = node.cluster.Client(0);
  CHECK(c.Command({"CONFIG", "SET", "slowlog-log-slower-than", "-2"})->is_error());
  CHECK(c.Command({"CONFIG", "SET", "slowlog-max-len", "-1"})->is_error());
  REQUIRE(c.Command({"CONFIG", "SET", "slowlog-log-slower-than", "0"})->str == "OK");
  REQUIRE(c.Command({"CONFIG", "GET", "slowlog-log-slower-than"})->elements[1].str == "0");
  REQUIRE(c.Command({"CLIENT", "SETNAME", "slowpoke"})->str == "OK");
  REQUIRE(c.Command({"SLOWLOG", "RESET"})->str == "OK");
  REQUIRE(c.Command({"SET", "k", std::string(300, 'x')})->str == "OK");
  std::vector<std::string> many = {"SADD", "s"};
  for (int i = 0; i < 40; ++i) many.push_back(std::to_string(i));
  REQUIRE(c.Command(many)->integer == 40);
  CHECK(c.Command({"SLOWLOG", "LEN"})->integer == 3);  // RESET, SET, SADD (then LEN)
  auto got = c.Command({"SLOWLOG", "GET", "3"});
  REQUIRE(got->elements.size() == 3);
  CHECK(got->elements[0].elements[3].elements[1].str == "LEN");  // newest first
  const RespValue& sadd = got->elements[1];
  REQUIRE(sadd.elements.size() == 6);
  CHECK(sadd.elements[2].integer >= 0);  // microseconds
  REQUIRE(sadd.elements[3].elements.size() == 32);
  CHECK(sadd.elements[3].elements[0].str == "SADD");
  CHECK(sadd.elements[3].elements[31].str == "... (11 more arguments)");
  CHECK(sadd.elements[4].str.rfind("127.0.0.1:", 0) == 0);
  CHECK(sadd.elements[5].str == "slowpoke");
  const RespValue& set = got->elements[2];
  CHECK(set.elements[0].integer + 1 == sadd.elements[0].integer);
  CHECK(set.elements[3].elements[2].str == std::string(128, 'x') + "... (172 more bytes)");
  CHECK(c.Command({"SLOWLOG", "GET", "-2"})->is_error());
  REQUIRE(c.Command({"CONFIG", "SET", "slowlog-max-len", "1"})->str == "OK");
  CHECK(c.Command({"SLOWLOG", "LEN"})->integer == 1);
  REQUIRE(c.Command({"SLOWLOG", "RESET"})->str == "OK");
  REQUIRE(c.Command({"CONFIG", "SET", "slowlog-log-slower-than", "-1"})->str == "OK");
  REQUIRE(c.Command({"SET", "k", "v"})->str == "OK");
  CHECK(c.Command({"SLOWLOG", "LEN"})->integer <= 1);  // at most the CONFIG SET itself
}

TEST_CASE("CLIENT: LIST, INFO, KILL by id, address and old-style address", "[integration]") {
  SingleNode node;
  RespClient admin = node.cluster.Client(0);
  RespClient victim = node.cluster.Client(0);
  RespClient other = node.cluster.Client(0);
  REQUIRE(victim.Command({"CLIENT", "SETNAME", "victim"})->str == "OK");
  CHECK(victim.Command({"CLIENT", "SETNAME", "has space"})->is_error());
  REQUIRE(other.Command({"SET", "x", "1"})->str == "OK");
  const int64_t victim_id = victim.Command({"CLIENT", "ID"})->integer;
  const std::string list = admin.Command({"CLIENT", "LIST"})->str;
  static const std::regex kLine(
      R"(id=\d+ addr=127\.0\.0\.1:\d+ laddr=127\.0\.0\.1:\d+ fd=\d+ name=\S* age=\d+ idle=\d+ )"
      R"(flags=[Nx] db=0 sub=0 psub=0 ssub=0 multi=-?\d+ qbuf=\d+ qbuf-free=\d+ argv-mem=\d+ )"
      R"(multi-mem=\d+ rbs=\d+ rbp=\d+ obl=\d+ oll=\d+ omem=\d+ tot-mem=\d+ events=r cmd=\S+ )"
      R"(user=default redir=-1 resp=[23])");
  std::istringstream lines(list);
  int count = 0;
  for (std::string line; std::getline(lines, line); ++count) {
    INFO(line);
    CHECK(std::regex_match(line, kLine));
  }
  CHECK(count == 3);
  CHECK(list.find("name=victim ") != std::string::npos);
  CHECK(list.find("cmd=set ") != std::string::npos);
  const std::string self = admin.Command({"CLIENT", "INFO"})->str;
  CHECK(self.find("cmd=client ") != std::string::npos);
  CHECK(
      admin.Command({"CLIENT", "LIST", "ID", std::to_string(victim_id)})->str.find("name=victim") !=
      std::string::npos);

  CHECK(admin.Command({"CLIENT", "KILL", "ID", std::to_string(victim_id)})->integer == 1);
  CHECK(!victim.Command({"PING"}).ok());
  CHECK(admin.Command({"CLIENT", "KILL", "ID", std::to_string(victim_id)})->integer == 0);
  CHECK(admin.Command({"CLIENT", "KILL", "1.2.3.4:5"})->str == "ERR No such client");
  CHECK(admin.Command({"CLIENT", "KILL", "1.2.3.4:5"})->is_error());
  CHECK(admin.Command({"CLIENT", "KILL", "ID", "x"})->is_error());
  // By address, old style: the address CLIENT LIST shows.
  const std::string other_line = admin.Command({"CLIENT", "LIST"})->str;
  std::smatch m;
  const int64_t other_id = other.Command({"CLIENT", "ID"})->integer;
  REQUIRE(std::regex_search(other_line, m,
                            std::regex("id=" + std::to_string(other_id) + R"( addr=(\S+))")));
  CHECK(admin.Command({"CLIENT", "KILL", m[1].str()})->str == "OK");
  CHECK(!other.Command({"PING"}).ok());
  // SKIPME yes (the default) spares the caller; its own id with SKIPME no
  // closes it after the reply.
  const std::string admin_id = std::to_string(admin.Command({"CLIENT", "ID"})->integer);
  CHECK(admin.Command({"CLIENT", "KILL", "ID", admin_id})->integer == 0);
  CHECK(admin.Command({"CLIENT", "KILL", "ID", admin_id, "SKIPME", "no"})->integer == 1);
  CHECK(!admin.Command({"PING"}).ok());
  CHECK(Serves(node.cluster));
}

TEST_CASE("LATENCY: off by default, and its replies keep Redis's shapes", "[integration]") {
  SingleNode node;
  RespClient c = node.cluster.Client(0);
  CHECK(c.Command({"LATENCY", "LATEST"})->elements.empty());
  CHECK(c.Command({"LATENCY", "HISTORY", "command"})->elements.empty());
  CHECK(c.Command({"LATENCY", "RESET"})->integer == 0);
  REQUIRE(c.Command({"CONFIG", "SET", "latency-monitor-threshold", "1"})->str == "OK");
  // A write that commits with fsync usually takes a millisecond; a few
  // hundred of them pipelined take several.
  std::string pipeline;
  for (int i = 0; i < 500; ++i) {
    pipeline += replica::EncodeRequest({"SET", "l" + std::to_string(i), std::string(1000, 'v')});
  }
  REQUIRE(c.SendRaw(pipeline).ok());
  for (int i = 0; i < 500; ++i) REQUIRE(c.ReadReply()->str == "OK");
  auto latest = c.Command({"LATENCY", "LATEST"});
  REQUIRE(latest->elements.size() == 1);
  const RespValue& e = latest->elements[0];
  REQUIRE(e.elements.size() == 4);
  CHECK(e.elements[0].str == "command");
  CHECK(e.elements[2].integer >= 1);
  CHECK(e.elements[3].integer >= e.elements[2].integer);
  CHECK(!c.Command({"LATENCY", "HISTORY", "command"})->elements.empty());
  CHECK(c.Command({"LATENCY", "RESET", "command"})->integer == 1);
  CHECK(c.Command({"LATENCY", "LATEST"})->elements.empty());
}

// A field of INFO's text (0 when missing).
uint64_t InfoField(RespClient& c, const std::string& section, const std::string& field) {
  const std::string text = c.Command({"INFO", section})->str;
  const std::string key = "\r\n" + field + ":";
  const size_t at = text.find(key);
  return at == std::string::npos ? 0 : std::stoull(text.substr(at + key.size()));
}

TEST_CASE("Maxmemory: the flag and the config file set it; INFO, CONFIG and /metrics show it",
          "[integration]") {
  TestCluster cluster(1, 1, 1);
  const std::string config = cluster.dir() + "/node.toml";
  RunCommand("printf 'maxmemory = \"3mb\"\\n' > " + config);
  REQUIRE(cluster.Start(0, {"--config", config}).ok());
  CHECK(cluster.Client(0).Command({"CONFIG", "GET", "maxmemory"})->elements.at(1).str == "3145728");
  cluster.Stop(0);
  REQUIRE(cluster.Start(0, {"--maxmemory", "100MB"}).ok());
  RespClient c = cluster.Client(0);
  CHECK(c.Command({"CONFIG", "GET", "maxmemory"})->elements.at(1).str == "104857600");
  CHECK(c.Command({"CONFIG", "GET", "maxmemory-policy"})->elements.at(1).str == "noeviction");
  const std::string memory = c.Command({"INFO", "memory"})->str;
  CHECK(memory.find("\r\nmaxmemory:104857600\r\n") != std::string::npos);
  CHECK(memory.find("\r\nmaxmemory_human:100.00M\r\n") != std::string::npos);
  CHECK(memory.find("\r\nmaxmemory_policy:noeviction\r\n") != std::string::npos);
  const uint64_t used = InfoField(c, "memory", "used_memory");
  CHECK(used > 100'000);  // the allocator's figure, sampled from the start
  CHECK(used < InfoField(c, "memory", "used_memory_rss") * 2);
  CHECK(InfoField(c, "memory", "used_memory_peak") >= used);
  const auto metrics = ParseMetrics(Scrape(cluster));
  CHECK(Metric(metrics, "geokv_memory_max_bytes") == 104857600);
  CHECK(Metric(metrics, "geokv_memory_used_bytes") > 100'000);
  CHECK(Metric(metrics, "geokv_memory_used_peak_bytes") >=
        Metric(metrics, "geokv_memory_used_bytes"));
  // CONFIG SET takes Redis's units and refuses anything else, in Redis's words.
  CHECK(c.Command({"CONFIG", "SET", "maxmemory", "2gb"})->str == "OK");
  CHECK(c.Command({"CONFIG", "GET", "maxmemory"})->elements.at(1).str == "2147483648");
  CHECK(c.Command({"CONFIG", "SET", "maxmemory", "1.5mb"})->str ==
        "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a "
        "memory value");
  cluster.Stop(0);
  // A bad size stops the server at start, with a message.
  int status = 0;
  const std::string out = RunCommand(
      std::string(GEOKV_SERVER_BIN) + " --topology " + cluster.topology_path() + " --node " +
          cluster.nodes()[0].id + " --data " + cluster.dir() + "/bad --maxmemory 10tb 2>&1",
      &status);
  CHECK(status != 0);
  CHECK(out.find("--maxmemory: '10tb' is not a memory size") != std::string::npos);
}

TEST_CASE(
    "Maxmemory: past the limit writes get -OOM; reads, deletes, admin and a peer's writes "
    "go on; freed memory lets writes in again",
    "[integration]") {
  const std::string oom = "OOM command not allowed when used memory > 'maxmemory'.";
  TestCluster cluster(2, 1, 2);  // two DCs, each holding every partition
  REQUIRE(cluster.Start(0).ok());
  REQUIRE(cluster.Start(1).ok());
  RespClient c = cluster.Client(0);
  RespClient peer = cluster.Client(1);
  // A limit a little above what the idle node uses, then fill it.
  const uint64_t idle = InfoField(c, "memory", "used_memory");
  const uint64_t limit = idle + (uint64_t{8} << 20);
  REQUIRE(c.Command({"CONFIG", "SET", "maxmemory", std::to_string(limit)})->str == "OK");
  const std::string value(64 * 1024, 'v');
  int filled = 0;
  std::string refused;
  for (; filled < 2000; ++filled) {  // 125 MiB at most
    auto r = c.Command({"SET", "fill:" + std::to_string(filled), value});
    REQUIRE(r.ok());
    if (r->is_error()) {
      refused = r->str;
      break;
    }
  }
  INFO("filled " << filled << " values of 64 KiB over " << idle << " bytes idle");
  REQUIRE(refused == oom);
  CHECK(InfoField(c, "memory", "used_memory") > limit);
  CHECK(InfoField(c, "memory", "maxmemory") == limit);

  // Every command that may grow memory is refused...
  CHECK(c.Command({"SET", "x", "1"})->str == oom);
  CHECK(c.Command({"SADD", "s", "m"})->str == oom);
  CHECK(c.Command({"INCR", "n"})->str == oom);
  CHECK(c.Command({"HSET", "h", "f", "v"})->str == oom);
  // ... and so is anything queued in MULTI (the transaction aborts).
  CHECK(c.Command({"MULTI"})->str == "OK");
  CHECK(c.Command({"GET", "fill:0"})->str == oom);
  CHECK(c.Command({"EXEC"})->str == "EXECABORT Transaction discarded because of previous errors.");
  // Reads, deletes, PING and admin commands go on.
  CHECK(c.Command({"GET", "fill:0"})->str == value);
  CHECK(c.Command({"EXISTS", "fill:1"})->integer == 1);
  CHECK(c.Command({"PING"})->str == "PONG");
  CHECK(c.Command({"DBSIZE"})->integer == filled);
  CHECK(c.Command({"CONFIG", "GET", "maxmemory"})->elements.at(1).str == std::to_string(limit));
  CHECK(c.Command({"DEL", "fill:1"})->integer == 1);
  CHECK(c.Command({"EXPIRE", "fill:2", "1000"})->integer == 1);
  const std::string errors = c.Command({"INFO", "errorstats"})->str;
  CHECK(errors.find("errorstat_OOM:count=") != std::string::npos);
  // A peer's writes still arrive: replication is not a client's write.
  REQUIRE(peer.Command({"SET", "peer:k", "from-dc2"})->str == "OK");
  REQUIRE(peer.Command({"SADD", "peer:s", "a", "b", "c"})->integer == 3);
  bool arrived = false;
  for (int i = 0; i < 200 && !arrived; ++i) {
    arrived = c.Command({"GET", "peer:k"})->str == "from-dc2" &&
              c.Command({"SCARD", "peer:s"})->integer == 3;
    if (!arrived) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(arrived);
  CHECK(c.Command({"SADD", "peer:s", "d"})->str == oom);

  // Deleting is allowed; whether it lowers used memory is the engine's matter
  // (SQLite's page cache keeps the pages it read; a memory-first engine frees
  // them). Memory freed by anything lets writes in again once a sample sees
  // it: here a client's half-sent 12 MB request, buffered, then dropped.
  for (int i = 0; i < filled; ++i) {
    REQUIRE(c.Command({"DEL", "fill:" + std::to_string(i)})->integer == (i == 1 ? 0 : 1));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const uint64_t base = InfoField(c, "memory", "used_memory");
  const uint64_t second_limit = base + (uint64_t{6} << 20);
  REQUIRE(c.Command({"CONFIG", "SET", "maxmemory", std::to_string(second_limit)})->str == "OK");
  CHECK(c.Command({"SET", "after", "1"})->str == "OK");
  {
    RespClient hog = cluster.Client(0);
    REQUIRE(
        hog.SendRaw("*3\r\n$3\r\nSET\r\n$3\r\nhog\r\n$16000000\r\n" + std::string(12'000'000, 'x'))
            .ok());
    bool refused_again = false;
    for (int i = 0; i < 100 && !refused_again; ++i) {
      refused_again = c.Command({"SET", "after", "2"})->str == oom;
      if (!refused_again) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    INFO("used_memory " << InfoField(c, "memory", "used_memory") << ", limit " << second_limit);
    REQUIRE(refused_again);
  }  // the hog disconnects: its buffer is freed
  bool accepted = false;
  for (int i = 0; i < 100 && !accepted; ++i) {
    accepted = c.Command({"SET", "after", "3"})->str == "OK";
    if (!accepted) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  INFO("used_memory " << InfoField(c, "memory", "used_memory") << ", limit " << second_limit);
  CHECK(accepted);
  CHECK(c.Command({"SADD", "s", "m"})->integer == 1);
  CHECK(c.Command({"GET", "hog"})->type == RespValue::Type::kNull);
  CHECK(InfoField(c, "memory", "used_memory_peak") > second_limit);
}

}  // namespace
}  // namespace geokv::test
