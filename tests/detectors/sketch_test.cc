#include "detectors/sketch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace vigil::detectors {
namespace {

// The budget the latency checks are specified against.
constexpr double kTolerance = 0.01;
// What the sketch is designed to achieve: its relative accuracy, plus room for the
// floating-point rounding of the bucket index at bucket boundaries.
constexpr double kDesignAccuracy = QuantileSketch::kRelativeAccuracy + 1e-9;
constexpr std::array<double, 5> kQuantiles = {0.5, 0.9, 0.95, 0.99, 0.999};
constexpr std::size_t kSamples = 200'000;

// The value at the lower rank floor(q * (n - 1)) of the sorted data.
double exactQuantile(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  const auto rank =
      static_cast<std::size_t>(std::floor(q * static_cast<double>(values.size() - 1)));
  return values[rank];
}

double relativeError(double estimate, double exact) {
  return std::abs(estimate - exact) / std::abs(exact);
}

QuantileSketch sketchOf(const std::vector<double>& values) {
  QuantileSketch sketch;
  for (double v : values) sketch.add(v);
  return sketch;
}

// The worst relative error over kQuantiles; also recorded in the test's XML output.
double maxRelativeError(const QuantileSketch& sketch, const std::vector<double>& values) {
  double worst = 0;
  for (double q : kQuantiles) {
    const double exact = exactQuantile(values, q);
    const double err = relativeError(sketch.quantile(q), exact);
    EXPECT_LE(err, kTolerance) << "q=" << q << " exact=" << exact;
    worst = std::max(worst, err);
  }
  ::testing::Test::RecordProperty("max_relative_error", std::to_string(worst));
  return worst;
}

std::vector<double> lognormal(std::uint64_t seed, double median, double sigma, std::size_t n) {
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<double> dist(std::log(median), sigma);
  std::vector<double> values(n);
  for (double& v : values) v = dist(rng);
  return values;
}

std::vector<double> logUniform(std::uint64_t seed, double lo, double hi, std::size_t n) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> exponent(std::log(lo), std::log(hi));
  std::vector<double> values(n);
  for (double& v : values) v = std::exp(exponent(rng));
  return values;
}

// Proves the 0.5 % design accuracy on a latency-like lognormal distribution.
TEST(SketchTest, LognormalQuantilesWithinDesignAccuracy) {
  const auto values = lognormal(1, 0.05, 1.0, kSamples);
  EXPECT_LE(maxRelativeError(sketchOf(values), values), kDesignAccuracy);
}

// Proves accuracy holds for two modes four orders of magnitude apart (cache hit vs miss).
TEST(SketchTest, BimodalQuantilesWithinDesignAccuracy) {
  std::mt19937_64 rng(2);
  std::lognormal_distribution<double> fast(std::log(0.001), 0.3);
  std::lognormal_distribution<double> slow(std::log(10.0), 0.3);
  std::bernoulli_distribution pick_slow(0.3);
  std::vector<double> values(kSamples);
  for (double& v : values) v = pick_slow(rng) ? slow(rng) : fast(rng);
  EXPECT_LE(maxRelativeError(sketchOf(values), values), kDesignAccuracy);
}

// Proves the lower rank convention on a step: the median of an even-sized 1|1000 split is 1.
TEST(SketchTest, StepFunctionQuantilesWithinDesignAccuracy) {
  std::vector<double> values(kSamples, 1.0);
  std::fill(values.begin() + kSamples / 2, values.end(), 1000.0);
  const QuantileSketch sketch = sketchOf(values);
  EXPECT_LE(maxRelativeError(sketch, values), kDesignAccuracy);
  EXPECT_NEAR(sketch.quantile(0.5), 1.0, kDesignAccuracy);
}

// Proves accuracy is relative, not absolute, across twelve orders of magnitude.
TEST(SketchTest, LogUniformOverTwelveDecadesWithinDesignAccuracy) {
  const auto values = logUniform(4, 1e-6, 1e6, kSamples);
  EXPECT_LE(maxRelativeError(sketchOf(values), values), kDesignAccuracy);
}

