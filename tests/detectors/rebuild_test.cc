// State rebuild, the detector's side: a store silenced through a step end is
// judged without emitting, so the lifecycles come out as they were, and
// rebuildFrom() reaches back far enough to judge every alert into the state
// it has.

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "detectors/dataset_detector.h"
#include "tests/detectors/replay_harness.h"

namespace vigil::detectors {
namespace {

using std::chrono::seconds;

const Timestamp kT0 = timestampFromMillis(1'736'950'000'000);  // a multiple of 10 s

DatasetSpec spikeSpec() {
  DatasetSpec spec = testing::baseSpec();
  spec.latency = LatencySpec{};
  spec.latency->field = "latency_ms";
  spec.latency->p99_max = seconds(1);
  spec.alert.for_duration = seconds(20);
  spec.alert.keep_firing_for = seconds(20);
  return spec;
}

// One series at 20 records/s, ~100 ms latency, ~2 s during [200 s, 260 s).
std::vector<Observation> spiky() {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> normal(std::log(0.1), 0.3);
  std::lognormal_distribution<double> spike(std::log(2.0), 0.3);
  std::vector<Observation> out;
  for (Duration t{0}; t < seconds(600); t += Duration{50}) {
    const bool spiking = t >= seconds(200) && t < seconds(260);
    out.push_back(Observation{"etl_1", kT0 + t, spiking ? spike(rng) : normal(rng)});
  }
  return out;
}

std::vector<FailureEvent> replay(DatasetDetector& detector, SeriesStore& store,
                                 const std::vector<Observation>& records) {
  const SeriesStore* stores[] = {&store};
  std::vector<FailureEvent> events;
  Timestamp watermark = Timestamp::min();
  for (const Observation& obs : records) {
    if (obs.event_time > watermark) {
      watermark = obs.event_time;
      detector.advanceTo(watermark, stores, events);
    }
    store.add(obs);
  }
  detector.advanceTo(kT0 + seconds(600), stores, events);
  return events;
}

TEST(RebuildTest, SilencedStepsRebuildTheLifecycleWithoutEmitting) {
  const auto records = spiky();
  DatasetDetector whole(spikeSpec());
  SeriesStore whole_store(whole.spec());
  const auto all = replay(whole, whole_store, records);
  ASSERT_EQ(all.size(), 2u);
  ASSERT_EQ(all[0].status, EventStatus::kFiring);
  ASSERT_EQ(all[1].status, EventStatus::kResolved);

  // Silent through a step end between the firing and the resolution: only
  // the resolution comes out, because the firing was rebuilt.
  const Timestamp silent_through = all[0].timestamp + seconds(10);
  ASSERT_LT(silent_through, all[1].timestamp);
  DatasetDetector rebuilt(spikeSpec());
  SeriesStore store(rebuilt.spec());
  store.silenceThrough(silent_through);
  const auto after = replay(rebuilt, store, records);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].eventId(), all[1].eventId());
  EXPECT_EQ(after[0].toJson(), all[1].toJson());
  EXPECT_EQ(rebuilt.silencedEvents(), 1u);
}

TEST(RebuildTest, RebuildFromReachesBackBeforeAFiringAlert) {
  const auto records = spiky();
  const DatasetSpec spec = spikeSpec();
  DatasetDetector detector(spec);
  SeriesStore store(spec);
  const SeriesStore* stores[] = {&store};
  std::vector<FailureEvent> events;
  EXPECT_EQ(detector.rebuildFrom(), Timestamp::min()) << "nothing evaluated yet";
  for (const Observation& obs : records) {
    detector.advanceTo(obs.event_time, stores, events);
    store.add(obs);
    if (!events.empty()) break;  // the alert fires
  }
  ASSERT_EQ(events.size(), 1u);
  const Timestamp fired = events[0].timestamp;
  // The breach began at least `for` before the firing: a rebuild starts a
  // window (and a step of slack) before that.
  EXPECT_LE(detector.rebuildFrom(), fired - spec.alert.for_duration - spec.window - spec.step);
  EXPECT_GE(detector.rebuildFrom(), detector.evaluatedThrough() - detector.evictAfter());

  // Once resolved and settled, only the last stretch is needed again.
  for (const Observation& obs : records) {
    if (obs.event_time <= fired) continue;
    detector.advanceTo(obs.event_time, stores, events);
    store.add(obs);
  }
  ASSERT_EQ(events.size(), 2u);
  const Duration horizon = spec.window + spec.step * 2 + spec.alert.for_duration +
                           spec.alert.keep_firing_for;
  EXPECT_EQ(detector.rebuildFrom(), detector.evaluatedThrough() - horizon);
}

}  // namespace
}  // namespace vigil::detectors
