// The pieces INFO and /metrics are made of: histograms, the slow log, the
// latency monitor, Prometheus label escaping and the ops-per-second sampler.
#include <catch2/catch.hpp>
#include <thread>
#include <vector>

#include "common/histogram.h"
#include "replica/commands/latency_monitor.h"
#include "replica/commands/slowlog.h"
#include "replica/node/metrics_text.h"
#include "replica/node/node_stats.h"

namespace geokv::replica {
namespace {

TEST_CASE("Histogram: buckets are cumulative, bounds inclusive, +Inf counts everything", "[unit]") {
  Histogram h{1, 2, 4};
  for (double v : {0.5, 1.0, 1.5, 2.0, 3.0, 100.0}) h.Observe(v);
  const Histogram::Snapshot s = h.Read();
  CHECK(s.cumulative == std::vector<uint64_t>{2, 4, 5});
  CHECK(s.count == 6);
  CHECK(s.sum == Approx(108.0));
}

TEST_CASE("Histogram: observations from many threads are all counted", "[unit]") {
  Histogram h = Histogram::Seconds();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&h] {
      for (int i = 0; i < 10'000; ++i) h.Observe(0.001);
    });
  }
  for (auto& t : threads) t.join();
  CHECK(h.Read().count == 40'000);
  CHECK(h.Read().sum == Approx(40.0));
}

TEST_CASE("SlowLog: arguments are cut as Redis cuts them, the oldest entries dropped", "[unit]") {
  Args args = {"SADD", std::string(200, 'k')};
  for (int i = 0; i < 40; ++i) args.push_back("m");
  const std::vector<std::string> cut = SlowLog::CutArgs(args);
  REQUIRE(cut.size() == SlowLog::kArgsMax);
  CHECK(cut[1] == std::string(128, 'k') + "... (72 more bytes)");
  CHECK(cut.back() == "... (11 more arguments)");
  CHECK(SlowLog::CutArgs({"GET", "k"}) == std::vector<std::string>{"GET", "k"});

  SlowLog log;
  CHECK(!log.Wants(9'999));  // Redis's default threshold: 10 ms
  CHECK(log.Wants(10'000));
  log.set_slower_than_us(-1);
  CHECK(!log.Wants(1'000'000));
  log.set_max_len(3);
  for (int i = 0; i < 5; ++i) log.Add(i, {"CMD" + std::to_string(i)}, "127.0.0.1:1", "");
  CHECK(log.size() == 3);
  const auto latest = log.Latest(10);
  REQUIRE(latest.size() == 3);
  CHECK(latest[0].id == 4);  // newest first
  CHECK(latest[2].args[0] == "CMD2");
  log.set_max_len(1);
  CHECK(log.Latest(10).at(0).id == 4);
  log.Reset();
  CHECK(log.size() == 0);
}

TEST_CASE("LatencyMonitor: off at threshold 0; one sample per second keeps the larger", "[unit]") {
  LatencyMonitor m;
  CHECK(!m.Wants(1'000));
  m.set_threshold_ms(5);
  CHECK(!m.Wants(4));
  CHECK(m.Wants(5));
  m.Add("command", 7);
  m.Add("command", 9);
  m.Add("command", 6);
  const auto latest = m.LatestSamples();
  REQUIRE(latest.size() == 1);
  CHECK(latest[0].max_ms == 9);
  CHECK(m.History("command").size() <= 2);  // unless the second turned meanwhile
  CHECK(m.Reset({"nosuch"}) == 0);
  CHECK(m.Reset({}) == 1);
  CHECK(m.LatestSamples().empty());
}

TEST_CASE("Metrics text: label values escape backslash, quote and newline", "[unit]") {
  CHECK(EscapeLabelValue("plain-id") == "plain-id");
  CHECK(EscapeLabelValue("a\"b\\c\nd") == "a\\\"b\\\\c\\nd");
}

TEST_CASE("NodeStats: error codes are counted by their first word, at most 128 kept", "[unit]") {
  NodeStats stats;
  stats.CountError("-ERR wrong number of arguments\r\n");
  stats.CountError("-WRONGTYPE Operation against a key\r\n");
  stats.CountError("-ERR syntax error\r\n");
  for (int i = 0; i < 200; ++i) stats.CountError("-CODE" + std::to_string(i) + " x\r\n");
  const auto errors = stats.Errors();
  CHECK(errors.at("ERR") == 2);
  CHECK(errors.at("WRONGTYPE") == 1);
  CHECK(errors.size() == NodeStats::kErrorCodesMax);
  CHECK(stats.errors_total() == 203);
}

TEST_CASE("NodeStats: ops per second over the sampled window", "[unit]") {
  NodeStats stats;
  CHECK(stats.OpsPerSecond() == 0);
  for (int i = 0; i <= 20; ++i) stats.SampleOps(static_cast<uint64_t>(i) * 1000, i * 100);
  // 1000 commands per 100 ms over the last 16 samples.
  CHECK(stats.OpsPerSecond() == Approx(10'000));
}

}  // namespace
}  // namespace geokv::replica
