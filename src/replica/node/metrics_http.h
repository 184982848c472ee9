// MetricsHttpServer: the node's /metrics endpoint, a minimal HTTP/1.1 server
// on Boost.Asio for Prometheus scrapes.
//
// It answers GET /metrics (a query string is ignored) with 200 and the text a
// Body callback produces; any other path gets 404, any other method 405, a
// request it cannot parse 400, a request head over request_bytes_max 431.
// Every response closes the connection (no keep-alive: a scrape is one
// request every few seconds). Limits: the request head is bounded, each
// connection has read_timeout_ms for the whole exchange (a slowloris client
// is cut off), and beyond connections_max open connections new ones are
// closed at once.
//
// Threading: runs on the io_context's thread; the Body may answer from any
// thread; Stop() may be called from any thread.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>  // before Boost.Asio (see server.h)

#include "common/status.h"

namespace geokv::replica {

struct MetricsHttpOptions {
  size_t request_bytes_max = 8 * 1024;  // request line and headers
  uint64_t read_timeout_ms = 5'000;     // per connection, request and response
  size_t connections_max = 16;
};

struct MetricsHttpStats {
  std::atomic<uint64_t> scrapes{0};              // 200 responses
  std::atomic<uint64_t> bad_requests{0};         // 400, 404, 405, 431
  std::atomic<uint64_t> timeouts{0};             // connections cut off by the timeout
  std::atomic<uint64_t> connections_refused{0};  // over connections_max
};

class MetricsHttpServer {
 public:
  // Produces the body of a scrape and passes it to `done`, once, from any
  // thread.
  using Body = std::function<void(std::function<void(std::string body)> done)>;

  MetricsHttpServer(boost::asio::io_context& io, Body body, MetricsHttpOptions options = {});
  ~MetricsHttpServer();

  // Binds and starts accepting on host:port.
  [[nodiscard]] Status Listen(const std::string& host, uint16_t port);
  // The bound port (useful with port 0).
  uint16_t port() const;
  // Stops accepting and closes every connection.
  void Stop();

  const MetricsHttpStats& stats() const { return stats_; }

 private:
  class Connection;
  void Accept();

  boost::asio::io_context& io_;
  Body body_;
  MetricsHttpOptions options_;
  MetricsHttpStats stats_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::set<std::shared_ptr<Connection>> connections_;  // I/O thread only
};

}  // namespace geokv::replica
