// Geo-replication costs on a local 3-DC cluster (three geokv-server processes
// on loopback, started by this program):
//
//   1. Lag: from the acknowledgement of a SET at dc1 to its visibility at dc2,
//      at 1k, 10k and the highest sustainable writes/s. A reader at dc2 polls
//      the outstanding keys with pipelined GETs; a key is visible when its
//      value is.
//   2. Bytes on the wire per replicated op: all replication traffic of every
//      node (INFO replication repl_bytes_sent) divided by the ops, for SADD
//      into a small set and into a 100,000-member set.
//
//   build/bench/replication_bench [--seconds 3]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "server_process.h"

namespace {

using namespace geokv;
using Clock = std::chrono::steady_clock;
using replica::RespClient;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * (v.size() - 1))];
}

// Writes `rate` SETs per second (0: as fast as pipelining allows) at node 0 for
// `seconds`, while a reader at node 1 watches them arrive.
void MeasureLag(test::TestCluster& cluster, int rate, double seconds, const std::string& prefix) {
  const size_t total = rate > 0 ? static_cast<size_t>(rate * seconds) : 2'000'000;
  std::vector<Clock::time_point> acked(total), seen(total);
  std::atomic<size_t> acked_count{0};
  std::atomic<bool> writing{true};

  std::thread reader([&] {
    RespClient c = cluster.Client(1);
    size_t next = 0;  // every key before it was seen
    std::vector<size_t> watching;
    while (writing || next < acked_count) {
      const size_t upto = acked_count;
      if (next >= upto) {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
        continue;
      }
      // Poll the oldest unseen keys (at most 256 per round).
      watching.clear();
      std::string pipeline;
      for (size_t i = next; i < upto && watching.size() < 256; ++i) {
        if (seen[i] != Clock::time_point{}) continue;
        watching.push_back(i);
        pipeline += replica::EncodeRequest({"GET", prefix + std::to_string(i)});
      }
      if (!c.SendRaw(pipeline).ok()) return;
      for (size_t i : watching) {
        auto r = c.ReadReply();
        if (!r.ok()) {
          std::fprintf(stderr, "reader at dc2: %s\n", r.status().message().c_str());
          return;
        }
        if (r->type == replica::RespValue::Type::kBulk) seen[i] = Clock::now();
      }
      while (next < upto && seen[next] != Clock::time_point{}) ++next;
    }
  });

  RespClient w = cluster.Client(0);
  const auto start = Clock::now();
  const auto end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  size_t sent = 0;
  while (Clock::now() < end && sent < total) {
    // Pace: as many as the schedule allows by now, in one pipeline (<= 64).
    size_t due =
        rate > 0 ? static_cast<size_t>(Ms(Clock::now() - start) * rate / 1000.0) + 1 : sent + 64;
    due = std::min({due, total, sent + 64});
    if (due <= sent) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      continue;
    }
    std::string pipeline;
    for (size_t i = sent; i < due; ++i)
      pipeline += replica::EncodeRequest({"SET", prefix + std::to_string(i), "v"});
    if (!w.SendRaw(pipeline).ok()) break;
    for (size_t i = sent; i < due; ++i) {
      if (!w.ReadReply().ok()) break;
      acked[i] = Clock::now();
      acked_count = i + 1;
    }
    sent = due;
  }
  const double elapsed = Ms(Clock::now() - start) / 1000.0;
  writing = false;
  reader.join();
  std::vector<double> lags;
  for (size_t i = 0; i < acked_count; ++i) {
    if (seen[i] != Clock::time_point{}) lags.push_back(std::max(0.0, Ms(seen[i] - acked[i])));
  }
  std::printf("%-12s %10.0f %10zu %10.2f %10.2f %10.2f\n",
              rate > 0 ? (std::to_string(rate) + "/s").c_str() : "max", acked_count / elapsed,
              lags.size(), Percentile(lags, 0.5), Percentile(lags, 0.99), Percentile(lags, 1.0));
}

uint64_t ReplBytes(test::TestCluster& cluster) {
  uint64_t total = 0;
  for (size_t i = 0; i < cluster.nodes().size(); ++i) {
    RespClient c = cluster.Client(i);
    const std::string info = c.Command({"INFO", "replication"})->str;
    const size_t at = info.find("repl_bytes_sent:");
    if (at != std::string::npos) total += std::stoull(info.substr(at + 16));
  }
  return total;
}

// Sends the requests as one pipeline and reads every reply; exits on failure.
void Pipeline(RespClient& c, const std::vector<std::vector<std::string>>& requests) {
  std::string bytes;
  for (const auto& r : requests) bytes += replica::EncodeRequest(r);
  bool ok = c.SendRaw(bytes).ok();
  for (size_t i = 0; ok && i < requests.size(); ++i) ok = c.ReadReply().ok();
  if (!ok) {
    std::fprintf(stderr, "lost the connection to a node\n");
    std::exit(1);
  }
}

void MeasureBytes(test::TestCluster& cluster, size_t set_size, size_t ops) {
  RespClient c = cluster.Client(0);
  const std::string key = "set:" + std::to_string(set_size);
  for (size_t i = 0; i < set_size; i += 1000) {
    std::vector<std::vector<std::string>> requests;
    for (size_t j = i; j < std::min(set_size, i + 1000); ++j) {
      requests.push_back({"SADD", key, "member:" + std::to_string(j)});
    }
    Pipeline(c, requests);
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));  // let the fill replicate
  const uint64_t before = ReplBytes(cluster);
  const std::string member_prefix = "new-member:";
  for (size_t i = 0; i < ops; i += 100) {
    std::vector<std::vector<std::string>> requests;
    for (size_t j = i; j < i + 100; ++j) {
      requests.push_back({"SADD", key, member_prefix + std::to_string(j)});
    }
    Pipeline(c, requests);
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const uint64_t after = ReplBytes(cluster);
  const size_t payload = key.size() + member_prefix.size() + 5;
  std::printf("SADD into %7zu members: %6.1f bytes/op on the wire (key+member = %zu bytes)\n",
              set_size, static_cast<double>(after - before) / ops, payload);
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 3;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--seconds") == 0) seconds = std::atof(argv[i + 1]);
  }
  test::TestCluster cluster(3, 1, 3, 64);
  for (size_t i = 0; i < 3; ++i) {
    if (Status s = cluster.Start(i, {"--log-level", "warn"}); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.message().c_str());
      return 1;
    }
  }
  std::printf("Replication lag, ack at dc1 -> visible at dc2 (3 DCs on loopback, %.0f s each)\n",
              seconds);
  std::printf("%-12s %10s %10s %10s %10s %10s\n", "offered", "acked/s", "samples", "p50 ms",
              "p99 ms", "max ms");
  MeasureLag(cluster, 1'000, seconds, "lag1k:");
  MeasureLag(cluster, 10'000, seconds, "lag10k:");
  MeasureLag(cluster, 0, seconds, "lagmax:");
  std::printf("\n");
  MeasureBytes(cluster, 10, 20'000);
  MeasureBytes(cluster, 100'000, 20'000);
  return 0;
}
