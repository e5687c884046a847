#pragma once

#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <map>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <tuple>
#include <utility>
#include <vector>

#include "detectors/dataset_spec.h"
#include "detectors/failure_event.h"
#include "detectors/freshness_check.h"
#include "detectors/latency_check.h"
#include "detectors/nulls_check.h"
#include "detectors/schema.h"
#include "detectors/schema_check.h"
#include "detectors/series_store.h"
#include "detectors/step_stats.h"
#include "detectors/string_map.h"
#include "detectors/volume_check.h"

namespace vigil::detectors {

// Judges every series of one dataset at every step end, in event time.
//
// The windows live in SeriesStores (one per input partition); this class owns
// what outlives a window: each series' alert lifecycles and reference schema,
// and the dataset's field-name dictionary. At a step end E it merges each
// series' sub-windows in [E - window, E) across all stores, runs every
// configured check (window statistics only once the series has a full window
// of history; freshness always) and appends the events, ordered by
// (dataset, pipeline_id, failure_type). `replay` drives it with one store and
// a watermark that follows the input; `detect` with one store per partition,
// the dataset watermark, and freshness on the clock (evaluateFreshness).
// Not thread-safe: called by one thread between record batches.
class DatasetDetector {
 public:
  enum class FreshnessMode { kAtStepEnds, kOnClock };

  explicit DatasetDetector(DatasetSpec spec, FreshnessMode mode = FreshnessMode::kAtStepEnds);
  DatasetDetector(DatasetDetector&&) noexcept;
  ~DatasetDetector();

  // For a partition assigned while this detector is already evaluating (a
  // rebalance): a detector of the same dataset that judges that partition's
  // store on its own, from its rebuilt windows up to where this one is, then
  // hands its series over with adopt(). It shares this detector's field
  // dictionary and the checkpoints waiting here to be restored; this one
  // must outlive it.
  std::unique_ptr<DatasetDetector> catchUp();
  // Takes the alert state of every series `other` tracks and this one does
  // not (a series already tracked here keeps its own).
  void adopt(DatasetDetector& other);

  const DatasetSpec& spec() const { return spec_; }
  // Field names of this dataset, interned by whoever decodes its records.
  FieldDictionary& fields() { return *fields_; }

  // Evaluates every step end E not yet evaluated with E <= watermark, oldest
  // first. Once no store has held data for long enough that nothing can
  // change any more (a window, max_age, `for` and keep_firing_for past the
  // newest data), the rest of the way to the watermark is skipped in O(1).
  void advanceTo(Timestamp watermark, std::span<const SeriesStore* const> stores,
                 std::vector<FailureEvent>& out);

  // Freshness of every series seen, judged at `now` (detect's clock).
  void evaluateFreshness(Timestamp now, std::span<const SeriesStore* const> stores,
                         std::vector<FailureEvent>& out);

  // The next step end to evaluate; nullopt before any data was seen.
  std::optional<Timestamp> nextStepEnd() const { return next_end_; }
  // The last step end evaluated; Timestamp::min() before the first.
  Timestamp evaluatedThrough() const { return next_end_ ? *next_end_ - spec_.step : Timestamp::min(); }
  // The oldest event time a rebuild must re-read so that judging again up to
  // evaluatedThrough() gives every alert lifecycle the state it has now: a
  // window and long enough for any lifecycle to settle (for,
  // keep_firing_for, max_age) before it, and a window before the breach of
  // every alert firing or pending, however long ago (up to evictAfter(): an
  // alert firing longer than that is not rebuilt). Timestamp::min() before
  // the first evaluation.
  Timestamp rebuildFrom() const { return rebuild_from_; }

  // True when a record this old must be dropped: it is more than the allowed
  // lateness behind the watermark.
  bool isLate(Timestamp event_time, Timestamp watermark) const {
    return event_time < watermark - spec_.lateness();
  }

  std::size_t trackedSeries() const { return series_.size(); }

  // Events judged but not emitted because their series was rebuilding
  // (SeriesStore::silenceThrough), so far.
  std::uint64_t silencedEvents() const { return silenced_events_; }

  // A series is judged at a step end only when something it is judged on can
  // have changed: a record arrived, a step with records entered or left its
  // window, an alert is pending or clearing, a baseline learns, a time limit
  // (full window, max_age, eviction) comes due. This judges every series at
  // every step instead (and lists the series afresh whenever they change),
  // as a reference for tests and benchmarks.
  void judgeEverySeriesEveryStep(bool on) { judges_every_series_ = on; }

