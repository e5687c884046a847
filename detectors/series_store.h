#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "detectors/dataset_spec.h"
#include "detectors/observation.h"
#include "detectors/step_stats.h"
#include "detectors/window.h"

namespace vigil::detectors {

// Shares a dataset's max_series between the stores of its partitions: a store
// asks before opening a series and says when it lets series go. Implemented
// where the stores run (stream/ makes it atomic); must be thread-safe there.
class SeriesBudget {
 public:
  virtual ~SeriesBudget() = default;
  virtual bool tryOpen() = 0;
  virtual void release(std::size_t n) = 0;
};

// The windowed state of every series of one dataset seen on one input
// partition (replay has exactly one). Records go in through add(); the
// DatasetDetector reads the windows at each step end. Owned by one partition
// worker and touched by one thread at a time; not thread-safe.
class SeriesStore {
 public:
  struct Series {
    WindowRing<StepStats> ring;
    Timestamp first_seen;   // oldest event time seen
    Timestamp newest_seen;  // newest event time seen
    // The latency sketch of the window [window_end - window, window_end),
    // moved one step at a time by adding the new step and subtracting the
    // expired one, instead of re-merging every sub-window at every step.
    // Written by the evaluating thread between record batches.
    mutable QuantileSketch window_latency;
    mutable Timestamp window_end = Timestamp::min();

    // The window's latency sketch at `end`, brought up to date.
    const QuantileSketch& latencyWindow(Timestamp end, Duration window, Duration step) const;
  };

  enum class AddResult { kAdded, kLate, kSeriesCap };

  // Without a budget the store caps its own series at max_series.
  explicit SeriesStore(const DatasetSpec& spec, SeriesBudget* budget = nullptr);
  ~SeriesStore();
  SeriesStore(SeriesStore&& other) noexcept;
  SeriesStore& operator=(SeriesStore&&) = delete;
  SeriesStore(const SeriesStore&) = delete;
  SeriesStore& operator=(const SeriesStore&) = delete;

  // Sub-windows kept beyond the window: enough for records within the allowed
  // lateness and a few steps of skew between the partitions of one dataset.
  static std::int64_t lookaheadSteps(const DatasetSpec& spec) {
    return 2 + spec.lateness() / spec.step;
  }

  Duration step() const { return step_; }
  Duration lateness() const { return lateness_; }

  // Places the observation in its series' sub-window. kLate when its step has
  // already been recycled; kSeriesCap when it would open a series beyond
  // max_series. Never throws on the record path.
  AddResult add(const Observation& obs);

  template <class F>
  void forEachSeries(F&& f) const {
    for (const auto& [key, series] : series_) f(std::string_view(key), series);
  }

  std::size_t seriesCount() const { return series_.size(); }
  // Forgets a series (the detector decided it is idle); no-op if absent.
  void evict(std::string_view key) {
    if (const auto it = series_.find(key); it != series_.end()) {
      series_.erase(it);
      if (budget_ != nullptr) budget_->release(1);
    }
  }

  // Records with an event time before this can be added without recycling a
  // sub-window still needed by the evaluation of `next_step_end`.
  Timestamp acceptBefore(Timestamp next_step_end) const {
    return next_step_end + step_ * lookahead_;
  }
  // The newest step start held by any series; Timestamp::min() when empty.
  Timestamp newestStep() const { return newest_step_; }
  // The oldest event time ever added; Timestamp::max() when nothing was.
  Timestamp oldestSeen() const { return oldest_seen_; }

 private:
  struct KeyHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  Duration window_;
  Duration step_;
  Duration lateness_;
  std::int64_t lookahead_;
  std::uint32_t max_series_;
  SeriesBudget* budget_;
  std::size_t null_fields_;
  Timestamp newest_step_ = Timestamp::min();
  Timestamp oldest_seen_ = Timestamp::max();
  std::unordered_map<std::string, Series, KeyHash, std::equal_to<>> series_;
};

}  // namespace vigil::detectors
