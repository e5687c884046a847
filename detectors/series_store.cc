#include "detectors/series_store.h"

#include <algorithm>
#include <utility>
#include <limits>

namespace vigil::detectors {
SeriesStore::SeriesStore(const DatasetSpec& spec, SeriesBudget* budget)
    : window_(spec.window),
      step_(spec.step),
      lateness_(spec.lateness()),
      lookahead_(lookaheadSteps(spec)),
      max_series_(spec.max_series),
      budget_(budget),
      null_fields_(spec.nulls ? spec.nulls->fields.size() : 0) {}

SeriesStore::SeriesStore(SeriesStore&& other) noexcept
    : window_(other.window_),
      step_(other.step_),
      lateness_(other.lateness_),
      lookahead_(other.lookahead_),
      max_series_(other.max_series_),
      budget_(std::exchange(other.budget_, nullptr)),
      null_fields_(other.null_fields_),
      newest_step_(other.newest_step_),
      oldest_seen_(other.oldest_seen_),
      series_(std::move(other.series_)) {}

// A store given up (a revoked partition) returns its series to the budget.
SeriesStore::~SeriesStore() {
  if (budget_ != nullptr && !series_.empty()) budget_->release(series_.size());
}

SeriesStore::AddResult SeriesStore::add(const Observation& obs) {
  auto it = series_.find(obs.series);
  if (it == series_.end()) {
    if (budget_ != nullptr ? !budget_->tryOpen() : series_.size() >= max_series_) {
      return AddResult::kSeriesCap;
    }
    it = series_
             .emplace(std::string(obs.series),
                      // One slot more than acceptBefore() uses: the step leaving the window
                      // must still be there to be subtracted when the window moves.
                      Series{WindowRing<StepStats>(window_, step_,
                                                   static_cast<std::size_t>(lookahead_) + 1),
                             obs.event_time, obs.event_time})
             .first;
  }
  Series& series = it->second;
  StepStats* slot = series.ring.slotFor(obs.event_time);
  if (slot == nullptr) return AddResult::kLate;
  series.first_seen = std::min(series.first_seen, obs.event_time);
  series.newest_seen = std::max(series.newest_seen, obs.event_time);
  newest_step_ = std::max(newest_step_, series.ring.newestStep());
  oldest_seen_ = std::min(oldest_seen_, obs.event_time);
  if (slot->nulls.size() != null_fields_) slot->nulls.resize(null_fields_);
  slot->add(obs);
  // A late record inside the window already aggregated joins the aggregate too.
  if (obs.latency_seconds && series.window_end != Timestamp::min() &&
      obs.event_time < series.window_end && obs.event_time >= series.window_end - window_) {
    series.window_latency.add(*obs.latency_seconds);
  }
  return AddResult::kAdded;
}

const QuantileSketch& SeriesStore::Series::latencyWindow(Timestamp end, Duration window,
                                                         Duration step) const {
  if (window_end == end) return window_latency;
  if (window_end != Timestamp::min() && end - window_end == step) {
    if (const StepStats* entering = ring.slotAt(window_end)) {
      window_latency.merge(entering->latency);
    }
    // The first step of the old window; a window that is not a multiple of
    // the step never includes the step straddling its lower edge.
    Timestamp leaving = alignDown(window_end - window, step);
    if (leaving < window_end - window) leaving += step;
    if (leaving < end - window) {
      if (const StepStats* s = ring.slotAt(leaving)) window_latency.subtract(s->latency);
    }
  } else {
    window_latency.clear();
    ring.forEachInWindow(end, [&](Timestamp, const StepStats& s) { window_latency.merge(s.latency); });
  }
  window_end = end;
  if (!window_latency.empty()) {
    // The exact extremes of what remains: each step's, over the window.
    double lo = std::numeric_limits<double>::infinity();
    double hi = -lo;
    ring.forEachInWindow(end, [&](Timestamp, const StepStats& s) {
      if (s.latency.empty()) return;
      lo = std::min(lo, s.latency.min());
      hi = std::max(hi, s.latency.max());
    });
    window_latency.setExtremes(lo, hi);
  }
  return window_latency;
}

}  // namespace vigil::detectors