  // Runs body(i) for every i in [0, n), possibly on several threads at once;
  // each i is a block of series, worth a task of its own.
  using ParallelFor = std::function<void(std::size_t n, const std::function<void(std::size_t)>& body)>;
  // With one, a step end's due series are judged in blocks in parallel: their
  // windows moved and merged, their checks run, their next judgement found.
  // A series whose judgement touches what its series share (its first
  // judgement, which creates its state and may restore a checkpoint; an
  // eviction) is left to the calling thread, which then applies, block by
  // block in order, what the blocks found (events, alert lists, the
  // schedule), and judges those left, in the same order: the events are
  // those of judging one by one. `detect` gives its thread pool; without one
  // everything runs on the calling thread. A block is `block_series` due
  // series; a step end with fewer than four blocks' worth is judged on the
  // calling thread alone.
  static constexpr std::size_t kBlockSeries = 64;
  void setParallelFor(ParallelFor parallel_for, std::size_t block_series = kBlockSeries) {
    parallel_for_ = std::move(parallel_for);
    block_series_ = std::max<std::size_t>(block_series, 1);
  }

  // A series idle this long, with no alert firing or pending, is forgotten:
  // its alert state here and, through takeEvicted(), its windows in every
  // store. A stale series is firing, so freshness keeps it until it returns.
  // What it learned is kept as a checkpoint (up to max_series of them) and
  // restored if it comes back.
  Duration evictAfter() const { return evict_after_; }
  // Series evicted since the last call; the caller removes them from its stores.
  std::vector<std::string> takeEvicted() { return std::exchange(evicted_, {}); }

  // Checkpoints of long-lived state: what each series learned that a window
  // cannot give back (adaptive baselines, the reference schema). A checkpoint
  // is self-describing bytes, versioned, one per series.
  //
  // True when the dataset has anything to checkpoint (an adaptive bound or
  // the schema check).
  bool checkpointed() const { return checkpointed_; }
  // Appends (series key, checkpoint) for every series judged since its last
  // checkpoint (all tracked series with `all`).
  void takeCheckpoints(std::vector<std::pair<std::string, std::string>>& out, bool all = false);
  // A checkpoint read back (from state_topic). Kept until the series is first
  // tracked here, then applied; ignored for a series already tracked (its own
  // state is newer) and replaced by a later offer for the same series. False
  // when the bytes are not a checkpoint this version can read (the caller
  // counts and logs it); nothing is changed then.
  bool offerCheckpoint(std::string_view series, std::string bytes);
  // Checkpoints offered and not yet applied; applied so far.
  std::size_t pendingCheckpoints() const { return pending_checkpoints_.size(); }
  std::uint64_t restoredCheckpoints() const { return restored_checkpoints_; }

 private:
  struct SeriesState;
  struct Merged;
  struct Block;

  DatasetDetector(DatasetSpec spec, FreshnessMode mode, std::shared_ptr<FieldDictionary> fields);

  void evaluateStep(Timestamp end, std::span<const SeriesStore* const> stores,
                    std::vector<FailureEvent>& out);
  // Fills due_now_ with the groups due at `end`, in group order.
  void collectDue(Timestamp end, std::span<const SeriesStore* const> stores);
  // Merges group g's window ending at `end` across its members into m.
  void mergeGroup(Timestamp end, std::uint32_t g, Merged& m);
  // Judges group g (merged into m) on the calling thread, evicting or
  // creating its state as needed, and schedules its next judgement.
  void judgeGroup(Timestamp end, std::uint32_t g, Merged& m, std::vector<FailureEvent>& out);
  // The checks of one series on its own state; touches nothing else.
  void judgeSeries(Timestamp end, std::string_view key, const Merged& m, SeriesState& state,
                   std::vector<FailureEvent>& out) const;
  // Judges the due groups in blocks on parallel_for_, then, on the calling
  // thread, those the blocks left to it.
  void judgeInParallel(Timestamp end, std::vector<FailureEvent>& out);
  // Idle for evictAfter() or longer: evicted unless an alert is firing or pending.
  bool idleLongEnough(Timestamp end, Timestamp newest_seen) const {
    return end - newest_seen >= evict_after_;
  }
  // Brings the groups of series up to date with the stores, and makes every
  // series that received records due at `end`.
  void refreshSchedule(Timestamp end, std::span<const SeriesStore* const> stores);
  // Sorts due_now_ (distinct group ids) into group order.
  void sortDueNow();
  // Brings the groups of series up to date with the stores: new series are
  // listed one by one; anything else lists them all afresh.
  void syncEntries(std::span<const SeriesStore* const> stores);
  void updateRebuildFrom();
  // Lists or unlists a series in alerting_ after its alerts may have changed.
  void trackAlerting(SeriesState& state);
  Timestamp groupDue(std::uint32_t g) const;
  void setDue(std::uint32_t g, Timestamp due);
  // The next step end after `end` at which judging group g can change anything
  // without new records (Timestamp::max(): none).
  Timestamp nextDue(Timestamp end, std::uint32_t g, const Merged& m, const SeriesState* state) const;
  SeriesState& stateFor(std::string_view key);
  void saveState(const SeriesState& state, std::string& out) const;
  bool restoreState(std::string_view bytes, SeriesState& state);

