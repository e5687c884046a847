#include "detectors/baseline.h"

#include <boost/accumulators/accumulators.hpp>
#include <boost/accumulators/statistics/p_square_quantile.hpp>
#include <boost/accumulators/statistics/stats.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>

namespace vigil::detectors {
namespace {

constexpr double kMadToSigma = 1.4826;  // MAD of a normal distribution x this = its sigma
constexpr double kModelMargin = 0.85;   // a seasonal model must cut the spread by 15 %
constexpr std::size_t kRefreshEvery = 8;
constexpr std::int64_t kHourMs = 3'600'000;
constexpr float kNoValue = std::numeric_limits<float>::quiet_NaN();

std::int64_t hoursSinceEpoch(Timestamp t) {
  const std::int64_t ms = toMillis(t);
  return ms >= 0 ? ms / kHourMs : (ms - kHourMs + 1) / kHourMs;
}

// Hour of the week, Monday 00:00 UTC = 0 (1970-01-01 was a Thursday).
std::uint8_t hourOfWeek(std::int64_t hours_since_epoch) {
  std::int64_t h = (hours_since_epoch + 3 * 24) % 168;
  if (h < 0) h += 168;
  return static_cast<std::uint8_t>(h);
}

// Median of `v` (reordered); NaN when empty.
double medianOf(std::vector<double>& v) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  const auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  double m = *mid;
  if (v.size() % 2 == 0) m = (m + *std::max_element(v.begin(), mid)) / 2;
  return m;
}

}  // namespace

AdaptiveBaseline::Options adaptiveOptions(const AdaptiveSpec& spec, Direction default_direction,
                                          double absolute_floor, std::optional<double> log_offset) {
  AdaptiveBaseline::Options o;
  o.log_scale = log_offset.has_value();
  o.log_offset = log_offset.value_or(0);
  o.sensitivity = spec.sensitivity > 0 ? spec.sensitivity : 1.0;
  o.seasonality = spec.seasonality;
  o.direction = spec.direction == Direction::kDefault ? default_direction : spec.direction;
  o.absolute_floor = absolute_floor;
  return o;
}

struct AdaptiveBaseline::Tail {
  boost::accumulators::accumulator_set<
      double, boost::accumulators::stats<boost::accumulators::tag::p_square_quantile>>
      quantile{boost::accumulators::quantile_probability = kTailQuantile};
};

AdaptiveBaseline::~AdaptiveBaseline() = default;
AdaptiveBaseline::AdaptiveBaseline(AdaptiveBaseline&&) noexcept = default;
AdaptiveBaseline& AdaptiveBaseline::operator=(AdaptiveBaseline&&) noexcept = default;
AdaptiveBaseline::AdaptiveBaseline(const AdaptiveBaseline& other)
    : options_(other.options_),
      recent_(other.recent_),
      recent_next_(other.recent_next_),
      hours_(other.hours_),
      hour_cursor_(other.hour_cursor_),
      open_hour_(other.open_hour_),
      open_sum_(other.open_sum_),
      open_count_(other.open_count_),
      weekly_profile_(other.weekly_profile_),
      daily_profile_(other.daily_profile_),
      quarantine_(other.quarantine_),
      quarantine_next_(other.quarantine_next_),
      quarantine_since_(other.quarantine_since_),
      frozen_k_(other.frozen_k_),
      learned_(other.learned_),
      since_refresh_(other.since_refresh_),
      first_(other.first_),
      has_first_(other.has_first_),
      active_(other.active_),
      level_(other.level_),
      sigma_(other.sigma_),
      tail_(std::make_unique<Tail>(*other.tail_)),
      tail_count_(other.tail_count_) {}
AdaptiveBaseline& AdaptiveBaseline::operator=(const AdaptiveBaseline& other) {
  if (this != &other) *this = AdaptiveBaseline(other);
  return *this;
}

AdaptiveBaseline::AdaptiveBaseline(Options options)
    : options_(options), hours_(168 * kWeeksKept, kNoValue), tail_(std::make_unique<Tail>()) {
  recent_.reserve(kRecent);
  weekly_profile_.fill(kNoValue);
  daily_profile_.fill(kNoValue);
  if (options_.seasonality != Seasonality::kAuto) active_ = options_.seasonality;
}

