// Checkpointing a baseline: the byte codec, the P-square estimator that
// replaced Boost's accumulator so the tail could be saved, and
// AdaptiveBaseline::save/restore (exact resumption, refusal of bad data).

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <boost/accumulators/accumulators.hpp>
#include <boost/accumulators/statistics/p_square_quantile.hpp>
#include <boost/accumulators/statistics/stats.hpp>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "detectors/baseline.h"
#include "detectors/state_codec.h"

namespace vigil::detectors {
namespace {

using std::chrono::hours;
using std::chrono::minutes;

// Monday 2025-01-13 00:00 UTC.
const Timestamp kMonday = timestampFromMillis(1'736'726'400'000);

// ---------------------------------------------------------------- StateCodec

TEST(StateCodecTest, RoundTripsEveryType) {
  const float nan_payload = std::bit_cast<float>(std::uint32_t{0x7fc12345});
  std::string blob;
  StateWriter w(blob);
  w.u8(0);
  w.u8(255);
  w.u32(0xdeadbeef);
  w.u64(0x0123456789abcdefULL);
  w.i64(std::numeric_limits<std::int64_t>::min());
  w.i64(-1);
  w.f32(nan_payload);
  w.f32(-0.0f);
  w.f32(std::numeric_limits<float>::denorm_min());
  w.f64(std::numeric_limits<double>::infinity());
  w.f64(-std::numeric_limits<double>::max());
  w.f64(0.1);
  w.str("");
  w.str(std::string_view("a\0b", 3));
  EXPECT_EQ(blob.size(), 1 + 1 + 4 + 8 + 8 + 8 + 4 + 4 + 4 + 8 + 8 + 8 + 4 + 7u);

  StateReader r(blob);
  EXPECT_EQ(r.u8(), 0);
  EXPECT_EQ(r.u8(), 255);
  EXPECT_EQ(r.u32(), 0xdeadbeefu);
  EXPECT_EQ(r.u64(), 0x0123456789abcdefULL);
  EXPECT_EQ(r.i64(), std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(r.i64(), -1);
  EXPECT_EQ(std::bit_cast<std::uint32_t>(r.f32()), 0x7fc12345u);  // NaN payload kept
  EXPECT_EQ(std::bit_cast<std::uint32_t>(r.f32()), std::bit_cast<std::uint32_t>(-0.0f));
  EXPECT_EQ(r.f32(), std::numeric_limits<float>::denorm_min());
  EXPECT_EQ(r.f64(), std::numeric_limits<double>::infinity());
  EXPECT_EQ(r.f64(), -std::numeric_limits<double>::max());
  EXPECT_EQ(r.f64(), 0.1);
  EXPECT_EQ(r.str(), "");
  EXPECT_EQ(r.str(), std::string_view("a\0b", 3));
  EXPECT_FALSE(r.failed());
  EXPECT_TRUE(r.done());
}

// The byte order is little-endian whatever the host's.
TEST(StateCodecTest, IsLittleEndian) {
  std::string blob;
  StateWriter w(blob);
  w.u32(0x04030201);
  w.i64(-2);
  w.f64(1.0);  // 0x3ff0000000000000
  EXPECT_EQ(blob, std::string("\x01\x02\x03\x04"
                              "\xfe\xff\xff\xff\xff\xff\xff\xff"
                              "\x00\x00\x00\x00\x00\x00\xf0\x3f",
                              20));
}

// A short read returns 0 and fails for good: later reads fail even where
// bytes remain, and done() is false.
TEST(StateCodecTest, ShortReadsFailAndStayFailed) {
  const std::string three("\x01\x02\x03", 3);
  auto reads = std::vector<std::function<bool(StateReader&)>>{
      [](StateReader& r) { return r.u32() == 0; },
      [](StateReader& r) { return r.u64() == 0; },
      [](StateReader& r) { return r.i64() == 0; },
      [](StateReader& r) { return r.f32() == 0; },
      [](StateReader& r) { return r.f64() == 0; },
      [](StateReader& r) { return r.str().empty(); },  // not even its length is there
  };
  for (std::size_t i = 0; i < reads.size(); ++i) {
    SCOPED_TRACE(i);
    StateReader r(three);
    EXPECT_TRUE(reads[i](r));
    EXPECT_TRUE(r.failed());
    EXPECT_FALSE(r.done());
    EXPECT_EQ(r.remaining(), 0u);
    EXPECT_EQ(r.u8(), 0);  // sticky, though bytes remain
  }

  // A string whose length is there but whose bytes are not.
  StateReader cut(std::string_view("\x05\x00\x00\x00ab", 6));
  EXPECT_TRUE(cut.str().empty());
  EXPECT_TRUE(cut.failed());

  StateReader empty("");
  EXPECT_TRUE(empty.done());
  EXPECT_EQ(empty.u8(), 0);
  EXPECT_TRUE(empty.failed());

  StateReader ok(three);
  EXPECT_EQ(ok.u8(), 1);
  EXPECT_FALSE(ok.done());  // bytes left over
  ok.fail();
  EXPECT_TRUE(ok.failed());
  EXPECT_EQ(ok.u8(), 0);
}

// ---------------------------------------------------------- PSquareQuantile

// Every estimate, after every value, is Boost's p_square_quantile: the
// replacement keeps the baseline's bounds where they were.
TEST(PSquareQuantileTest, MatchesBoostAccumulator) {
  namespace acc = boost::accumulators;
  std::mt19937_64 rng(20250113);
  std::normal_distribution<double> normal(10.0, 3.0);
  std::exponential_distribution<double> exponential(0.5);
  std::lognormal_distribution<double> lognormal(0.0, 1.5);
  std::cauchy_distribution<double> cauchy(0.0, 1.0);
  std::uniform_int_distribution<int> ties(0, 5);  // many equal values
  std::student_t_distribution<double> heavy(1.5);
  const std::vector<std::pair<const char*, std::function<double()>>> distributions = {
      {"normal", [&] { return normal(rng); }},
      {"exponential", [&] { return exponential(rng); }},
      {"lognormal", [&] { return lognormal(rng); }},
      {"cauchy", [&] { return cauchy(rng); }},
      {"ties", [&] { return static_cast<double>(ties(rng)); }},
      {"abs student-t", [&] { return std::abs(heavy(rng)); }},
      {"rising", [i = 0]() mutable { return 1e-3 * i++; }},
  };
  for (const double p : {0.99, 0.5, 0.9, 0.01}) {
    for (const auto& [name, draw] : distributions) {
      SCOPED_TRACE(std::string(name) + " p=" + std::to_string(p));
      acc::accumulator_set<double, acc::stats<acc::tag::p_square_quantile>> boost_tail(
          acc::quantile_probability = p);
      PSquareQuantile ours(p);
      int mismatches = 0;
      for (int i = 0; i < 10'000; ++i) {
        const double x = draw();
        boost_tail(x);
        ours.add(x);
        const double expected = acc::p_square_quantile(boost_tail);
        const double tolerance = 1e-9 * std::max(1.0, std::abs(expected));
        if (std::abs(ours.estimate() - expected) > tolerance && ++mismatches <= 3) {
          ADD_FAILURE() << "value " << i << ": " << ours.estimate() << " vs Boost " << expected;
        }
      }
      EXPECT_EQ(mismatches, 0);
      EXPECT_EQ(ours.count(), 10'000u);
    }
  }
}

// Boost's answer before five values: the third value seen, 0 before that.
TEST(PSquareQuantileTest, BeforeFiveValuesAnswersLikeBoost) {
  PSquareQuantile q(0.99);
  EXPECT_EQ(q.estimate(), 0.0);
  q.add(7);
  q.add(3);
  EXPECT_EQ(q.estimate(), 0.0);
  q.add(5);
  EXPECT_EQ(q.estimate(), 5.0);
  q.add(1);
  EXPECT_EQ(q.estimate(), 5.0);
  q.add(9);  // sorted now: 1 3 5 7 9
  EXPECT_EQ(q.estimate(), 5.0);
}

std::string saved(const PSquareQuantile& q) {
  std::string blob;
  StateWriter w(blob);
  q.save(w);
  return blob;
}

TEST(PSquareQuantileTest, SavesAndRestoresExactly) {
  std::mt19937_64 rng(3);
  std::exponential_distribution<double> draw(1.0);
  for (int n : {0, 2, 5, 6, 1000}) {
    SCOPED_TRACE(n);
    PSquareQuantile a(0.99);
    for (int i = 0; i < n; ++i) a.add(draw(rng));
    const std::string blob = saved(a);
    PSquareQuantile b(0.99);
    StateReader r(blob);
    ASSERT_TRUE(b.restore(r));
    EXPECT_TRUE(r.done());
    for (int i = 0; i < 500; ++i) {
      const double x = draw(rng);
      a.add(x);
      b.add(x);
      ASSERT_EQ(a.estimate(), b.estimate()) << i;
    }
    EXPECT_EQ(saved(a), saved(b));

    // A state saved for another quantile is not this one's.
    PSquareQuantile other(0.5);
    StateReader r2(blob);
    EXPECT_FALSE(other.restore(r2));
    EXPECT_TRUE(r2.failed());
    EXPECT_EQ(saved(other), saved(PSquareQuantile(0.5)));
  }
}

// ---------------------------------------------------------- AdaptiveBaseline

std::string saved(const AdaptiveBaseline& b) {
  std::string blob;
  StateWriter w(blob);
  b.save(w);
  return blob;
}

// A seasonal, noisy series with incidents: `shift` (in the model scale) added
// to the values [begin, end). Some are short (held in quarantine, then
// dropped), some long enough to be adopted as the new normal. Each is larger
// than the last: once incidents make up over 1 % of the scores, the tail
// estimate (and so k) has learned their size, and only a larger one alerts.
struct Incident {
  int begin;
  int end;
  double shift;
};

struct Scenario {
  const char* name;
  Duration step;
  AdaptiveBaseline::Options options;
  int before;  // values observed before the checkpoint
  std::vector<Incident> incidents;
  bool incident_at_checkpoint;  // the checkpoint falls inside an incident
};

std::vector<Scenario> scenarios() {
  std::vector<Scenario> s;
  AdaptiveBaseline::Options o;
  o.direction = Direction::kBoth;
  // 10-minute steps over 5 weeks: daily then weekly seasonality picked by kAuto.
  s.push_back({"auto-10min",
               minutes(10),
               o,
               3000,
               {{400, 430, 80},
                {1200, 1320, 80},
                {2980, 3010, 1000},
                {3500, 3520, 3000},
                {4000, 4150, 10000}},
               true});
  // 1-minute steps: 4 hours is 240 values, so the 64-value quarantine ring wraps.
  // A configured flat model, in log space.
  o.seasonality = Seasonality::kNone;
  o.direction = Direction::kUp;
  o.log_scale = true;
  o.log_offset = 1.0;
  s.push_back({"flat-log-1min",
               minutes(1),
               o,
               3060,  // 210 values into an incident, 30 before it is adopted
               {{700, 760, 0.7}, {1500, 1900, 1.5}, {2850, 3100, 4}, {4200, 4230, 8}},
               true});
  // Hourly steps, falls watched, twice as sensitive; the checkpoint between incidents.
  o = {};
  o.direction = Direction::kDown;
  o.sensitivity = 2.0;
  s.push_back({"auto-hourly-down",
               hours(1),
               o,
               3000,
               {{900, 910, -80}, {2000, 2300, -80}, {3300, 3600, -250}},
               false});
  // 20-second steps: many values per hour, so the spread is refreshed every
  // kRefreshEvery values rather than by each hour's close.
  o = {};
  o.direction = Direction::kBoth;
  s.push_back({"auto-20s",
               std::chrono::seconds(20),
               o,
               3003,
               {{1000, 1030, 80}, {3500, 3530, 1000}},
               false});
  return s;
}

class SeriesSource {
 public:
  explicit SeriesSource(const Scenario& s) : s_(s), rng_(17) {}

  double value(int i, Timestamp t) {
    const double hour = static_cast<double>((toMillis(t) / 3'600'000) % 24);
    const int weekday = static_cast<int>((toMillis(t) / 86'400'000 + 3) % 7);  // 0 = Monday
    double shift = 0;
    for (const Incident& incident : s_.incidents) {
      if (i >= incident.begin && i < incident.end) shift = incident.shift;
    }
    if (s_.options.log_scale) {
      const double log =
          std::log(200.0) + 0.2 * std::sin(hour / 24.0 * 2 * M_PI) + 0.05 * noise_(rng_) + shift;
      return std::exp(log) - s_.options.log_offset;
    }
    return 300.0 + 60.0 * std::sin(hour / 24.0 * 2 * M_PI) + (weekday >= 5 ? -40.0 : 0.0) +
           3.0 * noise_(rng_) + shift;
  }

 private:
  const Scenario& s_;
  std::mt19937_64 rng_;
  std::normal_distribution<double> noise_{0.0, 1.0};
};

// Judges then learns one value, as a check does; returns whether it was held.
bool step(AdaptiveBaseline& b, double v, Timestamp t) {
  const AdaptiveJudgement j = judge(b, v, t, false, false);
  b.observe(v, t, j.above || j.below);
  return j.above || j.below;
}

void expectSameJudgement(const AdaptiveJudgement& a, const AdaptiveJudgement& b) {
  ASSERT_EQ(a.bounds.has_value(), b.bounds.has_value());
  if (a.bounds) {
    EXPECT_EQ(a.bounds->center, b.bounds->center);
    EXPECT_EQ(a.bounds->sigma, b.bounds->sigma);
    EXPECT_EQ(a.bounds->k, b.bounds->k);
  }
  EXPECT_EQ(a.above, b.above);
  EXPECT_EQ(a.below, b.below);
}

// A baseline restored from a checkpoint is the one that was saved: fed the
// same next 2,000 values, it gives the same bound and verdict at every step
// and ends in the same state.
TEST(AdaptiveBaselineCheckpointTest, RestoredBaselineContinuesIdentically) {
  for (const Scenario& s : scenarios()) {
    SCOPED_TRACE(s.name);
    SeriesSource source(s);
    AdaptiveBaseline original(s.options);
    Timestamp t = kMonday;
    int held = 0;
    bool last_held = false;
    for (int i = 0; i < s.before; ++i, t += s.step) {
      last_held = step(original, source.value(i, t), t);
      held += last_held;
    }
    EXPECT_GT(held, 0);
    EXPECT_EQ(last_held, s.incident_at_checkpoint);

    const std::string blob = saved(original);
    AdaptiveBaseline restored(s.options);
    StateReader r(blob);
    ASSERT_TRUE(restored.restore(r));
    EXPECT_TRUE(r.done());
    EXPECT_EQ(saved(restored), blob);  // NaN hours and all, bit for bit
    EXPECT_EQ(restored.learned(), original.learned());
    EXPECT_EQ(restored.activeSeasonality(), original.activeSeasonality());

    int judged_anomalous = 0;
    for (int i = s.before; i < s.before + 2000; ++i, t += s.step) {
      const double v = source.value(i, t);
      for (const bool firing : {false, true}) {
        SCOPED_TRACE("value " + std::to_string(i));
        expectSameJudgement(judge(original, v, t, firing, firing),
                            judge(restored, v, t, firing, firing));
        if (HasFailure()) return;
      }
      const bool a = step(original, v, t);
      const bool b = step(restored, v, t);
      ASSERT_EQ(a, b) << "value " << i;
      judged_anomalous += a;
    }
    EXPECT_GT(judged_anomalous, 0);
    EXPECT_EQ(saved(restored), saved(original));
  }
}

// The blob of a baseline that has seen `n` values of the first scenario.
std::string checkpointAfter(int n, std::size_t scenario = 0) {
  const Scenario s = scenarios()[scenario];
  SeriesSource source(s);
  AdaptiveBaseline b(s.options);
  Timestamp t = kMonday;
  for (int i = 0; i < n; ++i, t += s.step) step(b, source.value(i, t), t);
  return saved(b);
}

// A target with a learned state of its own, to show a refused restore keeps it.
AdaptiveBaseline learnedTarget() {
  AdaptiveBaseline b(scenarios()[0].options);
  std::mt19937_64 rng(99);
  std::normal_distribution<double> noise(50.0, 2.0);
  Timestamp t = kMonday;
  for (int i = 0; i < 500; ++i, t += minutes(5)) step(b, noise(rng), t);
  return b;
}

TEST(AdaptiveBaselineCheckpointTest, FreshBaselineRoundTrips) {
  const AdaptiveBaseline fresh(AdaptiveBaseline::Options{});
  const std::string blob = saved(fresh);
  AdaptiveBaseline target = learnedTarget();
  StateReader r(blob);
  ASSERT_TRUE(target.restore(r));
  EXPECT_TRUE(r.done());
  EXPECT_EQ(target.learned(), 0u);
  EXPECT_FALSE(target.bounds(kMonday).has_value());
  EXPECT_EQ(saved(target), blob);
}

// Every proper prefix of a checkpoint is refused, and the target keeps its own state.
TEST(AdaptiveBaselineCheckpointTest, TruncatedStateIsRefusedAndChangesNothing) {
  for (std::size_t scenario : {0u, 1u}) {
    const std::string blob = checkpointAfter(3000, scenario);
    AdaptiveBaseline target = learnedTarget();
    const std::string before = saved(target);
    for (std::size_t len = 0; len < blob.size(); ++len) {
      StateReader r(std::string_view(blob).substr(0, len));
      ASSERT_FALSE(target.restore(r)) << "length " << len;
      ASSERT_TRUE(r.failed()) << "length " << len;
      ASSERT_EQ(saved(target), before) << "length " << len;
    }
  }
}

// One corrupted byte at a time, at every position: the restore either refuses
// (and changes nothing) or yields a baseline that can be judged, fed and saved.
// Run it under the sanitizers (the debug preset) to see that nothing reads out of
// bounds or overflows.
TEST(AdaptiveBaselineCheckpointTest, CorruptedBytesNeverCrash) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int> mask(1, 255);
  std::normal_distribution<double> noise(300.0, 20.0);
  for (std::size_t scenario : {0u, 1u}) {
    const Scenario s = scenarios()[scenario];
    const std::string blob = checkpointAfter(3000, scenario);
    const AdaptiveBaseline target = learnedTarget();
    const std::string before = saved(target);
    int accepted = 0;
    for (std::size_t i = 0; i < blob.size(); ++i) {
      std::string bad = blob;
      bad[i] = static_cast<char>(bad[i] ^ mask(rng));
      AdaptiveBaseline b = target;
      StateReader r(bad);
      if (!b.restore(r)) {
        ASSERT_EQ(saved(b), before) << "byte " << i;
        continue;
      }
      ++accepted;
      Timestamp t = kMonday + hours(24 * 30);
      for (int k = 0; k < 24; ++k, t += s.step) {
        const double v = noise(rng);
        if (const auto bounds = b.bounds(t)) (void)bounds->upper();
        step(b, v, t);
      }
      (void)saved(b);
    }
    RecordProperty(std::string("accepted_corruptions_") + s.name, accepted);
  }
}

TEST(AdaptiveBaselineCheckpointTest, WrongVersionIsRefused) {
  const std::string blob = checkpointAfter(1000);
  ASSERT_EQ(static_cast<std::uint8_t>(blob[0]), AdaptiveBaseline::kStateVersion);
  for (int version : {0, AdaptiveBaseline::kStateVersion + 1, 255}) {
    std::string bad = blob;
    bad[0] = static_cast<char>(version);
    AdaptiveBaseline target = learnedTarget();
    const std::string before = saved(target);
    StateReader r(bad);
    EXPECT_FALSE(target.restore(r)) << version;
    EXPECT_TRUE(r.failed());
    EXPECT_EQ(saved(target), before);
  }
}

// Well-formed bytes holding a state observe() cannot reach are refused too.
// Offsets follow save()'s layout: version, recent ring (u32 n, n x {f32, u8}),
// next (u32), hourly means (u32 n, n x f32), 168 cursors (u8), ...
TEST(AdaptiveBaselineCheckpointTest, OutOfRangeFieldsAreRefused) {
  const std::string blob = checkpointAfter(5000);
  std::uint32_t recent = 0;
  {
    StateReader r(blob);
    r.u8();
    recent = r.u32();
  }
  ASSERT_EQ(recent, AdaptiveBaseline::kRecent);
  const std::size_t recent_at = 5;
  const std::size_t next_at = recent_at + 5 * recent;
  const std::size_t hours_at = next_at + 4 + 4;
  const std::size_t cursors_at = hours_at + 4 * 168 * AdaptiveBaseline::kWeeksKept;

  auto patched = [&](std::size_t at, auto write) {
    std::string field;
    StateWriter w(field);
    write(w);
    std::string bad = blob;
    bad.replace(at, field.size(), field);
    return bad;
  };
  const std::vector<std::pair<const char*, std::string>> cases = {
      {"recent count", patched(1, [](StateWriter& w) { w.u32(AdaptiveBaseline::kRecent + 1); })},
      {"recent value inf",
       patched(recent_at, [](StateWriter& w) { w.f32(std::numeric_limits<float>::infinity()); })},
      {"recent value NaN",
       patched(recent_at, [](StateWriter& w) { w.f32(std::numeric_limits<float>::quiet_NaN()); })},
      {"hour of week", patched(recent_at + 4, [](StateWriter& w) { w.u8(168); })},
      {"ring index", patched(next_at, [](StateWriter& w) { w.u32(AdaptiveBaseline::kRecent); })},
      {"hourly means count", patched(next_at + 4, [](StateWriter& w) { w.u32(168); })},
      {"hourly mean inf",
       patched(hours_at, [](StateWriter& w) { w.f32(-std::numeric_limits<float>::infinity()); })},
      {"cursor", patched(cursors_at + 3,
                         [](StateWriter& w) {
                           w.u8(static_cast<std::uint8_t>(AdaptiveBaseline::kWeeksKept));
                         })},
      {"open hour", patched(cursors_at + 168, [](StateWriter& w) { w.i64(INT64_MAX / 2); })},
  };
  for (const auto& [what, bad] : cases) {
    AdaptiveBaseline target = learnedTarget();
    const std::string before = saved(target);
    StateReader r(bad);
    EXPECT_FALSE(target.restore(r)) << what;
    EXPECT_EQ(saved(target), before) << what;
  }
  // The unpatched blob restores: the cases above fail for their field alone.
  AdaptiveBaseline target = learnedTarget();
  StateReader r(blob);
  EXPECT_TRUE(target.restore(r));
}

// A seasonality set in the config stays in force over the one a kAuto
// baseline had picked when it was saved.
TEST(AdaptiveBaselineCheckpointTest, ConfiguredSeasonalityWinsOverSaved) {
  const Scenario s = scenarios()[0];
  SeriesSource source(s);
  AdaptiveBaseline b(s.options);
  Timestamp t = kMonday;
  for (int i = 0; i < 3000; ++i, t += s.step) step(b, source.value(i, t), t);
  ASSERT_NE(b.activeSeasonality(), Seasonality::kNone);
  const std::string blob = saved(b);

  AdaptiveBaseline::Options flat = s.options;
  flat.seasonality = Seasonality::kNone;
  AdaptiveBaseline target(flat);
  StateReader r(blob);
  ASSERT_TRUE(target.restore(r));
  EXPECT_EQ(target.activeSeasonality(), Seasonality::kNone);
  EXPECT_EQ(target.learned(), b.learned());
  // Its spread is measured again for the flat model, which leaves the daily
  // swing unexplained: wider than the seasonal model's.
  ASSERT_TRUE(target.bounds(t).has_value());
  EXPECT_GT(target.bounds(t)->sigma, 2 * b.bounds(t)->sigma);
}

// Copies are plain values now: a copy continues exactly as the original.
TEST(AdaptiveBaselineCheckpointTest, CopyIsIndependentAndExact) {
  const Scenario s = scenarios()[0];
  SeriesSource source(s);
  AdaptiveBaseline a(s.options);
  Timestamp t = kMonday;
  int i = 0;
  for (; i < 2000; ++i, t += s.step) step(a, source.value(i, t), t);
  AdaptiveBaseline b = a;
  const std::string at_copy = saved(b);
  for (; i < 2500; ++i, t += s.step) step(a, source.value(i, t), t);
  EXPECT_EQ(saved(b), at_copy);  // the copy did not move with the original
  b = a;
  EXPECT_EQ(saved(b), saved(a));
}

// What a checkpoint costs: one baseline after 5,000 values.
TEST(AdaptiveBaselineCheckpointTest, SizeAfterFiveThousandValues) {
  const std::string blob = checkpointAfter(5000);
  RecordProperty("state_bytes", static_cast<int>(blob.size()));
  std::printf("serialized baseline after 5,000 values: %zu bytes\n", blob.size());
  EXPECT_LT(blob.size(), 6u * 1024);
}

}  // namespace
}  // namespace vigil::detectors
