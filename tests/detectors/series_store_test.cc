#include "detectors/series_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <vector>

#include "tests/detectors/replay_harness.h"

namespace vigil::detectors {
namespace {

using std::chrono::seconds;

const Timestamp kT0 = timestampFromMillis(1'736'950'000'000);  // a multiple of 10 s

struct Rec {
  Timestamp t;
  double latency_s;
  std::uint32_t null_mask;
};

double exactQuantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1))];
}

// The window totals a series keeps by sliding (add the step that enters,
// subtract the one that leaves, add late records in place) equal an exact
// recount of the records received so far, at every step end, with records
// arriving out of order within the allowed lateness.
TEST(SeriesStoreTest, SlidingTotalsEqualExactRecountWithLateRecords) {
  DatasetSpec spec = testing::baseSpec();
  spec.allowed_lateness = seconds(25);
  spec.nulls = NullsSpec{{"user_id", "amount"}, 0.5, std::nullopt};
  SeriesStore store(spec);

  // 4 records/s for 15 minutes; each displaced by up to 25 s, so many land in
  // a step whose window was already totalled.
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> latency(std::log(0.2), 0.8);
  std::uniform_int_distribution<int> displacement(0, 25'000);
  std::vector<std::pair<Timestamp, Rec>> arrivals;  // (arrival order key, record)
  for (int i = 0; i < 15 * 60 * 4; ++i) {
    const Timestamp t = kT0 + Duration{i * 250};
    const auto mask = static_cast<std::uint32_t>(rng() & 3u);
    arrivals.push_back({t + Duration{displacement(rng)}, Rec{t, latency(rng), mask}});
  }
  std::stable_sort(arrivals.begin(), arrivals.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });

  std::vector<Rec> received;
  Timestamp next_end = kT0 + spec.window;
  Timestamp watermark = Timestamp::min();
  int checked = 0;
  int late_into_totals = 0;
  const auto check = [&](Timestamp end) {
    const SeriesStore::Series* series = nullptr;
    store.forEachSeries([&](std::string_view, const SeriesStore::Series& s) { series = &s; });
    ASSERT_NE(series, nullptr);
    const SeriesStore::WindowTotals& w = series->windowAt(end, spec.window, spec.step);
    std::vector<double> values;
    std::uint32_t nulls[2] = {0, 0};
    for (const Rec& r : received) {
      if (r.t < end - spec.window || r.t >= end) continue;
      values.push_back(r.latency_s);
      nulls[0] += r.null_mask & 1u;
      nulls[1] += (r.null_mask >> 1) & 1u;
    }
    ASSERT_EQ(w.records, values.size()) << "at " << (end - kT0).count() << " ms";
    ASSERT_EQ(w.latency.count(), values.size());
    ASSERT_EQ(w.nulls.size(), 2u);
    EXPECT_EQ(w.nulls[0], nulls[0]);
    EXPECT_EQ(w.nulls[1], nulls[1]);
    if (values.empty()) return;
    EXPECT_DOUBLE_EQ(w.latency.min(), *std::min_element(values.begin(), values.end()));
    EXPECT_DOUBLE_EQ(w.latency.max(), *std::max_element(values.begin(), values.end()));
    const double p99 = exactQuantile(values, 0.99);
    EXPECT_NEAR(w.latency.quantile(0.99), p99, p99 * 0.01);
    ++checked;
  };
  for (const auto& [arrival, r] : arrivals) {
    watermark = std::max(watermark, r.t);
    while (next_end <= watermark) {
      check(next_end);
      next_end += spec.step;
    }
    ASSERT_EQ(store.add(Observation{"etl_1", r.t, r.latency_s, 1, r.null_mask}),
              SeriesStore::AddResult::kAdded);
    received.push_back(r);
    late_into_totals += r.t < next_end - spec.step;
  }
  check(next_end);
  EXPECT_GT(checked, 80);
  EXPECT_GT(late_into_totals, 1000) << "the test must exercise late records";
}