double AdaptiveBaseline::Bounds::unscale(double v) const {
  return log_scale ? std::exp(v) - log_offset : v;
}

double AdaptiveBaseline::scale(double value) const {
  return options_.log_scale ? std::log(std::max(value, 0.0) + options_.log_offset) : value;
}

void AdaptiveBaseline::observe(double raw, Timestamp t, bool anomalous) {
  if (std::isnan(raw)) return;
  const double value = scale(raw);
  if (learned_ >= kWarmup) {
    // Every score counts toward the tail, anomalies too: leaving them out would
    // bias the estimate low and make the bound chase its own alerts. While an
    // incident lasts the width that judged it is frozen (see bounds()).
    if (anomalous && quarantine_.empty()) frozen_k_ = currentK();
    // The same floored sigma as the bound: a series whose spread is 0 must not
    // score its first jitter as infinitely surprising.
    const Bounds b = *bounds(t);
    (*tail_).quantile(std::abs(value - b.center) / b.sigma);
    ++tail_count_;
  }
  if (!anomalous) {
    quarantine_.clear();  // the anomaly was passing: what it held is not learned
    learn(value, t);
    return;
  }
  if (quarantine_.empty()) {
    quarantine_since_ = t;
    quarantine_next_ = 0;
  }
  if (quarantine_.size() < kQuarantine) {
    quarantine_.emplace_back(value, t);
  } else {
    quarantine_[quarantine_next_] = {value, t};
    quarantine_next_ = (quarantine_next_ + 1) % kQuarantine;
  }
  if (quarantine_.size() >= kQuarantine && t - quarantine_since_ >= kAdoptAfter) {
    // Anomalous for this long, it is the new normal: it replaces the recent history.
    recent_.clear();
    recent_next_ = 0;
    for (std::size_t i = 0; i < quarantine_.size(); ++i) {
      const auto& [v, at] = quarantine_[(quarantine_next_ + i) % quarantine_.size()];
      learn(v, at);
    }
    quarantine_.clear();
  }
}

void AdaptiveBaseline::learn(double value, Timestamp t) {
  if (!has_first_) {
    first_ = t;
    has_first_ = true;
  }
  const std::int64_t hour = hoursSinceEpoch(t);
  if (hour != open_hour_) {
    closeHour();
    open_hour_ = hour;
  }
  open_sum_ += value;
  ++open_count_;

  const Recent r{static_cast<float>(value), hourOfWeek(hour)};
  if (recent_.size() < kRecent) {
    recent_.push_back(r);
  } else {
    recent_[recent_next_] = r;
  }
  recent_next_ = (recent_next_ + 1) % kRecent;
  ++learned_;
  if (++since_refresh_ >= kRefreshEvery || learned_ <= kWarmup) refreshSpread();
}

void AdaptiveBaseline::closeHour() {
  if (open_count_ == 0) return;
  const std::uint8_t how = hourOfWeek(open_hour_);
  hours_[how * kWeeksKept + hour_cursor_[how]] = static_cast<float>(open_sum_ / open_count_);
  hour_cursor_[how] = static_cast<std::uint8_t>((hour_cursor_[how] + 1) % kWeeksKept);
  open_sum_ = 0;
  open_count_ = 0;
  refreshProfiles();
}

