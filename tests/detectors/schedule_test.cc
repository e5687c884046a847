// The judging schedule: a detector that judges a series only when something
// it is judged on can have changed emits exactly the events of one that
// judges every series at every step.

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "detectors/dataset_detector.h"
#include "tests/detectors/replay_harness.h"

namespace vigil::detectors {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

struct Record {
  std::string series;
  Timestamp time;
  double latency;
  std::uint32_t null_mask;
  std::vector<FieldSeen> fields;
  int partition;
};

// Series with different habits: steady, sparse (one record every few
// windows), bursty with long silences (freshness, volume, eviction), a latency
// spike, a null spike, and a field that disappears and comes back (schema).
// Some series are spread over both partitions; some records are late.
std::vector<Record> makeInput(std::uint32_t seed, FieldDictionary& dictionary) {
  std::mt19937 rng(seed);
  const FieldId user_id = *dictionary.intern("user_id");
  const FieldId amount = *dictionary.intern("amount");
  const FieldId region = *dictionary.intern("region");
  std::vector<Record> out;
  const Timestamp start = timestampFromMillis(1'736'950'000'000);
  for (int ms = 0; ms < 3 * 3600 * 1000; ms += 50 + static_cast<int>(rng() % 200)) {
    const int s = static_cast<int>(rng() % 12);
    if (s >= 8 && rng() % 40 != 0) continue;  // series 8..11 are sparse
    const int phase = ms / (15 * 60 * 1000);    // 15-minute phases
    if (s % 4 == 1 && phase % 3 == 1) continue;  // silent for a phase: stale, volume drop, eviction
    Record r;
    r.series = "p" + std::to_string(s);
    r.time = start + milliseconds(ms);
    if (rng() % 50 == 0) r.time -= seconds(rng() % 20);  // late, some beyond the lateness
    std::lognormal_distribution<double> normal(std::log(0.2), 0.3);
    r.latency = normal(rng) * (s % 4 == 2 && phase % 2 == 1 ? 30 : 1);  // spikes
    r.null_mask = (s % 4 == 3 && phase % 2 == 0) ? (rng() % 2 == 0 ? 1u : 3u) : 0u;
    const bool drops_field = s % 3 == 0 && phase % 4 == 2;
    r.fields = {{user_id, static_cast<std::uint8_t>(r.null_mask & 1 ? kJsonNull : kJsonString)}};
    if (!drops_field) r.fields.push_back({amount, kJsonNumber});
    if (s == 5 && phase == 5) r.fields.push_back({region, kJsonString});  // a new field for a while
    r.partition = s % 5 == 0 ? static_cast<int>(rng() % 2) : s % 2;
    out.push_back(std::move(r));
  }
  // Bursty series: 40 s of records every 3 to 4 minutes, opening with 10 s of
  // slow, null-ridden records that lack a field. With no record after the
  // burst, only the window moving on changes what they are judged on: the bad
  // start leaves (alerts resolve), the volume drains (volume_drop), the age
  // grows (stale_data).
  for (int b = 0; b < 4; ++b) {
    for (int burst_ms = 30'000 * b; burst_ms < 3 * 3600 * 1000;
         burst_ms += 180'000 + static_cast<int>(rng() % 60'000)) {
      for (int ms = 0; ms < 40'000; ms += 200 + static_cast<int>(rng() % 300)) {
        const bool bad = ms < 10'000;
        Record r;
        r.series = "b" + std::to_string(b);
        r.time = start + milliseconds(burst_ms + ms);
        r.latency = bad ? 5.0 + (rng() % 100) / 10.0 : 0.1 + (rng() % 100) / 1000.0;
        r.null_mask = bad ? 2u : 0u;
        r.fields = {{user_id, kJsonString}};
        if (!bad || b % 2 == 0) r.fields.push_back({amount, kJsonNumber});
        r.partition = b == 0 ? static_cast<int>(rng() % 2) : b % 2;
        out.push_back(std::move(r));
      }
    }
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const Record& x, const Record& y) { return x.time < y.time; });
  return out;
}

