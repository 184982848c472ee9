// TLS on the client port of a real geokv-server: Debian's redis-cli --tls and
// redis-py with ssl against it, client certificates required or not, the
// plaintext port beside it, and hostile peers on the TLS port (garbage
// instead of a ClientHello, a client that never speaks). The certificates are
// made for each test by the openssl command line: a throwaway CA, a server
// certificate for 127.0.0.1 and a client certificate, both signed by the CA.
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <map>
#include <thread>

#include "server_process.h"

namespace geokv::test {
namespace {

using namespace std::chrono_literals;
using replica::RespClient;

struct Certs {
  explicit Certs(const std::string& directory) : dir(directory) {
    // EC keys: made in milliseconds, unlike RSA.
    const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    std::ofstream(dir + "/san.ext") << "subjectAltName=IP:127.0.0.1\n";
    const std::string script =
        "set -e; cd " + dir + "; " + "openssl req -x509 " + key +
        " -keyout ca.key -out ca.crt -days 2 -subj /CN=geokv-test-ca; " + "openssl req " + key +
        " -keyout server.key -out server.csr -subj /CN=127.0.0.1; " +
        "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
        "-extfile san.ext -out server.crt; " +
        "openssl req " + key + " -keyout client.key -out client.csr -subj /CN=geokv-test-client; " +
        "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
        "-out client.crt";
    int status = -1;
    const std::string out = RunCommand("(" + script + ") 2>&1", &status);
    INFO(out);
    REQUIRE(status == 0);
  }
  std::string File(const std::string& name) const { return dir + "/" + name; }
  // geokv-server's flags for a TLS port with these certificates.
  std::vector<std::string> ServerFlags(uint16_t port, const std::string& auth_clients) const {
    return {"--tls-port",
            std::to_string(port),
            "--tls-cert-file",
            File("server.crt"),
            "--tls-key-file",
            File("server.key"),
            "--tls-ca-cert-file",
            File("ca.crt"),
            "--tls-auth-clients",
            auth_clients,
            "--tls-handshake-timeout-ms",
            "500"};
  }
  std::string dir;
};

// redis-cli --tls against the port; with_cert: presents the client certificate.
std::string RedisCliTls(const Certs& certs, uint16_t port, bool with_cert,
                        const std::string& command, int* status = nullptr) {
  std::string cli = "redis-cli --tls --cacert " + certs.File("ca.crt") + " -h 127.0.0.1 -p " +
                    std::to_string(port);
  if (with_cert)
    cli += " --cert " + certs.File("client.crt") + " --key " + certs.File("client.key");
  return RunCommand("timeout 10 " + cli + " " + command + " 2>&1", status);
}

struct TlsNode {
  explicit TlsNode(const std::string& auth_clients) : cluster(1, 1, 1), certs(cluster.dir()) {
    tls_port = FreePort();
    REQUIRE(cluster.Start(0, certs.ServerFlags(tls_port, auth_clients)).ok());
  }
  TestCluster cluster;
  Certs certs;
  uint16_t tls_port = 0;
};

TEST_CASE("TLS: redis-cli --tls with a client certificate works; without one it is refused",
          "[integration]") {
  TlsNode node("yes");
  const auto& certs = node.certs;
  CHECK(RedisCliTls(certs, node.tls_port, true, "PING") == "PONG\n");
  CHECK(RedisCliTls(certs, node.tls_port, true, "SET fruit apple") == "OK\n");
  CHECK(RedisCliTls(certs, node.tls_port, true, "GET fruit") == "apple\n");
  // No client certificate: the handshake fails, no command runs.
  const std::string refused = RedisCliTls(certs, node.tls_port, false, "SET fruit pear");
  CHECK(refused.find("OK") == std::string::npos);
  CHECK(RedisCliTls(certs, node.tls_port, true, "GET fruit") == "apple\n");
  // The plaintext port is still there, with the same data.
  RespClient plain = node.cluster.Client(0);
  auto r = plain.Command({"GET", "fruit"});
  REQUIRE(r.ok());
  CHECK(r->str == "apple");
  // The settings read back under redis-server's names.
  r = plain.Command({"CONFIG", "GET", "tls-*"});
  REQUIRE(r.ok());
  std::map<std::string, std::string> config;
  for (size_t i = 0; i + 1 < r->elements.size(); i += 2) {
    config[r->elements[i].str] = r->elements[i + 1].str;
  }
  CHECK(config["tls-port"] == std::to_string(node.tls_port));
  CHECK(config["tls-auth-clients"] == "yes");
  CHECK(config["tls-cert-file"] == certs.File("server.crt"));
  CHECK(config["tls-ca-cert-file"] == certs.File("ca.crt"));
  INFO(node.cluster.Log(0));
}

TEST_CASE("TLS: with tls-auth-clients no, a client needs only the CA; redis-py with ssl works",
          "[integration]") {
  TlsNode node("no");
  CHECK(RedisCliTls(node.certs, node.tls_port, false, "SET colour blue") == "OK\n");
  const std::string script =
      "import redis, sys\n"
      "r = redis.Redis(host='127.0.0.1', port=int(sys.argv[1]), ssl=True,"
      " ssl_ca_certs=sys.argv[2], ssl_cert_reqs='required')\n"
      "assert r.get('colour') == b'blue', r.get('colour')\n"
      "p = r.pipeline(transaction=True)\n"
      "p.set('n', 1).incr('n').incrby('n', 40)\n"
      "assert p.execute() == [True, 2, 42]\n"
      "print('redis-py over TLS: ok')\n";
  std::ofstream(node.cluster.dir() + "/tls_client.py") << script;
  int status = -1;
  const std::string out =
      RunCommand("timeout 20 /usr/bin/python3 " + node.cluster.dir() + "/tls_client.py " +
                     std::to_string(node.tls_port) + " " + node.certs.File("ca.crt") + " 2>&1",
                 &status);
  INFO(out);
  CHECK(status == 0);
  CHECK(out.find("redis-py over TLS: ok") != std::string::npos);
}

TEST_CASE("TLS: with tls-auth-clients optional, clients with and without a certificate work",
          "[integration]") {
  TlsNode node("optional");
  CHECK(RedisCliTls(node.certs, node.tls_port, false, "SET anon 1") == "OK\n");
  CHECK(RedisCliTls(node.certs, node.tls_port, true, "GET anon") == "1\n");
  RespClient plain = node.cluster.Client(0);
  auto r = plain.Command({"CONFIG", "GET", "tls-auth-clients"});
  REQUIRE(r.ok());
  REQUIRE(r->elements.size() == 2);
  CHECK(r->elements[1].str == "optional");
}

TEST_CASE("TLS: garbage and silence on the TLS port close those connections only",
          "[integration][hostile]") {
  TlsNode node("yes");
  // A client that stays connected throughout.
  const std::string survivor = RedisCliTls(node.certs, node.tls_port, true, "SET kept 1");
  REQUIRE(survivor == "OK\n");

  const std::vector<std::string> garbage = {
      "PING\r\n", "*1\r\n$4\r\nPING\r\n", "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
      std::string("\x16\x03\x01\xff\xff", 5) + std::string(2000, '\x01'),  // a huge record
      std::string(70'000, '\0')};
  for (const std::string& bytes : garbage) {
    RespClient c;
    REQUIRE(c.Connect("127.0.0.1", node.tls_port).ok());
    c.set_timeout_ms(3000);
    (void)c.SendRaw(bytes);
    auto reply = c.ReadReply();  // the server answers nothing and closes
    CHECK_FALSE(reply.ok());
  }
  // Silence: closed once the handshake timeout (500 ms here) passes.
  {
    RespClient c;
    REQUIRE(c.Connect("127.0.0.1", node.tls_port).ok());
    c.set_timeout_ms(5000);
    const auto start = std::chrono::steady_clock::now();
    CHECK_FALSE(c.ReadReply().ok());
    CHECK(std::chrono::steady_clock::now() - start < 3s);
  }
  CHECK(RedisCliTls(node.certs, node.tls_port, true, "GET kept") == "1\n");
  RespClient plain = node.cluster.Client(0);
  auto r = plain.Command({"PING"});
  REQUIRE(r.ok());
  CHECK(r->str == "PONG");
  CHECK(node.cluster.running(0));
}

TEST_CASE("TLS: a node with an unreadable certificate or no CA for client auth does not start",
          "[integration]") {
  TestCluster cluster(1, 1, 1);
  Certs certs(cluster.dir());
  auto flags = certs.ServerFlags(FreePort(), "yes");
  flags[3] = cluster.dir() + "/missing.crt";
  Status s = cluster.Start(0, flags);
  REQUIRE_FALSE(s.ok());
  CHECK(s.message().find("cannot load tls-cert-file " + cluster.dir() + "/missing.crt") !=
        std::string::npos);
  flags = certs.ServerFlags(FreePort(), "optional");
  flags[7] = "";  // --tls-ca-cert-file ""
  s = cluster.Start(0, flags);
  REQUIRE_FALSE(s.ok());
  CHECK(s.message().find("tls-auth-clients optional needs tls-ca-cert-file") != std::string::npos);
}

}  // namespace
}  // namespace geokv::test
