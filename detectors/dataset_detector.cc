#include "detectors/dataset_detector.h"

#include <bit>
#include <iterator>
#include <numeric>

#include <algorithm>

#include "detectors/state_codec.h"
#include <string_view>
#include <utility>

namespace vigil::detectors {

struct DatasetDetector::SeriesState {
  bool judged_since_checkpoint = false;
  bool in_alerting = false;  // listed in the detector's alerting_
  // The newest step end whose window the checks judged (restored from a
  // checkpoint: a rebuilt window does not teach the baselines a step twice).
  Timestamp judged_through = Timestamp::min();
  std::optional<LatencyCheck::State> latency;
  std::optional<FreshnessCheck::State> freshness;
  std::optional<VolumeCheck::State> volume;
  std::optional<NullsCheck::State> nulls;
  std::optional<SchemaCheck::State> schema;

  // The earliest time any alert of the series was breached since, while
  // firing or pending; Timestamp::max() when none is.
  Timestamp breachedSince() const {
    Timestamp out = Timestamp::max();
    anyLifecycle([&](const AlertLifecycle& l) {
      if (const auto since = l.breachedSince()) out = std::min(out, *since);
      return false;
    });
    return out;
  }
  // True while any alert of the series is firing or pending.
  bool alerting() const {
    return anyLifecycle([](const AlertLifecycle& l) { return l.firing() || l.pending(); });
  }
  // True when, with its window unchanged, judging the series again can change
  // nothing: no alert pending or clearing, no schema drift being watched.
  bool settled() const {
    return !anyLifecycle([](const AlertLifecycle& l) { return !l.settled(); }) &&
           (!schema || schema->candidate.empty());
  }

 private:
  template <class P>
  bool anyLifecycle(P&& p) const {
    if (latency && p(latency->lifecycle)) return true;
    if (freshness && p(freshness->lifecycle)) return true;
    if (volume && (p(volume->drop) || p(volume->spike))) return true;
    if (nulls && std::any_of(nulls->fields.begin(), nulls->fields.end(), p)) return true;
    return schema && p(schema->lifecycle);
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
  Timestamp silent_through = Timestamp::min();  // the latest of its stores'
  SeriesState** state = nullptr;  // the cached alert state of the series (may hold null)
  // Storage for what several stores contribute.
  QuantileSketch merged_latency;
  FieldSet merged_fields;
  FieldSet merged_latest_fields;

  void clear() {
    records = 0;
    volume = 0;
    latency = nullptr;
    fields = nullptr;
    latest_records = 0;
    latest_fields = nullptr;
    first_seen = Timestamp::max();
    newest_seen = Timestamp::min();
    silent_through = Timestamp::min();
  }
};

// What one block of a parallel pass found; the calling thread applies it.
struct DatasetDetector::Block {
  Merged merged;
  std::vector<FailureEvent> events;
  std::vector<std::pair<std::uint32_t, Timestamp>> due;  // (group, its next judgement)
  std::vector<SeriesState*> alerting_changed;  // to list in or unlist from alerting_
  std::vector<std::uint32_t> shared;           // groups left to the calling thread
  std::uint64_t silenced = 0;

