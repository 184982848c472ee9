// CRDT core costs: ns per mutation (build the delta + apply it locally) and the
// delta's encoded size, against collections of 10, 1,000 and 100,000 elements;
// delta join and codec throughput.
//
//   build/bench/crdt_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// The figures that matter are the flat columns: ns and delta_bytes must not
// grow with the collection.
#include <benchmark/benchmark.h>

#include <string>

#include "crdt/codec.h"
#include "crdt/join.h"
#include "crdt/memory_state.h"
#include "crdt/or_map.h"
#include "crdt/or_set.h"
#include "crdt/scalar.h"

namespace geokv::crdt {
namespace {

constexpr ReplicaId kSelf = 1;

// A replica holding a set "s" and a hash "h" of n elements each, and n string keys.
MemoryState Populated(int64_t n) {
  MemoryState state;
  // Every size starts from the same long history (a million dots issued), so
  // dot counters encode in the same width and delta_bytes compare sizes.
  DotContext history;
  history.InsertRange(kSelf, 1, 1'000'000);
  state.JoinContext(history);
  DeltaBuilder b(state, kSelf);
  for (int64_t i = 0; i < n; ++i) {
    AddMember(b, "s", "member:" + std::to_string(i));
    SetField(b, "h", "field:" + std::to_string(i), Hlc{1}, "1");
    SetScalar(b, ScalarRef{"key:" + std::to_string(i), std::nullopt}, Hlc{1}, "v");
  }
  ApplyDelta(state, std::move(b).Finish());
  return state;
}

template <typename Op>
void RunMutation(benchmark::State& bench, Op op) {
  MemoryState state = Populated(bench.range(0));
  const int64_t n = bench.range(0);
  int64_t i = 0;
  size_t bytes = 0;
  for (auto _ : bench) {
    DeltaBuilder b(state, kSelf);
    op(b, i % n, i);
    Delta d = std::move(b).Finish();
    ApplyDelta(state, d);
    if (i == 0) bytes = EncodeDelta(d).size();
    ++i;
  }
  bench.counters["delta_bytes"] = static_cast<double>(bytes);
}

void BM_Sadd(benchmark::State& bench) {
  RunMutation(bench, [](DeltaBuilder& b, int64_t k, int64_t) {
    AddMember(b, "s", "member:" + std::to_string(k));
  });
}

void BM_SremSadd(benchmark::State& bench) {  // one SREM and the SADD that restores it
  RunMutation(bench, [](DeltaBuilder& b, int64_t k, int64_t) {
    const std::string m = "member:" + std::to_string(k);
    RemoveMember(b, "s", m);
    AddMember(b, "s", m);
  });
}

void BM_Hincrby(benchmark::State& bench) {
  RunMutation(bench, [](DeltaBuilder& b, int64_t k, int64_t) {
    IncrementField(b, "h", "field:" + std::to_string(k), 1);
  });
}

void BM_Hset(benchmark::State& bench) {
  RunMutation(bench, [](DeltaBuilder& b, int64_t k, int64_t i) {
    SetField(b, "h", "field:" + std::to_string(k), Hlc{static_cast<uint64_t>(i + 2)}, "2");
  });
}

void BM_Set(benchmark::State& bench) {  // a string key among n others
  RunMutation(bench, [](DeltaBuilder& b, int64_t k, int64_t i) {
    SetScalar(b, ScalarRef{"key:" + std::to_string(k), std::nullopt},
              Hlc{static_cast<uint64_t>(i + 2)}, "value");
  });
}

// Deltas from another replica (SADDs), joined into a replica.
void BM_ApplyRemoteDelta(benchmark::State& bench) {
  MemoryState origin;
  std::vector<Delta> deltas;
  for (int i = 0; i < 100'000; ++i) {
    DeltaBuilder b(origin, 2);
    AddMember(b, "s", "member:" + std::to_string(i % 1000));
    deltas.push_back(std::move(b).Finish());
    ApplyDelta(origin, deltas.back());
  }
  MemoryState replica;
  size_t i = 0;
  for (auto _ : bench) {
    ApplyDelta(replica, deltas[i++ % deltas.size()]);
  }
  bench.SetItemsProcessed(bench.iterations());
}

Delta SampleDelta() {
  MemoryState state = Populated(10);
  DeltaBuilder b(state, kSelf);
  SetField(b, "cart:12345", "sku:987", Hlc{123456789}, "2");
  return std::move(b).Finish();
}

void BM_EncodeDelta(benchmark::State& bench) {
  const Delta d = SampleDelta();
  size_t bytes = 0;
  for (auto _ : bench) {
    std::string encoded = EncodeDelta(d);
    bytes += encoded.size();
    benchmark::DoNotOptimize(encoded);
  }
  bench.SetBytesProcessed(static_cast<int64_t>(bytes));
  bench.SetItemsProcessed(bench.iterations());
}

void BM_DecodeDelta(benchmark::State& bench) {
  const std::string encoded = EncodeDelta(SampleDelta());
  for (auto _ : bench) {
    auto d = DecodeDelta(encoded);
    benchmark::DoNotOptimize(d);
  }
  bench.SetBytesProcessed(static_cast<int64_t>(encoded.size() * bench.iterations()));
  bench.SetItemsProcessed(bench.iterations());
}

void BM_JoinState(benchmark::State& bench) {  // state transfer of n keys into a replica
  const Snapshot snap = TakeSnapshot(Populated(bench.range(0)));
  for (auto _ : bench) {
    MemoryState replica;
    JoinState(replica, snap);
    benchmark::DoNotOptimize(replica);
  }
  bench.SetItemsProcessed(static_cast<int64_t>(snap.atoms.size() * bench.iterations()));
}

BENCHMARK(BM_Sadd)->Arg(10)->Arg(1'000)->Arg(100'000);
BENCHMARK(BM_SremSadd)->Arg(10)->Arg(1'000)->Arg(100'000);
BENCHMARK(BM_Hincrby)->Arg(10)->Arg(1'000)->Arg(100'000);
BENCHMARK(BM_Hset)->Arg(10)->Arg(1'000)->Arg(100'000);
BENCHMARK(BM_Set)->Arg(10)->Arg(1'000)->Arg(100'000);
BENCHMARK(BM_ApplyRemoteDelta);
BENCHMARK(BM_EncodeDelta);
BENCHMARK(BM_DecodeDelta);
BENCHMARK(BM_JoinState)->Arg(1'000)->Arg(10'000);

}  // namespace
}  // namespace geokv::crdt

BENCHMARK_MAIN();
