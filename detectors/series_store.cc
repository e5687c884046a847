#include "detectors/series_store.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <utility>
#include <limits>

namespace vigil::detectors {
std::uint64_t SeriesStore::nextGeneration() {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

SeriesStore::SeriesStore(const DatasetSpec& spec, SeriesBudget* budget)
    : window_(spec.window),
      step_(spec.step),
      lateness_(spec.lateness()),
      lookahead_(lookaheadSteps(spec)),
      max_series_(spec.max_series),
      budget_(budget),
      null_fields_(spec.nulls ? spec.nulls->fields.size() : 0),
      track_shapes_(spec.schema.has_value()) {}

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
      silent_through_(other.silent_through_),
      generation_(other.generation_),
      evictions_(other.evictions_),
      track_shapes_(other.track_shapes_),
      shapes_(std::move(other.shapes_)),
      series_(std::move(other.series_)),
      touched_(std::move(other.touched_)) {}

// A store given up (a revoked partition) returns its series to the budget.
SeriesStore::~SeriesStore() {
  if (budget_ != nullptr && !series_.empty()) budget_->release(series_.size());
}

SeriesStore::AddResult SeriesStore::add(const Observation& obs) {
  const std::uint64_t hash = SeriesMap::hashOf(obs.series);
  Series* found = series_.find(obs.series, hash);
  if (found == nullptr) {
    if (budget_ != nullptr ? !budget_->tryOpen() : series_.size() >= max_series_) {
      return AddResult::kSeriesCap;
    }
    const auto inserted = series_.insert(
        obs.series, hash,
        // One slot more than acceptBefore() uses: the step leaving the window
        // must still be there to be subtracted when the window moves.
        Series{WindowRing<StepStats>(window_, step_, static_cast<std::size_t>(lookahead_) + 1), {},
               hash, obs.event_time, obs.event_time});
    found = &inserted.value;
    found->key = inserted.key;
    generation_ = nextGeneration();
  }
  Series& series = *found;
  const Timestamp newest_before = series.ring.newestStep();
  // The detector reads no step before the lower edge of the window it last
  // judged (windows only move forward): older steps may hand on their slots.
  const Timestamp read_from =
      series.window_end == Timestamp::min() ? Timestamp::min() : series.window_end - window_;
  StepStats* slot = series.ring.slotFor(obs.event_time, read_from);
  if (slot == nullptr) return AddResult::kLate;
  series.first_seen = std::min(series.first_seen, obs.event_time);
  series.newest_seen = std::max(series.newest_seen, obs.event_time);
  newest_step_ = std::max(newest_step_, series.ring.newestStep());
  oldest_seen_ = std::min(oldest_seen_, obs.event_time);
  if (slot->nulls.size() != null_fields_) slot->nulls.resize(null_fields_);
  slot->add(obs);
  if (!series.touched) {
    series.touched = true;
    touched_.push_back(&series);
  }
  if (track_shapes_) {
    const std::uint32_t shape = shapes_.intern(obs.fields, obs.fields_token);
    slot->addFields(obs.fields, shape, shapes_);
    if (shape != series.shape) {
      // Every step up to the newest before this record may hold the old shape.
      if (series.shape != StepStats::kNoFields) {
        series.mixed_until = std::max(series.mixed_until, newest_before + step_);
      }
      series.shape = shape;
    }
  }
  // A late record inside the window already totalled joins the totals too.
  if (series.window_end != Timestamp::min() && obs.event_time < series.window_end &&
      obs.event_time >= series.window_end - window_) {
    WindowTotals& w = series.totals;
    ++w.records;
    if (w.nulls.size() != null_fields_) w.nulls.resize(null_fields_);
    addNullMask(w.nulls, obs.null_mask);
    if (obs.latency_seconds) {
      const double v = *obs.latency_seconds;
      const bool first = w.latency.empty();
      const std::uint64_t before = w.latency.count();
      w.latency.add(v);
      if (w.latency.count() != before) {
        w.latency_min = first ? v : std::min(w.latency_min, v);
        w.latency_max = first ? v : std::max(w.latency_max, v);
        w.latency.setExtremes(w.latency_min, w.latency_max);
      }
    }
  }
  return AddResult::kAdded;
}

namespace {

void addCounts(SeriesStore::WindowTotals& w, const StepStats& s) {
  w.records += s.records;
  if (w.nulls.size() < s.nulls.size()) w.nulls.resize(s.nulls.size());
  for (std::size_t i = 0; i < s.nulls.size(); ++i) w.nulls[i] += s.nulls[i];
}

void subtractCounts(SeriesStore::WindowTotals& w, const StepStats& s) {
  w.records -= s.records;
  for (std::size_t i = 0; i < s.nulls.size() && i < w.nulls.size(); ++i) w.nulls[i] -= s.nulls[i];
}

}  // namespace

const SeriesStore::WindowTotals& SeriesStore::Series::windowAt(Timestamp end, Duration window,
                                                               Duration step) const {
  if (window_end == end) return totals;
  WindowTotals& w = totals;
  // Slide one step at a time while that touches fewer sub-windows than
  // summing the window afresh: a series judged only now and then (nothing
  // changed in between) moves a few steps at once.
  const std::int64_t steps_in_window = (window + step - step / 2) / step;
  const bool slides = window_end != Timestamp::min() && end > window_end &&
                      (end - window_end) % step == Duration{0} &&
                      (end - window_end) / step * 2 <= steps_in_window;
  bool extremes_known = slides;
  const auto enter = [&](const StepStats& entering) {
    addCounts(w, entering);
    if (!entering.latency.empty()) {
      w.latency_min = w.latency.empty() ? entering.latency.min()
                                        : std::min(w.latency_min, entering.latency.min());
      w.latency_max = w.latency.empty() ? entering.latency.max()
                                        : std::max(w.latency_max, entering.latency.max());
      w.latency.merge(entering.latency);
    }
  };
  const auto leave = [&](const StepStats& s) {
    subtractCounts(w, s);
    if (!s.latency.empty()) {
      w.latency.subtract(s.latency);
      // An extreme that leaves must be looked for again among the steps that stay.
      if (s.latency.min() <= w.latency_min || s.latency.max() >= w.latency_max) {
        extremes_known = false;
      }
    }
  };
  // The window ending at t leaves the step starting at t - back when it moves
  // on; a window that is not a multiple of the step never includes the step
  // straddling its lower edge.
  const Duration back = step * (window / step);
  if (slides && ring.fewHeld() &&
      ring.pooled() < static_cast<std::size_t>((end - window_end) / step)) {
    // A sparse series moved over many steps: its few held steps are visited
    // instead of every step passed, and applied in the order the step by
    // step slide below would meet them (at t: the step entering at t, then
    // the one leaving at t).
    struct Move {
      Timestamp at;
      bool leaves;
      const StepStats* stats;
    };
    std::array<Move, 2 * WindowRing<StepStats>::kFewHeld> moves;
    std::size_t n = 0;
    ring.forEachHeld([&](Timestamp s, const StepStats& stats) {
      if (s >= window_end && s < end) moves[n++] = Move{s, false, &stats};
      if (s >= window_end - back && s < end - back) moves[n++] = Move{s + back, true, &stats};
    });
    std::sort(moves.begin(), moves.begin() + static_cast<std::ptrdiff_t>(n),
              [](const Move& a, const Move& b) {
                return a.at != b.at ? a.at < b.at : !a.leaves && b.leaves;
              });
    for (std::size_t i = 0; i < n; ++i) {
      if (moves[i].leaves) {
        leave(*moves[i].stats);
      } else {
        enter(*moves[i].stats);
      }
    }
  } else if (slides) {
    for (; window_end < end; window_end += step) {
      if (const StepStats* entering = ring.slotAt(window_end)) enter(*entering);
      if (const StepStats* s = ring.slotAt(window_end - back)) leave(*s);
    }
  } else {
    w.latency.clear();
    w.records = 0;
    std::fill(w.nulls.begin(), w.nulls.end(), 0);
    ring.forEachInWindow(end, [&](Timestamp, const StepStats& s) {
      addCounts(w, s);
      w.latency.merge(s.latency);
    });
  }
  window_end = end;
  if (w.latency.empty()) return w;
  if (!extremes_known) {
    double lo = std::numeric_limits<double>::infinity();
    double hi = -lo;
    const auto widen = [&](Timestamp, const StepStats& s) {
      if (s.latency.empty()) return;
      lo = std::min(lo, s.latency.min());
      hi = std::max(hi, s.latency.max());
    };
    if (ring.fewHeld()) {
      // In any order: the extremes do not depend on it.
      const Timestamp lower = end - back;
      ring.forEachHeld([&](Timestamp s, const StepStats& stats) {
        if (s >= lower && s < end) widen(s, stats);
      });
    } else {
      ring.forEachInWindow(end, widen);
    }
    w.latency_min = lo;
    w.latency_max = hi;
  }
  w.latency.setExtremes(w.latency_min, w.latency_max);
  return w;
}

}  // namespace vigil::detectors
