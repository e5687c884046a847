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

// One series' window merged across stores, plus its latest step. With a
// single store (the common case) the statistics that store keeps whole — the
// window's latency sketch, a step's fields — are pointed to, not copied.
struct DatasetDetector::Merged {
  std::uint64_t records = 0;
  double volume = 0;
  std::vector<std::uint32_t> nulls;
  const QuantileSketch* latency = nullptr;
  const FieldSet* fields = nullptr;
  std::uint64_t latest_records = 0;
  const FieldSet* latest_fields = nullptr;
  Timestamp first_seen = Timestamp::max();
  Timestamp newest_seen = Timestamp::min();
  // Storage for what several stores contribute.
  QuantileSketch merged_latency;
  FieldSet merged_fields;
  FieldSet merged_latest_fields;

  void clear() {
    records = 0;
    volume = 0;
    std::fill(nulls.begin(), nulls.end(), 0);
    latency = nullptr;
    fields = nullptr;
    latest_records = 0;
    latest_fields = nullptr;
    first_seen = Timestamp::max();
    newest_seen = Timestamp::min();
  }
};

DatasetDetector::DatasetDetector(DatasetSpec spec, FreshnessMode mode)
    : spec_(std::move(spec)),
      freshness_mode_(mode),
      fields_(std::make_unique<FieldDictionary>()),
      merged_(std::make_unique<Merged>()) {
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
  // (series, store) pairs sorted by key: equal keys from several partitions
  // become neighbours to merge, and events come out in key order. Sorted
  // again only when the stores or their sets of series changed.
  std::vector<std::pair<const SeriesStore*, std::uint64_t>> generations;
  generations.reserve(stores.size());
  for (const SeriesStore* store : stores) generations.emplace_back(store, store->generation());
  if (generations != entries_generations_) {
    entries_.clear();
    for (const SeriesStore* store : stores) {
      store->forEachSeries([&](std::string_view key, const SeriesStore::Series& series) {
        entries_.push_back(Entry{key, &series, store});
      });
    }
    // Stable: equal keys keep store order, so sums merge in the same order every time.
    std::stable_sort(entries_.begin(), entries_.end(),
                     [](const Entry& a, const Entry& b) { return a.key < b.key; });
    entries_generations_ = std::move(generations);
  }

  static const FieldSet kNoFields;
  Merged& m = *merged_;
  m.nulls.assign(nulls_ ? spec_.nulls->fields.size() : 0, 0);
  const bool summed_volume = spec_.volume && spec_.volume->count_field;
  const Timestamp latest_start = end - spec_.step;
  for (std::size_t i = 0; i < entries_.size();) {
    const std::string_view key = entries_[i].key;
    std::size_t n = 1;
    while (i + n < entries_.size() && entries_[i + n].key == key) ++n;
    const std::span<const Entry> group = std::span(entries_).subspan(i, n);
    i += n;
    m.clear();
    if (n > 1) {
      m.merged_latency.clear();
      m.merged_fields.clear();
      m.merged_latest_fields.clear();
      m.latency = &m.merged_latency;
      m.fields = &m.merged_fields;
      m.latest_fields = &m.merged_latest_fields;
    }
    for (const Entry& e : group) {
      const SeriesStore::Series& series = *e.series;
      m.first_seen = std::min(m.first_seen, series.first_seen);
      m.newest_seen = std::max(m.newest_seen, series.newest_seen);
      const SeriesStore::WindowTotals& w = series.windowAt(end, spec_.window, spec_.step);
      m.records += w.records;
      for (std::size_t k = 0; k < w.nulls.size() && k < m.nulls.size(); ++k) m.nulls[k] += w.nulls[k];
      if (summed_volume) {
        series.ring.forEachInWindow(end, [&](Timestamp, const StepStats& s) { m.volume += s.volume; });
      }
      const StepStats* latest = series.ring.slotAt(latest_start);
      if (latest != nullptr) m.latest_records += latest->records;
      if (n == 1) {
        m.latency = &w.latency;
        m.latest_fields = latest != nullptr ? &latest->fields : &kNoFields;
        if (!schema_ || w.records == 0) {
          m.fields = &kNoFields;
        } else if (series.oneShape(end, spec_.window)) {
          m.fields = &e.store->shapes().fields(series.shape);
        } else {
          m.merged_fields.clear();
          series.ring.forEachInWindow(
              end, [&](Timestamp, const StepStats& s) { m.merged_fields.merge(s.fields); });
          m.fields = &m.merged_fields;
        }
      } else {
        m.merged_latency.merge(w.latency);
        if (latest != nullptr) m.merged_latest_fields.merge(latest->fields);
        if (schema_) {
          series.ring.forEachInWindow(
              end, [&](Timestamp, const StepStats& s) { m.merged_fields.merge(s.fields); });
        }
      }
    }
    if (!summed_volume) m.volume = static_cast<double>(m.records);
    f(key, m);
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
      if (auto e = latency_->evaluate(*m.latency, end, context, *state.latency)) {
        out.push_back(std::move(*e));
      }
    }
    if (volume_) {
      if (!state.volume) state.volume = volume_->newState();
      volume_->evaluate(m.volume, m.records, end, context, *state.volume, out);
    }
    if (nulls_) {
      if (!state.nulls) state.nulls = nulls_->newState();
      nulls_->evaluate(m.nulls, m.records, end, context, *state.nulls, out);
    }
    if (schema_) {
      if (!state.schema) state.schema = schema_->newState();
      if (auto e = schema_->evaluate(*m.fields, *m.latest_fields, m.latest_records, end,
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
