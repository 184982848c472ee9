// An in-memory Partitions for the command tests, and a way to run one command
// and get its exact RESP reply.
#pragma once

#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <vector>

#include "crdt/join.h"
#include "crdt/key_type.h"
#include "crdt/memory_state.h"
#include "replica/commands/command.h"

namespace geokv::replica::test {

inline constexpr uint32_t kPartitions = 8;

// Every partition held in memory, except `not_held` when a test sets it.
class MemoryPartitions final : public Partitions {
 public:
  uint32_t PartitionOf(std::string_view key) const override {
    uint32_t h = 2166136261u;  // FNV-1a: stable, and good enough for a test
    for (char c : key) h = (h ^ static_cast<uint8_t>(c)) * 16777619u;
    return h % kPartitions;
  }
  bool Holds(uint32_t p) const override { return p != not_held; }
  std::vector<uint32_t> HeldPartitions() const override {
    std::vector<uint32_t> held;
    for (uint32_t p = 0; p < kPartitions; ++p) {
      if (Holds(p)) held.push_back(p);
    }
    return held;
  }
  std::vector<std::string> PreferenceList(uint32_t p) const override {
    return Holds(p) ? std::vector<std::string>{"me", "dc2-a"}
                    : std::vector<std::string>{"dc2-a", "dc3-a"};
  }
  crdt::MutableState& State(uint32_t p) override { return states_[p]; }
  void Commit(uint32_t p, const crdt::Delta& delta) override {
    crdt::ApplyDelta(states_[p], delta);
    ++commits;
  }
  void ForEachKey(uint32_t p, const std::function<bool(const std::string&)>& visit) override {
    for (const auto& key : crdt::Keys(states_[p])) {
      if (!visit(key)) return;
    }
  }
  std::vector<std::string> ScanKeys(uint32_t p, const std::optional<std::string>& after,
                                    size_t max_keys) override {
    std::vector<std::string> keys;
    for (const auto& key : crdt::Keys(states_[p])) {
      if (keys.size() >= max_keys) break;
      if (!after || key > *after) keys.push_back(key);
    }
    return keys;
  }
  size_t KeyCount(uint32_t p) override { return crdt::Keys(states_[p]).size(); }
  crdt::ReplicaId self() const override { return 42; }
  crdt::Hlc Now() override { return crdt::Hlc{++hlc}; }
  int64_t NowMs() override { return now_ms; }

  int commits = 0;
  uint64_t hlc = 1000;
  int64_t now_ms = 1'700'000'000'000;  // the wall clock; tests move it
  uint32_t not_held = kPartitions;     // none

 private:
  std::map<uint32_t, crdt::MemoryState> states_;
};

// A key that falls in partition `p`.
inline std::string KeyIn(const MemoryPartitions& ks, uint32_t p) {
  for (int i = 0;; ++i) {
    std::string key = "key:" + std::to_string(i);
    if (ks.PartitionOf(key) == p) return key;
  }
}

// Runs one data command as the node does (table lookup, arity, handler) and
// returns its reply; the test holds every key, so nothing is routed.
inline std::string RunData(MemoryPartitions& ks, Args args) {
  std::string out;
  RespWriter reply(&out);
  const CommandSpec* spec = FindCommand(args[0]);
  if (spec == nullptr) {
    ReplyUnknownCommand(args, reply);
  } else if (CheckArity(*spec, args, reply)) {
    REQUIRE(spec->is_data());
    CommandContext ctx{ks, reply};
    std::get<DataHandler>(spec->handler)(ctx, args);
  }
  return out;
}

}  // namespace geokv::replica::test
