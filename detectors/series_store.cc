#include "detectors/series_store.h"

#include <algorithm>

namespace vigil::detectors {
SeriesStore::SeriesStore(const DatasetSpec& spec)
    : window_(spec.window),
      step_(spec.step),
      lateness_(spec.lateness()),
      lookahead_(lookaheadSteps(spec)),
      max_series_(spec.max_series),
      null_fields_(spec.nulls ? spec.nulls->fields.size() : 0) {}

SeriesStore::AddResult SeriesStore::add(const Observation& obs) {
  auto it = series_.find(obs.series);
  if (it == series_.end()) {
    if (series_.size() >= max_series_) return AddResult::kSeriesCap;
    it = series_
             .emplace(std::string(obs.series),
                      Series{WindowRing<StepStats>(window_, step_, static_cast<std::size_t>(lookahead_)), obs.event_time,
                             obs.event_time})
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
  return AddResult::kAdded;
}

}  // namespace vigil::detectors
