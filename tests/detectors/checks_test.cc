// Freshness, volume, nulls and schema through DatasetDetector, each against
// an exact computation or a hand-derived timeline.

#include <gtest/gtest.h>

#include <random>

#include "detectors/dataset_detector.h"
#include "tests/detectors/replay_harness.h"

namespace vigil::detectors {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;
using testing::baseSpec;

const Timestamp kT0 = timestampFromMillis(1'736'950'000'000);  // a multiple of 10 s

struct Rec {
  std::string series;
  Timestamp t;
  double volume = 1;
  std::uint32_t null_mask = 0;
  std::vector<FieldSeen> fields;
};

// Replays records the way `vigil replay` does and returns the events.
std::vector<FailureEvent> run(DatasetDetector& detector, const std::vector<Rec>& records,
                              Timestamp end) {
  return testing::replayThrough(
      detector, records,
      [](const Rec& r) {
        return Observation{r.series, r.t, std::nullopt, r.volume, r.null_mask, r.fields};
      },
      end);
}

// One record per second for `series` over [from, to).
std::vector<Rec> steady(const std::string& series, Duration from, Duration to) {
  std::vector<Rec> out;
  for (Duration t = from; t < to; t += seconds(1)) out.push_back({series, kT0 + t});
  return out;
}

// A series that stops goes stale at the first step end where its newest
// record is more than max_age old, and resolves at the first step end after
// it is back; the values are the age in seconds.
TEST(FreshnessCheckTest, StaleAfterMaxAgeAndBackWhenDataReturns) {
  DatasetSpec spec = baseSpec();
  spec.freshness = FreshnessSpec{seconds(30)};
  DatasetDetector detector(spec);
  auto records = steady("a", seconds(0), seconds(100));   // newest at 99 s
  auto more = steady("a", seconds(200), seconds(300));    // back at 200 s
  records.insert(records.end(), more.begin(), more.end());
  const auto events = run(detector, records, kT0 + seconds(300));
  ASSERT_EQ(events.size(), 2u);
  // Step ends at 10 s multiples: age at 130 s is 31 s > 30 s (at 120 s it is 21 s).
  EXPECT_EQ(events[0].status, EventStatus::kFiring);
  EXPECT_EQ(events[0].failure_type, FailureType::kStaleData);
  EXPECT_EQ(events[0].timestamp, kT0 + seconds(130));
  EXPECT_DOUBLE_EQ(events[0].actual_value, 31.0);
  EXPECT_DOUBLE_EQ(events[0].threshold, 30.0);
  EXPECT_EQ(events[0].metric, "freshness_seconds");
  // The record at 200 s is evaluated first at the step end 210 s.
  EXPECT_EQ(events[1].status, EventStatus::kResolved);
  EXPECT_EQ(events[1].timestamp, kT0 + seconds(210));
  EXPECT_DOUBLE_EQ(events[1].actual_value, 1.0);
}

// In detect, freshness is judged on the clock between records, to the millisecond.
TEST(FreshnessCheckTest, OnTheClockFiresAsSoonAsMaxAgePasses) {
  DatasetSpec spec = baseSpec();
  spec.freshness = FreshnessSpec{seconds(30)};
  DatasetDetector detector(spec, DatasetDetector::FreshnessMode::kOnClock);
  SeriesStore store(spec);
  store.add(Observation{"a", kT0 + seconds(5)});
  const SeriesStore* stores[] = {&store};
  std::vector<FailureEvent> events;
  detector.evaluateFreshness(kT0 + seconds(35), stores, events);  // age exactly 30 s: fresh
  EXPECT_TRUE(events.empty());
  detector.evaluateFreshness(kT0 + seconds(35) + Duration{1}, stores, events);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].timestamp, kT0 + seconds(35) + Duration{1});
  // Step-end evaluation leaves freshness alone in this mode.
  detector.advanceTo(kT0 + seconds(200), stores, events);
  EXPECT_EQ(events.size(), 1u);
}

// A series never seen is never stale; only series with records are judged.
TEST(FreshnessCheckTest, UnseenSeriesIsNotStale) {
  DatasetSpec spec = baseSpec();
  spec.freshness = FreshnessSpec{seconds(30)};
  DatasetDetector detector(spec);
  const auto events = run(detector, steady("a", seconds(0), seconds(300)), kT0 + seconds(300));
  EXPECT_TRUE(events.empty());
}

