// TopologySpread (topology_spread.h): who is asked when, when a file is
// offered, and the rate limits that bound both.
#include "replica/node/topology_spread.h"

#include <catch2/catch.hpp>

namespace geokv::replica {
namespace {

using replication::TopologyReply;
using replication::TopologyRequest;

constexpr TopologySpreadOptions kOptions{1000, 100, 1000, 30'000};

TEST_CASE("TopologySpread: each peer is asked once per poll, sooner while it is ahead", "[unit]") {
  TopologySpread spread(1, {"b", "c"}, 3, "three", kOptions);
  CHECK(spread.Due(0) == std::vector<std::string>{"b", "c"});
  CHECK(spread.Due(999).empty());
  CHECK(spread.Due(1000) == std::vector<std::string>{"b", "c"});
  CHECK(spread.Request() == TopologyRequest{1, 3});

  spread.NoteEpoch("c", 4);  // a heartbeat says c runs epoch 4
  CHECK(spread.PeersAhead() == 1);
  CHECK(spread.Due(1099).empty());
  CHECK(spread.Due(1100) == std::vector<std::string>{"c"});
  CHECK(spread.Due(1150).empty());  // at most once per ask_interval_min_ms
  spread.NoteEpoch("unknown", 9);   // not a peer: ignored, nothing grows
  CHECK(spread.PeerEpochs() == std::map<std::string, uint64_t>{{"c", 4}});
  spread.SetRunning(4, "four");
  CHECK(spread.PeersAhead() == 0);
  CHECK(spread.Due(1200).empty());  // no longer ahead: back to the poll interval
}

TEST_CASE("TopologySpread: a file is offered only to a peer behind, and rarely", "[unit]") {
  TopologySpread spread(1, {"b"}, 5, "five", kOptions);
  CHECK(spread.OnRequest("b", {2, 5}, 0) == TopologyReply{1, 5, ""});  // same epoch
  CHECK(spread.OnRequest("b", {2, 7}, 0) == TopologyReply{1, 5, ""});  // ahead of us
  CHECK(spread.OnRequest("b", {2, 4}, 0) == TopologyReply{1, 5, "five"});
  CHECK(spread.OnRequest("b", {2, 4}, 999) == TopologyReply{1, 5, ""});  // asked too often
  CHECK(spread.OnRequest("b", {2, 4}, 1000) == TopologyReply{1, 5, "five"});
  CHECK(spread.OnRequest("x", {9, 0}, 5000) == TopologyReply{1, 5, ""});  // not a peer
  CHECK(spread.PeerEpochs() == std::map<std::string, uint64_t>{{"b", 4}});
}

TEST_CASE("TopologySpread: a reply yields a higher epoch's file, at most once per interval",
          "[unit]") {
  TopologySpread spread(1, {"b", "c"}, 5, "five", kOptions);
  CHECK_FALSE(spread.OnReply("b", {2, 5, "other five"}, 0));  // not higher
  CHECK_FALSE(spread.OnReply("b", {2, 4, "four"}, 0));        // lower
  CHECK_FALSE(spread.OnReply("b", {2, 6, ""}, 0));            // higher, but no file
  CHECK(spread.PeersAhead() == 1);
  CHECK(spread.OnReply("b", {2, 6, "six"}, 0) == std::optional<std::string>("six"));
  CHECK_FALSE(spread.OnReply("c", {3, 7, "seven"}, 500));  // one offer per interval in all
  CHECK(spread.OnReply("c", {3, 7, "seven"}, 1000) == std::optional<std::string>("seven"));
  CHECK_FALSE(spread.OnReply("x", {9, 8, "eight"}, 5000));  // not a peer
  // Not adopted (refused): the same epoch is offered again only after the
  // retry interval, a higher one at once.
  CHECK_FALSE(spread.OnReply("c", {3, 7, "seven"}, 30'999));
  CHECK(spread.OnReply("c", {3, 7, "seven"}, 31'000) == std::optional<std::string>("seven"));
  CHECK(spread.OnReply("b", {2, 8, "eight"}, 32'000) == std::optional<std::string>("eight"));
  spread.SetRunning(8, "eight");  // adopted
  CHECK_FALSE(spread.OnReply("b", {2, 8, "eight"}, 100'000));
}

}  // namespace
}  // namespace geokv::replica