// Proves rank floor(q * (n - 1)) is used: for {1, 2, 3, 4} the median is 2, not 3.
TEST(SketchTest, UsesLowerRankConvention) {
  QuantileSketch sketch;
  for (double v : {4.0, 1.0, 3.0, 2.0}) sketch.add(v);
  EXPECT_LE(relativeError(sketch.quantile(0.5), 2.0), kDesignAccuracy);
  EXPECT_LE(relativeError(sketch.quantile(0.66), 2.0), kDesignAccuracy);
  EXPECT_LE(relativeError(sketch.quantile(0.67), 3.0), kDesignAccuracy);
}

// Proves merged partial sketches answer within tolerance of the exact quantile of the union.
TEST(SketchTest, MergeOfDisjointSplitsMatchesExactQuantileOfUnion) {
  const auto values = lognormal(5, 0.2, 1.5, kSamples);
  constexpr std::size_t kParts = 4;
  QuantileSketch merged;
  for (std::size_t part = 0; part < kParts; ++part) {
    QuantileSketch sketch;
    for (std::size_t i = part; i < values.size(); i += kParts) sketch.add(values[i]);
    merged.merge(sketch);
  }
  EXPECT_EQ(merged.count(), values.size());
  EXPECT_LE(maxRelativeError(merged, values), kDesignAccuracy);
}

// Proves merging is lossless: merged splits answer bit-for-bit like one sketch fed everything.
TEST(SketchTest, MergeOfDisjointSplitsAnswersLikeSingleSketch) {
  auto values = lognormal(6, 0.05, 1.0, kSamples);
  // Contiguous splits of very different ranges make the stores grow in different orders.
  std::sort(values.begin(), values.end());
  const QuantileSketch single = sketchOf(values);
  QuantileSketch merged;
  const std::size_t cut1 = kSamples / 10;
  const std::size_t cut2 = kSamples / 2;
  merged.merge(sketchOf({values.begin() + cut2, values.end()}));
  merged.merge(sketchOf({values.begin(), values.begin() + cut1}));
  merged.merge(sketchOf({values.begin() + cut1, values.begin() + cut2}));
  EXPECT_EQ(merged.count(), single.count());
  EXPECT_EQ(merged.min(), single.min());
  EXPECT_EQ(merged.max(), single.max());
  for (int i = 0; i <= 1000; ++i) {
    const double q = i / 1000.0;
    EXPECT_EQ(merged.quantile(q), single.quantile(q)) << q;
  }
}