  void clear() {
    events.clear();
    due.clear();
    alerting_changed.clear();
    shared.clear();
    silenced = 0;
  }
};

namespace {

const FieldSet kNoFields;

// Merges into `into` the fields of every step of `series`' window ending at `end`. Steps of one
// shape share its set: a run of them is merged once (a merge is a union).
void mergeWindowFields(const SeriesStore::Series& series, const FieldShapes& shapes, Timestamp end,
                       FieldSet& into) {
  const FieldSet* last = nullptr;
  series.ring.forEachInWindow(end, [&](Timestamp, const StepStats& s) {
    const FieldSet& fields = s.fields(shapes);
    if (&fields != last) into.merge(fields);
    last = &fields;
  });
}

// Takes back the events a series was judged to emit since `before` while its
// windows are rebuilt (SeriesStore::silenceThrough); returns how many.
std::uint64_t dropSilenced(Timestamp end, Timestamp silent_through, std::vector<FailureEvent>& out,
                           std::size_t before) {
  if (end > silent_through || out.size() <= before) return 0;
  const std::uint64_t dropped = out.size() - before;
  out.resize(before);
  return dropped;
}

}  // namespace

DatasetDetector::DatasetDetector(DatasetSpec spec, FreshnessMode mode)
    : DatasetDetector(std::move(spec), mode, std::make_shared<FieldDictionary>()) {}

DatasetDetector::DatasetDetector(DatasetSpec spec, FreshnessMode mode,
                                 std::shared_ptr<FieldDictionary> fields)
    : spec_(std::move(spec)),
      freshness_mode_(mode),
      fields_(std::move(fields)),
      merged_(std::make_unique<Merged>()) {
  if (spec_.latency) latency_.emplace(spec_);
  if (spec_.freshness) freshness_.emplace(spec_);
  if (spec_.volume) volume_.emplace(spec_);
  if (spec_.nulls) nulls_.emplace(spec_);
  if (spec_.schema) schema_.emplace(spec_, *fields_);
  evict_after_ = evictionAge(spec_);
  learns_every_step_ = (spec_.latency && spec_.latency->adaptive) ||
                       (spec_.volume && spec_.volume->adaptive) || (spec_.nulls && spec_.nulls->adaptive);
  checkpointed_ = spec_.schema || (spec_.latency && spec_.latency->adaptive) ||
                  (spec_.volume && spec_.volume->adaptive) || (spec_.nulls && spec_.nulls->adaptive);
  settle_ = spec_.window + spec_.step * 2 + spec_.alert.for_duration + spec_.alert.keep_firing_for +
            (spec_.freshness ? spec_.freshness->max_age : Duration{0});
}

DatasetDetector::DatasetDetector(DatasetDetector&&) noexcept = default;

std::unique_ptr<DatasetDetector> DatasetDetector::catchUp() {
  std::unique_ptr<DatasetDetector> d(new DatasetDetector(spec_, freshness_mode_, fields_));
  d->checkpoint_source_ = this;
  d->parallel_for_ = parallel_for_;
  d->block_series_ = block_series_;
  d->judges_every_series_ = judges_every_series_;
  return d;
}

void DatasetDetector::adopt(DatasetDetector& other) {
  for (auto& [key, state] : other.series_) {
    if (series_.find(key) != series_.end()) continue;
    if (state->in_alerting) alerting_.insert(state.get());
    series_.emplace(key, std::move(state));
  }
  other.series_.clear();
  other.alerting_.clear();
  silenced_events_ += std::exchange(other.silenced_events_, 0);
  for (auto& evicted : other.evicted_checkpoints_) evicted_checkpoints_.push_back(std::move(evicted));
  other.evicted_checkpoints_.clear();
}
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

