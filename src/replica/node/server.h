// Server: the RESP front end on Boost.Asio.
//
// Accepts client connections, parses requests (RespParser), hands each one to
// a Dispatcher and writes the replies back in request order. The server knows
// nothing of storage or replication: the Dispatcher decides how a request is
// answered and may answer from any thread.
//
// Limits (ServerOptions) bound every per-client resource: the parser bounds
// bulk lengths and the query buffer; a connection stops reading while it has
// max_pending_requests requests unanswered (pipelining back-pressure); a client
// whose unsent replies exceed output_buffer_limit_bytes is disconnected, as
// Redis does; beyond max_clients new connections are refused with an error.
//
// TLS (ListenTls): a second port where connections start with a TLS handshake
// (OpenSSL through Boost.Asio), bounded by tls_handshake_timeout_ms; a peer
// that fails it (garbage instead of a ClientHello, a missing or untrusted
// client certificate) is closed and counted. After the handshake a TLS
// connection is the same connection code as a plaintext one (a template over
// the stream type): the same parsing, pipelining and limits.
//
// Threading: all socket work runs on the io_context's thread(s); Stop() may be
// called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

// <utility> first: Boost 1.74's asio/awaitable.hpp uses std::exchange
// without including it, which C++20 mode exposes.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <utility>

#include "common/status.h"
#include "replica/commands/connection.h"
#include "replica/resp/resp_parser.h"

namespace geokv::replica {

struct ServerOptions {
  RespLimits resp;
  size_t max_clients = 10'000;
  size_t max_pending_requests = 1024;
  size_t output_buffer_limit_bytes = size_t{256} << 20;
  size_t read_chunk_bytes = 64 * 1024;
  size_t tls_handshake_timeout_ms = 10'000;
};

// The TLS port, named and valued as redis-server's tls-* settings.
struct TlsOptions {
  uint16_t port = 0;                 // tls-port; 0: none
  std::string cert_file;             // tls-cert-file: PEM, the server's certificate chain
  std::string key_file;              // tls-key-file: PEM, its private key
  std::string ca_cert_file;          // tls-ca-cert-file: PEM, CAs that sign client certificates
  std::string auth_clients = "yes";  // tls-auth-clients: yes (a client certificate signed
                                     // by the CA is required), optional (verified if given),
                                     // no (not asked for)
};

// Counters for INFO; updated by the server, read from any thread.
struct ServerStats {
  std::atomic<uint64_t> connections_received{0};
  std::atomic<uint64_t> connections_rejected{0};
  std::atomic<uint64_t> connected_clients{0};
  std::atomic<uint64_t> commands_processed{0};
  std::atomic<uint64_t> protocol_errors{0};
  std::atomic<uint64_t> output_limit_disconnects{0};
  std::atomic<uint64_t> tls_handshake_failures{0};  // failed or timed out
};

// Answers requests. `reply` must be called exactly once per request, with the
// complete RESP reply, from any thread; it is cheap and never blocks.
class Dispatcher {
 public:
  virtual ~Dispatcher() = default;
  // Called on the I/O thread. `client` lives until `reply` was called.
  virtual void Dispatch(ClientSession& client, Args args, Reply reply) = 0;
};

class Server {
 public:
  Server(boost::asio::io_context& io, Dispatcher& dispatcher, ServerOptions options);
  ~Server();

  // Binds and starts accepting on host:port.
  Status Listen(const std::string& host, uint16_t port);
  // Loads the certificate, key and CA files of a TLS port. Returns Invalid
  // when a file cannot be loaded, auth_clients is not yes/no/optional, or a
  // CA is needed (yes, optional) and not given. Call once, before ListenTls.
  Status ConfigureTls(TlsOptions tls);
  // Binds the TLS port (tls.port; 0 picks a free one) on host and starts
  // accepting. Returns Io when it cannot bind. REQUIRES: ConfigureTls succeeded.
  Status ListenTls(const std::string& host);
  // The bound ports (useful with port 0).
  uint16_t port() const;
  uint16_t tls_port() const;
  // The TLS settings as configured (port 0 without TLS). I/O thread.
  const TlsOptions& tls() const { return tls_; }
  // Stops accepting and closes every connection (unanswered requests are
  // still answered by the dispatcher; their replies are dropped).
  void Stop();

  // Every open connection, by id (CLIENT LIST). I/O thread only.
  std::vector<ClientInfo> Clients() const;
  // Closes connection `id` at once (its pending replies are dropped); false
  // if there is none. I/O thread only.
  bool KillClient(uint64_t id);

  const ServerStats& stats() const { return stats_; }
  ServerOptions& options() { return options_; }  // CONFIG SET; I/O thread only

 private:
  class Connection;
  template <typename Stream>
  class StreamConnection;
  struct QueuedReply {
    std::shared_ptr<Connection> connection;
    uint64_t seq;
    std::string resp;
  };
  // Accepts on `acceptor` forever; TLS connections when `tls`.
  void Accept(boost::asio::ip::tcp::acceptor& acceptor, bool tls);
  // Opens, binds and listens.
  Status Bind(boost::asio::ip::tcp::acceptor& acceptor, const std::string& host, uint16_t port);
  // Hands a reply (from any thread) to the I/O thread, batched.
  void QueueReply(std::shared_ptr<Connection> connection, uint64_t seq, std::string resp);

  boost::asio::io_context& io_;
  Dispatcher& dispatcher_;
  ServerOptions options_;
  ServerStats stats_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::ip::tcp::acceptor tls_acceptor_;
  TlsOptions tls_;
  std::unique_ptr<boost::asio::ssl::context> ssl_context_;  // with a TLS port
  std::set<std::shared_ptr<Connection>> connections_;       // I/O thread only
  uint64_t next_client_id_ = 1;

  std::mutex replies_mu_;
  std::vector<QueuedReply> replies_;  // guarded by replies_mu_
  bool replies_scheduled_ = false;    // guarded by replies_mu_
};

}  // namespace geokv::replica