// Several quantiles read in one walk equal each read on its own, for sparse
// and dense sketches, with zeros, and after a subtraction (inexact extremes).
TEST(SketchTest, QuantilesInOneWalkEqualQuantileOneByOne) {
  std::mt19937_64 rng(5);
  std::lognormal_distribution<double> value(std::log(0.2), 1.5);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (int trial = 0; trial < 2000; ++trial) {
    QuantileSketch sketch;
    QuantileSketch part;
    const int n = static_cast<int>(rng() % (trial % 2 == 0 ? 12 : 400));
    for (int i = 0; i < n; ++i) {
      const double v = rng() % 10 == 0 ? 0.0 : value(rng);
      sketch.add(v);
      if (rng() % 3 == 0) part.add(v);
    }
    if (trial % 3 == 0) {
      sketch.merge(part);
      sketch.subtract(part);
    }
    std::vector<double> qs(1 + rng() % 12);
    for (double& q : qs) q = rng() % 5 == 0 ? static_cast<double>(rng() % 2) : unit(rng);
    std::sort(qs.begin(), qs.end());
    std::vector<double> out(qs.size());
    sketch.quantiles(qs, out);
    for (std::size_t i = 0; i < qs.size(); ++i) {
      const double one = sketch.quantile(qs[i]);
      if (std::isnan(one)) {
        EXPECT_TRUE(std::isnan(out[i])) << trial;
      } else {
        EXPECT_EQ(out[i], one) << "trial " << trial << " q " << qs[i];
      }
    }
  }
}
// Every rank is answered with the representative of the bucket holding the exact value at that
// rank (clamped to [min, max]), whether the walk starts from the bottom (low ranks) or the top
// (high ranks); merged sketches, zeros included. The reference is a three-value sketch, whose
// middle rank is the representative of its middle value's bucket.
TEST(SketchTest, EveryRankAnswersTheBucketOfItsExactValue) {
  const auto representative = [](double v) {
    QuantileSketch one;
    one.add(v / 1000);
    one.add(v);
    one.add(v * 1000);
    return one.quantile(0.5);
  };
  std::mt19937_64 rng(21);
  std::lognormal_distribution<double> value(std::log(0.12), 0.8);
  std::vector<double> qs;
  for (int i = 0; i <= 100; ++i) qs.push_back(i / 100.0);
  for (double q : {0.95, 0.99, 0.995, 0.999}) qs.push_back(q);
  std::sort(qs.begin(), qs.end());
  for (int trial = 0; trial < 40; ++trial) {
    const std::size_t n = 40 + rng() % 3000;
    std::vector<double> values;
    QuantileSketch parts[3];
    for (std::size_t i = 0; i < n; ++i) {
      const double v = rng() % 20 == 0 ? 0.0 : value(rng);
      values.push_back(v);
      parts[rng() % 3].add(v);
    }
    QuantileSketch sketch = parts[0];
    sketch.merge(parts[1]);
    sketch.merge(parts[2]);
    std::sort(values.begin(), values.end());
    const auto zeros = static_cast<std::size_t>(std::count(values.begin(), values.end(), 0.0));
    std::vector<double> all(qs.size());
    sketch.quantiles(qs, all);
    for (std::size_t i = 0; i < qs.size(); ++i) {
      const auto rank = static_cast<std::size_t>(std::floor(qs[i] * static_cast<double>(n - 1)));
      double expected = 0;
      if (rank < zeros) {
        expected = 0;
      } else if (rank == 0 || rank == n - 1) {
        expected = values[rank];
      } else {
        expected = std::clamp(representative(values[rank]), values.front(), values.back());
      }
      ASSERT_EQ(sketch.quantile(qs[i]), expected) << "trial " << trial << " q " << qs[i];
      ASSERT_EQ(all[i], expected) << "trial " << trial << " q " << qs[i];
    }
  }
}

// A counter that saturates loses counts; the answers then still do not depend on which ranks
// are asked together.
TEST(SketchTest, SaturatedCountersAnswerTheSameOneByOneOrTogether) {
  constexpr std::uint32_t kMax = std::numeric_limits<std::uint32_t>::max();
  QuantileSketch sketch;
  for (int i = 0; i < 40; ++i) sketch.add(1.0 + i);  // dense
  sketch.add(1.0, kMax);
  sketch.add(1.0, kMax);  // the bucket of 1.0 saturates
  const std::vector<double> qs = {0.01, 0.5, 0.99};
  std::vector<double> together(qs.size());
  sketch.quantiles(qs, together);
  for (std::size_t i = 0; i < qs.size(); ++i) {
    EXPECT_EQ(sketch.quantile(qs[i]), together[i]) << qs[i];
    EXPECT_GE(together[i], sketch.min());
    EXPECT_LE(together[i], sketch.max());
  }
}

// Proves an empty sketch has no quantile, min or max rather than a made-up 0.
TEST(SketchTest, EmptySketchReturnsNaN) {
  const QuantileSketch sketch;
  EXPECT_TRUE(sketch.empty());
  EXPECT_EQ(sketch.count(), 0u);
  EXPECT_TRUE(std::isnan(sketch.quantile(0.5)));
  EXPECT_TRUE(std::isnan(sketch.min()));
  EXPECT_TRUE(std::isnan(sketch.max()));
}