  bool evaluated = false;
  while (*next_end_ <= watermark) {
    if (newest_step != Timestamp::min() && *next_end_ > newest_step + settle_) {
      next_end_ = alignDown(watermark, step) + step;  // nothing can change until new data
      break;
    }
    evaluateStep(*next_end_, stores, out);
    *next_end_ += step;
    evaluated = true;
  }
  if (evaluated) updateRebuildFrom();
}

void DatasetDetector::updateRebuildFrom() {
  // The windows of the last settle_, and, for an alert firing or pending, a
  // window before its breach began (a step of slack: the breach is known to
  // a step), capped at the eviction age.
  const Timestamp through = evaluatedThrough();
  Timestamp from = through - settle_;
  const auto include = [&](const SeriesState& state) {
    const Timestamp since = state.breachedSince();
    if (since != Timestamp::max()) from = std::min(from, since - spec_.window - spec_.step * 2);
  };
  // Only alerting series can have a breach; the reference mode of
  // judgeEverySeriesEveryStep() looks at all of them, so tests compare the two.
  if (judges_every_series_) {
    for (const auto& [key, state] : series_) include(*state);
  } else {
    for (const SeriesState* state : alerting_) include(*state);
  }
  rebuild_from_ = std::max(from, through - evict_after_);
}

void DatasetDetector::trackAlerting(SeriesState& state) {
  const bool alerting = state.alerting();
  if (alerting == state.in_alerting) return;
  state.in_alerting = alerting;
  if (alerting) {
    alerting_.insert(&state);
  } else {
    alerting_.erase(&state);
  }
}

DatasetDetector::SeriesState& DatasetDetector::stateFor(std::string_view key) {
  auto it = series_.find(key);
  if (it != series_.end()) return *it->second;
  auto state = std::make_unique<SeriesState>();
  if (latency_) state->latency = latency_->newState();
  if (freshness_) state->freshness = freshness_->newState();
  if (volume_) state->volume = volume_->newState();
  if (nulls_) state->nulls = nulls_->newState();
  if (schema_) state->schema = schema_->newState();
  // A detector catching up takes what waits in the one it will join.
  DatasetDetector& owner = checkpoint_source_ != nullptr ? *checkpoint_source_ : *this;
  if (const auto pending = owner.pending_checkpoints_.find(std::string(key));
      pending != owner.pending_checkpoints_.end()) {
    if (restoreState(pending->second, *state)) ++owner.restored_checkpoints_;
    owner.pending_checkpoints_.erase(pending);
  }
  return *series_.emplace(std::string(key), std::move(state)).first->second;
}

// A checkpoint: a version byte, the newest step end judged (ms since the
// epoch), the number of sections, then one tagged,
// length-prefixed section per piece of state, so a reader skips what its
// configuration does not use and a checkpoint cut short is noticed:
//   latency, volume: the AdaptiveBaseline;
//   nulls: per field, its name and its AdaptiveBaseline;
//   schema: the reference, as (field name, JSON type bits) pairs.
namespace {

constexpr std::uint8_t kCheckpointVersion = 1;
constexpr std::uint32_t kMaxNullFields = 32;  // the width of an observation's null mask
enum class Section : std::uint8_t { kLatency = 1, kVolume = 2, kNulls = 3, kSchema = 4 };

std::string saved(const AdaptiveBaseline& b) {
  std::string out;
  StateWriter w(out);
  b.save(w);
  return out;
}

bool restored(std::string_view bytes, AdaptiveBaseline& b) {
  StateReader r(bytes);
  return b.restore(r) && r.done();
}

}  // namespace

void DatasetDetector::saveState(const SeriesState& state, std::string& out) const {
  std::string body;
  StateWriter w(body);
  std::uint8_t sections = 0;
  const auto section = [&](Section tag, const std::string& bytes) {
    w.u8(static_cast<std::uint8_t>(tag));
    w.str(bytes);
    ++sections;
  };
  if (state.latency && state.latency->baseline) section(Section::kLatency, saved(*state.latency->baseline));
  if (state.volume && state.volume->baseline) section(Section::kVolume, saved(*state.volume->baseline));
  if (state.nulls && !state.nulls->baselines.empty()) {
    std::string bytes;
    StateWriter n(bytes);
    n.u32(static_cast<std::uint32_t>(state.nulls->baselines.size()));
    for (std::size_t i = 0; i < state.nulls->baselines.size(); ++i) {
      n.str(spec_.nulls->fields[i]);
      n.str(saved(state.nulls->baselines[i]));
    }
    section(Section::kNulls, bytes);
  }
  if (state.schema && state.schema->reference) {
    std::string bytes;
    StateWriter n(bytes);
    const auto fields = state.schema->reference->fields();
    n.u32(static_cast<std::uint32_t>(fields.size()));
    for (const FieldSeen& f : fields) {
      n.str(fields_->name(f.id));
      n.u8(f.types);
    }
    section(Section::kSchema, bytes);
  }
  StateWriter head(out);
  head.u8(kCheckpointVersion);
  head.i64(toMillis(state.judged_through));
  head.u8(sections);
  out += body;
}

bool DatasetDetector::restoreState(std::string_view bytes, SeriesState& state) {
  // Everything is read into copies first: a checkpoint applies whole or not at all.
  StateReader r(bytes);
  if (r.u8() != kCheckpointVersion || r.failed()) return false;
  const std::int64_t judged_through = r.i64();
  const std::uint8_t sections = r.u8();
  std::optional<AdaptiveBaseline> latency, volume;
  std::vector<std::optional<AdaptiveBaseline>> nulls;
  std::optional<FieldSet> reference;
  for (std::uint8_t section = 0; section < sections; ++section) {
    const auto tag = static_cast<Section>(r.u8());
    const std::string_view body = r.str();
    if (r.failed()) return false;
    switch (tag) {
      case Section::kLatency:
        if (state.latency && state.latency->baseline) {
          latency = *state.latency->baseline;
          if (!restored(body, *latency)) return false;
        }
        break;
      case Section::kVolume:
        if (state.volume && state.volume->baseline) {
          volume = *state.volume->baseline;
          if (!restored(body, *volume)) return false;
        }
        break;
      case Section::kNulls: {
        if (!state.nulls || state.nulls->baselines.empty()) break;
        nulls.assign(state.nulls->baselines.size(), std::nullopt);
        StateReader n(body);
        const std::uint32_t count = n.u32();
        if (count > kMaxNullFields) return false;
        for (std::uint32_t i = 0; i < count && !n.failed(); ++i) {
          const std::string_view name = n.str();
          const std::string_view baseline = n.str();
          // Fields are matched by name: the configuration may have changed.
          const auto& names = spec_.nulls->fields;
          const auto at = std::find(names.begin(), names.end(), name);
          if (at == names.end()) continue;
          auto& b = nulls[static_cast<std::size_t>(at - names.begin())];
          b = state.nulls->baselines[static_cast<std::size_t>(at - names.begin())];
          if (!restored(baseline, *b)) return false;
        }
        if (!n.done()) return false;
        break;
      }
      case Section::kSchema: {
        if (!state.schema) break;
        StateReader n(body);
        const std::uint32_t count = n.u32();
        if (count > FieldDictionary::kMaxFields) return false;
        FieldSet set;
        for (std::uint32_t i = 0; i < count && !n.failed(); ++i) {
          const std::string_view name = n.str();
          const std::uint8_t types = n.u8();
          if (n.failed() || types == 0 || types >= (kJsonObject << 1)) return false;
          // Past the dictionary's cap a name is not tracked: it is left out.
          if (const auto id = fields_->intern(name)) set.add(FieldSeen{*id, types});
        }
        if (!n.done()) return false;
        reference = std::move(set);
        break;
      }
      default:
        break;  // a section a later version added: not ours to read
    }
  }
  if (!r.done()) return false;
  if (latency) *state.latency->baseline = std::move(*latency);
  if (volume) *state.volume->baseline = std::move(*volume);
  for (std::size_t i = 0; i < nulls.size(); ++i) {
    if (nulls[i]) state.nulls->baselines[i] = std::move(*nulls[i]);
  }
  if (reference) state.schema->reference = std::move(reference);
  state.judged_through = timestampFromMillis(judged_through);
  return true;
}

void DatasetDetector::takeCheckpoints(std::vector<std::pair<std::string, std::string>>& out,
                                      bool all) {
  if (!checkpointed_) return;
  for (auto& evicted : evicted_checkpoints_) out.push_back(std::move(evicted));
  evicted_checkpoints_.clear();
  for (auto& [key, state] : series_) {
    if (!all && !state->judged_since_checkpoint) continue;
    std::string bytes;
    saveState(*state, bytes);
    out.emplace_back(key, std::move(bytes));
    state->judged_since_checkpoint = false;
  }
}

bool DatasetDetector::offerCheckpoint(std::string_view series, std::string bytes) {
  // Validated now, against a scratch state, so a bad record is reported where it was read.
  SeriesState scratch;
  if (latency_) scratch.latency = latency_->newState();
  if (volume_) scratch.volume = volume_->newState();
  if (nulls_) scratch.nulls = nulls_->newState();
  if (schema_) scratch.schema = schema_->newState();
  if (!restoreState(bytes, scratch)) return false;
  if (series_.find(series) == series_.end()) {
    pending_checkpoints_.insert_or_assign(std::string(series), std::move(bytes));
  }
  return true;
}

void DatasetDetector::syncEntries(std::span<const SeriesStore* const> stores) {
  std::vector<std::tuple<const SeriesStore*, std::uint64_t, std::uint64_t>> seen;
  seen.reserve(stores.size());
  for (const SeriesStore* store : stores) {
    seen.emplace_back(store, store->generation(), store->evictions());
  }
  if (seen == listed_generations_) return;
  // The same stores, none of which forgot a series: only new series, each
  // in its store's touched list (a series is touched when it is opened).
  // (The reference mode of judgeEverySeriesEveryStep() always lists afresh.)
  bool grew_only = !judges_every_series_ && seen.size() == listed_generations_.size();
  for (std::size_t i = 0; grew_only && i < seen.size(); ++i) {
    grew_only = std::get<0>(seen[i]) == std::get<0>(listed_generations_[i]) &&
                std::get<2>(seen[i]) == std::get<2>(listed_generations_[i]);
  }
  std::size_t total = 0;
  for (const SeriesStore* store : stores) total += store->seriesCount();
  if (grew_only) {
    std::size_t added = 0;
    for (const SeriesStore* store : stores) {
      store->forEachTouched([&](const SeriesStore::Series& series) {
        added += series.group == SeriesStore::Series::kUnlisted ? 1 : 0;
      });
    }
    grew_only = members_.size() + added == total;
  }
  if (grew_only) {
    for (std::uint32_t i = 0; i < stores.size(); ++i) {
      stores[i]->forEachTouched([&](const SeriesStore::Series& series) {
        if (series.group == SeriesStore::Series::kUnlisted) listSeries(series, stores[i], i);
      });
    }
  } else {
    // Afresh: every series is listed again, in store order, and every group
    // queued once at the earliest due time of its members.
    members_.clear();
    groups_.clear();
    group_of_.clear();
    due_.clear();
    members_.reserve(total);
    for (std::uint32_t i = 0; i < stores.size(); ++i) {
      stores[i]->forEachSeries([&](std::string_view, const SeriesStore::Series& series) {
        series.group = SeriesStore::Series::kUnlisted;
        listSeries(series, stores[i], i);
      });
    }
  }
  listed_generations_ = std::move(seen);
}

void DatasetDetector::listSeries(const SeriesStore::Series& series, const SeriesStore* store,
                                 std::uint32_t store_index) {
  const auto m = static_cast<std::uint32_t>(members_.size());
  members_.push_back(Member{&series, store, store_index, kNoMember});
  std::uint32_t g = 0;
  if (const std::uint32_t* found = group_of_.find(series.key, series.hash)) {
    g = *found;
    // Into the chain in store order: equal keys merge in the same order every time.
    Group& group = groups_[g];
    if (store_index < members_[group.first].store_index) {
      members_[m].next = group.first;
      group.first = m;
    } else {
      std::uint32_t k = group.first;
      while (members_[k].next != kNoMember && members_[members_[k].next].store_index <= store_index) {
        k = members_[k].next;
      }
      members_[m].next = members_[k].next;
      members_[k].next = m;
    }
    group.key = members_[group.first].series->key;
    ++group.count;
  } else {
    g = static_cast<std::uint32_t>(groups_.size());
    groups_.push_back(Group{series.key, m, 1});
    group_of_.insert(series.key, series.hash, g);
  }
  series.group = g;
  // The group is due at the earliest due of its members (a new series: at once).
  Timestamp due = series.due;
  forEachMember(groups_[g], [&](const Member& member) { due = std::min(due, member.series->due); });
  if (due != Timestamp::max()) {
    setDue(g, due);
  } else {
    forEachMember(groups_[g], [&](const Member& member) { member.series->due = due; });
  }
}

void DatasetDetector::refreshSchedule(Timestamp end, std::span<const SeriesStore* const> stores) {
  syncEntries(stores);
  // A series that received records is judged at the next step end.
  for (const SeriesStore* store : stores) {
    store->drainTouched([&](const SeriesStore::Series& series) {
      if (series.group < groups_.size() && groupDue(series.group) > end) setDue(series.group, end);
    });
  }
}

Timestamp DatasetDetector::groupDue(std::uint32_t g) const {
  return members_[groups_[g].first].series->due;
}

void DatasetDetector::setDue(std::uint32_t g, Timestamp due) {
  Group& group = groups_[g];
  forEachMember(group, [&](const Member& member) { member.series->due = due; });
  // One queue entry per group at a time, the earliest: a later due is queued
  // when that entry comes up (see collectDue).
  if (due < group.queued) {
    due_[due].push_back(g);
    group.queued = due;
  }
}

Timestamp DatasetDetector::nextDue(Timestamp end, std::uint32_t g, const Merged& m,
                                   const SeriesState* state) const {
  const Duration step = spec_.step;
  const Timestamp next = end + step;
  if (state == nullptr || learns_every_step_ || !state->settled()) return next;
  // The first step end at or after t.
  const auto stepEndFrom = [&](Timestamp t) {
    const Timestamp down = alignDown(t, step);
    return down == t ? t : down + step;
  };
  Timestamp due = Timestamp::max();
  const auto consider = [&](Timestamp t) { due = std::min(due, std::max(t, next)); };
  // The window changes when a step with records enters it or leaves it. Only
  // the steps that matter are looked at: those placed ahead of `end`, the
  // latest, and the window's steps from its oldest up to the first with records.
  for (std::uint32_t k = groups_[g].first; k != kNoMember; k = members_[k].next) {
    const WindowRing<StepStats>& ring = members_[k].series->ring;
    // A store takes a slot for a step only to add a record to it.
    const auto has_records = [&](Timestamp start) { return ring.holds(start); };
    // The window ending at E holds the steps starting at or after E - window.
    Timestamp oldest = alignDown(end - spec_.window, step);
    if (oldest < end - spec_.window) oldest += step;
    // The first step with records at or after `end`, and the first in the window.
    Timestamp ahead = Timestamp::max();
    Timestamp first_in_window = Timestamp::max();
    if (ring.fewHeld()) {
      ring.forEachHeld([&](Timestamp s, const StepStats&) {
        if (s >= end) ahead = std::min(ahead, s);
        if (s >= oldest && s < end) first_in_window = std::min(first_in_window, s);
      });
    } else {
      for (Timestamp s = end; s <= ring.newestStep(); s += step) {
        if (has_records(s)) {
          ahead = s;
          break;
        }
      }
      for (Timestamp s = oldest; s < end; s += step) {
        if (has_records(s)) {
          first_in_window = s;
          break;
        }
      }
    }
    if (ahead != Timestamp::max()) consider(ahead + step);
    // The schema check reads the latest step for missing fields: once it
    // empties, a firing schema alert may clear (one that is not firing
    // stays clear: an empty latest step has nothing missing).
    if (schema_ && state->schema && state->schema->lifecycle.firing() && has_records(end - step)) {
      consider(next);
    }
    if (first_in_window != Timestamp::max()) {
      consider(alignDown(first_in_window + spec_.window, step) + step);
    }
  }
  if (end - m.first_seen < spec_.window) consider(stepEndFrom(m.first_seen + spec_.window));
  consider(stepEndFrom(m.newest_seen + evict_after_));
  if (freshness_ && freshness_mode_ == FreshnessMode::kAtStepEnds && state->freshness &&
      !state->freshness->lifecycle.firing()) {
    consider(alignDown(m.newest_seen + freshness_->maxAge(), step) + step);  // age > max_age
  }
  if (state->judged_through > end) consider(state->judged_through + step);  // restored
  return due;
}

void DatasetDetector::sortDueNow() {
  // Into group order. Each group is due once, so when many are due (every
  // series of a dense dataset, a good share of a sparse one's) a bit per
  // group and one pass over the bits beat a comparison sort.
  const std::size_t n = due_now_.size();
  if (n * 16 < groups_.size()) {
    std::sort(due_now_.begin(), due_now_.end());
    return;
  }
  due_bits_.assign((groups_.size() + 63) / 64, 0);
  for (const std::uint32_t g : due_now_) due_bits_[g / 64] |= std::uint64_t{1} << (g % 64);
  due_now_.clear();
  for (std::size_t w = 0; w < due_bits_.size(); ++w) {
    for (std::uint64_t bits = due_bits_[w]; bits != 0; bits &= bits - 1) {
      due_now_.push_back(static_cast<std::uint32_t>(w * 64 + std::countr_zero(bits)));
    }
  }
}

void DatasetDetector::collectDue(Timestamp end, std::span<const SeriesStore* const> stores) {
  refreshSchedule(end, stores);
  due_now_.clear();
  while (!due_.empty() && due_.begin()->first <= end) {
    const Timestamp queued = due_.begin()->first;
    std::vector<std::uint32_t> bucket = std::move(due_.begin()->second);
    due_.erase(due_.begin());
    for (const std::uint32_t g : bucket) {
      Group& group = groups_[g];
      if (queued != group.queued) continue;  // superseded by an earlier entry
      group.queued = Timestamp::max();
      const Timestamp due = groupDue(g);
      if (due <= end) {
        due_now_.push_back(g);
      } else {
        setDue(g, due);  // put off since it was queued
      }
    }
  }
  if (judges_every_series_) {
    due_now_.resize(groups_.size());
    std::iota(due_now_.begin(), due_now_.end(), 0u);
  }
  sortDueNow();
}

void DatasetDetector::mergeGroup(Timestamp end, std::uint32_t g, Merged& m) {
  const Group& group = groups_[g];
  const std::uint32_t n = group.count;
  const bool summed_volume = spec_.volume && spec_.volume->count_field;
  const Timestamp latest_start = end - spec_.step;
  m.clear();
  m.nulls.assign(nulls_ ? spec_.nulls->fields.size() : 0, 0);
  if (n > 1) {
    m.merged_latency.clear();
    m.merged_fields.clear();
    m.merged_latest_fields.clear();
    m.latency = &m.merged_latency;
    m.fields = &m.merged_fields;
    m.latest_fields = &m.merged_latest_fields;
  }
  for (std::uint32_t at = group.first; at != kNoMember; at = members_[at].next) {
    const Member& e = members_[at];
    const SeriesStore::Series& series = *e.series;
    const FieldShapes& shapes = e.store->shapes();
    m.first_seen = std::min(m.first_seen, series.first_seen);
    m.newest_seen = std::max(m.newest_seen, series.newest_seen);
    m.silent_through = std::max(m.silent_through, e.store->silentThrough());
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
      m.latest_fields = latest != nullptr ? &latest->fields(shapes) : &kNoFields;
      if (!schema_ || w.records == 0) {
        m.fields = &kNoFields;
      } else if (series.oneShape(end, spec_.window)) {
        m.fields = &shapes.fields(series.shape);
      } else {
        m.merged_fields.clear();
        mergeWindowFields(series, shapes, end, m.merged_fields);
        m.fields = &m.merged_fields;
      }
    } else {
      m.merged_latency.merge(w.latency);
      if (latest != nullptr) m.merged_latest_fields.merge(latest->fields(shapes));
      if (schema_) mergeWindowFields(series, shapes, end, m.merged_fields);
    }
  }
  if (!summed_volume) m.volume = static_cast<double>(m.records);
  m.state = &groups_[g].state;
}