// A sparse series' window moved over many steps at once (its few held steps
// visited, not every step passed) totals what the same window moved one step
// at a time does, for windows that are a multiple of the step and not.
TEST(SeriesStoreTest, SparseWindowMovedManyStepsEqualsOneStepAtATime) {
  for (const Duration window : {Duration{std::chrono::minutes(5)}, Duration{seconds(295)}}) {
    DatasetSpec spec = testing::baseSpec();
    spec.window = window;
    spec.nulls = NullsSpec{{"user_id"}, 0.5, std::nullopt};
    // Room for 14 steps more than the window: a window judged up to 14 steps
    // late still finds the steps that leave it (the detector judges a series
    // before then, when its oldest step with records leaves).
    spec.allowed_lateness = seconds(120);
    SeriesStore each_step(spec);
    SeriesStore strides(spec);
    std::mt19937_64 rng(11);
    std::lognormal_distribution<double> latency(std::log(0.2), 0.8);
    const auto only = [](const SeriesStore& store) {
      const SeriesStore::Series* series = nullptr;
      store.forEachSeries([&](std::string_view, const SeriesStore::Series& s) { series = &s; });
      return series;
    };
    Timestamp t = kT0;
    Timestamp next_end = kT0 + spec.step;
    Timestamp strides_due = next_end;
    int compared = 0;
    int moved_over_held = 0;  // moves that visit the held steps, not the steps passed
    Timestamp strides_end = Timestamp::min();
    for (SeriesStore* store : {&each_step, &strides}) store->add(Observation{"etl_1", t, 0.1});
    for (int i = 0; i < 6000; ++i) {
      // Sparse: a record every 0 to 150 s, now and then several in a step.
      t += Duration{rng() % 4 == 0 ? static_cast<std::int64_t>(rng() % 3000)
                                   : static_cast<std::int64_t>(rng() % 200'000)};
      for (; next_end <= t; next_end += spec.step) {
        const auto& a = only(each_step)->windowAt(next_end, spec.window, spec.step);
        if (next_end != strides_due) continue;
        const auto& ring = only(strides)->ring;
        const bool moved_before = strides_end != Timestamp::min();
        const std::int64_t moved = moved_before ? (next_end - strides_end) / spec.step : 0;
        moved_over_held += moved_before && ring.fewHeld() &&
                           moved * 2 <= spec.window / spec.step &&
                           ring.pooled() < static_cast<std::size_t>(moved);
        const auto& b = only(strides)->windowAt(next_end, spec.window, spec.step);
        strides_end = next_end;
        strides_due += spec.step * static_cast<std::int64_t>(1 + rng() % 14);
        ASSERT_EQ(b.records, a.records) << i;
        ASSERT_EQ(b.nulls, a.nulls) << i;
        ASSERT_EQ(b.latency.count(), a.latency.count()) << i;
        if (a.latency.empty()) continue;
        EXPECT_EQ(b.latency.min(), a.latency.min()) << i;
        EXPECT_EQ(b.latency.max(), a.latency.max()) << i;
        for (const double q : {0.0, 0.5, 0.95, 0.99, 1.0}) {
          EXPECT_EQ(b.latency.quantile(q), a.latency.quantile(q)) << i << " q " << q;
        }
        ++compared;
      }
      if (strides_due < next_end) strides_due = next_end;
      const Observation obs{"etl_1", t, latency(rng), 1, static_cast<std::uint32_t>(rng() & 1u)};
      ASSERT_EQ(each_step.add(obs), SeriesStore::AddResult::kAdded);
      ASSERT_EQ(strides.add(obs), SeriesStore::AddResult::kAdded);
    }
    EXPECT_GT(compared, 1000);
    EXPECT_GT(moved_over_held, 50);
  }
}

// A window holds one record shape until another shape arrives; from then on
// it is mixed until every step that may hold the old shape has left it, and
// a late record of an old shape makes it mixed again.
TEST(SeriesStoreTest, OneShapeOnlyWhileEveryStepHoldsIt) {
  DatasetSpec spec = testing::baseSpec();  // window 60 s, step 10 s
  spec.schema = SchemaSpec{{}, true};
  SeriesStore store(spec);
  const FieldSeen a[] = {{0, kJsonString}};
  const FieldSeen b[] = {{0, kJsonString}, {1, kJsonNumber}};
  const auto add = [&](int second, std::span<const FieldSeen> fields) {
    Observation obs{"etl_1", kT0 + seconds(second), std::nullopt};
    obs.fields = fields;
    ASSERT_EQ(store.add(obs), SeriesStore::AddResult::kAdded);
  };
  const auto oneShape = [&](int end_second) {
    bool one = false;
    store.forEachSeries([&](std::string_view, const SeriesStore::Series& s) {
      one = s.oneShape(kT0 + seconds(end_second), spec.window);
    });
    return one;
  };
  for (int i = 0; i < 100; ++i) add(i, a);
  EXPECT_TRUE(oneShape(100));
  add(100, b);
  EXPECT_FALSE(oneShape(110));  // [50, 110) holds both
  EXPECT_TRUE(oneShape(160));   // [100, 160): only b so far
  for (int i = 101; i < 200; ++i) add(i, b);
  EXPECT_TRUE(oneShape(170));
  add(185, a);  // a late record of the old shape, placed in [180, 190)
  EXPECT_FALSE(oneShape(200));
  EXPECT_FALSE(oneShape(240));  // [180, 240) holds it
  EXPECT_TRUE(oneShape(260));   // every step since the newest one then (190) has left
  EXPECT_EQ(store.shapes().size(), 2u);
}

TEST(FieldShapesTest, SameListSameIdAndSetsAreSorted) {
  FieldShapes shapes;
  const FieldSeen x[] = {{5, kJsonString}, {2, kJsonNumber}};
  const FieldSeen y[] = {{5, kJsonString}, {2, kJsonString}};
  const auto ix = shapes.intern(x);
  const auto iy = shapes.intern(y);
  EXPECT_NE(ix, iy);
  EXPECT_EQ(shapes.intern(x), ix);
  EXPECT_EQ(shapes.intern(y), iy);
  ASSERT_EQ(shapes.fields(ix).fields().size(), 2u);
  EXPECT_EQ(shapes.fields(ix).fields()[0].id, 2);
  EXPECT_EQ(shapes.fields(ix).types(2), kJsonNumber);
  EXPECT_EQ(shapes.intern({}), 2u);  // no fields at all is a shape too
}

// A token vouches for the fields it comes with: the same token as the last call answers the last
// id, another one is looked up (tokens of different lists interleave correctly).
TEST(FieldShapesTest, TokensAnswerWithoutComparing) {
  FieldShapes shapes;
  const FieldSeen x[] = {{5, kJsonString}, {2, kJsonNumber}};
  const FieldSeen y[] = {{5, kJsonString}, {2, kJsonString}};
  const auto ix = shapes.intern(x, 100);
  const auto iy = shapes.intern(y, 200);
  EXPECT_NE(ix, iy);
  EXPECT_EQ(shapes.intern(y, 200), iy);
  EXPECT_EQ(shapes.intern(x, 100), ix);
  EXPECT_EQ(shapes.intern(x, 100), ix);
  EXPECT_EQ(shapes.intern(y, 0), iy);    // no token: compared
  EXPECT_EQ(shapes.intern(x, 200), ix);  // a token not of the last list: compared
  // The token is trusted: an equal token is answered without looking at the list.
  EXPECT_EQ(shapes.intern(y, 200), ix);
  EXPECT_EQ(shapes.size(), 2u);
}

TEST(FieldSetTest, MergeIsTheUnionOfIdsAndTypes) {
  // Against a plain map, over random sets: subsets (the fast path), new ids in
  // front, between and behind, and new types on known ids.
  std::mt19937 rng(7);
  for (int round = 0; round < 2000; ++round) {
    FieldSet a, b;
    std::map<FieldId, std::uint8_t> expected;
    const auto fill = [&](FieldSet& set, int n, int max_id) {
      for (int i = 0; i < n; ++i) {
        const FieldSeen f{static_cast<FieldId>(rng() % max_id),
                          static_cast<std::uint8_t>(1u << (rng() % 6))};
        set.add(f);
        expected[f.id] |= f.types;
      }
    };
    fill(a, static_cast<int>(rng() % 8), 12);
    fill(b, static_cast<int>(rng() % 8), round % 2 == 0 ? 12 : 4);
    a.merge(b);
    std::vector<std::pair<FieldId, std::uint8_t>> got;
    for (const FieldSeen& f : a.fields()) got.emplace_back(f.id, f.types);
    const std::vector<std::pair<FieldId, std::uint8_t>> want(expected.begin(), expected.end());
    ASSERT_EQ(got, want) << "round " << round;
  }
}

TEST(FieldShapesTest, FullTableAnswersUnshaped) {
  FieldShapes shapes;
  for (std::size_t i = 0; i < FieldShapes::kMaxShapes; ++i) {
    const FieldSeen f[] = {{static_cast<FieldId>(i % 1000), kJsonNumber},
                           {static_cast<FieldId>(i / 1000), kJsonString}};
    ASSERT_NE(shapes.intern(f), FieldShapes::kUnshaped);
  }
  const FieldSeen extra[] = {{7, kJsonBool}};
  EXPECT_EQ(shapes.intern(extra), FieldShapes::kUnshaped);
  EXPECT_EQ(shapes.size(), FieldShapes::kMaxShapes);
}

}  // namespace
}  // namespace vigil::detectors
