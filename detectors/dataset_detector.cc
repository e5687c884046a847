#include "detectors/dataset_detector.h"

#include <algorithm>
#include <string_view>
#include <utility>

namespace vigil::detectors {

DatasetDetector::DatasetDetector(DatasetSpec spec) : spec_(std::move(spec)) {
  if (spec_.latency) latency_.emplace(spec_);
}

void DatasetDetector::advanceTo(Timestamp watermark, std::span<const SeriesStore* const> stores,
                                std::vector<FailureEvent>& out) {
  const Duration step = spec_.step;
  if (!next_end_) {
    Timestamp oldest = Timestamp::max();
    for (const SeriesStore* store : stores) oldest = std::min(oldest, store->oldestSeen());
    if (oldest == Timestamp::max()) return;
    next_end_ = alignDown(oldest, step) + step;
  }
  Timestamp newest_step = Timestamp::min();
  for (const SeriesStore* store : stores) newest_step = std::max(newest_step, store->newestStep());

  while (*next_end_ <= watermark) {
    if (newest_step < *next_end_ - spec_.window) {
      // Every window from here to the watermark is empty.
      next_end_ = alignDown(watermark, step) + step;
      break;
    }
    evaluateStep(*next_end_, stores, out);
    *next_end_ += step;
  }
}

void DatasetDetector::evaluateStep(Timestamp end, std::span<const SeriesStore* const> stores,
                                   std::vector<FailureEvent>& out) {
  // Gather (series, store entry) pairs and sort by key: equal keys from several
  // partitions become neighbours to merge, and events come out in key order.
  std::vector<std::pair<std::string_view, const SeriesStore::Series*>> entries;
  for (const SeriesStore* store : stores) {
    store->forEachSeries([&](std::string_view key, const SeriesStore::Series& series) {
      entries.emplace_back(key, &series);
    });
  }
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });

  const std::size_t first_event = out.size();
  for (std::size_t i = 0; i < entries.size();) {
    const std::string_view key = entries[i].first;
    scratch_.clear();
    Timestamp first_seen = Timestamp::max();
    for (; i < entries.size() && entries[i].first == key; ++i) {
      const SeriesStore::Series& series = *entries[i].second;
      first_seen = std::min(first_seen, series.first_seen);
      series.ring.forEachInWindow(end, [&](Timestamp, const StepStats& s) { scratch_.merge(s); });
    }
    if (end - first_seen < spec_.window) continue;  // not a full window of history yet

    auto [it, inserted] = series_.try_emplace(std::string(key));
    SeriesState& state = it->second;
    const SeriesContext context{spec_.name, spec_.topic, key};
    if (latency_) {
      if (!state.latency) state.latency = latency_->newState();
      if (auto event = latency_->evaluate(scratch_.latency, end, context, *state.latency)) {
        event->severity = spec_.alert.severity;
        out.push_back(std::move(*event));
      }
    }
  }
  std::stable_sort(out.begin() + static_cast<std::ptrdiff_t>(first_event), out.end(),
                   eventOrderLess);
}

}  // namespace vigil::detectors
