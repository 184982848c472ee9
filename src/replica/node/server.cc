#include "replica/node/server.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <deque>
#include <type_traits>

#include "common/assert.h"
#include "replica/commands/errors.h"
#include "replica/resp/resp_writer.h"

namespace geokv::replica {

namespace asio = boost::asio;
using asio::ip::tcp;

using TlsStream = asio::ssl::stream<tcp::socket>;

namespace {
int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

// What the server holds of a connection, whatever its stream.
class Server::Connection : public std::enable_shared_from_this<Connection> {
 public:
  virtual ~Connection() = default;
  virtual void Start() = 0;
  virtual void Close() = 0;
  // A reply to request `seq`, on the I/O thread.
  virtual void OnReply(uint64_t seq, std::string resp) = 0;
  // What CLIENT LIST shows of it, on the I/O thread.
  virtual ClientInfo Info() const = 0;
  virtual uint64_t id() const = 0;
};

// One client over a plaintext socket or a TLS stream. Lives while a read, a
// write or an unanswered request holds a reference to it. Replies fill slots
// in request order; the ready prefix of the slots is written out.
template <typename Stream>
class Server::StreamConnection final : public Server::Connection {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  StreamConnection(Server& server, Stream stream, uint64_t id)
      : server_(server), stream_(std::move(stream)), parser_(server.options_.resp) {
    client_.id = id;
    boost::system::error_code ec;
    auto remote = stream_.lowest_layer().remote_endpoint(ec);
    if (!ec) client_.address = remote.address().to_string() + ":" + std::to_string(remote.port());
    auto local = stream_.lowest_layer().local_endpoint(ec);
    if (!ec) {
      client_.local_address = local.address().to_string() + ":" + std::to_string(local.port());
    }
    client_.fd = stream_.lowest_layer().native_handle();
    client_.created_ms = client_.last_active_ms = NowMs();
    stream_.lowest_layer().set_option(tcp::no_delay(true), ec);
    read_buffer_.resize(server.options_.read_chunk_bytes);
  }

  void Start() override {
    if constexpr (kTls) {
      // A peer that never completes the handshake (silent, or trickling
      // bytes) is closed when the timer fires; a failed handshake at once.
      auto timer = std::make_shared<asio::steady_timer>(
          server_.io_, std::chrono::milliseconds(server_.options_.tls_handshake_timeout_ms));
      timer->async_wait([self = Self()](boost::system::error_code ec) {
        if (ec || self->handshake_done_ || self->closed_) return;
        self->server_.stats_.tls_handshake_failures++;
        self->Close();
      });
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = Self(), timer](boost::system::error_code ec) {
                                timer->cancel();
                                if (self->closed_) return;
                                if (ec) {
                                  self->server_.stats_.tls_handshake_failures++;
                                  return self->Close();
                                }
                                self->handshake_done_ = true;
                                self->Read();
                              });
    } else {
      Read();
    }
  }

  ClientInfo Info() const override {
    const int64_t now = NowMs();
    ClientInfo info;
    info.id = client_.id;
    info.address = client_.address;
    info.local_address = client_.local_address;
    info.fd = client_.fd;
    info.name = client_.name;
    info.age_s = (now - client_.created_ms) / 1000;
    info.idle_s = (now - client_.last_active_ms) / 1000;
    info.in_multi = client_.multi.active;
    info.multi_queued =
        client_.multi.active ? static_cast<int64_t>(client_.multi.queued.size()) : -1;
    info.query_buffer_bytes = parser_.buffered_bytes();
    info.output_bytes = out_.size() + writing_.size();
    info.last_command = client_.last_command;
    info.protocol = client_.protocol;
    return info;
  }
  uint64_t id() const override { return client_.id; }

  void Close() override {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ec;
    stream_.lowest_layer().shutdown(tcp::socket::shutdown_both, ec);
    stream_.lowest_layer().close(ec);
    server_.stats_.connected_clients--;
    server_.connections_.erase(shared_from_this());
  }

 private:
  std::shared_ptr<StreamConnection> Self() {
    return std::static_pointer_cast<StreamConnection>(shared_from_this());
  }

  struct Slot {
    bool ready = false;
    std::string data;
  };

  void Read() {
    if (closed_ || reading_ || stop_reading_) return;
    if (pending_ >= server_.options_.max_pending_requests) return;  // resumed by OnReply
    reading_ = true;
    stream_.async_read_some(asio::buffer(read_buffer_),
                            [self = Self()](boost::system::error_code ec, size_t n) {
                              self->reading_ = false;
                              if (ec) return self->Close();
                              self->OnBytes(n);
                            });
  }

  void OnBytes(size_t n) {
    if (!parser_.Feed(std::string_view(read_buffer_.data(), n))) return ProtocolError();
    ParseBuffered();
  }

