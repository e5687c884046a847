#include "detectors/baseline.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace vigil::detectors {
namespace {

using std::chrono::minutes;

// Monday 2025-01-13 00:00 UTC, so hours of day and week are easy to read.
const Timestamp kMonday = timestampFromMillis(1'736'726'400'000);
constexpr Duration kStep = minutes(10);

AdaptiveBaseline::Options options(Direction direction = Direction::kBoth) {
  AdaptiveBaseline::Options o;
  o.direction = direction;
  return o;
}

// Feeds `n` values from `f(i, t)` one step apart, judging each first like a check does.
template <class F>
Timestamp feed(AdaptiveBaseline& b, int n, Timestamp start, F f) {
  Timestamp t = start;
  for (int i = 0; i < n; ++i, t += kStep) {
    const double v = f(i, t);
    const auto j = judge(b, v, t, false, false);
    b.observe(v, t, j.above || j.below);
  }
  return t;
}

// No bound is given until kWarmup values have been learned.
TEST(AdaptiveBaselineTest, QuietDuringWarmup) {
  AdaptiveBaseline b(options());
  const Timestamp t =
      feed(b, AdaptiveBaseline::kWarmup - 1, kMonday, [](int, Timestamp) { return 100.0; });
  EXPECT_FALSE(b.bounds(t).has_value());
  feed(b, 1, t, [](int, Timestamp) { return 100.0; });
  EXPECT_TRUE(b.bounds(t + kStep).has_value());
}

// The expected value is the median of normal history: a single huge spike
// among them moves it by nothing.
TEST(AdaptiveBaselineTest, OneSpikeDoesNotMoveTheBaseline) {
  std::mt19937_64 rng(1);
  std::normal_distribution<double> noise(100.0, 5.0);
  AdaptiveBaseline b(options());
  Timestamp t = feed(b, 200, kMonday, [&](int, Timestamp) { return noise(rng); });
  const double before = b.bounds(t)->expected();
  t = feed(b, 1, t, [](int, Timestamp) { return 1e6; });
  EXPECT_NEAR(b.bounds(t)->expected(), before, 1.0);
}

// Values judged anomalous are held back: an incident shorter than
// kQuarantine teaches nothing; one that lasts longer becomes the new normal.
TEST(AdaptiveBaselineTest, IncidentsAreNotLearnedUnlessTheyPersist) {
  std::mt19937_64 rng(2);
  std::normal_distribution<double> noise(100.0, 5.0);
  AdaptiveBaseline b(options());
  Timestamp t = feed(b, 300, kMonday, [&](int, Timestamp) { return noise(rng); });
  t = feed(b, AdaptiveBaseline::kQuarantine - 1, t, [](int, Timestamp) { return 400.0; });
  t = feed(b, 10, t, [&](int, Timestamp) { return noise(rng); });
  EXPECT_NEAR(b.bounds(t)->expected(), 100.0, 3.0);

  t = feed(b, 2 * AdaptiveBaseline::kQuarantine + AdaptiveBaseline::kRecent, t,
           [](int, Timestamp) { return 400.0; });
  EXPECT_NEAR(b.bounds(t)->expected(), 400.0, 1.0);
}

// A series with a daily cycle gets an hour-of-day model after two days, and
// the bound follows the cycle: the night's normal is the day's anomaly.
TEST(AdaptiveBaselineTest, DailySeasonalityIsChosenAndFollowed) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> noise(0.0, 3.0);
  auto daily = [&](int, Timestamp t) {
    const double hour = static_cast<double>((toMillis(t) / 3'600'000) % 24);
    return 100.0 + 60.0 * std::sin(hour / 24.0 * 2 * M_PI) + noise(rng);
  };
  AdaptiveBaseline b(options());
  const Timestamp t = feed(b, 6 * 24 * 6, kMonday, daily);  // six days
  EXPECT_EQ(b.activeSeasonality(), Seasonality::kHourOfDay);
  const Timestamp six_am = alignDown(t, std::chrono::hours(24)) + std::chrono::hours(6);
  const Timestamp six_pm = six_am + std::chrono::hours(12);
  EXPECT_NEAR(b.bounds(six_am)->expected(), 160.0, 10.0);
  EXPECT_NEAR(b.bounds(six_pm)->expected(), 40.0, 10.0);
  // 160 is normal at 06:00 and far out at 18:00.
  EXPECT_LT(160.0, b.bounds(six_am)->upper());
  EXPECT_GT(160.0, b.bounds(six_pm)->upper());
}

