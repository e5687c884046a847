#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "detectors/dataset_spec.h"
#include "detectors/observation.h"
#include "detectors/step_stats.h"
#include "detectors/string_map.h"
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
  // What a check needs of a whole window, kept per series and moved one step
  // at a time: the step that enters is added and the one that leaves is
  // subtracted (counts and DDSketch buckets subtract exactly), so judging a
  // series at a step end touches two sub-windows, not all of them.
  struct WindowTotals {
    QuantileSketch latency;  // seconds; exact extremes restored after each move
    std::uint64_t records = 0;
    std::vector<std::uint32_t> nulls;  // per nulls.fields entry
    double latency_min = 0;            // exact extremes of `latency` while it is not empty
    double latency_max = 0;
  };

  struct Series {
    WindowRing<StepStats> ring;
    std::string_view key;   // the store's own copy (the map's key)
    std::uint64_t hash = 0;  // SeriesMap::hashOf(key): whoever maps keys reuses it
    Timestamp first_seen;   // oldest event time seen
    Timestamp newest_seen;  // newest event time seen
    // The FieldShapes id of the newest records, and the end of the newest step
    // that may hold records of another shape: a window that starts at or after
    // it holds `shape` only, and its fields need no merge.
    std::uint32_t shape = StepStats::kNoFields;
    Timestamp mixed_until = Timestamp::min();
    // The totals of the window [window_end - window, window_end). Written by
    // the evaluating thread between record batches.
    mutable WindowTotals totals;
    mutable Timestamp window_end = Timestamp::min();
    // The DatasetDetector's schedule: the next step end at which it must
    // judge this series even if no record arrives (Timestamp::min(): at the
    // next one), and where the series sits in its list. Written by the
    // evaluating thread between record batches, like the totals.
    static constexpr std::uint32_t kUnlisted = 0xffffffff;
    mutable Timestamp due = Timestamp::min();
    mutable std::uint32_t group = kUnlisted;  // kUnlisted until the detector lists it
    mutable bool touched = false;             // in the store's touched list

    // The totals of the window ending at `end`, brought up to date.
    const WindowTotals& windowAt(Timestamp end, Duration window, Duration step) const;
    // True when every record of the window ending at `end` has `shape`.
    bool oneShape(Timestamp end, Duration window) const {
      return shape < StepStats::kNoFields && end - window >= mixed_until;
    }
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
  Duration window() const { return window_; }
  Duration lateness() const { return lateness_; }

  // Rebuilding after a restart or a rebalance: the detector judges this
  // store's series at step ends up to `t` without emitting (their events were
  // delivered before, or their windows miss input that is gone). Only grows.
  void silenceThrough(Timestamp t) { silent_through_ = std::max(silent_through_, t); }
  Timestamp silentThrough() const { return silent_through_; }

  // Places the observation in its series' sub-window. kLate when its step has
  // already been recycled; kSeriesCap when it would open a series beyond
  // max_series. Never throws on the record path.
  AddResult add(const Observation& obs);

  using SeriesMap = StringMap<Series>;

  template <class F>
  void forEachSeries(F&& f) const {
    series_.forEach([&](std::string_view key, const Series& series) { f(key, series); });
  }

  std::size_t seriesCount() const { return series_.size(); }
  // Changes whenever a series is opened or forgotten: a reader that cached
  // the set of series knows when to look again. Unique across all stores of
  // the process, so a new store at a freed one's address never repeats it.
  std::uint64_t generation() const { return generation_; }
  // Forgets a series (the detector decided it is idle); no-op if absent.
  void evict(std::string_view key) {
    const std::uint64_t hash = SeriesMap::hashOf(key);
    if (const Series* series = series_.find(key, hash)) {
      if (series->touched) std::erase(touched_, series);
      series_.erase(key, hash);
      ++evictions_;
      generation_ = nextGeneration();
      if (budget_ != nullptr) budget_->release(1);
    }
  }
  // Calls f(series) for every series that received a record since the last
  // drainTouched(), a new one among them, without forgetting them.
  template <class F>
  void forEachTouched(F&& f) const {
    for (const Series* series : touched_) f(*series);
  }
  // Series forgotten so far: with generation(), tells a reader whether the
  // set of series only grew.
  std::uint64_t evictions() const { return evictions_; }

  // Calls f(series) once for every series that received a record since the
  // last call, and forgets them: what the detector needs to judge.
  template <class F>
  void drainTouched(F&& f) const {
    for (const Series* series : touched_) {
      series->touched = false;
      f(*series);
    }
    touched_.clear();
  }

  // The record shapes the steps' `shape` ids refer to.
  const FieldShapes& shapes() const { return shapes_; }

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
  static std::uint64_t nextGeneration();

  Duration window_;
  Duration step_;
  Duration lateness_;
  std::int64_t lookahead_;
  std::uint32_t max_series_;
  SeriesBudget* budget_;
  std::size_t null_fields_;
  Timestamp newest_step_ = Timestamp::min();
  Timestamp oldest_seen_ = Timestamp::max();
  Timestamp silent_through_ = Timestamp::min();
  std::uint64_t generation_ = nextGeneration();
  std::uint64_t evictions_ = 0;
  bool track_shapes_;  // the schema check runs
  FieldShapes shapes_;
  SeriesMap series_;
  mutable std::vector<const Series*> touched_;  // drained by the evaluating thread
};

}  // namespace vigil::detectors
