// The rules by which a node takes a new topology (running_topology.h): the
// judgement of an offer, the adopted file kept in the data directory, and the
// choice between it and the --topology file at start.
#include "replica/node/running_topology.h"

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "temp_dir.h"

namespace geokv::replica {
namespace {

using test::TempDir;

std::string Text(uint64_t epoch, uint32_t partitions = 8, uint32_t weight = 1) {
  return "[cluster]\nname = \"t\"\npartitions = " + std::to_string(partitions) +
         "\nreplicas = 1\nepoch = " + std::to_string(epoch) +
         "\n[[datacenters]]\nname = \"dc1\"\n  [[datacenters.nodes]]\n  id = \"n1\"\n"
         "  weight = " +
         std::to_string(weight) +
         "\n  client = \"127.0.0.1:7001\"\n  repl = \"tcp://127.0.0.1:7101\"\n"
         "  sync = \"tcp://127.0.0.1:7201\"\n";
}

placement::Topology Parse(const std::string& text, const std::string& name = "t.toml") {
  auto t = placement::ParseTopology(text, name);
  INFO(t.status().ToString());
  REQUIRE(t.ok());
  return std::move(*t);
}

TEST_CASE("JudgeTopology: the same file is a no-op, a higher epoch is adopted, the rest refused",
          "[unit]") {
  const placement::Topology running = Parse(Text(3));
  CHECK(JudgeTopology(running, Parse(Text(3), "other-name.toml")).verdict ==
        TopologyVerdict::kSame);
  CHECK(JudgeTopology(running, Parse(Text(4, 8, 2))).verdict == TopologyVerdict::kAdopt);
  // A higher epoch with the very same nodes is still a new file.
  CHECK(JudgeTopology(running, Parse(Text(9))).verdict == TopologyVerdict::kAdopt);

  const TopologyJudgement same_epoch = JudgeTopology(running, Parse(Text(3, 8, 2)));
  CHECK(same_epoch.verdict == TopologyVerdict::kRefuse);
  CHECK(same_epoch.reason ==
        "the same epoch as the running topology, with other content (running epoch 3, offered "
        "epoch 3): every change needs a higher epoch");
  // Even a lower epoch whose nodes are the same is refused: its text differs.
  const TopologyJudgement lower = JudgeTopology(running, Parse(Text(2)));
  CHECK(lower.verdict == TopologyVerdict::kRefuse);
  CHECK(lower.reason ==
        "a lower epoch than the running topology's (running epoch 3, offered epoch 2): to go "
        "back, apply the older file with a higher epoch");
  const TopologyJudgement other_q = JudgeTopology(running, Parse(Text(4, 16)));
  CHECK(other_q.verdict == TopologyVerdict::kRefuse);
  CHECK(
      other_q.reason.starts_with("cluster.partitions differs from the running topology's (8 vs "
                                 "16)"));
}

TEST_CASE("JudgeTopology: a file that adds two nodes at once is refused, one at a time adopted",
          "[unit]") {
  // Text(epoch) with `extra` more nodes n2.. in dc1.
  auto with = [](uint64_t epoch, int extra) {
    std::string text = Text(epoch);
    for (int i = 2; i < 2 + extra; ++i) {
      const std::string n = std::to_string(i);
      text += "\n  [[datacenters.nodes]]\n  id = \"n" + n + "\"\n  client = \"127.0.0.1:700" + n +
              "\"\n  repl = \"tcp://127.0.0.1:710" + n + "\"\n  sync = \"tcp://127.0.0.1:720" + n +
              "\"\n";
    }
    return text;
  };
  const placement::Topology running = Parse(Text(3));
  CHECK(JudgeTopology(running, Parse(with(4, 1))).verdict == TopologyVerdict::kAdopt);
  const TopologyJudgement two = JudgeTopology(running, Parse(with(4, 2)));
  CHECK(two.verdict == TopologyVerdict::kRefuse);
  CHECK(two.reason ==
        "it adds 2 nodes (n2, n3) (running epoch 3, offered epoch 4): add one node per epoch");
  CHECK(JudgeTopology(Parse(with(4, 1)), Parse(with(5, 2))).verdict == TopologyVerdict::kAdopt);
}

TEST_CASE("JudgeTopology: a later file must keep every node the running one forgets", "[unit]") {
  auto forgetting = [](uint64_t epoch, const std::string& ids) {
    std::string text = Text(epoch);
    const std::string at = "replicas = 1\n";
    return text.insert(text.find(at) + at.size(), "forget = [" + ids + "]\n");
  };
  const placement::Topology running = Parse(forgetting(3, "\"lost-a\""));
  CHECK(JudgeTopology(running, Parse(forgetting(4, "\"lost-a\", \"lost-b\""))).verdict ==
        TopologyVerdict::kAdopt);
  const TopologyJudgement dropped = JudgeTopology(running, Parse(Text(4)));
  CHECK(dropped.verdict == TopologyVerdict::kRefuse);
  CHECK(dropped.reason ==
        "cluster.forget no longer lists \"lost-a\", which the running topology forgets (running "
        "epoch 3, offered epoch 4): keep every forgotten node in later files");
  CHECK(JudgeTopology(Parse(Text(3)), Parse(forgetting(4, "\"lost-a\""))).verdict ==
        TopologyVerdict::kAdopt);
}

TEST_CASE("Adopted topology: saved whole, loaded back, absent until saved, damage reported",
          "[unit]") {
  TempDir dir;
  auto none = LoadAdoptedTopology(dir.path());
  REQUIRE(none.ok());
  CHECK_FALSE(none->has_value());

  REQUIRE(SaveAdoptedTopology(dir.path(), Parse(Text(5))).ok());
  REQUIRE(SaveAdoptedTopology(dir.path(), Parse(Text(6))).ok());  // replaces it
  auto loaded = LoadAdoptedTopology(dir.path());
  REQUIRE(loaded.ok());
  REQUIRE(loaded->has_value());
  CHECK((*loaded)->epoch() == 6);
  CHECK((*loaded)->text() == Text(6));
  CHECK_FALSE(std::filesystem::exists(AdoptedTopologyPath(dir.path()) + ".tmp"));

  std::ofstream(AdoptedTopologyPath(dir.path())) << "[cluster]\nepoch = -1\n";
  auto damaged = LoadAdoptedTopology(dir.path());
  REQUIRE_FALSE(damaged.ok());
  CHECK(damaged.status().message().starts_with(
      "the topology this node adopted earlier cannot be used: " + AdoptedTopologyPath(dir.path())));

  CHECK_FALSE(SaveAdoptedTopology(dir.path() + "/missing", Parse(Text(7))).ok());
}

TEST_CASE("ChooseStartTopology: the higher epoch wins; at equal epochs the adopted one", "[unit]") {
  std::string note;
  CHECK(ChooseStartTopology(Parse(Text(3)), std::nullopt, &note).epoch() == 3);
  CHECK(note.empty());
  CHECK(ChooseStartTopology(Parse(Text(3)), Parse(Text(5), "kept"), &note).epoch() == 5);
  CHECK(note ==
        "running topology epoch 5 adopted earlier (kept) rather than t.toml of epoch 3: the "
        "higher epoch wins");
  CHECK(ChooseStartTopology(Parse(Text(7)), Parse(Text(5)), &note).epoch() == 7);
  CHECK(note.empty());
  const placement::Topology tie =
      ChooseStartTopology(Parse(Text(5, 8, 1)), Parse(Text(5, 8, 2), "kept"), &note);
  CHECK(tie.text() == Text(5, 8, 2));
  CHECK(note.ends_with("same epoch with other content: refused"));
  CHECK(ChooseStartTopology(Parse(Text(5)), Parse(Text(5), "kept"), &note).source_name() ==
        "t.toml");
  CHECK(note.empty());
}

TEST_CASE("Previous topology: kept beside the adopted one; the one before a start is the "
          "highest epoch below it",
          "[unit]") {
  TempDir dir;
  auto none = LoadPreviousTopology(dir.path());
  REQUIRE(none.ok());
  CHECK_FALSE(none->has_value());
  REQUIRE(SavePreviousTopology(dir.path(), Parse(Text(4))).ok());
  REQUIRE(SaveAdoptedTopology(dir.path(), Parse(Text(5))).ok());
  auto previous = LoadPreviousTopology(dir.path());
  REQUIRE(previous.ok());
  REQUIRE(previous->has_value());
  CHECK((*previous)->epoch() == 4);
  CHECK((*LoadAdoptedTopology(dir.path()))->epoch() == 5);
  std::ofstream(PreviousTopologyPath(dir.path())) << "not toml [";
  auto damaged = LoadPreviousTopology(dir.path());
  REQUIRE_FALSE(damaged.ok());
  CHECK(damaged.status().message().starts_with("the topology this node ran before cannot be used"));

  const placement::Topology t3 = Parse(Text(3)), t4 = Parse(Text(4)), t5 = Parse(Text(5));
  // Restarted mid-move to the adopted 5: the previous one (4) is before it.
  CHECK(TopologyBefore(t5, {&t5, &t5, &t4})->epoch() == 4);
  // Down while the cluster adopted 5, restarted with its file of 5: the
  // adopted one it kept (3) is before it, not the even older previous one.
  CHECK(TopologyBefore(t5, {&t5, &t3, nullptr})->epoch() == 3);
  CHECK(TopologyBefore(t5, {&t5, &t4, &t3})->epoch() == 4);
  CHECK(TopologyBefore(t4, {&t4, &t5, nullptr}) == nullptr);
  CHECK(TopologyBefore(t3, {&t3, nullptr, nullptr}) == nullptr);
}

TEST_CASE("RunningTopology: readers keep the table they took while it is replaced", "[unit]") {
  RunningTopology running(std::make_shared<const placement::PlacementTable>(Parse(Text(1))));
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    while (!stop) {
      const auto table = running.table();
      const uint64_t epoch = table->topology().epoch();
      CHECK(table->topology().text() == Text(epoch));  // whole, never half replaced
    }
  });
  for (uint64_t e = 2; e <= 50; ++e) {
    running.Replace(std::make_shared<const placement::PlacementTable>(Parse(Text(e))));
  }
  stop = true;
  reader.join();
  CHECK(running.epoch() == 50);
  CHECK(running.adopted() == 49);
  running.CountRefused();
  CHECK(running.refused() == 1);
}

