#include "detectors/dataset_detector.h"

#include <algorithm>
#include <string_view>
#include <utility>

namespace vigil::detectors {

struct DatasetDetector::SeriesState {
  std::optional<LatencyCheck::State> latency;
  std::optional<FreshnessCheck::State> freshness;
  std::optional<VolumeCheck::State> volume;
  std::optional<NullsCheck::State> nulls;
  std::optional<SchemaCheck::State> schema;

  // True while any alert of the series is firing or pending.
  bool alerting() const {
    auto busy = [](const AlertLifecycle& l) { return l.firing() || l.pending(); };
    if (latency && busy(latency->lifecycle)) return true;
    if (freshness && busy(freshness->lifecycle)) return true;
    if (volume && (busy(volume->drop) || busy(volume->spike))) return true;
    if (nulls) {
      for (const auto& l : nulls->fields) {
        if (busy(l)) return true;
      }
    }
    return schema && busy(schema->lifecycle);
  }
};

namespace {

// Idle series are forgotten after an hour, or ten windows, or twice max_age,
// whichever is longest.
Duration evictionAge(const DatasetSpec& spec) {
  Duration d = std::max<Duration>(std::chrono::hours(1), spec.window * 10);
  if (spec.freshness) d = std::max(d, spec.freshness->max_age * 2);
  return d;
}

}  // namespace

// One series' window merged across stores, plus its latest step.
struct DatasetDetector::Merged {
  StepStats window;
  StepStats latest;
  Timestamp first_seen = Timestamp::max();
  Timestamp newest_seen = Timestamp::min();

  void clear() {
    window.clear();
    latest.clear();
    first_seen = Timestamp::max();
    newest_seen = Timestamp::min();
  }
};

DatasetDetector::DatasetDetector(DatasetSpec spec, FreshnessMode mode)
    : spec_(std::move(spec)), freshness_mode_(mode), fields_(std::make_unique<FieldDictionary>()) {
  if (spec_.latency) latency_.emplace(spec_);
  if (spec_.freshness) freshness_.emplace(spec_);
  if (spec_.volume) volume_.emplace(spec_);
  if (spec_.nulls) nulls_.emplace(spec_);
  if (spec_.schema) schema_.emplace(spec_, *fields_);
  evict_after_ = evictionAge(spec_);
  settle_ = spec_.window + spec_.step * 2 + spec_.alert.for_duration + spec_.alert.keep_firing_for +
            (spec_.freshness ? spec_.freshness->max_age : Duration{0});
}

DatasetDetector::DatasetDetector(DatasetDetector&&) noexcept = default;
DatasetDetector::~DatasetDetector() = default;

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
    if (newest_step != Timestamp::min() && *next_end_ > newest_step + settle_) {
      next_end_ = alignDown(watermark, step) + step;  // nothing can change until new data
      break;
    }
    evaluateStep(*next_end_, stores, out);
    *next_end_ += step;
  }
}

DatasetDetector::SeriesState& DatasetDetector::stateFor(std::string_view key) {
  auto it = series_.find(key);
  if (it == series_.end()) it = series_.emplace(std::string(key), std::make_unique<SeriesState>()).first;
  return *it->second;
}

