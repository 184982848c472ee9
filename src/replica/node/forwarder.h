// Forwarder: relays requests for keys this node does not hold to a node that
// does, and the replies back, verbatim.
//
// One pipelined connection per target node and protocol (RESP2 or RESP3, so
// replies pass through in the client's protocol), opened on first use and
// reopened after a failure. Each connection first announces itself with
// GEOKV.FORWARDER, so the target never forwards a forwarded request again (at
// most one hop, whatever two nodes believe about placement), after
// authenticating as the peer user when the cluster has a secret. Requests to one
// node are written in order and replies are matched first-in first-out, as the
// Redis protocol guarantees. A request that cannot be delivered (connection
// refused, closed, or no reply within timeout_ms of its sending, however much
// other traffic follows it) is answered with -TRYAGAIN naming the node, never
// left hanging. Bounded: at most max_in_flight requests per target; beyond
// that the caller gets BUSY.
//
// Threading: all calls on the I/O thread (the io_context's).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>  // before Boost.Asio (see server.h)

#include "replica/commands/command.h"

namespace geokv::replica {

// The length of the first complete RESP reply in `bytes`: 0 if more bytes are
// needed, -1 if the bytes are not a valid reply. Bounded nesting and lengths.
int64_t CompleteReplyLength(std::string_view bytes, size_t max_bulk_bytes = size_t{1} << 30);

// The value of a complete RESP integer reply (":n\r\n"); nullopt for any
// other reply.
std::optional<int64_t> IntegerReply(std::string_view reply);
// The body of a complete RESP bulk string reply ("$n\r\n...\r\n"); nullopt
// for any other reply (a null bulk included).
std::optional<std::string_view> BulkReply(std::string_view reply);

struct ForwardTarget {
  std::string node_id;
  std::string host;
  uint16_t port = 0;
};

class Forwarder {
 public:
  explicit Forwarder(boost::asio::io_context& io, size_t max_in_flight = 4096,
                     int timeout_ms = 5000);
  ~Forwarder();

  // Sends `args` to the target over a connection speaking `protocol` and calls
  // `reply` with its reply (or an error).
  void Forward(const ForwardTarget& target, const Args& args, int protocol, Reply reply);

  // Sends `args` to the target over a connection of its own, opened for this
  // one request and closed after its reply, and calls `reply` with the reply
  // (or -TRYAGAIN if none came within timeout_ms): for a request that may
  // block (GEOKV.WAITOWN) and must not hold up the shared link's others.
  void Ask(const ForwardTarget& target, const Args& args, int64_t timeout_ms, Reply reply);

  // The user and password each new connection authenticates with before
  // anything else (the target's peer user, access_control.h); empty: none.
  void set_credentials(std::string user, std::string password) {
    user_ = std::move(user);
    password_ = std::move(password);
  }

  uint64_t forwarded() const { return forwarded_; }
  uint64_t failed() const { return failed_; }

 private:
  class Link;
  boost::asio::io_context& io_;
  size_t max_in_flight_;
  int timeout_ms_;
  std::string user_, password_;
  std::map<std::pair<std::string, int>, std::shared_ptr<Link>> links_;  // by (node id, protocol)
  uint64_t forwarded_ = 0;
  uint64_t failed_ = 0;
};

}  // namespace geokv::replica
