#include "detectors/dataset_detector.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "tests/detectors/replay_harness.h"

namespace vigil::detectors {
namespace {

using std::chrono::seconds;

// The sketch promises 0.5 %; the contract is 1 %.
constexpr double kQuantileTolerance = 0.01;
const Timestamp kT0 = timestampFromMillis(1'736'950'000'000);  // a multiple of 10 s

struct Sample {
  std::string series;
  Timestamp t;
  double latency_s;
};

DatasetSpec latencySpec(std::optional<Duration> p95, std::optional<Duration> p99) {
  DatasetSpec spec = testing::baseSpec();
  spec.latency = LatencySpec{};
  spec.latency->field = "latency_ms";
  spec.latency->p95_max = p95;
  spec.latency->p99_max = p99;
  return spec;
}

// Replays samples in order through one store the way `vigil replay` does:
// advance the watermark (evaluating passed step ends), then add the record;
// at the end evaluate the last partial step.
std::vector<FailureEvent> run(const DatasetSpec& spec, const std::vector<Sample>& samples) {
  DatasetDetector detector(spec);
  Timestamp last = Timestamp::min();
  for (const Sample& s : samples) last = std::max(last, s.t);
  return testing::replayThrough(
      detector, samples, [](const Sample& s) { return Observation{s.series, s.t, s.latency_s}; },
      alignDown(last, spec.step) + spec.step);
}

// Exact p at rank floor(q (n-1)), the sketch's rank convention.
double exactQuantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1))];
}

// One series, 20 samples/s of lognormal latency around 100 ms, with a spike
// to ~2 s during [from, to).
std::vector<Sample> spikySeries(const std::string& series, Duration length, Duration from,
                                Duration to, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<double> normal(std::log(0.1), 0.3);
  std::lognormal_distribution<double> spike(std::log(2.0), 0.3);
  std::vector<Sample> out;
  for (Duration t{0}; t < length; t += Duration{50}) {
    const bool spiking = t >= from && t < to;
    out.push_back({series, kT0 + t, spiking ? spike(rng) : normal(rng)});
  }
  return out;
}

// The events match an exact computation of p99 over every window: same step
// ends, same statuses, values within the quantile tolerance.
TEST(DatasetDetectorTest, LatencyEventsMatchExactComputation) {
  const DatasetSpec spec = latencySpec(std::nullopt, seconds(1));
  const auto samples = spikySeries("etl_1", seconds(600), seconds(200), seconds(260), 42);
  const auto events = run(spec, samples);

  // Exact: judge each full window, apply for: 0s / keep_firing_for: 0s.
  std::vector<std::pair<Timestamp, bool>> expected;  // (timestamp, firing)
  bool firing = false;
  for (Timestamp end = kT0 + spec.window; end <= kT0 + seconds(600); end += spec.step) {
    std::vector<double> window;
    for (const Sample& s : samples) {
      if (s.t >= end - spec.window && s.t < end) window.push_back(s.latency_s);
    }
    const bool breached = exactQuantile(window, 0.99) > 1.0;
    if (breached != firing) {
      expected.emplace_back(end, breached);
      firing = breached;
    }
  }
  ASSERT_EQ(expected.size(), 2u) << "the spike should make one firing and one resolution";
  ASSERT_EQ(events.size(), expected.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].timestamp, expected[i].first);
    EXPECT_EQ(events[i].status, expected[i].second ? EventStatus::kFiring : EventStatus::kResolved);
    std::vector<double> window;
    for (const Sample& s : samples) {
      if (s.t >= events[i].window_start && s.t < events[i].window_end) window.push_back(s.latency_s);
    }
    const double exact = exactQuantile(window, 0.99);
    EXPECT_NEAR(events[i].actual_value, exact, exact * kQuantileTolerance);
    EXPECT_EQ(events[i].sample_count, window.size());
    EXPECT_EQ(events[i].metric, "latency_p99_seconds");
    EXPECT_DOUBLE_EQ(events[i].threshold, 1.0);
    EXPECT_EQ(events[i].window_end - events[i].window_start, spec.window);
  }
}

// No series is judged before a full window has passed since its first record.
TEST(DatasetDetectorTest, NoJudgementFromHalfFilledWindow) {
  const DatasetSpec spec = latencySpec(std::nullopt, seconds(1));
  // Spiking from the very first record, for less than one window.
  const auto samples = spikySeries("etl_1", seconds(50), seconds(0), seconds(50), 7);
  EXPECT_TRUE(run(spec, samples).empty());
}