void DatasetDetector::judgeSeries(Timestamp end, std::string_view key, const Merged& m,
                                  SeriesState& state, std::vector<FailureEvent>& out) const {
  const SeriesContext context{spec_.name, spec_.topic, key};
  if (freshness_ && freshness_mode_ == FreshnessMode::kAtStepEnds) {
    if (!state.freshness) state.freshness = freshness_->newState();
    if (auto e = freshness_->evaluate(m.newest_seen, end, context, *state.freshness)) {
      out.push_back(std::move(*e));
    }
  }
  if (end - m.first_seen < spec_.window) return;  // not a full window of history yet
  // Judged before a restart (a checkpoint says so), unless rebuilding:
  // the lifecycles are rebuilt by judging again, silently.
  if (end <= state.judged_through && end > m.silent_through) return;
  state.judged_through = end;
  state.judged_since_checkpoint = true;
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
    if (auto e = schema_->evaluate(*m.fields, *m.latest_fields, m.latest_records, end, context,
                                   *state.schema)) {
      out.push_back(std::move(*e));
    }
  }
}

void DatasetDetector::judgeGroup(Timestamp end, std::uint32_t g, Merged& m,
                                 std::vector<FailureEvent>& out) {
  mergeGroup(end, g, m);
  const std::string_view key = groups_[g].key;
  const std::size_t before = out.size();
  bool evicted = false;
  if (idleLongEnough(end, m.newest_seen)) {
    const auto it = series_.find(key);
    if (it == series_.end() || !it->second->alerting()) {
      if (it != series_.end()) {
        // What it learned outlives it: written out with the next
        // checkpoints, and restored here if it comes back.
        if (checkpointed_ && pending_checkpoints_.size() < spec_.max_series) {
          std::string bytes;
          saveState(*it->second, bytes);
          evicted_checkpoints_.emplace_back(key, bytes);
          pending_checkpoints_.insert_or_assign(std::string(key), std::move(bytes));
        }
        alerting_.erase(it->second.get());
        series_.erase(it);
      }
      *m.state = nullptr;
      evicted_.emplace_back(key);
      evicted = true;
    }
  }
  if (!evicted) {
    if (*m.state == nullptr) *m.state = &stateFor(key);
    judgeSeries(end, key, m, **m.state, out);
  }
  if (*m.state != nullptr) trackAlerting(**m.state);
  silenced_events_ += dropSilenced(end, m.silent_through, out, before);
  setDue(g, nextDue(end, g, m, *m.state));
}

