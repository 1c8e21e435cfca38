// Speed and memory of the matching core over a generated registry of 100,000 organisations.
// A measurement, not a test: run it by hand and record the numbers (docs/matching.md).
//
//   cmake --build <build> --target matching_core_benchmark
//   <build>/services/matching/core/matching_core_benchmark
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "services/matching/core/matcher.h"
#include "services/matching/core/synthetic_registry.h"

namespace stp::matching {
namespace {

constexpr int kOrganizations = 100'000;

// The registry, index and a pool of needs, built once and shared (read-only) by every
// benchmark and thread.
struct BenchmarkWorld {
  BenchmarkWorld() {
    SyntheticRegistryOptions options;
    options.seed = 42;
    options.organizations = kOrganizations;
    options.projects_per_organization = 1.5;
    const SyntheticRegistry registry = GenerateRegistry(options);
    const auto start = std::chrono::steady_clock::now();
    LoadRegistry(registry, index);
    load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    SeededRandom random(7);
    for (int i = 0; i < 256; ++i) three_role_needs.push_back(GenerateNeed(random, 3));
    for (int i = 0; i < 256; ++i) {
      one_role_needs.push_back(GenerateNeed(random, 1 + static_cast<int>(random.Below(3))));
    }
    // On stderr: stdout carries the JSON that `stp-bench` parses.
    std::fprintf(stderr,
                 "index: %zu organisations, %zu projects, loaded in %.2f s, %zu bytes in all, "
                 "%zu bytes per organisation\n",
                 index.organization_count(), registry.projects.size(), load_seconds,
                 index.ApproximateMemoryBytes(), index.ApproximateBytesPerOrganization());
  }

  OrganizationIndex index;
  Matcher matcher{&index, MatchingConfig::Default()};
  std::vector<Need> three_role_needs;
  std::vector<Need> one_role_needs;
  double load_seconds = 0;
};

const BenchmarkWorld& World() {
  static const BenchmarkWorld* const world = new BenchmarkWorld();
  return *world;
}

// Per-call latencies of this thread, reported as p50/p99 in milliseconds (averaged over
// threads when there are several).
void ReportLatency(benchmark::State& state, std::vector<double>& millis) {
  if (millis.empty()) return;
  std::sort(millis.begin(), millis.end());
  auto at = [&](double q) { return millis[static_cast<size_t>(q * (millis.size() - 1))]; };
  state.counters["p50_ms"] = benchmark::Counter(at(0.50), benchmark::Counter::kAvgThreads);
  state.counters["p99_ms"] = benchmark::Counter(at(0.99), benchmark::Counter::kAvgThreads);
  state.counters["max_ms"] = benchmark::Counter(millis.back(), benchmark::Counter::kAvgThreads);
}

template <typename Call>
void MeasureCalls(benchmark::State& state, const std::vector<Need>& needs, Call&& call) {
  std::vector<double> millis;
  size_t i = static_cast<size_t>(state.thread_index()) * 31;
  int64_t considered = 0;
  for (auto _ : state) {
    const Need& need = needs[i++ % needs.size()];
    const auto start = std::chrono::steady_clock::now();
    considered += call(need);
    millis.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["considered_or_evaluated"] =
      benchmark::Counter(static_cast<double>(considered) / std::max<int64_t>(1, state.iterations()),
                         benchmark::Counter::kAvgThreads);
  ReportLatency(state, millis);
}

void BM_FindPartners(benchmark::State& state) {
  const BenchmarkWorld& world = World();
  MeasureCalls(state, world.one_role_needs, [&](const Need& need) {
    auto found = world.matcher.FindPartners(need, 20);
    benchmark::DoNotOptimize(found);
    return found.ok() ? found->considered() : 0;
  });
}
BENCHMARK(BM_FindPartners)->Threads(1)->Threads(2)->UseRealTime()->MinTime(3);

void BM_FindPartnersThreeRoles(benchmark::State& state) {
  const BenchmarkWorld& world = World();
  MeasureCalls(state, world.three_role_needs, [&](const Need& need) {
    auto found = world.matcher.FindPartners(need, 20);
    benchmark::DoNotOptimize(found);
    return found.ok() ? found->considered() : 0;
  });
}
BENCHMARK(BM_FindPartnersThreeRoles)->Threads(1)->Threads(2)->UseRealTime()->MinTime(3);

void BM_ProposeConsortiaThreeRoles(benchmark::State& state) {
  const BenchmarkWorld& world = World();
  MeasureCalls(state, world.three_role_needs, [&](const Need& need) {
    auto teams = world.matcher.ProposeConsortia(need, 5);
    benchmark::DoNotOptimize(teams);
    return teams.ok() ? teams->evaluated() : 0;
  });
}
BENCHMARK(BM_ProposeConsortiaThreeRoles)->Threads(1)->UseRealTime()->MinTime(3);

void BM_IndexMemory(benchmark::State& state) {
  const BenchmarkWorld& world = World();
  for (auto _ : state) benchmark::DoNotOptimize(world.index.ApproximateMemoryBytes());
  state.counters["bytes_per_org"] =
      static_cast<double>(world.index.ApproximateBytesPerOrganization());
  state.counters["total_MB"] = static_cast<double>(world.index.ApproximateMemoryBytes()) / 1e6;
  state.counters["load_s"] = world.load_seconds;
}
BENCHMARK(BM_IndexMemory)->Iterations(3);

}  // namespace
}  // namespace stp::matching

BENCHMARK_MAIN();
