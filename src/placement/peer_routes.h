// PeerRoutes: where one node reaches the other nodes when that is not at the
// endpoints the topology file gives them (docs/topology.md "Peer routes"):
// through a tunnel, a NAT, or the WAN latency proxy of geokv-check.
//
// The topology file stays the one every node shares, byte for byte: it is
// what nodes judge, keep and spread by epoch (running_topology.h), so a
// node-local difference must not live in it. A routes file is read once, at
// start (--peer-routes); the node applies it to every topology it runs,
// whichever way it came (its file, APPLY, SIGHUP, a peer's spread).
//
//     [[peers]]
//     id = "dc2-a"                          # a node id; it need not be in
//     client = "127.0.0.1:41001"            # the topology (yet)
//     repl = "tcp://127.0.0.1:41002"
//     sync = "tcp://127.0.0.1:41003"
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "common/status.h"
#include "placement/topology.h"

namespace geokv::placement {

// A routes file larger than this is rejected unread (a line per endpoint).
inline constexpr size_t kMaxPeerRoutesBytes = 1 << 20;
// At most this many routes: a node talks to at most this many peers.
inline constexpr size_t kMaxPeerRoutes = 4096;

struct PeerRoute {
  Endpoint client;  // RESP, "host:port"
  Endpoint repl;    // ZeroMQ PUB, "tcp://host:port"
  Endpoint sync;    // ZeroMQ ROUTER, "tcp://host:port"
};

// Immutable after parsing; thread-safe for concurrent reads.
class PeerRoutes {
 public:
  PeerRoutes() = default;  // no routes: every topology is run as written

  // `topology` with the client, repl and sync endpoints of every node that
  // has a route replaced by it, except node `self_id`'s own (a node binds
  // the endpoints the file gives it). Text, epoch and placement stay as they
  // were.
  Topology Apply(Topology topology, std::string_view self_id) const;

  bool empty() const { return routes_.empty(); }
  size_t size() const { return routes_.size(); }
  // The route to node `id`, or null.
  const PeerRoute* Find(std::string_view id) const;

 private:
  friend class PeerRoutesParser;
  std::map<std::string, PeerRoute, std::less<>> routes_;
};

// Parses a routes file. Every problem is reported, one per line, as
//     <source_name>:<line>: peers[i].<key>: <what is wrong>
// (a TOML syntax error alone, as "syntax"). Ids follow the topology's rules
// and are distinct; no endpoint appears twice. Thread-safe.
Result<PeerRoutes> ParsePeerRoutes(std::string_view text, std::string_view source_name);

// Reads the file at `path` and parses it; Status::Io when it cannot be read.
Result<PeerRoutes> LoadPeerRoutesFile(const std::string& path);

}  // namespace geokv::placement