// Proves NaN and infinities are not counted as values but are counted as rejected.
TEST(SketchTest, RejectsNonFiniteValuesAndCountsThem) {
  QuantileSketch sketch;
  sketch.add(std::numeric_limits<double>::quiet_NaN());
  sketch.add(std::numeric_limits<double>::infinity());
  sketch.add(-std::numeric_limits<double>::infinity(), 3);
  EXPECT_EQ(sketch.rejected(), 5u);
  EXPECT_TRUE(sketch.empty());
  sketch.add(2.0);
  EXPECT_EQ(sketch.count(), 1u);
  EXPECT_EQ(sketch.max(), 2.0);
  EXPECT_EQ(sketch.quantile(1.0), 2.0);
}

// Proves zeros, negatives and sub-kMinIndexable values share the zero bucket and read as 0.
TEST(SketchTest, ZeroAndNegativeValuesGoToZeroBucket) {
  QuantileSketch sketch;
  sketch.add(0.0);
  sketch.add(-5.0);
  sketch.add(QuantileSketch::kMinIndexable / 10);
  sketch.add(10.0);
  EXPECT_EQ(sketch.count(), 4u);
  EXPECT_EQ(sketch.rejected(), 0u);
  EXPECT_EQ(sketch.quantile(0.0), 0.0);
  EXPECT_EQ(sketch.quantile(0.5), 0.0);
  EXPECT_EQ(sketch.quantile(0.7), 0.0);
  EXPECT_EQ(sketch.quantile(1.0), 10.0);
  EXPECT_EQ(sketch.min(), -5.0);
}

// Proves a single value is returned exactly for every q.
TEST(SketchTest, SingleValueIsEveryQuantile) {
  QuantileSketch sketch;
  sketch.add(3.14159);
  for (double q : {0.0, 0.5, 0.99, 1.0}) EXPECT_EQ(sketch.quantile(q), 3.14159) << q;
}