void AdaptiveBaseline::refreshProfiles() {
  std::vector<double> scratch;
  scratch.reserve(7 * kWeeksKept);
  for (std::size_t h = 0; h < 168; ++h) {
    scratch.clear();
    for (std::size_t k = 0; k < kWeeksKept; ++k) {
      const float v = hours_[h * kWeeksKept + k];
      if (!std::isnan(v)) scratch.push_back(v);
    }
    weekly_profile_[h] = static_cast<float>(medianOf(scratch));
  }
  for (std::size_t d = 0; d < 24; ++d) {
    scratch.clear();
    for (std::size_t h = d; h < 168; h += 24) {
      for (std::size_t k = 0; k < kWeeksKept; ++k) {
        const float v = hours_[h * kWeeksKept + k];
        if (!std::isnan(v)) scratch.push_back(v);
      }
    }
    daily_profile_[d] = static_cast<float>(medianOf(scratch));
  }

  if (options_.seasonality == Seasonality::kAuto && has_first_) {
    const Duration span = std::chrono::hours(open_hour_) - first_.time_since_epoch();
    Seasonality best = Seasonality::kNone;
    double best_sigma = residualStats(Seasonality::kNone).second;
    if (span >= std::chrono::days(2)) {
      const double daily = residualStats(Seasonality::kHourOfDay).second;
      if (daily < kModelMargin * best_sigma) {
        best = Seasonality::kHourOfDay;
        best_sigma = daily;
      }
    }
    if (span >= std::chrono::days(14)) {
      const double weekly = residualStats(Seasonality::kHourOfWeek).second;
      if (weekly < kModelMargin * best_sigma) best = Seasonality::kHourOfWeek;
    }
    active_ = best;
  }
  refreshSpread();
}

double AdaptiveBaseline::profileAt(Seasonality s, std::uint8_t how) const {
  float p = kNoValue;
  if (s == Seasonality::kHourOfWeek) p = weekly_profile_[how];
  if (s == Seasonality::kHourOfWeek && std::isnan(p)) s = Seasonality::kHourOfDay;
  if (s == Seasonality::kHourOfDay) p = daily_profile_[how % 24];
  // A phase not seen yet has no shape: the level alone stands in for it.
  return std::isnan(p) ? 0.0 : p;
}

std::pair<double, double> AdaptiveBaseline::residualStats(Seasonality s) const {
  std::vector<double> r;
  r.reserve(recent_.size());
  for (const Recent& x : recent_) r.push_back(x.value - profileAt(s, x.hour_of_week));
  const double level = medianOf(r);
  for (double& v : r) v = std::abs(v - level);
  const double mad = medianOf(r);
  return {level, kMadToSigma * mad};
}

void AdaptiveBaseline::refreshSpread() {
  std::tie(level_, sigma_) = residualStats(active_);
  since_refresh_ = 0;
}

double AdaptiveBaseline::currentK() const {
  if (tail_count_ < kTailWarmup) return kColdK;
  return std::max(kBaseK, kTailMargin * boost::accumulators::p_square_quantile(tail_->quantile));
}

std::optional<AdaptiveBaseline::Bounds> AdaptiveBaseline::bounds(Timestamp t) const {
  if (learned_ < kWarmup) return std::nullopt;
  Bounds b{};
  b.center = profileAt(active_, hourOfWeek(hoursSinceEpoch(t))) + level_;
  // In log space a relative floor is an absolute one: log(1 + r) ~ r.
  const double relative_floor =
      options_.log_scale ? kRelativeFloor : kRelativeFloor * std::abs(b.center);
  b.sigma = std::max({sigma_, relative_floor, options_.absolute_floor,
                      std::numeric_limits<double>::min()});
  b.log_scale = options_.log_scale;
  b.log_offset = options_.log_offset;
  b.k = (quarantine_.empty() ? currentK() : frozen_k_) / options_.sensitivity;
  b.watch_up = options_.direction == Direction::kUp || options_.direction == Direction::kBoth;
  b.watch_down = options_.direction == Direction::kDown || options_.direction == Direction::kBoth;
  return b;
}

AdaptiveJudgement judge(const AdaptiveBaseline& baseline, double value, Timestamp t,
                        bool firing_up, bool firing_down) {
  AdaptiveJudgement j;
  j.bounds = baseline.bounds(t);
  if (!j.bounds || std::isnan(value)) return j;
  const AdaptiveBaseline::Bounds& b = *j.bounds;
  j.above = b.watch_up && value > b.upper(firing_up ? kClearFactor : 1.0);
  j.below = b.watch_down && value < b.lower(firing_down ? kClearFactor : 1.0);
  return j;
}

}  // namespace vigil::detectors
