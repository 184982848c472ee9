// WanProxy: TCP relays between a cluster's nodes that emulate a wide-area
// network, so that geokv-check can add latency and cut datacenters apart
// without any special mode in the server.
//
// Each link listens on a loopback port and relays every connection to one
// node's endpoint. A link knows the datacenter of the side that connects
// (from_dc) and of the node it reaches (to_dc): bytes from the connecting side
// are held back by the one-way latency from_dc -> to_dc, bytes coming back by
// to_dc -> from_dc, and order is kept in each direction. While a datacenter is
// cut off, every link between it and another datacenter drops its
// connections and refuses new ones (ZeroMQ then reconnects after the heal,
// as it would after a real partition).
//
// Bounded: each direction of a connection holds at most max_buffered_bytes
// in flight; beyond that it stops reading until the delayed bytes leave.
// Threading: one internal thread; the control methods are thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/status.h"

namespace geokv::check {

struct WanLink {
  std::string from_dc;
  std::string to_dc;
  uint16_t listen_port = 0;  // on 127.0.0.1; 0: any free port (Start fills it in)
  std::string target_host;
  uint16_t target_port = 0;
};

class WanProxy {
 public:
  explicit WanProxy(size_t max_buffered_bytes = size_t{8} << 20);
  ~WanProxy();
  WanProxy(const WanProxy&) = delete;
  WanProxy& operator=(const WanProxy&) = delete;

  // Binds every link and starts relaying. Links with listen_port 0 get a free
  // port, written back into `links` (binding port 0 cannot race with anyone).
  Status Start(std::vector<WanLink>& links);
  void Stop();

  // One-way latency for bytes travelling from `from` to `to`.
  void SetLatency(const std::string& from, const std::string& to, uint32_t ms);
  // Cuts a datacenter off from every other one, or heals it.
  void Cut(const std::string& dc);
  void Heal(const std::string& dc);
  // Cuts the two datacenters apart (either may still reach every other one),
  // or heals that cut.
  void CutBetween(const std::string& a, const std::string& b);
  void HealBetween(const std::string& a, const std::string& b);
  void HealAll();  // every cut, of a datacenter or between two

  uint64_t bytes_relayed() const { return bytes_relayed_; }

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<uint64_t> bytes_relayed_{0};
};

}  // namespace geokv::check
