// Decode + every check, in process: the per-record cost of detection.
//
// Records are ~200-byte JSON objects like vigil gen's, spread round-robin over
// N series, 1,000 records per second of event time, run through ReplayEngine
// (the decoder, field interning, window placement and every step-end
// evaluation: latency, freshness, volume, nulls on two fields, schema).

#include <benchmark/benchmark.h>
#include <malloc.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "detectors/dataset_spec.h"
#include "stream/replay_engine.h"

namespace {

using namespace vigil;
using std::chrono::seconds;

detectors::DatasetSpec allChecks() {
  detectors::DatasetSpec d;
  d.name = "orders";
  d.topic = "orders.events";
  d.series_key = "pipeline_id";
  d.event_time = "ts";
  d.window = std::chrono::minutes(5);
  d.step = seconds(10);
  d.latency = detectors::LatencySpec{"latency_ms", detectors::LatencyUnit::kMilliseconds,
                                     std::nullopt, seconds(5), std::nullopt};
  d.freshness = detectors::FreshnessSpec{std::chrono::minutes(10)};
  d.volume = detectors::VolumeSpec{std::nullopt, 1.0, std::nullopt, std::nullopt};
  d.nulls = detectors::NullsSpec{{"user_id", "amount"}, 0.5, std::nullopt};
  d.schema = detectors::SchemaSpec{{"user_id", "amount"}, false};
  return d;
}

// `count` records over `series` series, one per millisecond of event time.
std::vector<std::string> makeRecords(std::size_t series, std::size_t count) {
  std::mt19937_64 rng(1);
  std::lognormal_distribution<double> latency(std::log(120.0), 0.4);
  std::vector<std::string> out;
  out.reserve(count);
  const std::int64_t start_ms = 1'736'950'000'000;
  char buf[320];
  for (std::size_t i = 0; i < count; ++i) {
    const std::int64_t ms = start_ms + static_cast<std::int64_t>(i);
    std::snprintf(buf, sizeof buf,
                  R"({"pipeline_id":"etl_orders_%06zu","ts":%lld,"latency_ms":%.3f,)"
                  R"("rows":%zu,"user_id":"u-%zu","amount":%.2f,"status":"ok","region":"eu-west-1"})",
                  i % series, static_cast<long long>(ms), latency(rng), 1000 + i % 97,
                  1000 + i % 9000, 10.0 + static_cast<double>(i % 1000) / 100);
    out.emplace_back(buf);
  }
  return out;
}

void BM_DecodeAndAllChecks(benchmark::State& state) {
  const auto series = static_cast<std::size_t>(state.range(0));
  // Enough records that every series is past its first full window.
  const std::size_t count = std::max<std::size_t>(2'000'000, series * 40);
  const auto records = makeRecords(series, count);
  const auto spec = allChecks();
  std::size_t events = 0;
  for (auto _ : state) {
    state.PauseTiming();
    stream::ReplayEngine engine({spec}, [&events](const detectors::FailureEvent&) { ++events; },
                                {});
    state.ResumeTiming();
    for (const std::string& r : records) engine.feed(r);
    engine.finish();
    benchmark::DoNotOptimize(events);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * records.size()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * records.size() *
                                                    records.front().size()));
}
BENCHMARK(BM_DecodeAndAllChecks)->Arg(1000)->Arg(100000)->Unit(benchmark::kMillisecond)->Iterations(2);

// Heap bytes per series once every series has a full window of state.
// Bytes the heap hands out, both from its arenas and as separate mappings
// (large blocks, such as a big hash table's buckets, are mapped on their own).
std::size_t heapInUse() {
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
}

// Args: series, seconds of event time (1,000 records a second): 1,000 series
// get a record a second (every step has some); 100,000 series one every 100 s
// (sparse: a record every tenth step, as in BM_DecodeAndAllChecks/100000).
void BM_StatePerSeries(benchmark::State& state) {
  const auto series = static_cast<std::size_t>(state.range(0));
  const auto records = makeRecords(series, static_cast<std::size_t>(state.range(1)) * 1000);
  const auto spec = allChecks();
  double per_series = 0;
  double fixed = 0;
  for (auto _ : state) {
    const std::size_t before = heapInUse();
    auto engine = std::make_unique<stream::ReplayEngine>(
        std::vector<detectors::DatasetSpec>{spec}, [](const detectors::FailureEvent&) {},
        stream::ReplayEngine::RejectSink{});
    // What the engine holds before any series (the decoder's buffers, sized
    // for max_record_bytes and mostly never touched) is not per series.
    const std::size_t empty = heapInUse();
    for (const std::string& r : records) engine->feed(r);
    fixed = static_cast<double>(empty - before);
    per_series = static_cast<double>(heapInUse() - empty) / static_cast<double>(series);
    benchmark::DoNotOptimize(engine);
  }
  state.counters["bytes_per_series"] = per_series;
  state.counters["bytes_before_any_series"] = fixed;
}
BENCHMARK(BM_StatePerSeries)
    ->Args({1000, 400})
    ->Args({100000, 400})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
