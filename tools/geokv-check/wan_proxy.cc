#include "wan_proxy.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <deque>
#include <utility>  // before Boost.Asio (Boost 1.74 with C++20)

namespace geokv::check {

namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {
// Two datacenters in either order, as one key.
std::pair<std::string, std::string> OrderedPair(const std::string& a, const std::string& b) {
  return a < b ? std::make_pair(a, b) : std::make_pair(b, a);
}
}  // namespace

class WanProxy::Impl {
 public:
  Impl(WanProxy& owner, size_t max_buffered) : owner_(owner), max_buffered_(max_buffered) {}

  // One relayed connection: two directions, each a queue of delayed chunks.
  class Pipe : public std::enable_shared_from_this<Pipe> {
   public:
    Pipe(Impl& impl, const WanLink& link, tcp::socket client)
        : impl_(impl), link_(link), client_(std::move(client)), server_(impl.io_) {}

    void Start() {
      boost::system::error_code ec;
      auto address = asio::ip::make_address(link_.target_host, ec);
      if (ec) return Close();
      server_.async_connect(tcp::endpoint(address, link_.target_port),
                            [self = shared_from_this()](boost::system::error_code error) {
                              if (error) return self->Close();
                              self->up_.Start(*self, self->client_, self->server_,
                                              self->link_.from_dc, self->link_.to_dc);
                              self->down_.Start(*self, self->server_, self->client_,
                                                self->link_.to_dc, self->link_.from_dc);
                            });
    }

    void Close() {
      if (closed_) return;
      closed_ = true;
      boost::system::error_code ignored;
      client_.close(ignored);
      server_.close(ignored);
      up_.timer.reset();
      down_.timer.reset();
    }

    bool Between(const std::string& dc) const {
      return (link_.from_dc == dc) != (link_.to_dc == dc);
    }
    bool Joins(const std::pair<std::string, std::string>& dcs) const {
      return OrderedPair(link_.from_dc, link_.to_dc) == dcs;
    }

   private:
    struct Direction {
      Pipe* pipe = nullptr;
      tcp::socket* from = nullptr;
      tcp::socket* to = nullptr;
      std::string from_dc, to_dc;
      std::deque<std::pair<Clock::time_point, std::string>> queue;
      size_t buffered = 0;
      bool reading = false, writing = false;
      std::array<char, 16 * 1024> chunk{};
      std::unique_ptr<asio::steady_timer> timer;

      void Start(Pipe& p, tcp::socket& src, tcp::socket& dst, std::string a, std::string b) {
        pipe = &p;
        from = &src;
        to = &dst;
        from_dc = std::move(a);
        to_dc = std::move(b);
        timer = std::make_unique<asio::steady_timer>(p.impl_.io_);
        Read();
      }

      void Read() {
        if (pipe->closed_ || reading || buffered >= pipe->impl_.max_buffered_) return;
        reading = true;
        from->async_read_some(asio::buffer(chunk), [this, self = pipe->shared_from_this()](
                                                       boost::system::error_code ec, size_t n) {
          reading = false;
          if (ec || pipe->closed_) return pipe->Close();
          const auto due =
              Clock::now() + std::chrono::milliseconds(pipe->impl_.Latency(from_dc, to_dc));
          queue.emplace_back(due, std::string(chunk.data(), n));
          buffered += n;
          Pump();
          Read();
        });
      }

      // Writes the chunks that are due, in order; waits for the next one.
      void Pump() {
        if (pipe->closed_ || writing || queue.empty()) return;
        const auto due = queue.front().first;
        if (due > Clock::now()) {
          timer->expires_at(due);
          timer->async_wait([this, self = pipe->shared_from_this()](boost::system::error_code ec) {
            if (!ec) Pump();
          });
          return;
        }
        writing = true;
        asio::async_write(
            *to, asio::buffer(queue.front().second),
            [this, self = pipe->shared_from_this()](boost::system::error_code ec, size_t n) {
              writing = false;
              if (ec || pipe->closed_) return pipe->Close();
              pipe->impl_.owner_.bytes_relayed_ += n;
              buffered -= queue.front().second.size();
              queue.pop_front();
              Pump();
              Read();
            });
      }
    };

    Impl& impl_;
    WanLink link_;
    tcp::socket client_, server_;
    Direction up_, down_;
    bool closed_ = false;
  };

  uint32_t Latency(const std::string& from, const std::string& to) {
    std::lock_guard lock(mu_);
    auto it = latency_.find({from, to});
    return it == latency_.end() ? 0 : it->second;
  }