  // Dispatches the complete requests buffered, while fewer than
  // max_pending_requests are unanswered, then reads more if it may.
  void ParseBuffered() {
    Args args;
    while (!closed_ && !stop_reading_ && pending_ < server_.options_.max_pending_requests) {
      const RespParser::Result r = parser_.Next(&args);
      if (r == RespParser::Result::kNeedMore) break;
      if (r == RespParser::Result::kError) return ProtocolError();
      Dispatch(std::move(args));
      args = Args();
      if (client_.close_after_reply) stop_reading_ = true;
    }
    Read();
  }

  void Dispatch(Args args) {
    server_.stats_.commands_processed++;
    client_.last_active_ms = NowMs();
    const uint64_t seq = next_seq_++;
    slots_.push_back(Slot{});
    ++pending_;
    server_.dispatcher_.Dispatch(client_, std::move(args), [self = Self(), seq](std::string resp) {
      self->server_.QueueReply(self, seq, std::move(resp));
    });
  }

 public:
  void OnReply(uint64_t seq, std::string resp) override {
    --pending_;
    if (closed_) return;
    Slot& slot = slots_[seq - first_seq_];
    slot.ready = true;
    slot.data = std::move(resp);
    while (!slots_.empty() && slots_.front().ready) {
      out_ += slots_.front().data;
      slots_.pop_front();
      ++first_seq_;
    }
    if (out_.size() + writing_.size() > server_.options_.output_buffer_limit_bytes) {
      server_.stats_.output_limit_disconnects++;
      return Close();
    }
    Write();
    if (!reading_ && !stop_reading_) ParseBuffered();
  }

 private:
  void ProtocolError() {
    server_.stats_.protocol_errors++;
    std::string reply;
    RespWriter(&reply).Error("ERR " + parser_.error());
    const uint64_t seq = next_seq_++;
    slots_.push_back(Slot{});
    ++pending_;
    stop_reading_ = true;
    client_.close_after_reply = true;
    OnReply(seq, std::move(reply));
  }

  void Write() {
    if (closed_ || writing_active_) return;
    if (out_.empty()) {
      if (client_.close_after_reply && slots_.empty()) Close();
      return;
    }
    writing_.swap(out_);
    out_.clear();
    writing_active_ = true;
    asio::async_write(stream_, asio::buffer(writing_),
                      [self = Self()](boost::system::error_code ec, size_t) {
                        self->writing_active_ = false;
                        self->writing_.clear();
                        if (ec) return self->Close();
                        self->Write();
                      });
  }

  Server& server_;
  Stream stream_;
  bool handshake_done_ = false;  // TLS only
  RespParser parser_;
  ClientSession client_;
  std::vector<char> read_buffer_;
  bool reading_ = false;
  bool stop_reading_ = false;
  bool closed_ = false;

  std::deque<Slot> slots_;  // unwritten replies, request order
  uint64_t first_seq_ = 0;  // seq of slots_.front()
  uint64_t next_seq_ = 0;
  size_t pending_ = 0;  // requests without a reply yet

  std::string out_;      // ready replies not yet handed to a write
  std::string writing_;  // the bytes of the write in flight
  bool writing_active_ = false;
};

Server::Server(asio::io_context& io, Dispatcher& dispatcher, ServerOptions options)
    : io_(io),
      dispatcher_(dispatcher),
      options_(std::move(options)),
      acceptor_(io),
      tls_acceptor_(io) {}

Server::~Server() = default;

Status Server::Bind(tcp::acceptor& acceptor, const std::string& host, uint16_t port) {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) return Status::Invalid("bad listen address " + host + ": " + ec.message());
  const tcp::endpoint endpoint(address, port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::Io("cannot listen on " + host + ":" + std::to_string(port) + ": " +
                      ec.message());
  }
  return Status::Ok();
}

Status Server::Listen(const std::string& host, uint16_t port) {
  if (Status s = Bind(acceptor_, host, port); !s.ok()) return s;
  Accept(acceptor_, false);
  return Status::Ok();
}