// A topology of `nodes` (id, dc) at `epoch`, N = 2, ports by position.
std::string Cluster(uint64_t epoch, const std::vector<std::pair<std::string, std::string>>& nodes) {
  std::string text =
      "[cluster]\nname = \"t\"\npartitions = 16\nreplicas = 2\nepoch = " + std::to_string(epoch) +
      "\n";
  std::string dc;
  int port = 7001;
  for (const auto& [id, node_dc] : nodes) {
    if (node_dc != dc) text += "[[datacenters]]\nname = \"" + (dc = node_dc) + "\"\n";
    text += "  [[datacenters.nodes]]\n  id = \"" + id +
            "\"\n  client = \"127.0.0.1:" + std::to_string(port) +
            "\"\n  repl = \"tcp://127.0.0.1:" + std::to_string(port + 100) +
            "\"\n  sync = \"tcp://127.0.0.1:" + std::to_string(port + 200) + "\"\n";
    ++port;
  }
  return text;
}

TEST_CASE("TopologyWithout: a joining node's view of the placement before it", "[unit]") {
  const placement::Topology before = Parse(Cluster(4, {{"a", "dc1"}, {"b", "dc2"}, {"c", "dc3"}}));
  // c alone in dc3, and b sharing dc2 with d: the placement without the
  // node is the one before it joined, at the epoch below.
  for (const auto& [joiner, dc] : {std::pair<std::string, std::string>{"c", "dc3"}, {"d", "dc2"}}) {
    std::vector<std::pair<std::string, std::string>> nodes = {{"a", "dc1"}, {"b", "dc2"}};
    if (joiner == "d") nodes.emplace_back("d", "dc2");
    nodes.emplace_back("c", "dc3");
    const placement::Topology with = Parse(Cluster(5, nodes));
    auto without = TopologyWithout(with, joiner);
    INFO(without.status().ToString());
    REQUIRE(without.ok());
    CHECK(without->epoch() == 4);
    CHECK_FALSE(without->FindNode(joiner).has_value());
    CHECK(without->nodes().size() == nodes.size() - 1);
    const placement::PlacementTable got(std::move(*without));
    if (joiner == "c") {
      const placement::PlacementTable want(Parse(Cluster(4, {{"a", "dc1"}, {"b", "dc2"}})));
      for (uint32_t p = 0; p < 16; ++p) {
        const auto g = got.PreferenceList(p), w = want.PreferenceList(p);
        CHECK(std::vector<uint32_t>(g.begin(), g.end()) ==
              std::vector<uint32_t>(w.begin(), w.end()));
      }
    } else {
      const placement::PlacementTable want(Parse(before.text()));
      for (uint32_t p = 0; p < 16; ++p) {
        const auto g = got.PreferenceList(p), w = want.PreferenceList(p);
        CHECK(std::vector<uint32_t>(g.begin(), g.end()) ==
              std::vector<uint32_t>(w.begin(), w.end()));
      }
    }
  }
  // Refused: epoch 0, a node not in it, and too few nodes left for N.
  CHECK_FALSE(
      TopologyWithout(Parse(Cluster(0, {{"a", "dc1"}, {"b", "dc2"}, {"c", "dc3"}})), "c").ok());
  CHECK_FALSE(TopologyWithout(before, "x").ok());
  CHECK_FALSE(TopologyWithout(Parse(Cluster(2, {{"a", "dc1"}, {"b", "dc2"}})), "b").ok());
}

}  // namespace
}  // namespace geokv::replica