// Flat noise keeps the model without seasonality.
TEST(AdaptiveBaselineTest, FlatSeriesStaysWithoutSeasonality) {
  std::mt19937_64 rng(4);
  std::normal_distribution<double> noise(100.0, 5.0);
  AdaptiveBaseline b(options());
  feed(b, 6 * 24 * 6, kMonday, [&](int, Timestamp) { return noise(rng); });
  EXPECT_EQ(b.activeSeasonality(), Seasonality::kNone);
}

// An upward-only baseline never reports a drop; a two-way one does.
TEST(AdaptiveBaselineTest, DirectionsAreRespected) {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> noise(100.0, 5.0);
  AdaptiveBaseline up(options(Direction::kUp));
  AdaptiveBaseline both(options(Direction::kBoth));
  Timestamp t = feed(up, 300, kMonday, [&](int, Timestamp) { return noise(rng); });
  feed(both, 300, kMonday, [&](int, Timestamp) { return noise(rng); });
  EXPECT_FALSE(judge(up, 10.0, t, false, false).below);
  EXPECT_TRUE(judge(both, 10.0, t, false, false).below);
  EXPECT_TRUE(judge(up, 500.0, t, false, false).above);
}

// A series with heavy tails gets a wider bound (a larger k) than a Gaussian one
// of the same spread: its ordinary bursts are not alerts.
TEST(AdaptiveBaselineTest, HeavyTailsWidenTheBound) {
  std::mt19937_64 rng(6);
  std::normal_distribution<double> gauss(100.0, 5.0);
  std::student_t_distribution<double> heavy(1.5);
  AdaptiveBaseline g(options());
  AdaptiveBaseline h(options());
  Timestamp t = feed(g, 2000, kMonday, [&](int, Timestamp) { return gauss(rng); });
  feed(h, 2000, kMonday, [&](int, Timestamp) { return 100.0 + 5.0 * heavy(rng); });
  EXPECT_GT(h.bounds(t)->k, g.bounds(t)->k * 1.5) << h.bounds(t)->k;
  // 1.3 x the Gaussian 99th percentile of |z| is 3.35: the floor kBaseK holds.
  EXPECT_DOUBLE_EQ(g.bounds(t)->k, AdaptiveBaseline::kBaseK);
}

// While firing, a value must come back well inside the bound to clear
// (hysteresis): hovering just under the firing bound keeps the alert.
TEST(AdaptiveBaselineTest, HysteresisHoldsAlertNearTheBound) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> noise(100.0, 5.0);
  AdaptiveBaseline b(options(Direction::kUp));
  const Timestamp t = feed(b, 300, kMonday, [&](int, Timestamp) { return noise(rng); });
  const auto bounds = *b.bounds(t);
  const double near = bounds.upper() - 0.1 * (bounds.upper() - bounds.expected());
  EXPECT_FALSE(judge(b, near, t, false, false).above);  // not enough to fire
  EXPECT_TRUE(judge(b, near, t, true, false).above);    // not enough to clear
}

// Log-scale statistics get ratio bounds: the upper bound over the expected
// value is the same ratio at any level.
TEST(AdaptiveBaselineTest, LogScaleBoundsAreRatios) {
  auto run = [](double level) {
    std::mt19937_64 rng(8);
    std::lognormal_distribution<double> noise(std::log(level), 0.2);
    AdaptiveBaseline::Options o = options(Direction::kUp);
    o.log_scale = true;
    o.log_offset = 1e-6;
    AdaptiveBaseline b(o);
    const Timestamp t = feed(b, 500, kMonday, [&](int, Timestamp) { return noise(rng); });
    return b.bounds(t)->upper() / b.bounds(t)->expected();
  };
  EXPECT_NEAR(run(0.01), run(10.0), 1e-3);
}

// A series that is nearly constant (a spread of 0) keeps a finite bound when
// it jitters: scores use the same floored sigma as the bound.
TEST(AdaptiveBaselineTest, ConstantSeriesWithJitterKeepsAFiniteBound) {
  AdaptiveBaseline b(options(Direction::kUp));
  const Timestamp t =
      feed(b, 2000, kMonday, [](int i, Timestamp) { return i % 50 == 0 ? 101.0 : 100.0; });
  const auto bounds = b.bounds(t);
  ASSERT_TRUE(bounds.has_value());
  EXPECT_TRUE(std::isfinite(bounds->upper()));
  EXPECT_LT(bounds->k, 20.0);
  EXPECT_TRUE(judge(b, 200.0, t, false, false).above);
}

}  // namespace
}  // namespace vigil::detectors