Status Server::ConfigureTls(TlsOptions tls) {
  namespace ssl = asio::ssl;
  ssl::verify_mode verify = ssl::verify_none;
  if (tls.auth_clients == "yes") {
    verify = ssl::verify_peer | ssl::verify_fail_if_no_peer_cert;
  } else if (tls.auth_clients == "optional") {
    verify = ssl::verify_peer;
  } else if (tls.auth_clients != "no") {
    return Status::Invalid("tls-auth-clients must be yes, no or optional (got \"" +
                           tls.auth_clients + "\")");
  }
  if (verify != ssl::verify_none && tls.ca_cert_file.empty()) {
    return Status::Invalid("tls-auth-clients " + tls.auth_clients +
                           " needs tls-ca-cert-file (the CA that signs client certificates); "
                           "or tls-auth-clients no");
  }
  if (tls.cert_file.empty() || tls.key_file.empty()) {
    return Status::Invalid("a TLS port needs tls-cert-file and tls-key-file");
  }
  auto context = std::make_unique<ssl::context>(ssl::context::tls_server);
  boost::system::error_code ec;
  // TLS 1.2 and later only; no compression.
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                           ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                           ssl::context::no_tlsv1_1 | ssl::context::no_compression,
                       ec);
  auto failed = [&](const std::string& what, const std::string& file) {
    return Status::Invalid("TLS: cannot load " + what + " " + file + ": " + ec.message());
  };
  if (context->use_certificate_chain_file(tls.cert_file, ec)) {
    return failed("tls-cert-file", tls.cert_file);
  }
  if (context->use_private_key_file(tls.key_file, ssl::context::pem, ec)) {
    return failed("tls-key-file", tls.key_file);
  }
  if (!tls.ca_cert_file.empty() && context->load_verify_file(tls.ca_cert_file, ec)) {
    return failed("tls-ca-cert-file", tls.ca_cert_file);
  }
  context->set_verify_mode(verify, ec);
  ssl_context_ = std::move(context);
  tls_ = std::move(tls);
  return Status::Ok();
}

Status Server::ListenTls(const std::string& host) {
  GEOKV_ASSERT(ssl_context_ != nullptr);
  if (Status s = Bind(tls_acceptor_, host, tls_.port); !s.ok()) return s;
  tls_.port = tls_port();
  Accept(tls_acceptor_, true);
  return Status::Ok();
}

uint16_t Server::port() const {
  boost::system::error_code ec;
  return acceptor_.local_endpoint(ec).port();
}

uint16_t Server::tls_port() const {
  boost::system::error_code ec;
  return tls_acceptor_.local_endpoint(ec).port();
}

void Server::Accept(tcp::acceptor& acceptor, bool tls) {
  acceptor.async_accept([this, &acceptor, tls](boost::system::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (!ec) {
      stats_.connections_received++;
      if (connections_.size() >= options_.max_clients) {
        stats_.connections_rejected++;
        if (tls) {
          // No handshake, no room for a RESP error: just closed.
          boost::system::error_code ignored;
          socket.close(ignored);
        } else {
          auto message = std::make_shared<std::string>(ErrorReply(errors::kMaxClients));
          auto sock = std::make_shared<tcp::socket>(std::move(socket));
          asio::async_write(*sock, asio::buffer(*message),
                            [sock, message](boost::system::error_code, size_t) {
                              boost::system::error_code ignored;
                              sock->close(ignored);
                            });
        }
      } else {
        std::shared_ptr<Connection> connection;
        if (tls) {
          connection = std::make_shared<StreamConnection<TlsStream>>(
              *this, TlsStream(std::move(socket), *ssl_context_), next_client_id_++);
        } else {
          connection = std::make_shared<StreamConnection<tcp::socket>>(*this, std::move(socket),
                                                                       next_client_id_++);
        }
        connections_.insert(connection);
        stats_.connected_clients++;
        connection->Start();
      }
    }
    Accept(acceptor, tls);
  });
}

void Server::QueueReply(std::shared_ptr<Connection> connection, uint64_t seq, std::string resp) {
  bool schedule = false;
  {
    std::lock_guard lock(replies_mu_);
    replies_.push_back(QueuedReply{std::move(connection), seq, std::move(resp)});
    schedule = !replies_scheduled_;
    replies_scheduled_ = true;
  }
  if (!schedule) return;
  // One handler delivers every reply queued until it runs: a group of a
  // hundred replies costs one wake-up of the I/O thread, not a hundred.
  asio::post(io_, [this] {
    std::vector<QueuedReply> ready;
    {
      std::lock_guard lock(replies_mu_);
      ready.swap(replies_);
      replies_scheduled_ = false;
    }
    for (QueuedReply& r : ready) r.connection->OnReply(r.seq, std::move(r.resp));
  });
}

std::vector<ClientInfo> Server::Clients() const {
  std::vector<ClientInfo> out;
  out.reserve(connections_.size());
  for (const auto& c : connections_) out.push_back(c->Info());
  std::sort(out.begin(), out.end(),
            [](const ClientInfo& a, const ClientInfo& b) { return a.id < b.id; });
  return out;
}

bool Server::KillClient(uint64_t id) {
  for (const auto& c : connections_) {
    if (c->id() == id) {
      std::shared_ptr<Connection> keep = c;  // Close() erases it from connections_
      keep->Close();
      return true;
    }
  }
  return false;
}

void Server::Stop() {
  asio::post(io_, [this] {
    boost::system::error_code ec;
    acceptor_.close(ec);
    tls_acceptor_.close(ec);
    auto all = connections_;
    for (const auto& c : all) c->Close();
  });
}

}  // namespace geokv::replica