// With both bounds set, one lifecycle covers both, and the event names p95
// when only p95 is out of bounds.
TEST(DatasetDetectorTest, OneLifecycleForBothQuantiles) {
  const DatasetSpec spec = latencySpec(seconds(1), seconds(100));
  const auto samples = spikySeries("etl_1", seconds(600), seconds(200), seconds(260), 5);
  const auto events = run(spec, samples);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].metric, "latency_p95_seconds");
  EXPECT_EQ(events[1].metric, "latency_p95_seconds");
  EXPECT_DOUBLE_EQ(events[0].threshold, 1.0);
}

// Series are independent, and events sharing a timestamp come out ordered by pipeline.
TEST(DatasetDetectorTest, SeriesAreIndependentAndOrdered) {
  const DatasetSpec spec = latencySpec(std::nullopt, seconds(1));
  auto b = spikySeries("etl_b", seconds(600), seconds(200), seconds(260), 1);
  auto a = spikySeries("etl_a", seconds(600), seconds(200), seconds(260), 1);  // same shape
  auto c = spikySeries("etl_c", seconds(600), seconds(700), seconds(800), 2);  // never spikes
  std::vector<Sample> all;
  for (std::size_t i = 0; i < a.size(); ++i) {
    all.push_back(b[i]);
    all.push_back(c[i]);
    all.push_back(a[i]);
  }
  const auto events = run(spec, all);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].pipeline_id, "etl_a");
  EXPECT_EQ(events[1].pipeline_id, "etl_b");
  EXPECT_EQ(events[0].timestamp, events[1].timestamp);
  EXPECT_EQ(events[2].pipeline_id, "etl_a");
  EXPECT_EQ(events[3].pipeline_id, "etl_b");
}

// A series split across two stores (two partitions) yields the same events as one store.
TEST(DatasetDetectorTest, MergesOneSeriesAcrossStores) {
  const DatasetSpec spec = latencySpec(std::nullopt, seconds(1));
  const auto samples = spikySeries("etl_1", seconds(600), seconds(200), seconds(260), 11);
  const auto single = run(spec, samples);

  SeriesStore even(spec), odd(spec);
  DatasetDetector detector(spec);
  const SeriesStore* stores[] = {&even, &odd};
  std::vector<FailureEvent> split;
  Timestamp watermark = Timestamp::min();
  for (std::size_t i = 0; i < samples.size(); ++i) {
    if (samples[i].t > watermark) {
      watermark = samples[i].t;
      detector.advanceTo(watermark, stores, split);
    }
    (i % 2 ? odd : even).add(Observation{samples[i].series, samples[i].t, samples[i].latency_s});
  }
  detector.advanceTo(alignDown(watermark, spec.step) + spec.step, stores, split);

  ASSERT_EQ(split.size(), single.size());
  for (std::size_t i = 0; i < split.size(); ++i) {
    EXPECT_EQ(split[i].eventId(), single[i].eventId());
    EXPECT_DOUBLE_EQ(split[i].actual_value, single[i].actual_value);
    EXPECT_EQ(split[i].sample_count, single[i].sample_count);
  }
}

// A long silence is crossed in one call without events, and a spike after it is still seen.
TEST(DatasetDetectorTest, SkipsEmptyStretches) {
  const DatasetSpec spec = latencySpec(std::nullopt, seconds(1));
  auto samples = spikySeries("etl_1", seconds(120), seconds(999), seconds(999), 3);
  // 30 days later the series comes back, spiking after a full window.
  for (auto s : spikySeries("etl_1", seconds(300), seconds(120), seconds(180), 4)) {
    s.t += std::chrono::hours(24 * 30);
    samples.push_back(s);
  }
  const auto events = run(spec, samples);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_GT(events[0].timestamp, kT0 + std::chrono::hours(24 * 30));
}

// Records without a latency value give the latency check nothing to judge.
TEST(DatasetDetectorTest, NoLatencySamplesNoEvents) {
  const DatasetSpec spec = latencySpec(std::nullopt, seconds(1));
  SeriesStore store(spec);
  DatasetDetector detector(spec);
  const SeriesStore* stores[] = {&store};
  std::vector<FailureEvent> events;
  for (int i = 0; i < 1000; ++i) {
    const Timestamp t = kT0 + seconds(i);
    detector.advanceTo(t, stores, events);
    store.add(Observation{"etl_1", t, std::nullopt});
  }
  EXPECT_TRUE(events.empty());
}

}  // namespace
}  // namespace vigil::detectors