DatasetSpec everyCheck(Duration for_duration, Duration keep_firing_for) {
  DatasetSpec spec = testing::baseSpec();
  spec.window = seconds(60);
  spec.step = seconds(10);
  spec.allowed_lateness = seconds(10);
  spec.latency = LatencySpec{std::nullopt, LatencyUnit::kSeconds, std::nullopt, seconds(2),
                             std::nullopt};
  spec.freshness = FreshnessSpec{seconds(90)};
  spec.volume = VolumeSpec{std::nullopt, 5.0, 400.0, std::nullopt};
  spec.nulls = NullsSpec{{"user_id", "amount"}, 0.3, std::nullopt};
  spec.schema = SchemaSpec{{"user_id", "amount"}, true};
  spec.alert.for_duration = for_duration;
  spec.alert.keep_firing_for = keep_firing_for;
  return spec;
}

// Replays the input over two partition stores the way detect does (records
// first, then evaluation up to the slowest partition), applying evictions.
// Returns the events, and between them each new rebuildFrom() (what a rebuild
// must re-read follows the alerts of every series, judged or not) and each
// series evicted.
std::vector<std::string> run(const DatasetSpec& spec, const std::vector<Record>& input,
                             bool every_series, DatasetDetector::ParallelFor parallel_for = {},
                             std::size_t block_series = DatasetDetector::kBlockSeries,
                             std::size_t* evictions = nullptr) {
  DatasetDetector detector(spec);
  detector.judgeEverySeriesEveryStep(every_series);
  detector.setParallelFor(std::move(parallel_for), block_series);
  // The records carry ids from makeInput's dictionary: the same names in the
  // same order give the same ids here.
  for (const char* name : {"user_id", "amount", "region"}) detector.fields().intern(name);
  SeriesStore stores[2] = {SeriesStore(spec), SeriesStore(spec)};
  const SeriesStore* views[] = {&stores[0], &stores[1]};
  std::vector<FailureEvent> events;
  std::vector<std::string> out;
  Timestamp rebuild_from = Timestamp::min();
  const auto advance = [&](Timestamp watermark) {
    events.clear();
    detector.advanceTo(watermark, views, events);
    for (const FailureEvent& e : events) out.push_back(e.toJson());
    if (detector.rebuildFrom() != rebuild_from) {
      rebuild_from = detector.rebuildFrom();
      out.push_back("rebuild_from " + std::to_string(toMillis(rebuild_from)));
    }
  };
  Timestamp newest[2] = {Timestamp::min(), Timestamp::min()};
  for (const Record& r : input) {
    Observation obs;
    obs.series = r.series;
    obs.event_time = r.time;
    obs.latency_seconds = r.latency;
    obs.null_mask = r.null_mask;
    obs.fields = r.fields;
    const Timestamp watermark = std::min(newest[0], newest[1]);
    if (watermark != Timestamp::min() && detector.isLate(r.time, watermark)) continue;
    stores[r.partition].add(obs);
    newest[r.partition] = std::max(newest[r.partition], r.time);
    advance(std::min(newest[0], newest[1]));
    for (const std::string& key : detector.takeEvicted()) {
      for (SeriesStore& s : stores) s.evict(key);
      out.push_back("evicted " + key);
      if (evictions != nullptr) ++*evictions;
    }
  }
  advance(input.back().time + std::chrono::hours(3));
  return out;
}

// Runs the blocks on two threads, each taking every other block from the
// last: blocks finish in no fixed order. Counts the blocks run.
DatasetDetector::ParallelFor scrambled(std::size_t& blocks) {
  return [&blocks](std::size_t n, const std::function<void(std::size_t)>& body) {
    std::thread odd([&] {
      for (std::size_t i = n; i-- > 0;) {
        if (i % 2 == 1) body(i);
      }
    });
    for (std::size_t i = n; i-- > 0;) {
      if (i % 2 == 0) body(i);
    }
    odd.join();
    blocks += n;
  };
}

class ScheduleTest : public ::testing::TestWithParam<std::uint32_t> {};