void DatasetDetector::judgeInParallel(Timestamp end, std::vector<FailureEvent>& out) {
  const std::size_t n = due_now_.size();
  const std::size_t count = (n + block_series_ - 1) / block_series_;
  while (blocks_.size() < count) blocks_.push_back(std::make_unique<Block>());
  // The blocks read the field dictionary; nothing changes it until they are done.
  if (schema_) schema_->resolveRequired();
  parallel_for_(count, [&](std::size_t b) {
    Block& block = *blocks_[b];
    block.clear();
    Merged& m = block.merged;
    const std::size_t last = std::min(n, (b + 1) * block_series_);
    for (std::size_t i = b * block_series_; i < last; ++i) {
      const std::uint32_t g = due_now_[i];
      mergeGroup(end, g, m);
      SeriesState* const state = *m.state;
      // A first judgement creates the series' state (and may restore a
      // checkpoint, naming fields in the dictionary); an idle series may be
      // evicted: both change what the series share.
      if (state == nullptr || idleLongEnough(end, m.newest_seen)) {
        block.shared.push_back(g);
        continue;
      }
      const std::size_t before = block.events.size();
      judgeSeries(end, groups_[g].key, m, *state, block.events);
      if (state->alerting() != state->in_alerting) block.alerting_changed.push_back(state);
      block.silenced += dropSilenced(end, m.silent_through, block.events, before);
      block.due.emplace_back(g, nextDue(end, g, m, state));
    }
  });
  for (std::size_t b = 0; b < count; ++b) {
    Block& block = *blocks_[b];
    std::move(block.events.begin(), block.events.end(), std::back_inserter(out));
    silenced_events_ += block.silenced;
    for (SeriesState* state : block.alerting_changed) trackAlerting(*state);
    for (const auto& [g, due] : block.due) setDue(g, due);
    // Every block has run: judging these may change what the series share.
    for (const std::uint32_t g : block.shared) judgeGroup(end, g, *merged_, out);
  }
}