// The window volume is exactly the number of records (or the count_field
// sum) in [E - window, E); below min is a drop, above max a spike.
TEST(VolumeCheckTest, DropAndSpikeMatchExactWindowCounts) {
  DatasetSpec spec = baseSpec();
  spec.volume = VolumeSpec{std::nullopt, 40.0, 80.0};
  DatasetDetector detector(spec);
  std::vector<Rec> records;
  // 1/s, then 0.5/s (30 per window: drop), then 1/s, then 2/s (120: spike), then 1/s.
  auto add = [&](Duration from, Duration to, Duration every) {
    for (Duration t = from; t < to; t += every) records.push_back({"a", kT0 + t});
  };
  add(seconds(0), seconds(120), seconds(1));
  add(seconds(120), seconds(240), seconds(2));
  add(seconds(240), seconds(360), seconds(1));
  add(seconds(360), seconds(480), Duration{500});
  add(seconds(480), seconds(600), seconds(1));
  const auto events = run(detector, records, kT0 + seconds(600));

  std::vector<std::pair<FailureType, EventStatus>> kinds;
  for (const auto& e : events) {
    kinds.emplace_back(e.failure_type, e.status);
    double exact = 0;
    for (const Rec& r : records) exact += r.t >= e.window_start && r.t < e.window_end;
    EXPECT_DOUBLE_EQ(e.actual_value, exact) << formatRfc3339(e.timestamp);
    EXPECT_EQ(e.metric, "row_count");
  }
  const std::vector<std::pair<FailureType, EventStatus>> expected = {
      {FailureType::kVolumeDrop, EventStatus::kFiring},
      {FailureType::kVolumeDrop, EventStatus::kResolved},
      {FailureType::kVolumeSpike, EventStatus::kFiring},
      {FailureType::kVolumeSpike, EventStatus::kResolved}};
  EXPECT_EQ(kinds, expected);
}

// With count_field the window volume is the sum of the field, not the record count.
TEST(VolumeCheckTest, CountFieldIsSummed) {
  DatasetSpec spec = baseSpec();
  spec.volume = VolumeSpec{"rows", 1000.0, std::nullopt};
  DatasetDetector detector(spec);
  std::vector<Rec> records;
  for (int i = 0; i < 300; ++i) records.push_back({"a", kT0 + seconds(i), i < 150 ? 20.0 : 10.0});
  const auto events = run(detector, records, kT0 + seconds(300));
  ASSERT_EQ(events.size(), 1u);
  // At 180 s the window holds 30 records of 20 rows and 30 of 10: 900 < 1000
  // (at 170 s: 40 x 20 + 20 x 10 = 1000, not below).
  EXPECT_EQ(events[0].failure_type, FailureType::kVolumeDrop);
  EXPECT_EQ(events[0].timestamp, kT0 + seconds(180));
  EXPECT_DOUBLE_EQ(events[0].actual_value, 900.0);
}

// A feed that stops is a drop (an empty window is a volume of 0), fired once;
// a month of silence afterwards adds nothing.
TEST(VolumeCheckTest, StoppedFeedDropsOnceThenSettles) {
  DatasetSpec spec = baseSpec();
  spec.volume = VolumeSpec{std::nullopt, 10.0, std::nullopt};
  DatasetDetector detector(spec);
  const auto events =
      run(detector, steady("a", seconds(0), seconds(120)), kT0 + std::chrono::hours(24 * 30));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].status, EventStatus::kFiring);
  EXPECT_DOUBLE_EQ(events[0].actual_value, 0.0);
  EXPECT_EQ(detector.nextStepEnd(), kT0 + std::chrono::hours(24 * 30) + seconds(10));
}