  bool IsCut(const WanLink& link) {
    std::lock_guard lock(mu_);
    return link.from_dc != link.to_dc &&
           (cut_.contains(link.from_dc) || cut_.contains(link.to_dc) ||
            cut_links_.contains(OrderedPair(link.from_dc, link.to_dc)));
  }

  void Accept(size_t i) {
    acceptors_[i]->async_accept([this, i](boost::system::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !acceptors_[i]->is_open()) return;
      if (!ec) {
        if (IsCut(links_[i])) {
          boost::system::error_code ignored;
          socket.close(ignored);  // partitioned: the connection goes nowhere
        } else {
          auto pipe = std::make_shared<Pipe>(*this, links_[i], std::move(socket));
          pipes_.push_back(pipe);
          pipe->Start();
        }
      }
      // Forget closed pipes now and then.
      if (pipes_.size() > 256) {
        std::erase_if(pipes_, [](const std::weak_ptr<Pipe>& w) { return w.expired(); });
      }
      Accept(i);
    });
  }

  void CloseBetween(const std::string& dc) {
    for (auto& w : pipes_) {
      if (auto p = w.lock(); p && p->Between(dc)) p->Close();
    }
  }
  void CloseJoining(const std::pair<std::string, std::string>& dcs) {
    for (auto& w : pipes_) {
      if (auto p = w.lock(); p && p->Joins(dcs)) p->Close();
    }
  }

  WanProxy& owner_;
  size_t max_buffered_;
  asio::io_context io_;
  std::vector<WanLink> links_;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors_;
  std::vector<std::weak_ptr<Pipe>> pipes_;  // I/O thread only
  std::mutex mu_;
  std::map<std::pair<std::string, std::string>, uint32_t> latency_;  // guarded by mu_
  std::set<std::string> cut_;                                        // guarded by mu_
  std::set<std::pair<std::string, std::string>> cut_links_;          // guarded by mu_
  std::thread thread_;
};

WanProxy::WanProxy(size_t max_buffered_bytes)
    : impl_(std::make_unique<Impl>(*this, max_buffered_bytes)) {}

WanProxy::~WanProxy() { Stop(); }

Status WanProxy::Start(std::vector<WanLink>& links) {
  for (WanLink& link : links) {
    auto acceptor = std::make_unique<tcp::acceptor>(impl_->io_);
    boost::system::error_code ec;
    const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), link.listen_port);
    acceptor->open(endpoint.protocol(), ec);
    if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor->bind(endpoint, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return Status::Io("WAN proxy cannot listen on 127.0.0.1:" + std::to_string(link.listen_port) +
                        ": " + ec.message());
    }
    link.listen_port = acceptor->local_endpoint(ec).port();
    impl_->acceptors_.push_back(std::move(acceptor));
  }
  impl_->links_ = links;
  for (size_t i = 0; i < links.size(); ++i) impl_->Accept(i);
  impl_->thread_ = std::thread([this] { impl_->io_.run(); });
  return Status::Ok();
}

void WanProxy::Stop() {
  if (!impl_->thread_.joinable()) return;
  asio::post(impl_->io_, [this] {
    for (auto& a : impl_->acceptors_) {
      boost::system::error_code ignored;
      a->close(ignored);
    }
    for (auto& w : impl_->pipes_) {
      if (auto p = w.lock()) p->Close();
    }
    impl_->io_.stop();
  });
  impl_->thread_.join();
}

void WanProxy::SetLatency(const std::string& from, const std::string& to, uint32_t ms) {
  std::lock_guard lock(impl_->mu_);
  impl_->latency_[{from, to}] = ms;
}

void WanProxy::Cut(const std::string& dc) {
  {
    std::lock_guard lock(impl_->mu_);
    impl_->cut_.insert(dc);
  }
  asio::post(impl_->io_, [this, dc] { impl_->CloseBetween(dc); });
}

void WanProxy::Heal(const std::string& dc) {
  std::lock_guard lock(impl_->mu_);
  impl_->cut_.erase(dc);
}

void WanProxy::CutBetween(const std::string& a, const std::string& b) {
  const auto dcs = OrderedPair(a, b);
  {
    std::lock_guard lock(impl_->mu_);
    impl_->cut_links_.insert(dcs);
  }
  asio::post(impl_->io_, [this, dcs] { impl_->CloseJoining(dcs); });
}

void WanProxy::HealBetween(const std::string& a, const std::string& b) {
  std::lock_guard lock(impl_->mu_);
  impl_->cut_links_.erase(OrderedPair(a, b));
}

void WanProxy::HealAll() {
  std::lock_guard lock(impl_->mu_);
  impl_->cut_.clear();
  impl_->cut_links_.clear();
}

}  // namespace geokv::check
