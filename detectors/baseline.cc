#include "detectors/baseline.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>
#include <utility>

#include "detectors/state_codec.h"

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

// Checkpointed timestamps must be ones RFC 3339 can write (years 0000 to
// 9999): far inside the int64 range, so restored times can be subtracted and
// converted to hours without overflow.
constexpr std::int64_t kMinMillis = -62'167'219'200'000;  // 0000-01-01T00:00:00Z
constexpr std::int64_t kMaxMillis = 253'402'300'799'999;  // 9999-12-31T23:59:59.999Z

bool restorableMillis(std::int64_t ms) { return ms >= kMinMillis && ms <= kMaxMillis; }

// Seasonality codes in a checkpoint, independent of the enum's order.
std::uint8_t seasonalityCode(Seasonality s) {
  switch (s) {
    case Seasonality::kNone:
      return 1;
    case Seasonality::kHourOfDay:
      return 2;
    case Seasonality::kHourOfWeek:
      return 3;
    case Seasonality::kAuto:
      break;
  }
  return 0;  // never active: kAuto resolves to one of the above
}

std::optional<Seasonality> seasonalityFromCode(std::uint8_t code) {
  switch (code) {
    case 1:
      return Seasonality::kNone;
    case 2:
      return Seasonality::kHourOfDay;
    case 3:
      return Seasonality::kHourOfWeek;
    default:
      return std::nullopt;
  }
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

PSquareQuantile::PSquareQuantile(double p) : p_(p) {
  // Boost's initial markers: positions 1..5, desired positions at the ranks
  // of the five tracked quantiles among the first five values.
  for (std::size_t i = 0; i < 5; ++i) positions_[i] = static_cast<std::int64_t>(i) + 1;
  desired_ = {1.0, 1.0 + 2.0 * p, 1.0 + 4.0 * p, 3.0 + 2.0 * p, 5.0};
  increments_ = {0.0, p / 2.0, p, (1.0 + p) / 2.0, 1.0};
}

// Mirrors boost/accumulators/statistics/p_square_quantile.hpp (1.74) statement
// by statement, in the same order and precision, so the estimates are bit for
// bit Boost's: the baseline's bounds did not move when it was replaced.
void PSquareQuantile::add(double x) {
  ++count_;
  if (count_ <= 5) {
    heights_[count_ - 1] = x;
    if (count_ == 5) std::sort(heights_.begin(), heights_.end());
    return;
  }

  // The cell k with heights[k - 1] <= x < heights[k], extremes widened to x.
  // (A NaN lands in no cell, k = 5, and moves no marker, as in Boost.)
  std::size_t cell;
  if (x < heights_[0]) {
    heights_[0] = x;
    cell = 1;
  } else if (heights_[4] <= x) {
    heights_[4] = x;
    cell = 4;
  } else {
    cell = static_cast<std::size_t>(std::upper_bound(heights_.begin(), heights_.end(), x) -
                                    heights_.begin());
  }
  for (std::size_t i = cell; i < 5; ++i) ++positions_[i];
  for (std::size_t i = 0; i < 5; ++i) desired_[i] += increments_[i];

  // Moves the middle markers one position toward where they should be when
  // that is at least one position away and the neighbour leaves room.
  for (std::size_t i = 1; i <= 3; ++i) {
    const double d = desired_[i] - static_cast<double>(positions_[i]);
    const double dp = static_cast<double>(positions_[i + 1] - positions_[i]);
    const double dm = static_cast<double>(positions_[i - 1] - positions_[i]);
    const double hp = (heights_[i + 1] - heights_[i]) / dp;
    const double hm = (heights_[i - 1] - heights_[i]) / dm;
    if ((d >= 1.0 && dp > 1.0) || (d <= -1.0 && dm < -1.0)) {
      const double sign = d > 0 ? 1.0 : -1.0;
      // Piecewise-parabolic prediction; linear when it would leave the neighbours' interval.
      const double h = heights_[i] + sign / (dp - dm) * ((sign - dm) * hp + (dp - sign) * hm);
      if (heights_[i - 1] < h && h < heights_[i + 1]) {
        heights_[i] = h;
      } else if (d > 0) {
        heights_[i] += hp;
      } else {
        heights_[i] -= hm;
      }
      positions_[i] += static_cast<std::int64_t>(sign);
    }
  }
}

void PSquareQuantile::save(StateWriter& w) const {
  w.f64(p_);
  w.u64(count_);
  for (double h : heights_) w.f64(h);
  for (std::int64_t n : positions_) w.i64(n);
  for (double d : desired_) w.f64(d);
}

bool PSquareQuantile::restore(StateReader& r) {
  PSquareQuantile s(p_);
  const double p = r.f64();
  s.count_ = r.u64();
  for (double& h : s.heights_) h = r.f64();
  for (std::int64_t& n : s.positions_) n = r.i64();
  for (double& d : s.desired_) d = r.f64();
  if (r.failed()) return false;

  // What add() can reach from finite values. Positions stay exact integers in
  // a double (and ++count_ cannot wrap) below 2^53 values.
  bool ok = p == p_ && s.count_ < (std::uint64_t{1} << 53);
  for (double h : s.heights_) ok = ok && !std::isnan(h);
  if (ok && s.count_ <= 5) {
    // Not started: markers as constructed; heights not yet seen are still 0.
    const PSquareQuantile fresh(p_);
    ok = s.positions_ == fresh.positions_ && s.desired_ == fresh.desired_;
    for (std::size_t i = s.count_; i < 5; ++i) ok = ok && s.heights_[i] == 0.0;
    if (s.count_ == 5) ok = ok && std::is_sorted(s.heights_.begin(), s.heights_.end());
  } else if (ok) {
    // The extreme markers hold rank 1 and at most rank count; the desired
    // position of the maximum is exactly count (it grows by 1.0 per value).
    ok = s.positions_[0] == 1 && s.positions_[4] <= static_cast<std::int64_t>(s.count_) &&
         s.desired_[0] == 1.0 && s.desired_[4] == static_cast<double>(s.count_) &&
         std::is_sorted(s.heights_.begin(), s.heights_.end());
    for (std::size_t i = 1; i < 5; ++i) ok = ok && s.positions_[i - 1] < s.positions_[i];
    for (double d : s.desired_) ok = ok && std::isfinite(d) && d >= 1.0;
  }
  if (!ok) {
    r.fail();
    return false;
  }
  *this = s;
  return true;
}

AdaptiveBaseline::AdaptiveBaseline(Options options)
    : options_(options), hours_(168 * kWeeksKept, kNoValue) {
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
    tail_.add(std::abs(value - b.center) / b.sigma);
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

void AdaptiveBaseline::save(StateWriter& w) const {
  w.u8(kStateVersion);
  w.u32(static_cast<std::uint32_t>(recent_.size()));
  for (const Recent& r : recent_) {
    w.f32(r.value);
    w.u8(r.hour_of_week);
  }
  w.u32(static_cast<std::uint32_t>(recent_next_));
  w.u32(static_cast<std::uint32_t>(hours_.size()));
  for (float h : hours_) w.f32(h);
  for (std::uint8_t c : hour_cursor_) w.u8(c);
  w.i64(open_hour_);
  w.f64(open_sum_);
  w.u32(open_count_);
  for (float p : weekly_profile_) w.f32(p);
  for (float p : daily_profile_) w.f32(p);
  w.u32(static_cast<std::uint32_t>(quarantine_.size()));
  for (const auto& [v, at] : quarantine_) {
    w.f64(v);
    w.i64(toMillis(at));
  }
  w.u32(static_cast<std::uint32_t>(quarantine_next_));
  w.i64(toMillis(quarantine_since_));
  w.f64(frozen_k_);
  w.u64(learned_);
  w.u32(static_cast<std::uint32_t>(since_refresh_));
  w.u8(has_first_ ? 1 : 0);
  w.i64(toMillis(first_));
  w.u8(seasonalityCode(active_));
  w.f64(level_);
  w.f64(sigma_);
  tail_.save(w);
}

// Every check below is an invariant observe() keeps for finite input (the
// checks feed finite statistics: rates, or logs with a positive offset), so a
// state that fails one did not come from save(): refusing it costs the series
// a relearn, accepting it could index out of bounds or poison every bound.
bool AdaptiveBaseline::restore(StateReader& r) {
  const auto reject = [&r] {
    r.fail();
    return false;
  };
  const auto finite_or_none = [](float v) { return std::isnan(v) || std::isfinite(v); };
  if (r.u8() != kStateVersion) return reject();
  AdaptiveBaseline s(options_);

  const std::uint32_t recent = r.u32();
  if (recent > kRecent) return reject();
  s.recent_.resize(recent);
  for (Recent& x : s.recent_) {
    x.value = r.f32();
    x.hour_of_week = r.u8();
    if (!std::isfinite(x.value) || x.hour_of_week >= 168) return reject();
  }
  // The ring fills in order, so until it is full the next slot is its size.
  s.recent_next_ = r.u32();
  if (recent < kRecent ? s.recent_next_ != recent : s.recent_next_ >= kRecent) return reject();

  if (r.u32() != s.hours_.size()) return reject();
  for (float& h : s.hours_) {
    h = r.f32();
    if (!finite_or_none(h)) return reject();
  }
  for (std::uint8_t& c : s.hour_cursor_) {
    c = r.u8();
    if (c >= kWeeksKept) return reject();
  }
  s.open_hour_ = r.i64();
  s.open_sum_ = r.f64();
  s.open_count_ = r.u32();
  // kMinMillis is a whole hour, so the division is exact (no floor needed).
  if (s.open_hour_ < kMinMillis / kHourMs || s.open_hour_ > kMaxMillis / kHourMs ||
      !std::isfinite(s.open_sum_) || (s.open_count_ == 0 && s.open_sum_ != 0)) {
    return reject();
  }
  for (float& p : s.weekly_profile_) {
    p = r.f32();
    if (!finite_or_none(p)) return reject();
  }
  for (float& p : s.daily_profile_) {
    p = r.f32();
    if (!finite_or_none(p)) return reject();
  }

  const std::uint32_t held = r.u32();
  if (held > kQuarantine) return reject();
  s.quarantine_.resize(held);
  for (auto& [v, at] : s.quarantine_) {
    v = r.f64();
    const std::int64_t ms = r.i64();
    if (!std::isfinite(v) || !restorableMillis(ms)) return reject();
    at = timestampFromMillis(ms);
  }
  // The quarantine ring starts at slot 0 and wraps only once full; emptied,
  // it keeps its last index until the next incident resets it.
  s.quarantine_next_ = r.u32();
  if (s.quarantine_next_ >= kQuarantine ||
      (held > 0 && held < kQuarantine && s.quarantine_next_ != 0)) {
    return reject();
  }
  const std::int64_t since = r.i64();
  if (!restorableMillis(since)) return reject();
  s.quarantine_since_ = timestampFromMillis(since);
  // Frozen k is kColdK or a tail-based k, never below kBaseK.
  s.frozen_k_ = r.f64();
  if (!std::isfinite(s.frozen_k_) || s.frozen_k_ < kBaseK) return reject();

  // Every learned value passes through recent_; an adoption refills it with
  // the kQuarantine values held. Spreads are refreshed every kRefreshEvery.
  const std::uint64_t learned = r.u64();
  if (learned < recent || recent < std::min<std::uint64_t>(learned, kQuarantine)) return reject();
  s.learned_ = static_cast<std::size_t>(learned);
  s.since_refresh_ = r.u32();
  if (s.since_refresh_ >= kRefreshEvery) return reject();
  const std::uint8_t has_first = r.u8();
  const std::int64_t first = r.i64();
  if (has_first > 1 || (has_first == 1) != (learned > 0) || !restorableMillis(first)) {
    return reject();
  }
  s.has_first_ = has_first == 1;
  s.first_ = timestampFromMillis(first);

  const std::optional<Seasonality> active = seasonalityFromCode(r.u8());
  if (!active) return reject();
  s.level_ = r.f64();
  s.sigma_ = r.f64();
  if (!std::isfinite(s.level_) || !std::isfinite(s.sigma_) || s.sigma_ < 0) return reject();
  if (!s.tail_.restore(r) || r.failed()) return reject();
  // A configured seasonality is the config's choice; only kAuto resumes what it
  // had picked. If the config now names another model than the one the level
  // and spread were measured for, they are measured again for it.
  if (options_.seasonality == Seasonality::kAuto) {
    s.active_ = *active;
  } else if (s.active_ != *active && !s.recent_.empty()) {
    s.refreshSpread();
  }

  *this = std::move(s);
  return true;
}

double AdaptiveBaseline::currentK() const {
  if (tail_.count() < kTailWarmup) return kColdK;
  return std::max(kBaseK, kTailMargin * tail_.estimate());
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
