#include <benchmark/benchmark.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "detectors/sketch.h"

namespace vigil::detectors {
namespace {

// Latency-like values (median 50 ms, about a 1,000x spread), pregenerated so the benchmark
// measures the sketch and not the random number generator.
std::vector<double> lognormalValues(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<double> dist(std::log(0.05), 1.0);
  std::vector<double> values(n);
  for (double& v : values) v = dist(rng);
  return values;
}

QuantileSketch sketchOf(const std::vector<double>& values) {
  QuantileSketch sketch;
  for (double v : values) sketch.add(v);
  return sketch;
}

void BM_SketchAdd(benchmark::State& state) {
  constexpr std::size_t kValues = 1 << 16;  // a power of two: the index wraps with a mask
  const auto values = lognormalValues(kValues, 1);
  QuantileSketch sketch;
  std::size_t i = 0;
  for (auto _ : state) {
    sketch.add(values[i++ & (kValues - 1)]);
  }
  benchmark::DoNotOptimize(sketch.count());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SketchAdd);

void BM_SketchMerge(benchmark::State& state) {
  const QuantileSketch a = sketchOf(lognormalValues(100'000, 2));
  const QuantileSketch b = sketchOf(lognormalValues(100'000, 3));
  QuantileSketch target = a;
  for (auto _ : state) {
    target.merge(b);
    benchmark::DoNotOptimize(target.count());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SketchMerge);

void BM_SketchQuantile(benchmark::State& state) {
  const QuantileSketch sketch = sketchOf(lognormalValues(1'000'000, 4));
  for (auto _ : state) {
    benchmark::DoNotOptimize(sketch.quantile(0.99));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SketchQuantile);

}  // namespace
}  // namespace vigil::detectors

BENCHMARK_MAIN();