// The null rate is the exact fraction of the window's records where the field
// is absent or null, per field, and the event names the field.
TEST(NullsCheckTest, RatePerFieldMatchesExactFraction) {
  DatasetSpec spec = baseSpec();
  spec.nulls = NullsSpec{{"user_id", "amount"}, 0.2, std::nullopt};
  DatasetDetector detector(spec);
  std::mt19937_64 rng(9);
  std::vector<Rec> records;
  for (int i = 0; i < 600; ++i) {
    const bool burst = i >= 200 && i < 260;
    std::uint32_t mask = 0;
    if (std::bernoulli_distribution(burst ? 0.6 : 0.02)(rng)) mask |= 1u;  // user_id
    if (std::bernoulli_distribution(0.02)(rng)) mask |= 2u;                 // amount
    records.push_back({"a", kT0 + seconds(i), 1.0, mask});
  }
  const auto events = run(detector, records, kT0 + seconds(600));
  ASSERT_EQ(events.size(), 2u);
  for (const auto& e : events) {
    EXPECT_EQ(e.failure_type, FailureType::kNullSpike);
    EXPECT_EQ(e.field, "user_id");
    double nulls = 0, total = 0;
    for (const Rec& r : records) {
      if (r.t < e.window_start || r.t >= e.window_end) continue;
      ++total;
      nulls += r.null_mask & 1u;
    }
    EXPECT_DOUBLE_EQ(e.actual_value, nulls / total);
  }
  EXPECT_EQ(events[0].status, EventStatus::kFiring);
  EXPECT_EQ(events[1].status, EventStatus::kResolved);
}

class SchemaCheckTest : public ::testing::Test {
 protected:
  SchemaCheckTest() {
    spec_ = baseSpec();
    spec_.schema = SchemaSpec{{"user_id"}, true};
  }
  // A record carrying the named fields with the given types.
  Rec rec(DatasetDetector& d, Duration t, std::vector<std::pair<std::string, std::uint8_t>> fields) {
    Rec r{"a", kT0 + t};
    for (const auto& [name, type] : fields) r.fields.push_back({*d.fields().intern(name), type});
    return r;
  }
  DatasetSpec spec_;
};

// A required field missing from every record of a step fires schema_drift
// with context.missing, and resolves when the field is back.
TEST_F(SchemaCheckTest, MissingRequiredFieldFiresAndResolves) {
  DatasetDetector d(spec_);
  std::vector<Rec> records;
  for (int i = 0; i < 300; ++i) {
    const bool gone = i >= 100 && i < 150;
    records.push_back(gone ? rec(d, seconds(i), {{"ts", kJsonString}})
                           : rec(d, seconds(i), {{"ts", kJsonString}, {"user_id", kJsonString}}));
  }
  const auto events = run(d, records, kT0 + seconds(300));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].timestamp, kT0 + seconds(110));  // the step [100, 110) lacks it
  EXPECT_EQ(events[0].missing, std::vector<std::string>{"user_id"});
  EXPECT_EQ(events[1].timestamp, kT0 + seconds(160));  // the step [150, 160) has it again
  EXPECT_TRUE(events[1].missing.empty());
}

// A new field fires with context.added; once it has been there a full window
// it joins the reference and the alert resolves while the field stays.
TEST_F(SchemaCheckTest, NewFieldFiresThenIsAccepted) {
  DatasetDetector d(spec_);
  std::vector<Rec> records;
  for (int i = 0; i < 400; ++i) {
    std::vector<std::pair<std::string, std::uint8_t>> f = {{"user_id", kJsonString}};
    if (i >= 100) f.emplace_back("discount", kJsonString);
    records.push_back(rec(d, seconds(i), f));
  }
  const auto events = run(d, records, kT0 + seconds(400));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].added, std::vector<std::string>{"discount"});
  EXPECT_EQ(events[0].timestamp, kT0 + seconds(110));
  EXPECT_EQ(events[1].status, EventStatus::kResolved);
  EXPECT_EQ(events[1].timestamp, kT0 + seconds(170));  // stable for 60 s since 110 s
}

// Without alert_on_new_fields a new field is not an alert.
TEST_F(SchemaCheckTest, NewFieldIgnoredWithoutAlertOnNewFields) {
  spec_.schema->alert_on_new_fields = false;
  DatasetDetector d(spec_);
  std::vector<Rec> records;
  for (int i = 0; i < 300; ++i) {
    std::vector<std::pair<std::string, std::uint8_t>> f = {{"user_id", kJsonString}};
    if (i >= 100) f.emplace_back("discount", kJsonString);
    records.push_back(rec(d, seconds(i), f));
  }
  EXPECT_TRUE(run(d, records, kT0 + seconds(300)).empty());
}