// Proves min and max are exact (not bucket representatives), and so are q = 0 and q = 1.
TEST(SketchTest, MinAndMaxAreExact) {
  const auto values = lognormal(7, 0.05, 1.0, 10'000);
  const QuantileSketch sketch = sketchOf(values);
  const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
  EXPECT_EQ(sketch.min(), *lo);
  EXPECT_EQ(sketch.max(), *hi);
  EXPECT_EQ(sketch.quantile(0.0), *lo);
  EXPECT_EQ(sketch.quantile(1.0), *hi);
}

// Proves add(v, k) is the same as k calls of add(v).
TEST(SketchTest, WeightedAddEqualsRepeatedAdds) {
  QuantileSketch weighted;
  QuantileSketch repeated;
  weighted.add(1.0, 3);
  weighted.add(50.0, 2);
  for (int i = 0; i < 3; ++i) repeated.add(1.0);
  for (int i = 0; i < 2; ++i) repeated.add(50.0);
  EXPECT_EQ(weighted.count(), repeated.count());
  for (double q : {0.0, 0.25, 0.5, 0.75, 1.0})
    EXPECT_EQ(weighted.quantile(q), repeated.quantile(q));
}

// 22 decades need about 5,100 buckets, more than kMaxBuckets, so the lowest ones collapse.
std::vector<double> spanBeyondMaxBuckets() { return logUniform(8, 1e-8, 1e14, kSamples); }

// Proves memory stays bounded by kMaxBuckets and high quantiles stay accurate after collapse.
TEST(SketchTest, CollapseBoundsMemoryAndKeepsHighQuantilesAccurate) {
  const auto values = spanBeyondMaxBuckets();
  const QuantileSketch sketch = sketchOf(values);
  EXPECT_LE(sketch.memoryBytes(),
            sizeof(QuantileSketch) + QuantileSketch::kMaxBuckets * sizeof(std::uint32_t));
  EXPECT_LE(maxRelativeError(sketch, values), kDesignAccuracy);
}

// Proves quantiles in the collapsed tail are overestimated, never underestimated.
TEST(SketchTest, CollapsedTailIsOverestimated) {
  const auto values = spanBeyondMaxBuckets();
  const QuantileSketch sketch = sketchOf(values);
  const double exact = exactQuantile(values, 0.01);  // ~1.7e-8, far below the kept range
  EXPECT_GT(sketch.quantile(0.01), exact * (1 + kTolerance));
  EXPECT_EQ(sketch.min(), *std::min_element(values.begin(), values.end()));
}

// Proves collapsing is order-independent: merged splits still equal one sketch fed everything.
TEST(SketchTest, CollapsedMergeAnswersLikeSingleSketch) {
  auto values = spanBeyondMaxBuckets();
  std::sort(values.begin(), values.end());
  const QuantileSketch single = sketchOf(values);
  const std::size_t cut = kSamples / 3;
  QuantileSketch merged = sketchOf({values.begin(), values.begin() + cut});
  merged.merge(sketchOf({values.begin() + cut, values.end()}));
  for (int i = 0; i <= 1000; ++i) {
    const double q = i / 1000.0;
    EXPECT_EQ(merged.quantile(q), single.quantile(q)) << q;
  }
}

// Proves merging a sketch into itself doubles every count and leaves the p90 unchanged.
TEST(SketchTest, SelfMergeDoublesCounts) {
  QuantileSketch sketch = sketchOf(lognormal(9, 1.0, 1.0, 1'000));
  const double p90 = sketch.quantile(0.9);
  sketch.merge(sketch);
  EXPECT_EQ(sketch.count(), 2'000u);
  EXPECT_EQ(sketch.quantile(0.9), p90);
}

// A sparse sketch merged into itself turns dense half-way (a pair's count passes 65,535): it
// still answers as a sketch fed the same values twice.
TEST(SketchTest, SparseSelfMergeThatTurnsDenseDoublesCounts) {
  QuantileSketch sketch;
  QuantileSketch twice;
  sketch.add(1.0, 60'000);
  twice.add(1.0, 120'000);
  for (int v = 2; v <= 20; ++v) {
    sketch.add(v, 1'000);
    twice.add(v, 2'000);
  }
  sketch.merge(sketch);
  ASSERT_EQ(sketch.count(), twice.count());
  for (double q : {0.3, 0.6, 0.7, 0.9, 0.95, 0.99}) {
    EXPECT_EQ(sketch.quantile(q), twice.quantile(q)) << q;
  }
}

// Proves clear() forgets values, the zero bucket, rejections and min/max.
TEST(SketchTest, ClearResets) {
  QuantileSketch sketch = sketchOf(lognormal(10, 1.0, 1.0, 1'000));
  sketch.add(0.0);
  sketch.add(std::numeric_limits<double>::quiet_NaN());
  sketch.clear();
  EXPECT_TRUE(sketch.empty());
  EXPECT_EQ(sketch.rejected(), 0u);
  EXPECT_TRUE(std::isnan(sketch.quantile(0.5)));
  EXPECT_TRUE(std::isnan(sketch.min()));
  sketch.add(7.0);
  EXPECT_EQ(sketch.quantile(0.5), 7.0);
  EXPECT_EQ(sketch.min(), 7.0);
}

// Proves subtract() undoes merge() bucket for bucket: (a + b) - a answers like
// b at every quantile once its extremes are restored, in sparse and dense modes.
TEST(SketchTest, SubtractUndoesMerge) {
  std::mt19937_64 rng(99);
  std::lognormal_distribution<double> dist(0.0, 1.0);
  for (const int n : {10, 5000}) {  // sparse and dense
    QuantileSketch a, b;
    for (int i = 0; i < n; ++i) a.add(dist(rng));
    for (int i = 0; i < n; ++i) b.add(dist(rng) * 3);
    QuantileSketch window = a;
    window.merge(b);
    window.subtract(a);
    window.setExtremes(b.min(), b.max());
    ASSERT_EQ(window.count(), b.count());
    for (double q : {0.0, 0.25, 0.5, 0.9, 0.95, 0.99, 1.0}) {
      EXPECT_DOUBLE_EQ(window.quantile(q), b.quantile(q)) << "n=" << n << " q=" << q;
    }
  }
}

}  // namespace
}  // namespace vigil::detectors
