#include "replica/node/metrics_http.h"

#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <istream>

namespace geokv::replica {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

std::string Response(int code, const char* reason, const std::string& content_type,
                     const std::string& body, const std::string& extra_headers = "") {
  return "HTTP/1.1 " + std::to_string(code) + " " + reason + "\r\nContent-Type: " + content_type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n" +
         extra_headers + "\r\n" + body;
}

std::string Plain(int code, const char* reason, const std::string& extra_headers = "") {
  return Response(code, reason, "text/plain; charset=utf-8", std::string(reason) + "\n",
                  extra_headers);
}

}  // namespace

// One HTTP exchange: read the head, answer, close. Lives while an operation
// holds a reference to it.
class MetricsHttpServer::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(MetricsHttpServer& server, tcp::socket socket)
      : server_(server),
        socket_(std::move(socket)),
        buffer_(server.options_.request_bytes_max),
        timer_(socket_.get_executor()) {}

  void Start() {
    timer_.expires_after(std::chrono::milliseconds(server_.options_.read_timeout_ms));
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->closed_) return;
      self->server_.stats_.timeouts++;
      self->Close();
    });
    asio::async_read_until(
        socket_, buffer_, "\r\n\r\n",
        [self = shared_from_this()](boost::system::error_code ec, size_t) { self->OnHead(ec); });
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ignored;
    timer_.cancel();
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    server_.connections_.erase(shared_from_this());
  }

 private:
  void OnHead(boost::system::error_code ec) {
    if (closed_) return;
    if (ec == asio::error::not_found) {  // the head outgrew request_bytes_max
      server_.stats_.bad_requests++;
      return Send(Plain(431, "Request Header Fields Too Large"));
    }
    if (ec) return Close();
    std::istream in(&buffer_);
    std::string line;
    std::getline(in, line);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t sp1 = line.find(' ');
    const size_t sp2 = sp1 == std::string::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string::npos || line.compare(sp2 + 1, 5, "HTTP/") != 0) {
      server_.stats_.bad_requests++;
      return Send(Plain(400, "Bad Request"));
    }
    const std::string method = line.substr(0, sp1);
    std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    target = target.substr(0, target.find('?'));
    if (target != "/metrics") {
      server_.stats_.bad_requests++;
      return Send(Plain(404, "Not Found"));
    }
    if (method != "GET") {
      server_.stats_.bad_requests++;
      return Send(Plain(405, "Method Not Allowed", "Allow: GET\r\n"));
    }
    server_.body_([self = shared_from_this()](std::string body) {
      asio::post(self->socket_.get_executor(), [self, body = std::move(body)] {
        self->server_.stats_.scrapes++;
        self->Send(Response(200, "OK", "text/plain; version=0.0.4; charset=utf-8", body));
      });
    });
  }

  void Send(std::string response) {
    if (closed_) return;
    out_ = std::move(response);
    asio::async_write(
        socket_, asio::buffer(out_),
        [self = shared_from_this()](boost::system::error_code, size_t) { self->Close(); });
  }

  MetricsHttpServer& server_;
  tcp::socket socket_;
  asio::streambuf buffer_;
  asio::steady_timer timer_;
  std::string out_;
  bool closed_ = false;
};

MetricsHttpServer::MetricsHttpServer(asio::io_context& io, Body body, MetricsHttpOptions options)
    : io_(io), body_(std::move(body)), options_(options), acceptor_(io) {}

MetricsHttpServer::~MetricsHttpServer() = default;

Status MetricsHttpServer::Listen(const std::string& host, uint16_t port) {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) return Status::Invalid("bad metrics address " + host + ": " + ec.message());
  const tcp::endpoint endpoint(address, port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::Io("cannot listen for metrics on " + host + ":" + std::to_string(port) + ": " +
                      ec.message());
  }
  Accept();
  return Status::Ok();
}

uint16_t MetricsHttpServer::port() const {
  boost::system::error_code ec;
  return acceptor_.local_endpoint(ec).port();
}

void MetricsHttpServer::Accept() {
  acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      if (connections_.size() >= options_.connections_max) {
        stats_.connections_refused++;
        boost::system::error_code ignored;
        socket.close(ignored);
      } else {
        auto connection = std::make_shared<Connection>(*this, std::move(socket));
        connections_.insert(connection);
        connection->Start();
      }
    }
    Accept();
  });
}

void MetricsHttpServer::Stop() {
  asio::post(io_, [this] {
    boost::system::error_code ec;
    acceptor_.close(ec);
    auto all = connections_;
    for (const auto& c : all) c->Close();
  });
}

}  // namespace geokv::replica