// A field seen with a JSON type it never had is a change; null is not.
TEST_F(SchemaCheckTest, TypeChangeFiresButNullDoesNot) {
  DatasetDetector d(spec_);
  std::vector<Rec> records;
  for (int i = 0; i < 300; ++i) {
    std::uint8_t type = kJsonNumber;
    if (i >= 100 && i < 120) type = kJsonNull;
    if (i >= 200 && i < 210) type = kJsonString;
    records.push_back(rec(d, seconds(i), {{"user_id", kJsonString}, {"amount", type}}));
  }
  const auto events = run(d, records, kT0 + seconds(300));
  ASSERT_GE(events.size(), 1u);
  EXPECT_EQ(events[0].timestamp, kT0 + seconds(210));
  EXPECT_EQ(events[0].changed, std::vector<std::string>{"amount"});
}

// With adaptive: {} and no static bound, a feed whose volume falls to a
// third is a drop against its learned baseline; the event carries the learned
// bound and the baseline, and the recovery resolves it.
TEST(VolumeCheckTest, AdaptiveFlagsADropWithoutConfiguration) {
  DatasetSpec spec = baseSpec();
  spec.volume = VolumeSpec{std::nullopt, std::nullopt, std::nullopt, AdaptiveSpec{}};
  DatasetDetector detector(spec);
  std::mt19937_64 rng(12);
  std::vector<Rec> records;
  // Poisson arrivals at 2/s for 4 h, 0.66/s for 10 min, then 2/s again for 1 h.
  auto add = [&](Duration from, Duration to, double rate) {
    std::exponential_distribution<double> gap(rate);
    for (double t = static_cast<double>(from.count()) / 1000; t < to.count() / 1000.0; t += gap(rng)) {
      records.push_back({"a", kT0 + Duration{static_cast<std::int64_t>(t * 1000)}});
    }
  };
  add(minutes(0), minutes(240), 2.0);
  add(minutes(240), minutes(250), 0.66);
  add(minutes(250), minutes(310), 2.0);
  const auto events = run(detector, records, kT0 + minutes(310));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].failure_type, FailureType::kVolumeDrop);
  EXPECT_EQ(events[0].status, EventStatus::kFiring);
  EXPECT_GE(events[0].timestamp, kT0 + minutes(240));
  EXPECT_LE(events[0].timestamp, kT0 + minutes(242));
  ASSERT_TRUE(events[0].baseline.has_value());
  EXPECT_NEAR(*events[0].baseline, 120.0, 15.0);  // 2/s over a 60 s window
  EXPECT_LT(events[0].actual_value, events[0].threshold);
  EXPECT_LT(events[0].threshold, *events[0].baseline);
  EXPECT_EQ(events[1].status, EventStatus::kResolved);
  EXPECT_GE(events[1].timestamp, kT0 + minutes(250));
}

// Adaptive latency fires on a 10x spike of p99 with no static bound.
TEST(LatencyCheckTest, AdaptiveFlagsASpikeWithoutConfiguration) {
  DatasetSpec spec = baseSpec();
  spec.latency = LatencySpec{"latency_ms", LatencyUnit::kMilliseconds, std::nullopt,
                             std::nullopt, AdaptiveSpec{}};
  DatasetDetector detector(spec);
  SeriesStore store(spec);
  const SeriesStore* stores[] = {&store};
  std::mt19937_64 rng(13);
  std::lognormal_distribution<double> normal(std::log(0.1), 0.3);
  std::vector<FailureEvent> events;
  for (int i = 0; i < 4 * 3600 * 5; ++i) {  // 5 records/s for 4 h, spiking for 5 min at 3 h
    const Timestamp t = kT0 + Duration{i * 200};
    const bool spike = i >= 3 * 3600 * 5 && i < (3 * 3600 + 300) * 5;
    detector.advanceTo(t, stores, events);
    store.add(Observation{"a", t, normal(rng) * (spike ? 10.0 : 1.0)});
  }
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].failure_type, FailureType::kLatencySpike);
  EXPECT_GE(events[0].timestamp, kT0 + std::chrono::hours(3));
  EXPECT_LE(events[0].timestamp, kT0 + std::chrono::hours(3) + seconds(20));
  EXPECT_EQ(events[0].metric, "latency_p99_seconds");
  EXPECT_EQ(events[1].status, EventStatus::kResolved);
}

