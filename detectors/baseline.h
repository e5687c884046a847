#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "detectors/dataset_spec.h"
#include "detectors/time.h"

namespace vigil::detectors {

class StateReader;
class StateWriter;

// A running estimate of the p-quantile of a stream with the P-square
// algorithm (R. Jain and I. Chlamtac, "The P^2 algorithm for dynamic
// calculation of quantiles and histograms without storing observations",
// CACM 28(10), 1985): five markers whose heights track the minimum, the p/2,
// p and (1 + p)/2 quantiles and the maximum, moved by a piecewise-parabolic
// (else linear) formula as values arrive. O(1) memory and time per value.
//
// It reproduces boost::accumulators' p_square_quantile step for step (same
// marker initialisation, cell search, update order and arithmetic), so it
// answers exactly as the Boost accumulator it replaced did; unlike that
// accumulator it is a plain value that can be copied and checkpointed.
// Marker positions are integers here (Boost keeps them as doubles, which hold
// the same integers exactly below 2^53 values).
//
// Until 5 values have been seen the markers are just the values in arrival
// order and estimate() is the third one (0 before that), as in Boost.
class PSquareQuantile {
 public:
  explicit PSquareQuantile(double p);

  void add(double x);
  double estimate() const { return heights_[2]; }
  std::uint64_t count() const { return count_; }
  double probability() const { return p_; }

  // Writes the markers; p is written too, and restore() refuses a state saved
  // for a different p. restore() leaves *this unchanged when it returns false.
  void save(StateWriter& w) const;
  bool restore(StateReader& r);

 private:
  double p_;
  std::uint64_t count_ = 0;
  std::array<double, 5> heights_{};          // q_i, marker heights
  std::array<std::int64_t, 5> positions_{};  // n_i, marker positions (1-based ranks)
  std::array<double, 5> desired_{};          // n'_i, desired positions
  std::array<double, 5> increments_{};       // dn'_i, desired position per value
};

// A bound learned from a series' own history of one statistic (a window p99,
// a window volume, a null rate), one value per step.
//
// Model: x(t) = profile(phase(t)) + level + noise. The profile is the
// seasonal shape — flat, by hour of day, or by hour of week — taken as the
// median of past hourly means at that phase (the last 4 weeks of hours are
// kept). `level` is the median of the recent residuals x - profile over the
// last kRecent values, so the baseline follows slow drifts; the spread sigma
// is 1.4826 x their median absolute deviation, the robust estimate of a
// standard deviation. Medians make one spike move nothing: up to half of the
// recent values can be outliers before the baseline follows them.
//
//   expected = profile + level
//   upper    = expected + k * sigma      lower = expected - k * sigma
//   k        = max(kBaseK, kTailMargin * q99(|x - expected| / sigma)) / sensitivity
//
// k adapts to how heavy the series' tails are: q99 is a P-square estimate of
// the 99th percentile of the series' own scores (all of them, incidents
// included, so the estimate is not biased low), and the bound sits 30 % beyond
// it, so an ordinary day's worst moments do not alert; a Gaussian series gets
// k = max(4, 1.3 x 2.58) = 4;
// until kTailWarmup scores are known k is the conservative kColdK. Latency and
// volume are modelled in log space (log(x + offset)), where multiplicative
// noise becomes additive and the bounds are ratios of the baseline.
//
// sigma is floored at kRelativeFloor x |expected| and at the statistic's
// absolute floor, so a perfectly steady series does not alert on noise-free
// jitter. Seasonality is chosen automatically (kAuto): hour-of-day once two
// days are known, hour-of-week once two weeks are; the model with the
// smallest residual spread wins if it beats the simpler one by 15 %.
//
// Warm-up: no bound until kWarmup values have been learned. Values judged
// anomalous are held in quarantine instead of learned, so an incident does
// not teach the baseline that it is normal. An anomaly that persists for at
// least kQuarantine values and kAdoptAfter becomes the new normal: the recent
// history is replaced by the last kQuarantine values held.
//
// Checkpoints: save() writes everything learned (not the options, which come
// from the current config) and restore() reads it back, so a restarted sidecar
// resumes each series' baseline exactly where it stopped. That is why the tail
// is a PSquareQuantile rather than Boost's accumulator, which cannot be read
// back or copied as a plain value.
//
// Memory: about 4 KiB per instance (168 x 4 hourly means, 256 recent values).
// Not thread-safe; owned by one series' check state. Time is the step end of
// the value; NaN values are ignored.
class AdaptiveBaseline {
 public:
  static constexpr double kBaseK = 4.0;
  static constexpr double kColdK = 8.0;  // until the tail of the scores is known
  static constexpr double kTailQuantile = 0.99;
  static constexpr double kTailMargin = 1.3;
  static constexpr std::size_t kTailWarmup = 256;
  static constexpr double kRelativeFloor = 0.02;
  static constexpr std::size_t kRecent = 256;
  static constexpr std::size_t kWarmup = 64;
  static constexpr std::size_t kQuarantine = 64;
  static constexpr Duration kAdoptAfter = std::chrono::hours(4);
  static constexpr std::size_t kWeeksKept = 4;
  // The first byte save() writes; restore() refuses any other. Bump it when
  // the layout or the meaning of a field changes.
  static constexpr std::uint8_t kStateVersion = 1;

