#include "replica/node/forwarder.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <charconv>

#include "replica/resp/resp_client.h"
#include "replica/resp/resp_writer.h"

namespace geokv::replica {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// Scans one reply starting at `at`; returns its end or -1 (invalid) / 0 (incomplete).
int64_t ScanReply(std::string_view b, size_t at, int depth, size_t max_bulk) {
  if (depth > 32) return -1;
  if (at >= b.size()) return 0;
  const size_t eol = b.find("\r\n", at);
  if (eol == std::string_view::npos) return b.size() - at > 65536 ? -1 : 0;
  const char type = b[at];
  std::string_view body = b.substr(at + 1, eol - at - 1);
  const size_t after = eol + 2;
  // Line types: RESP2 simple, error, integer; RESP3 null, double, boolean,
  // big number.
  switch (type) {
    case '+':
    case '-':
    case ':':
    case '_':
    case ',':
    case '#':
    case '(':
      return static_cast<int64_t>(after);
    default:
      break;
  }
  int64_t n = 0;
  auto [end, ec] = std::from_chars(body.data(), body.data() + body.size(), n);
  if (ec != std::errc() || end != body.data() + body.size() || n < -1) return -1;
  if (n > (int64_t{1} << 32)) return -1;
  if (type == '$' || type == '=' || type == '!') {  // bulk, verbatim, bulk error
    if (n == -1) return static_cast<int64_t>(after);
    if (static_cast<uint64_t>(n) > max_bulk) return -1;
    if (b.size() < after + static_cast<size_t>(n) + 2) return 0;
    return static_cast<int64_t>(after + static_cast<size_t>(n) + 2);
  }
  if (type == '*' || type == '~' || type == '>' || type == '%') {  // array, set, push, map
    if (n == -1) return static_cast<int64_t>(after);
    const int64_t elements = type == '%' ? 2 * n : n;
    size_t pos = after;
    for (int64_t i = 0; i < elements; ++i) {
      const int64_t next = ScanReply(b, pos, depth + 1, max_bulk);
      if (next <= 0) return next;
      pos = static_cast<size_t>(next);
    }
    return static_cast<int64_t>(pos);
  }
  return -1;
}

}  // namespace

int64_t CompleteReplyLength(std::string_view bytes, size_t max_bulk_bytes) {
  return ScanReply(bytes, 0, 0, max_bulk_bytes);
}

std::optional<int64_t> IntegerReply(std::string_view r) {
  if (r.size() < 4 || r[0] != ':' || r.substr(r.size() - 2) != "\r\n") return std::nullopt;
  int64_t n = 0;
  const char* end = r.data() + r.size() - 2;
  auto [at, ec] = std::from_chars(r.data() + 1, end, n);
  if (ec != std::errc() || at != end) return std::nullopt;
  return n;
}

std::optional<std::string_view> BulkReply(std::string_view r) {
  if (r.size() < 4 || r[0] != '$') return std::nullopt;
  const size_t eol = r.find("\r\n");
  if (eol == std::string_view::npos) return std::nullopt;
  size_t n = 0;
  auto [at, ec] = std::from_chars(r.data() + 1, r.data() + eol, n);
  if (ec != std::errc() || at != r.data() + eol || r.size() != eol + 2 + n + 2) return std::nullopt;
  if (r.substr(eol + 2 + n) != "\r\n") return std::nullopt;
  return r.substr(eol + 2, n);
}

// The connection to one target node.
class Forwarder::Link : public std::enable_shared_from_this<Link> {
 public:
  // one_shot: closed after the reply to its single request.
  Link(Forwarder& owner, ForwardTarget target, int protocol, int64_t timeout_ms, bool one_shot)
      : owner_(owner),
        target_(std::move(target)),
        protocol_(protocol),
        timeout_ms_(timeout_ms),
        one_shot_(one_shot),
        socket_(owner.io_),
        timer_(owner.io_) {}

  size_t in_flight() const { return waiting_.size(); }

  void Send(std::string request, Reply reply) {
    const bool was_idle = waiting_.empty();
    waiting_.push_back(Waiting{std::move(reply), Deadline()});
    out_ += request;
    if (!connected_ && !connecting_) return Connect();
    if (was_idle) ArmTimer();
    Write();
  }

  void Shutdown() { Fail("node shutting down"); }

 private:
  struct Waiting {
    Reply reply;  // nullptr: the reply to the link's own handshake, dropped
    std::chrono::steady_clock::time_point deadline;
  };