template <class F>
void DatasetDetector::forEachMergedSeries(Timestamp end, std::span<const SeriesStore* const> stores,
                                          F&& f) {
  // Gather (series, store entry) pairs and sort by key: equal keys from several
  // partitions become neighbours to merge, and events come out in key order.
  auto& entries = entries_;
  entries.clear();
  for (const SeriesStore* store : stores) {
    store->forEachSeries([&](std::string_view key, const SeriesStore::Series& series) {
      entries.emplace_back(key, &series);
    });
  }
  // Stable: equal keys keep store order, so sums merge in the same order every time.
  std::stable_sort(entries.begin(), entries.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  Merged merged;
  const Timestamp latest_start = end - spec_.step;
  for (std::size_t i = 0; i < entries.size();) {
    const std::string_view key = entries[i].first;
    merged.clear();
    for (; i < entries.size() && entries[i].first == key; ++i) {
      const SeriesStore::Series& series = *entries[i].second;
      merged.first_seen = std::min(merged.first_seen, series.first_seen);
      merged.newest_seen = std::max(merged.newest_seen, series.newest_seen);
      series.ring.forEachInWindow(end, [&](Timestamp start, const StepStats& s) {
        merged.window.mergeCounts(s);
        if (start == latest_start) merged.latest.merge(s);
      });
      if (latency_) merged.window.latency.merge(series.latencyWindow(end, spec_.window, spec_.step));
    }
    f(key, merged);
  }
}

void DatasetDetector::evaluateStep(Timestamp end, std::span<const SeriesStore* const> stores,
                                   std::vector<FailureEvent>& out) {
  const std::size_t first_event = out.size();
  forEachMergedSeries(end, stores, [&](std::string_view key, const Merged& m) {
    const SeriesContext context{spec_.name, spec_.topic, key};
    if (end - m.newest_seen >= evict_after_) {
      const auto it = series_.find(key);
      if (it == series_.end() || !it->second->alerting()) {
        if (it != series_.end()) series_.erase(it);
        evicted_.emplace_back(key);
        return;
      }
    }
    SeriesState& state = stateFor(key);
    if (freshness_ && freshness_mode_ == FreshnessMode::kAtStepEnds) {
      if (!state.freshness) state.freshness = freshness_->newState();
      if (auto e = freshness_->evaluate(m.newest_seen, end, context, *state.freshness)) {
        out.push_back(std::move(*e));
      }
    }
    if (end - m.first_seen < spec_.window) return;  // not a full window of history yet
    if (latency_) {
      if (!state.latency) state.latency = latency_->newState();
      if (auto e = latency_->evaluate(m.window.latency, end, context, *state.latency)) {
        out.push_back(std::move(*e));
      }
    }
    if (volume_) {
      if (!state.volume) state.volume = volume_->newState();
      volume_->evaluate(m.window.volume, m.window.records, end, context, *state.volume, out);
    }
    if (nulls_) {
      if (!state.nulls) state.nulls = nulls_->newState();
      nulls_->evaluate(m.window.nulls, m.window.records, end, context, *state.nulls, out);
    }
    if (schema_) {
      if (!state.schema) state.schema = schema_->newState();
      if (auto e = schema_->evaluate(m.window.fields, m.latest.fields, m.latest.records, end,
                                     context, *state.schema)) {
        out.push_back(std::move(*e));
      }
    }
  });
  std::stable_sort(out.begin() + static_cast<std::ptrdiff_t>(first_event), out.end(),
                   eventOrderLess);
}

void DatasetDetector::evaluateFreshness(Timestamp now, std::span<const SeriesStore* const> stores,
                                        std::vector<FailureEvent>& out) {
  if (!freshness_) return;
  const std::size_t first_event = out.size();
  std::vector<std::pair<std::string_view, Timestamp>> newest;
  for (const SeriesStore* store : stores) {
    store->forEachSeries([&](std::string_view key, const SeriesStore::Series& series) {
      newest.emplace_back(key, series.newest_seen);
    });
  }
  std::sort(newest.begin(), newest.end());
  for (std::size_t i = 0; i < newest.size();) {
    const std::string_view key = newest[i].first;
    Timestamp t = Timestamp::min();
    for (; i < newest.size() && newest[i].first == key; ++i) t = std::max(t, newest[i].second);
    SeriesState& state = stateFor(key);
    if (!state.freshness) state.freshness = freshness_->newState();
    if (auto e = freshness_->evaluate(t, now, SeriesContext{spec_.name, spec_.topic, key},
                                      *state.freshness)) {
      out.push_back(std::move(*e));
    }
  }
  std::stable_sort(out.begin() + static_cast<std::ptrdiff_t>(first_event), out.end(),
                   eventOrderLess);
}

}  // namespace vigil::detectors