  struct Options {
    double sensitivity = 1.0;
    Seasonality seasonality = Seasonality::kAuto;
    Direction direction = Direction::kUp;  // resolved: kUp, kDown or kBoth
    double absolute_floor = 0;             // sigma never below this (model scale)
    // Positive, multiplicative statistics (latency, volume) are modelled as
    // log(x + log_offset): their noise scales with their level.
    bool log_scale = false;
    double log_offset = 0;
  };

  // A learned bound, in the model's scale; the accessors answer in the
  // statistic's own unit.
  struct Bounds {
    double center;  // model scale
    double sigma;   // model scale
    double k;
    bool watch_up;
    bool watch_down;
    bool log_scale;
    double log_offset;

    double expected() const { return unscale(center); }
    double upper(double k_factor = 1.0) const { return unscale(center + k * k_factor * sigma); }
    double lower(double k_factor = 1.0) const { return unscale(center - k * k_factor * sigma); }

   private:
    double unscale(double v) const;
  };

  explicit AdaptiveBaseline(Options options);

  // The bound for a value at `t`; nullopt while warming up.
  std::optional<Bounds> bounds(Timestamp t) const;

  // Learns the value of step end `t`. `anomalous` values are quarantined.
  void observe(double value, Timestamp t, bool anomalous);

  std::size_t learned() const { return learned_; }
  Seasonality activeSeasonality() const { return active_; }

  // Appends the learned state: a kStateVersion byte, then every field that
  // observe() changes.
  void save(StateWriter& w) const;
  // Replaces the learned state with what save() wrote, keeping this baseline's
  // options (a configured seasonality wins over the saved one, and the level
  // and spread are measured again for it). Returns false, marks `r` failed and
  // leaves *this unchanged when the data is short, of another version or not a
  // state observe() could have reached (sizes, indexes or timestamps out of
  // range, non-finite numbers where only finite ones are learned). Reads
  // exactly what save() wrote: trailing bytes are the caller's (r.done() tells).
  bool restore(StateReader& r);

 private:
  struct Recent {
    float value;
    std::uint8_t hour_of_week;
  };

  double scale(double value) const;
  double currentK() const;
  void learn(double value, Timestamp t);
  void closeHour();
  void refreshProfiles();
  void refreshSpread();
  double profileAt(Seasonality s, std::uint8_t hour_of_week) const;
  // Median and MAD-sigma of x - profile over the recent values for model s.
  std::pair<double, double> residualStats(Seasonality s) const;

  Options options_;
  std::vector<Recent> recent_;  // ring, oldest overwritten
  std::size_t recent_next_ = 0;
  std::vector<float> hours_;  // [hour_of_week * kWeeksKept + occurrence] hourly means; NaN: none
  std::array<std::uint8_t, 168> hour_cursor_{};
  std::int64_t open_hour_ = -1;  // hours since epoch of the hour being accumulated
  double open_sum_ = 0;
  std::uint32_t open_count_ = 0;
  std::array<float, 168> weekly_profile_{};
  std::array<float, 24> daily_profile_{};
  std::vector<std::pair<double, Timestamp>> quarantine_;  // ring of the newest held values
  std::size_t quarantine_next_ = 0;
  Timestamp quarantine_since_;
  double frozen_k_ = kColdK;  // k when the current incident began
  std::size_t learned_ = 0;
  std::size_t since_refresh_ = 0;
  Timestamp first_;
  bool has_first_ = false;
  Seasonality active_ = Seasonality::kNone;
  double level_ = 0;
  double sigma_ = 0;
  // P-square estimate of the kTailQuantile of |x - expected| / sigma over the
  // values observed after warm-up: how heavy this series' tails are. Its
  // count() is how many scores it has seen.
  PSquareQuantile tail_{kTailQuantile};
};

// A value judged against a baseline. Hysteresis against flapping: while an
// alert is firing in a direction, it clears only once the value is back
// within kClearFactor x k sigmas, not merely inside the firing bound.
inline constexpr double kClearFactor = 0.5;
struct AdaptiveJudgement {
  std::optional<AdaptiveBaseline::Bounds> bounds;  // nullopt while warming up
  bool above = false;
  bool below = false;
};
AdaptiveJudgement judge(const AdaptiveBaseline& baseline, double value, Timestamp t,
                        bool firing_up, bool firing_down);

// The spread floor and direction a statistic gets when the spec says default.
// `log_offset` set: model log(x + log_offset).
AdaptiveBaseline::Options adaptiveOptions(const AdaptiveSpec& spec, Direction default_direction,
                                          double absolute_floor,
                                          std::optional<double> log_offset = std::nullopt);

}  // namespace vigil::detectors