  DatasetSpec spec_;
  FreshnessMode freshness_mode_;
  std::shared_ptr<FieldDictionary> fields_;
  DatasetDetector* checkpoint_source_ = nullptr;  // set on a catch-up detector
  std::optional<LatencyCheck> latency_;
  std::optional<FreshnessCheck> freshness_;
  std::optional<VolumeCheck> volume_;
  std::optional<NullsCheck> nulls_;
  std::optional<SchemaCheck> schema_;
  std::optional<Timestamp> next_end_;
  Duration settle_;  // how long after the newest data an evaluation can still change something
  Duration evict_after_;
  std::vector<std::string> evicted_;
  bool checkpointed_ = false;
  std::unordered_map<std::string, std::string> pending_checkpoints_;
  std::vector<std::pair<std::string, std::string>> evicted_checkpoints_;  // not yet taken
  std::uint64_t restored_checkpoints_ = 0;
  std::uint64_t silenced_events_ = 0;
  Timestamp rebuild_from_ = Timestamp::min();
  struct KeyHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::unique_ptr<SeriesState>, KeyHash, std::equal_to<>> series_;
  // The series with an alert firing or pending: the only ones rebuildFrom()
  // depends on, so it is not computed from every series at every step.
  std::unordered_set<const SeriesState*> alerting_;
  // The series of all stores, grouped by key. A group is one key: its
  // (series, store) pairs, the members, in store order. Groups get ids in the
  // order their keys are first listed and keep them while the stores only
  // gain series, so a new series costs a lookup in group_of_ and an append;
  // anything else (an eviction, a store gone or added) lists them afresh.
  struct Member {
    const SeriesStore::Series* series;
    const SeriesStore* store;
    std::uint32_t store_index;  // in the span of stores
    std::uint32_t next;         // the group's next member; kNoMember ends it
  };
  static constexpr std::uint32_t kNoMember = 0xffffffff;
  struct Group {
    std::string_view key;   // owned by the first member's store
    std::uint32_t first;    // in members_
    std::uint32_t count;
    // The series' alert state, found once instead of hashed per step;
    // cleared when the state is forgotten.
    SeriesState* state = nullptr;
    // The due time of the group's entry in due_ (Timestamp::max(): none queued).
    Timestamp queued = Timestamp::max();
  };
  template <class F>
  void forEachMember(const Group& group, F&& f) const {
    for (std::uint32_t k = group.first; k != kNoMember; k = members_[k].next) f(members_[k]);
  }
  // Lists a series of stores[store_index] under its key.
  void listSeries(const SeriesStore::Series& series, const SeriesStore* store,
                  std::uint32_t store_index);
  std::vector<Member> members_;
  std::vector<Group> groups_;
  StringMap<std::uint32_t> group_of_;  // key -> group id
  // Per store, as groups_ last saw it: (store, generation, evictions).
  std::vector<std::tuple<const SeriesStore*, std::uint64_t, std::uint64_t>> listed_generations_;
  // The schedule: groups by due time, all due times being step ends (or
  // Timestamp::min() for a series never judged). A group may sit in several
  // buckets; only the one matching its `queued` counts.
  std::map<Timestamp, std::vector<std::uint32_t>> due_;
  std::vector<std::uint32_t> due_now_;  // scratch
  std::vector<std::uint64_t> due_bits_;  // scratch of sortDueNow(): a bit per group
  bool learns_every_step_ = false;     // an adaptive bound observes every step
  bool judges_every_series_ = false;
  ParallelFor parallel_for_;
  std::size_t block_series_ = kBlockSeries;
  std::unique_ptr<Merged> merged_;  // reused across series and steps
  std::vector<std::unique_ptr<Block>> blocks_;  // judgeInParallel's, reused across steps
};

}  // namespace vigil::detectors