// A series idle for evictAfter() with nothing firing is forgotten, while a
// stale series (firing) is kept for freshness until it comes back.
TEST(EvictionTest, IdleSeriesAreForgottenStaleOnesKept) {
  DatasetSpec spec = baseSpec();
  spec.volume = VolumeSpec{std::nullopt, std::nullopt, 1e9, std::nullopt};  // never fires
  DatasetDetector quiet(spec);
  spec.freshness = FreshnessSpec{seconds(30)};
  DatasetDetector stale(spec);
  ASSERT_EQ(quiet.evictAfter(), std::chrono::hours(1));

  for (DatasetDetector* d : {&quiet, &stale}) {
    SeriesStore store(d->spec());
    const SeriesStore* stores[] = {&store};
    std::vector<FailureEvent> events;
    // "gone" sends for 2 minutes; "busy" keeps sending for 2 hours.
    for (int i = 0; i < 7200; ++i) {
      const Timestamp t = kT0 + seconds(i);
      d->advanceTo(t, stores, events);
      for (const std::string& key : d->takeEvicted()) store.evict(key);
      store.add(Observation{"busy", t});
      if (i < 120) store.add(Observation{"gone", t});
    }
    if (d == &quiet) {
      EXPECT_EQ(store.seriesCount(), 1u) << "the idle series is evicted from the store";
      EXPECT_EQ(d->trackedSeries(), 1u);
    } else {
      EXPECT_EQ(store.seriesCount(), 2u) << "a stale series stays";
      EXPECT_EQ(d->trackedSeries(), 2u);
    }
  }
}

// Added fields are listed by name, whatever order their ids were handed out in
// (in detect that order depends on which partition saw a name first).
TEST_F(SchemaCheckTest, AddedFieldsAreListedByName) {
  DatasetDetector d(spec_);
  d.fields().intern("zeta");  // ids: zeta < alpha
  d.fields().intern("alpha");
  std::vector<Rec> records;
  for (int i = 0; i < 200; ++i) {
    std::vector<std::pair<std::string, std::uint8_t>> f = {{"user_id", kJsonString}};
    if (i >= 100) {
      f.emplace_back("zeta", kJsonString);
      f.emplace_back("alpha", kJsonString);
    }
    records.push_back(rec(d, seconds(i), f));
  }
  const auto events = run(d, records, kT0 + seconds(200));
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0].added, (std::vector<std::string>{"alpha", "zeta"}));
}

// A budget shared by the stores of a dataset's partitions caps the series of
// the whole dataset; a store that lets series go (eviction, or being dropped
// with a revoked partition) returns their places.
TEST(SeriesCapTest, BudgetCapsSeriesAcrossStores) {
  class CountingBudget : public SeriesBudget {
   public:
    bool tryOpen() override { return open < 3 ? (++open, true) : false; }
    void release(std::size_t n) override { open -= n; }
    std::size_t open = 0;
  } budget;
  DatasetSpec spec = baseSpec();
  spec.volume = VolumeSpec{std::nullopt, 1.0, std::nullopt, std::nullopt};
  SeriesStore a(spec, &budget);
  {
    SeriesStore b(spec, &budget);
    EXPECT_EQ(a.add(Observation{"s1", kT0}), SeriesStore::AddResult::kAdded);
    EXPECT_EQ(b.add(Observation{"s2", kT0}), SeriesStore::AddResult::kAdded);
    EXPECT_EQ(b.add(Observation{"s3", kT0}), SeriesStore::AddResult::kAdded);
    EXPECT_EQ(a.add(Observation{"s4", kT0}), SeriesStore::AddResult::kSeriesCap);
    EXPECT_EQ(a.add(Observation{"s1", kT0 + seconds(1)}), SeriesStore::AddResult::kAdded);
    a.evict("s1");
    EXPECT_EQ(budget.open, 2u);
  }
  EXPECT_EQ(budget.open, 0u);  // b was dropped with its two series
  EXPECT_EQ(a.add(Observation{"s4", kT0}), SeriesStore::AddResult::kAdded);
}

}  // namespace
}  // namespace vigil::detectors