void DatasetDetector::evaluateStep(Timestamp end, std::span<const SeriesStore* const> stores,
                                   std::vector<FailureEvent>& out) {
  const std::size_t first_event = out.size();
  collectDue(end, stores);
  // Below four blocks a parallel pass costs more than it saves.
  if (parallel_for_ && due_now_.size() >= 4 * block_series_) {
    judgeInParallel(end, out);
  } else {
    for (const std::uint32_t g : due_now_) judgeGroup(end, g, *merged_, out);
  }
  std::stable_sort(out.begin() + static_cast<std::ptrdiff_t>(first_event), out.end(),
                   eventOrderLess);
}

void DatasetDetector::evaluateFreshness(Timestamp now, std::span<const SeriesStore* const> stores,
                                        std::vector<FailureEvent>& out) {
  if (!freshness_) return;
  const std::size_t first_event = out.size();
  // One pass over the groups: no sort, no lookup by key.
  syncEntries(stores);
  for (Group& group : groups_) {
    Timestamp newest = Timestamp::min();
    forEachMember(group, [&](const Member& member) {
      newest = std::max(newest, member.series->newest_seen);
    });
    if (group.state == nullptr) group.state = &stateFor(group.key);
    SeriesState& state = *group.state;
    if (!state.freshness) state.freshness = freshness_->newState();
    if (auto e = freshness_->evaluate(newest, now, SeriesContext{spec_.name, spec_.topic, group.key},
                                      *state.freshness)) {
      out.push_back(std::move(*e));
    }
    trackAlerting(state);
  }
  std::stable_sort(out.begin() + static_cast<std::ptrdiff_t>(first_event), out.end(),
                   eventOrderLess);
}

}  // namespace vigil::detectors