TEST_P(ScheduleTest, SameEventsAsJudgingEverySeriesEveryStep) {
  for (const auto& [for_duration, keep] :
       {std::pair{seconds(0), seconds(0)}, std::pair{seconds(30), seconds(20)}}) {
    const DatasetSpec spec = everyCheck(for_duration, keep);
    FieldDictionary dictionary;
    const std::vector<Record> input = makeInput(GetParam(), dictionary);
    const auto scheduled = run(spec, input, false);
    const auto reference = run(spec, input, true);
    // The input must exercise every check, firing and resolving.
    for (const char* type : {"latency_spike", "stale_data", "volume_drop", "null_spike",
                             "schema_drift"}) {
      for (const char* status : {"\"firing\"", "\"resolved\""}) {
        const auto has = [&](const std::string& e) {
          return e.find(type) != std::string::npos && e.find(status) != std::string::npos;
        };
        EXPECT_TRUE(std::any_of(reference.begin(), reference.end(), has)) << type << " " << status;
      }
    }
    ASSERT_EQ(scheduled.size(), reference.size());
    for (std::size_t i = 0; i < reference.size(); ++i) {
      ASSERT_EQ(scheduled[i], reference[i]) << "event " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, ScheduleTest, ::testing::Values(1u, 2u, 3u));

// Series judged in parallel blocks of two (here a step end of eight due
// series or more is judged in blocks) give the events and rebuild bounds of
// series judged one by one: first judgements and evictions left to the
// calling thread, the rest applied block by block.
class ParallelJudgingTest : public ::testing::TestWithParam<std::uint32_t> {};

TEST_P(ParallelJudgingTest, SameEventsAsJudgingOneByOne) {
  // Without freshness and a volume minimum a silent series is not firing, and gets evicted.
  DatasetSpec evicting = everyCheck(seconds(0), seconds(0));
  evicting.freshness.reset();
  evicting.volume->min.reset();
  std::size_t evictions = 0;
  for (const DatasetSpec& spec :
       {everyCheck(seconds(0), seconds(0)), everyCheck(seconds(30), seconds(20)), evicting}) {
    FieldDictionary dictionary;
    std::vector<Record> input = makeInput(GetParam(), dictionary);
    // Series silent for longer than the eviction age (an hour here), then back.
    const Timestamp start = input.front().time;
    for (int s = 0; s < 4; ++s) {
      for (const int minute : {0, 100}) {
        for (int second = 0; second < 600; second += 3) {
          Record r = input[static_cast<std::size_t>(s)];
          r.series = "returns" + std::to_string(s);
          r.time = start + std::chrono::minutes(minute) + seconds(second + s);
          r.partition = (second / 3 + s) % 2;
          input.push_back(std::move(r));
        }
      }
    }
    std::stable_sort(input.begin(), input.end(),
                     [](const Record& x, const Record& y) { return x.time < y.time; });
    const auto one_by_one = run(spec, input, false, {}, DatasetDetector::kBlockSeries, &evictions);
    std::size_t blocks = 0;
    const auto parallel = run(spec, input, false, scrambled(blocks), 2);
    EXPECT_GT(blocks, 1000u) << "most step ends must be judged in blocks";
    ASSERT_GT(one_by_one.size(), 100u);
    ASSERT_EQ(parallel.size(), one_by_one.size());
    for (std::size_t i = 0; i < one_by_one.size(); ++i) {
      ASSERT_EQ(parallel[i], one_by_one[i]) << "event " << i;
    }
  }
  EXPECT_GT(evictions, 0u) << "the input must evict series";
}

INSTANTIATE_TEST_SUITE_P(Seeds, ParallelJudgingTest, ::testing::Values(1u, 2u, 3u));

// At the default block size (64 series, four blocks at least), a step end's
// 400 series judged in parallel blocks (here: in reverse order, two halves on
// two threads) give the events of series judged one by one.
TEST(ParallelBlocksTest, DefaultBlocksChangeNoEvent) {
  DatasetSpec spec = everyCheck(seconds(0), seconds(0));
  spec.schema.reset();
  std::mt19937 rng(4);
  std::vector<Record> input;
  const Timestamp start = timestampFromMillis(1'736'950'000'000);
  for (int ms = 0; ms < 20 * 60 * 1000; ms += 2) {
    Record r;
    const int s = static_cast<int>(rng() % 400);
    r.series = "s" + std::to_string(s);
    r.time = start + milliseconds(ms);
    r.latency = (s % 7 == 0 && ms > 600'000) ? 3.0 : 0.1 + (rng() % 100) / 1000.0;
    r.null_mask = s % 11 == 0 && ms > 900'000 ? 1u : 0u;
    r.partition = s % 2;
    input.push_back(std::move(r));
  }
  const auto reference = run(spec, input, false);
  const auto parallel = run(spec, input, false, [](std::size_t n, const auto& body) {
    std::thread upper([&] {
      for (std::size_t i = n; i-- > n / 2;) body(i);
    });
    for (std::size_t i = n / 2; i-- > 0;) body(i);
    upper.join();
  });
  ASSERT_GT(reference.size(), 100u);
  EXPECT_EQ(parallel, reference);
}

// A key seen first on the third store, then on the first, then on the
// second (listed one by one between step ends, so each joins its group at
// another place) merges its stores in store order, as a detector that lists
// every series afresh does. Volumes chosen so that only that order sums the
// window to 0 (1e16 + 1 rounds to 1e16): the volume_drop below fires only then.
// Then the key is evicted from every store, comes back on one, and is judged
// again (its group listed afresh).
TEST(ScheduleGroupsTest, StoresMergeInStoreOrderWhicheverSawTheKeyFirst) {
  DatasetSpec spec = testing::baseSpec();
  spec.volume = VolumeSpec{"rows", 0.5, std::nullopt, std::nullopt};
  const Timestamp t0 = timestampFromMillis(1'736'950'000'000);  // a step end
  struct Add {
    int store;
    std::string series;
    int second;
    double volume;
  };
  const std::vector<Add> adds = {
      {2, "k", 1, -1e16}, {0, "other", 2, 1}, {0, "k", 16, 1e16}, {1, "k", 26, 1},
      {2, "k", 27, -1e16}, {1, "other", 40, 1},
      // Silent for over an hour: "k" is evicted (and "other"), then returns on store 1.
      {1, "k", 2 * 3600, 5}, {1, "k", 2 * 3600 + 30, 5}, {1, "k", 2 * 3600 + 65, 5}};
  const auto run = [&](bool every_series) {
    DatasetDetector detector(spec);
    detector.judgeEverySeriesEveryStep(every_series);
    SeriesStore stores[3] = {SeriesStore(spec), SeriesStore(spec), SeriesStore(spec)};
    const SeriesStore* views[] = {&stores[0], &stores[1], &stores[2]};
    std::vector<FailureEvent> events;
    for (const Add& a : adds) {
      Observation obs;
      obs.series = a.series;
      obs.event_time = t0 + seconds(a.second);
      obs.volume = a.volume;
      detector.advanceTo(obs.event_time, views, events);  // lists what the stores hold so far
      for (const std::string& key : detector.takeEvicted()) {
        for (SeriesStore& s : stores) s.evict(key);
      }
      stores[a.store].add(obs);
    }
    detector.advanceTo(t0 + seconds(2 * 3600 + 200), views, events);
    return events;
  };
  const std::vector<FailureEvent> scheduled = run(false);
  const std::vector<FailureEvent> reference = run(true);
  const auto drop_at_zero = [&](const FailureEvent& e) {
    return e.failure_type == FailureType::kVolumeDrop && e.status == EventStatus::kFiring &&
           e.pipeline_id == "k" && e.actual_value == 0;
  };
  EXPECT_TRUE(std::any_of(reference.begin(), reference.end(), drop_at_zero));
  EXPECT_TRUE(std::any_of(scheduled.begin(), scheduled.end(), drop_at_zero));
  const auto after_return = [&](const FailureEvent& e) {
    return e.pipeline_id == "k" && e.timestamp > t0 + seconds(2 * 3600);
  };
  EXPECT_TRUE(std::any_of(scheduled.begin(), scheduled.end(), after_return))
      << "the returning key is judged again";
  ASSERT_EQ(scheduled.size(), reference.size());
  for (std::size_t i = 0; i < reference.size(); ++i) {
    EXPECT_EQ(scheduled[i].toJson(), reference[i].toJson()) << "event " << i;
  }
}

}  // namespace
}  // namespace vigil::detectors