  std::chrono::steady_clock::time_point Deadline() const {
    return std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms_);
  }

  // Every new connection first authenticates (when the cluster has a secret),
  // says it is a forwarding link (the target then
  // never forwards its requests again: one hop at most) and, for RESP3
  // clients, switches to RESP3 so replies pass through unchanged.
  void Connect() {
    std::string handshake = EncodeRequest({"GEOKV.FORWARDER"});
    waiting_.push_front(Waiting{nullptr, Deadline()});
    if (protocol_ != kResp2) {
      handshake += EncodeRequest({"HELLO", std::to_string(protocol_)});
      waiting_.push_front(Waiting{nullptr, Deadline()});
    }
    if (!owner_.user_.empty()) {
      handshake = EncodeRequest({"AUTH", owner_.user_, owner_.password_}) + handshake;
      waiting_.push_front(Waiting{nullptr, Deadline()});
    }
    out_.insert(0, handshake);
    connecting_ = true;
    boost::system::error_code ec;
    auto address = asio::ip::make_address(target_.host, ec);
    if (ec) return Fail("bad address of node " + target_.node_id);
    ArmTimer();
    socket_.async_connect(tcp::endpoint(address, target_.port),
                          [self = shared_from_this()](boost::system::error_code error) {
                            self->connecting_ = false;
                            if (error)
                              return self->Fail("cannot reach node " + self->target_.node_id);
                            self->connected_ = true;
                            boost::system::error_code ignored;
                            self->socket_.set_option(tcp::no_delay(true), ignored);
                            self->Read();
                            self->Write();
                          });
  }

  // The timer fires at the oldest request's deadline, so a target that stops
  // answering fails its requests in time however many more keep arriving.
  void ArmTimer() {
    if (waiting_.empty()) {
      timer_.cancel();
      return;
    }
    timer_.expires_at(waiting_.front().deadline);
    timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
      auto self = weak.lock();
      if (ec || !self || self->waiting_.empty()) return;
      if (self->waiting_.front().deadline <= std::chrono::steady_clock::now()) {
        return self->Fail("timed out waiting for node " + self->target_.node_id);
      }
      self->ArmTimer();
    });
  }

  void Write() {
    if (writing_ || out_.empty() || !connected_) return;
    writing_ = true;
    sending_.swap(out_);
    out_.clear();
    asio::async_write(socket_, asio::buffer(sending_),
                      [self = shared_from_this()](boost::system::error_code ec, size_t) {
                        self->writing_ = false;
                        self->sending_.clear();
                        if (ec) return self->Fail("lost node " + self->target_.node_id);
                        self->Write();
                      });
  }

  void Read() {
    socket_.async_read_some(asio::buffer(chunk_),
                            [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                              if (ec) return self->Fail("lost node " + self->target_.node_id);
                              self->in_.append(self->chunk_.data(), n);
                              self->Deliver();
                              if (self->connected_) self->Read();
                            });
  }

  void Deliver() {
    bool delivered = false;
    for (;;) {
      const int64_t n = CompleteReplyLength(in_);
      if (n < 0) return Fail("malformed reply from node " + target_.node_id);
      if (n == 0 || waiting_.empty()) break;
      Reply reply = std::move(waiting_.front().reply);
      waiting_.pop_front();
      if (reply) reply(in_.substr(0, static_cast<size_t>(n)));
      in_.erase(0, static_cast<size_t>(n));
      delivered = true;
    }
    if (one_shot_ && waiting_.empty()) return Fail("done");  // answers nobody: closes
    if (delivered) ArmTimer();
  }

  // Answers every waiting request with an error and resets the connection (the
  // next request reconnects).
  void Fail(const std::string& why) {
    boost::system::error_code ignored;
    socket_.close(ignored);
    timer_.cancel();
    connected_ = connecting_ = writing_ = false;
    in_.clear();
    out_.clear();
    auto waiting = std::move(waiting_);
    waiting_.clear();
    for (auto& w : waiting) {
      if (!w.reply) continue;
      ++owner_.failed_;
      w.reply(ErrorReply("TRYAGAIN forwarding failed: " + why));
    }
  }

  Forwarder& owner_;
  ForwardTarget target_;
  int protocol_;
  int64_t timeout_ms_;
  bool one_shot_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  bool connected_ = false, connecting_ = false, writing_ = false;
  std::deque<Waiting> waiting_;
  std::string out_, sending_, in_;
  std::array<char, 64 * 1024> chunk_{};
};

Forwarder::Forwarder(asio::io_context& io, size_t max_in_flight, int timeout_ms)
    : io_(io), max_in_flight_(max_in_flight), timeout_ms_(timeout_ms) {}

Forwarder::~Forwarder() {
  for (auto& [id, link] : links_) link->Shutdown();
}

void Forwarder::Forward(const ForwardTarget& target, const Args& args, int protocol, Reply reply) {
  auto& link = links_[{target.node_id, protocol}];
  if (!link) link = std::make_shared<Link>(*this, target, protocol, timeout_ms_, false);
  if (link->in_flight() >= max_in_flight_) {
    return reply(ErrorReply(std::string(errors::kBusyForwardPrefix) + target.node_id));
  }
  ++forwarded_;
  link->Send(EncodeRequest(args), std::move(reply));
}

void Forwarder::Ask(const ForwardTarget& target, const Args& args, int64_t timeout_ms,
                    Reply reply) {
  // Kept alive by its own pending operations until it closes.
  auto link = std::make_shared<Link>(*this, target, kResp2, timeout_ms, true);
  link->Send(EncodeRequest(args), std::move(reply));
}

}  // namespace geokv::replica
