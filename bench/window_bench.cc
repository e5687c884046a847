// The window ring of one series: placing records in their sub-windows, and
// bringing the window's totals to the next step end (the slide every judged
// series pays) or summing them afresh (a series judged after a long pause).

#include <benchmark/benchmark.h>

#include <cmath>
#include <optional>
#include <random>
#include <vector>

#include "detectors/dataset_spec.h"
#include "detectors/series_store.h"

namespace vigil::detectors {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

DatasetSpec spec() {
  DatasetSpec d;
  d.name = "orders";
  d.topic = "orders.events";
  d.window = std::chrono::minutes(5);
  d.step = seconds(10);
  d.latency = LatencySpec{"latency_ms", LatencyUnit::kMilliseconds, std::nullopt, seconds(5),
                          std::nullopt};
  d.nulls = NullsSpec{{"user_id", "amount"}, 0.5, std::nullopt};
  return d;
}

// One series' observations, `per_step` records in each 10 s step.
std::vector<Observation> observations(std::size_t steps, std::size_t per_step) {
  std::mt19937_64 rng(1);
  std::lognormal_distribution<double> latency(std::log(0.12), 0.4);
  std::vector<Observation> out;
  const Timestamp start = timestampFromMillis(1'736'950'000'000);
  for (std::size_t i = 0; i < steps * per_step; ++i) {
    Observation o;
    o.series = "etl_orders_01";
    o.event_time = start + milliseconds(static_cast<std::int64_t>(i * 10'000 / per_step));
    o.latency_seconds = latency(rng);
    o.null_mask = i % 50 == 0 ? 1u : 0u;
    out.push_back(o);
  }
  return out;
}

// SeriesStore::add: find the series, its sub-window, and add the record.
void BM_RingPlace(benchmark::State& state) {
  const auto obs = observations(3000, 100);
  const DatasetSpec d = spec();
  std::optional<SeriesStore> store(std::in_place, d);
  std::size_t i = 0;
  for (auto _ : state) {
    if (i == obs.size()) {  // start over: a record may not go back in time
      state.PauseTiming();
      store.emplace(d);
      i = 0;
      state.ResumeTiming();
    }
    benchmark::DoNotOptimize(store->add(obs[i++]));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RingPlace);

// A step of `range(0)` records placed, then the window totals moved one step
// (one step enters, one leaves) and its p99 read: what one series costs per
// step end. Subtract BM_RingPlace x records per step for the slide alone.
void BM_WindowSlide(benchmark::State& state) {
  const auto per_step = static_cast<std::size_t>(state.range(0));
  const std::size_t steps = 600;
  const auto obs = observations(steps, per_step);
  const DatasetSpec d = spec();
  for (auto _ : state) {
    state.PauseTiming();
    SeriesStore store(d);
    const SeriesStore::Series* series = nullptr;
    std::size_t placed = 0;
    state.ResumeTiming();
    // Place each step's records, then judge its window: as replay does.
    Timestamp end = alignDown(obs.front().event_time, d.step) + d.step;
    for (std::size_t s = 0; s < steps; ++s, end += d.step) {
      while (placed < obs.size() && obs[placed].event_time < end) store.add(obs[placed++]);
      if (series == nullptr) store.forEachSeries([&](auto, const auto& x) { series = &x; });
      benchmark::DoNotOptimize(series->windowAt(end, d.window, d.step).latency.quantile(0.99));
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(steps));
  state.SetLabel("items = step ends");
}
BENCHMARK(BM_WindowSlide)->Arg(1)->Arg(10)->Arg(100);

// The window totals summed afresh from its 30 sub-windows (a series not
// judged for more than half a window), `range(0)` records per step.
void BM_WindowRecompute(benchmark::State& state) {
  const auto per_step = static_cast<std::size_t>(state.range(0));
  const auto obs = observations(40, per_step);
  const DatasetSpec d = spec();
  SeriesStore store(d);
  for (const Observation& o : obs) store.add(o);
  const SeriesStore::Series* series = nullptr;
  store.forEachSeries([&](auto, const auto& x) { series = &x; });
  const Timestamp last = alignDown(obs.back().event_time, d.step) + d.step;
  bool flip = false;
  for (auto _ : state) {
    // Alternate two step ends 20 steps apart: every call sums afresh.
    const Timestamp end = flip ? last : last - d.step * 20;
    flip = !flip;
    benchmark::DoNotOptimize(series->windowAt(end, d.window, d.step).records);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_WindowRecompute)->Arg(1)->Arg(10)->Arg(100);

}  // namespace
}  // namespace vigil::detectors

BENCHMARK_MAIN();
