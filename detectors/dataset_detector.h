#pragma once

#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "detectors/dataset_spec.h"
#include "detectors/failure_event.h"
#include "detectors/latency_check.h"
#include "detectors/series_store.h"
#include "detectors/step_stats.h"

namespace vigil::detectors {

// Judges every series of one dataset at every step end, in event time.
//
// The windows live in SeriesStores (one per input partition); this class owns
// what outlives a window: each series' alert lifecycles. At a step end E it
// merges each series' sub-windows in [E - window, E) across all stores, skips
// series whose first record is less than a window old, runs every configured
// check and appends the resulting events, ordered by (dataset, pipeline_id,
// failure_type). `replay` drives it with one store and a watermark that follows
// the input; `detect` with one store per partition and the dataset watermark.
// Not thread-safe: called by one thread between record batches.
class DatasetDetector {
 public:
  explicit DatasetDetector(DatasetSpec spec);

  const DatasetSpec& spec() const { return spec_; }

  // Evaluates every step end E not yet evaluated with E <= watermark, oldest
  // first. Stretches where no store holds data inside the window are skipped
  // in O(1): an empty window cannot change any alert.
  void advanceTo(Timestamp watermark, std::span<const SeriesStore* const> stores,
                 std::vector<FailureEvent>& out);

  // The next step end to evaluate; nullopt before any data was seen. A store
  // may accept records up to (but excluding) nextStepEnd() + lookahead steps
  // without recycling a sub-window that evaluation still needs.
  std::optional<Timestamp> nextStepEnd() const { return next_end_; }

  // True when a record this old must be dropped: it is more than the allowed
  // lateness behind the watermark.
  bool isLate(Timestamp event_time, Timestamp watermark) const {
    return event_time < watermark - spec_.lateness();
  }

  std::size_t trackedSeries() const { return series_.size(); }

 private:
  struct SeriesState {
    std::optional<LatencyCheck::State> latency;
  };

  void evaluateStep(Timestamp end, std::span<const SeriesStore* const> stores,
                    std::vector<FailureEvent>& out);

  DatasetSpec spec_;
  std::optional<LatencyCheck> latency_;
  std::optional<Timestamp> next_end_;
  std::unordered_map<std::string, SeriesState> series_;
  StepStats scratch_;  // the merged window of the series being judged
};

}  // namespace vigil::detectors
