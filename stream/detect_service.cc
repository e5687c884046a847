#include "stream/detect_service.h"

#include <tbb/task_arena.h>

#include <algorithm>
#include <exception>

#include "common/log.h"
#include "stream/checkpoint_log.h"
#include "stream/event_sink.h"
#include "stream/parallel.h"
#include "stream/stream_probe.h"

namespace vigil::stream {
namespace {

using detectors::Duration;
using detectors::FailureEvent;
using detectors::Timestamp;

constexpr std::string_view kLog = "stream";
constexpr std::size_t kPollBatch = 10000;
constexpr Duration kPollTimeout{100};
// Records a partition cannot place yet (its event time ran ahead of the
// dataset's evaluation) wait in memory rather than in a pause: pausing makes
// librdkafka drop what it prefetched and fetch it again. Up to this many bytes
// of queued messages in all; above it, the partitions that are holding back are
// paused until the queues drain to half of it.
constexpr std::size_t kQueueBudgetBytes = std::size_t{256} << 20;
// A record stamped further ahead of the clock than this is invalid (`future`):
// producers' clocks drift by seconds, not hours, and such a record, held until
// evaluation reached it, would stall its partition.
constexpr Duration kMaxAheadOfClock = std::chrono::hours(1);
// Below librdkafka's default message.max.bytes (1,000,000) with room for the
// headers: a larger unused record is copied cut to this, with its size in a header.
constexpr std::size_t kMaxDeadLetterBytes = 900'000;
constexpr int kMaxRoundIterations = 10000;
constexpr Duration kShutdownFlush = std::chrono::seconds(30);
constexpr Duration kRevokeFlush = std::chrono::seconds(10);
constexpr Duration kFreshnessInterval{200};
// Checkpoints go out every few minutes: a restart loses at most this much
// learning, and 100,000 series of ~20 KB each cost ~7 MB/s at this pace.
constexpr Duration kCheckpointInterval = std::chrono::minutes(5);
constexpr Duration kCheckpointRead = std::chrono::seconds(30);
constexpr Duration kCheckpointCatchUp = std::chrono::seconds(5);

std::string describe(const TopicPartition& tp) {
  return tp.topic + "[" + std::to_string(tp.partition) + "]";
}

}  // namespace

DetectService::DetectService(Options options, const detectors::Clock& clock, StreamProbe& probe)
    : options_(std::move(options)), clock_(clock), probe_(probe) {
  for (std::size_t d = 0; d < options_.datasets.size(); ++d) {
    const auto& spec = options_.datasets[d];
    datasets_.push_back(DatasetState{
        detectors::DatasetDetector(spec, detectors::DatasetDetector::FreshnessMode::kOnClock),
        Timestamp::min(), options_.detect.idle_timeout.value_or(2 * spec.step),
        std::make_unique<std::mutex>(), std::make_unique<AtomicSeriesBudget>(spec.max_series)});
    datasets_by_topic_[spec.topic].push_back(d);
    dataset_index_[spec.name] = d;
  }
  for (DatasetState& d : datasets_) {
    // Evaluation runs inside the arena (round()): TBB spreads the blocks of series over its
    // threads.
    d.detector.setParallelFor([](std::size_t n, const std::function<void(std::size_t)>& body) {
      parallelFor(n, 1, body);
    });
  }
  for (std::size_t d = 0; d < datasets_.size(); ++d) {
    bindings_.push_back({&options_.datasets[d], &datasets_[d].detector.fields(),
                         datasets_[d].fields_mutex.get(), datasets_[d].series_budget.get()});
  }
  const unsigned threads = options_.detect.threads;
  arena_ = std::make_unique<tbb::task_arena>(threads == 0 ? tbb::task_arena::automatic
                                                          : static_cast<int>(threads));
}

DetectService::~DetectService() {
  finishProcessing();
  // Leave the group while the sink still exists: revocation commits through it.
  if (source_) source_->close();
}

int DetectService::run(const std::atomic<bool>& stop) {
  std::string error;
  std::vector<std::string> topics;
  for (const auto& [topic, _] : datasets_by_topic_) topics.push_back(topic);
  sink_ = EventSink::create(options_.kafka, options_.detect.failures_topic, error);
  if (!sink_) {
    VIGIL_LOG(kError, kLog) << error;
    return 1;
  }
  const bool learns = std::any_of(datasets_.begin(), datasets_.end(),
                                  [](const DatasetState& d) { return d.detector.checkpointed(); });
  if (learns) {
    checkpoints_ = CheckpointLog::create(options_.kafka, options_.detect.state_topic, error);
    if (!checkpoints_) {
      VIGIL_LOG(kError, kLog) << error;
      return 1;
    }
    restoreCheckpoints(kCheckpointRead);
    last_checkpoint_ = clock_.now();
  }
  source_ = KafkaSource::create({options_.kafka, options_.detect.group_id, topics, /*read_committed=*/true},
                                *this, error);
  if (!source_) {
    VIGIL_LOG(kError, kLog) << error;
    return 1;
  }
  VIGIL_LOG(kInfo, kLog) << "consuming " << topics.size() << " topic(s) in group "
                         << options_.detect.group_id << ", failures to "
                         << options_.detect.failures_topic;

  std::vector<Message> batch;
  batch.reserve(kPollBatch);
  // A round that moved anything may have made room for more (records held
  // back can be placed once evaluation moved on): the next poll does not wait
  // for new messages. Only a round that moved nothing waits.
  bool moved = false;
  try {
    while (!stop.load(std::memory_order_relaxed)) {
      batch.clear();
      // The records of the previous poll are processed meanwhile.
      source_->poll(batch, kPollBatch, moved ? Duration{0} : kPollTimeout);
      sink_->poll();
      finishProcessing();
      arena_->execute([&] { moved = round(batch); });
      commitAcknowledged(false);
      if (checkpoints_) {
        checkpoints_->poll();
        if (clock_.now() - last_checkpoint_ >= kCheckpointInterval) writeCheckpoints(Duration{0});
      }
      flushCounters();
      startProcessing();
    }
    finishProcessing();
  } catch (const std::exception& e) {
    VIGIL_LOG(kError, kLog) << "detection loop failed: " << e.what();
    return 1;
  }

  VIGIL_LOG(kInfo, kLog) << "shutting down: delivering " << sink_->inFlight() << " event(s)";
  if (!sink_->flush(kShutdownFlush)) {
    VIGIL_LOG(kWarn, kLog) << sink_->inFlight()
                           << " event(s) not acknowledged; their input stays uncommitted";
  }
  commitAcknowledged(true);
  if (checkpoints_) writeCheckpoints(kRevokeFlush);
  source_->close();
  flushCounters();
  return 0;
}

void DetectService::restoreCheckpoints(Duration timeout) {
  std::uint64_t rejected = 0;
  std::size_t foreign = 0;
  const std::size_t read = checkpoints_->catchUp(
      [&](std::string_view dataset, std::string_view series, std::string bytes) {
        const auto it = dataset_index_.find(std::string(dataset));
        if (it == dataset_index_.end()) return;  // a dataset no longer configured
        if (!datasets_[it->second].detector.offerCheckpoint(series, std::move(bytes)) &&
            ++rejected <= 5) {
          VIGIL_LOG(kWarn, kLog) << "unreadable checkpoint of " << dataset << "/" << series
                                       << " in " << options_.detect.state_topic << ": skipped";
        }
      },
      foreign, timeout);
  probe_.addCheckpointsRejected(rejected + foreign);
  if (read > 0) {
    std::size_t pending = 0;
    for (const DatasetState& d : datasets_) pending += d.detector.pendingCheckpoints();
    VIGIL_LOG(kInfo, kLog) << "read " << read << " checkpoint(s) from "
                           << options_.detect.state_topic << "; " << pending
                           << " series wait to be restored, " << rejected + foreign
                           << " unreadable";
  }
}

void DetectService::writeCheckpoints(Duration flush_timeout) {
  last_checkpoint_ = clock_.now();
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t queued = 0;
  for (DatasetState& d : datasets_) {
    out.clear();
    d.detector.takeCheckpoints(out);
    for (const auto& [series, bytes] : out) {
      queued += checkpoints_->write(d.detector.spec().name, series, bytes, last_checkpoint_);
    }
  }
  if (flush_timeout.count() > 0 && !checkpoints_->flush(flush_timeout)) {
    VIGIL_LOG(kWarn, kLog) << "checkpoints not all acknowledged within "
                           << flush_timeout.count() << " ms";
  }
  VIGIL_LOG(kDebug, kLog) << "checkpointed " << queued << " series";
}

bool DetectService::round(std::vector<Message>& batch) {
  const Timestamp now = clock_.now();
  bool moved = !batch.empty();
  // Evaluate what the last processing placed; records held back because their
  // event time ran ahead get placed as evaluation moves on.
  std::vector<FailureEvent> events;
  for (int i = 0; i < kMaxRoundIterations; ++i) {
    const bool advanced = advanceDatasets(events);
    moved |= advanced;
    const bool holding = std::any_of(workers_.begin(), workers_.end(),
                                     [](const auto& w) { return w.second->hasWork(); });
    if (!holding || !advanced) break;
    processQueued();
  }
  // Freshness runs on the clock, so a series that stops is judged without new
  // records; not while windows are rebuilt from old records.
  if (now - last_freshness_ >= kFreshnessInterval) {
    last_freshness_ = now;
    for (std::size_t d = 0; d < datasets_.size(); ++d) {
      if (!rebuilding(d)) datasets_[d].detector.evaluateFreshness(now, storesOf(d), events);
    }
  }
  emit(events);
  produceDeadLetters();
  tagProcessed();
  // Only what is held back is queued at this point: pausing looks at that.
  updateResumePause();
  enqueue(batch);
  return moved;
}

void DetectService::enqueue(std::vector<Message>& batch) {
  // Consecutive messages mostly come from one partition: look it up once per run.
  PartitionWorker* worker = nullptr;
  const char* topic = nullptr;
  PartitionId partition = -1;
  for (Message& m : batch) {
    const Record& r = m.record();
    if (r.topic.data() != topic || r.partition != partition) {
      topic = r.topic.data();
      partition = r.partition;
      const auto it = workers_.find(TopicPartition{std::string(r.topic), r.partition});
      worker = it == workers_.end() ? nullptr : it->second.get();
    }
    if (worker != nullptr) worker->enqueue(std::move(m));  // else revoked: the new owner reads it
  }
}

std::vector<const detectors::SeriesStore*> DetectService::storesOf(std::size_t dataset) const {
  std::vector<const detectors::SeriesStore*> stores;
  for (const auto& [tp, worker] : workers_) {
    for (const auto& lane : worker->lanes()) {
      if (lane.dataset == dataset && !lane.catch_up) stores.push_back(&lane.store);
    }
  }
  return stores;
}

std::vector<LaneLimits> DetectService::laneLimits() const {
  const Timestamp now = clock_.now();
  std::vector<LaneLimits> limits(datasets_.size());
  for (std::size_t d = 0; d < datasets_.size(); ++d) {
    const auto& spec = datasets_[d].detector.spec();
    if (const auto next = datasets_[d].detector.nextStepEnd()) {
      limits[d].accept_before = *next + spec.step * detectors::SeriesStore::lookaheadSteps(spec);
    }
    limits[d].watermark = datasets_[d].watermark;
    limits[d].future_limit = now + kMaxAheadOfClock;
  }
  return limits;
}

std::vector<PartitionWorker*> DetectService::busyWorkers() {
  std::vector<PartitionWorker*> busy;
  for (auto& [tp, worker] : workers_) {
    if (worker->hasWork()) busy.push_back(worker.get());
  }
  return busy;
}

void DetectService::setCatchUpLimits() {
  const Timestamp now = clock_.now();
  for (auto& [tp, worker] : workers_) {
    for (auto& lane : worker->lanes()) {
      if (!lane.catch_up) continue;
      const auto& spec = options_.datasets[lane.dataset];
      if (const auto next = lane.catch_up->nextStepEnd()) {
        lane.own_limits->accept_before =
            *next + spec.step * detectors::SeriesStore::lookaheadSteps(spec);
      }
      lane.own_limits->future_limit = now + kMaxAheadOfClock;
    }
  }
}

void DetectService::processQueued() {
  setCatchUpLimits();
  const std::vector<LaneLimits> limits = laneLimits();
  std::vector<PartitionWorker*> busy = busyWorkers();
  parallelFor(busy.size(), 1, [&](std::size_t i) { busy[i]->process(limits); });
}

void DetectService::startProcessing() {
  std::vector<PartitionWorker*> busy = busyWorkers();
  if (busy.empty()) return;
  setCatchUpLimits();
  processing_limits_ = laneLimits();
  processing_ = true;
  arena_->execute([&] {
    startTask(*processing_group_, [this, busy = std::move(busy)] {
      parallelFor(busy.size(), 1, [&](std::size_t i) { busy[i]->process(processing_limits_); });
    });
  });
}

void DetectService::finishProcessing() {
  if (!processing_) return;
  processing_ = false;
  arena_->execute([&] { waitTasks(*processing_group_); });
}

bool DetectService::advanceDatasets(std::vector<FailureEvent>& events) {
  const Timestamp now = clock_.now();
  bool advanced = false;
  for (std::size_t d = 0; d < datasets_.size(); ++d) {
    DatasetState& state = datasets_[d];
    std::vector<const detectors::SeriesStore*> stores;
    Timestamp active_min = Timestamp::max();
    bool seen_data = false;
    bool waiting = false;
    for (auto& [tp, worker] : workers_) {
      const bool paused = std::find(paused_.begin(), paused_.end(), tp) != paused_.end();
      for (auto& lane : worker->lanes()) {
        if (lane.dataset != d || lane.catch_up) continue;
        stores.push_back(&lane.store);
        // Silence is per lane: a partition full of records this dataset cannot
        // use (other datasets' records, invalid ones) is silent for it.
        if (std::exchange(lane.placed_since_check, false)) lane.active_at = now;
        const bool silent =
            !paused && !worker->hasWork() && now - lane.active_at >= state.idle_timeout;
        const Timestamp progress = lane.progress();
        const bool has_data = progress != Timestamp::min();
        seen_data |= has_data;
        if (silent) continue;
        // A partition that has placed nothing yet may deliver records older
        // than anything seen: wait for it until it has been silent long enough.
        if (!has_data) waiting = true;
        if (has_data) active_min = std::min(active_min, progress);
      }
    }
    if (!seen_data || waiting) {
      advanced |= advanceCatchUps(d, events);
      continue;
    }
    // All partitions silent: event time follows the clock, so a stopped topic is still judged.
    const Timestamp candidate = active_min != Timestamp::max() ? active_min : now;
    state.watermark = std::max(state.watermark, candidate);
    probe_.setWatermarkLag(d, detectors::toSeconds(now - state.watermark));

    const auto before = state.detector.nextStepEnd();
    state.detector.advanceTo(state.watermark, stores, events);
    if (state.detector.nextStepEnd() != before) advanced = true;
    for (const std::string& key : state.detector.takeEvicted()) {
      for (auto& [tp, worker] : workers_) {
        for (auto& lane : worker->lanes()) {
          if (lane.dataset == d && !lane.catch_up) lane.store.evict(key);
        }
      }
    }
    advanced |= advanceCatchUps(d, events);
    probe_.setSeriesTracked(d, state.detector.trackedSeries());
  }
  return advanced;
}

bool DetectService::advanceCatchUps(std::size_t d, std::vector<FailureEvent>& events) {
  DatasetState& state = datasets_[d];
  bool advanced = false;
  for (auto& [tp, worker] : workers_) {
    for (auto& lane : worker->lanes()) {
      if (lane.dataset != d || !lane.catch_up) continue;
      detectors::DatasetDetector& own = *lane.catch_up;
      const detectors::SeriesStore* stores[] = {&lane.store};
      // One partition: its event time is the lane's own, up to where the dataset is.
      const Timestamp progress = lane.progress();
      if (progress != Timestamp::min()) {
        const Timestamp watermark = std::min(progress, state.detector.evaluatedThrough());
        lane.own_limits->watermark = std::max(lane.own_limits->watermark, watermark);
        const auto before = own.nextStepEnd();
        own.advanceTo(lane.own_limits->watermark, stores, events);
        if (own.nextStepEnd() != before) advanced = true;
        for (const std::string& key : own.takeEvicted()) lane.store.evict(key);
      }
      const bool caught_up = own.nextStepEnd() && *own.nextStepEnd() >= *state.detector.nextStepEnd();
      const bool nothing_to_catch_up =
          progress == Timestamp::min() && !worker->rebuilding() && !worker->hasWork();
      if (!caught_up && !nothing_to_catch_up) continue;
      state.detector.adopt(own);
      lane.catch_up.reset();
      lane.own_limits.reset();
      lane.active_at = clock_.now();
      advanced = true;
      VIGIL_LOG(kInfo, kLog) << "partition " << describe(tp) << " joins dataset "
                             << state.detector.spec().name << " at "
                             << detectors::formatRfc3339(*state.detector.nextStepEnd());
    }
  }
  return advanced;
}

void DetectService::emit(std::vector<FailureEvent>& events) {
  std::stable_sort(events.begin(), events.end(), detectors::eventOrderLess);
  for (const FailureEvent& e : events) {
    sink_->produce(e.key(), e.toJson());
    probe_.addEvent(dataset_index_.at(e.dataset), e.failure_type, e.status);
    VIGIL_LOG(kInfo, "detectors") << detectors::statusName(e.status) << " "
                                  << detectors::failureTypeName(e.failure_type) << " " << e.key()
                                  << " " << e.metric << "=" << e.actual_value
                                  << " threshold=" << e.threshold << " at "
                                  << detectors::formatRfc3339(e.timestamp) << " id=" << e.eventId();
  }
  probe_.setEventsInFlight(sink_->inFlight());
}

void DetectService::produceDeadLetters() {
  for (auto& [tp, worker] : workers_) {
    for (auto& lane : worker->lanes()) {
      if (lane.dead_letters.empty()) continue;
      const detectors::DatasetSpec& spec = options_.datasets[lane.dataset];
      for (PartitionWorker::DeadLetter& dl : lane.dead_letters) {
        EventSink::Headers headers = {{"vigil.reason", std::string(reasonName(dl.reason))},
                                      {"vigil.dataset", spec.name},
                                      {"vigil.source", describe(tp) + "@" + std::to_string(dl.offset)}};
        // Copied unchanged, unless a producer could not send it at all.
        if (dl.value.size() > kMaxDeadLetterBytes) {
          headers.emplace_back("vigil.truncated_from", std::to_string(dl.value.size()));
          dl.value.resize(kMaxDeadLetterBytes);
        }
        sink_->produceTo(*spec.dead_letter_topic, std::move(dl.key), std::move(dl.value),
                         std::move(headers));
      }
      probe_.addDeadLettered(lane.dataset, lane.dead_letters.size());
      lane.dead_letters.clear();
    }
  }
}

void DetectService::tagProcessed() {
  const std::uint64_t seq = sink_->nextSequence();
  for (auto& [tp, worker] : workers_) {
    if (worker->tagDue()) worker->tag(seq, commitMetadata(*worker));
  }
}

std::string DetectService::commitMetadata(PartitionWorker& worker) {
  CommitMetadata m;
  for (auto& lane : worker.lanes()) {
    const detectors::DatasetDetector& detector =
        lane.catch_up ? *lane.catch_up : datasets_[lane.dataset].detector;
    // Every event up to here is produced before the tag: acknowledged when
    // this offset is committed. A lane still rebuilding keeps what it was given.
    const Timestamp through = std::max(detector.evaluatedThrough(), lane.store.silentThrough());
    if (through != Timestamp::min()) {
      if (detector.rebuildFrom() != Timestamp::min()) lane.offsets.forgetBefore(detector.rebuildFrom());
      m.evaluated_through[detector.spec().name] = through;
    }
  }
  m.reread = worker.rereadOffset().value_or(0);
  return m.encode();
}

bool DetectService::rebuilding(std::size_t dataset) const {
  const detectors::DatasetDetector& detector = datasets_[dataset].detector;
  for (const auto& [tp, worker] : workers_) {
    for (const auto& lane : worker->lanes()) {
      if (lane.dataset != dataset) continue;
      const Timestamp silent = lane.store.silentThrough();
      if (lane.catch_up || worker->rebuilding() ||
          (silent != Timestamp::min() && silent >= detector.evaluatedThrough())) {
        return true;
      }
    }
  }
  return false;
}

void DetectService::commitAcknowledged(bool sync) {
  const std::uint64_t acked = sink_->ackedBefore();
  std::vector<CommitPosition> positions;
  std::vector<PartitionWorker*> committed;
  for (auto& [tp, worker] : workers_) {
    if (auto commit = worker->committable(acked)) {
      positions.push_back({tp, commit->offset, std::move(commit->metadata)});
      committed.push_back(worker.get());
    }
  }
  if (positions.empty()) return;
  const bool ok = sync ? source_->commitSync(positions) : (source_->commit(positions), true);
  if (!ok) return;
  for (std::size_t i = 0; i < positions.size(); ++i) committed[i]->markCommitted(positions[i].next_offset);
  probe_.addCommits(positions.size());
}

void DetectService::flushCounters() {
  for (auto& [tp, worker] : workers_) {
    for (auto& lane : worker->lanes()) {
      probe_.addConsumed(lane.dataset, lane.counters.consumed);
      probe_.addReplayed(lane.dataset, lane.counters.replayed);
      for (int r = 0; r < kInvalidReasonCount; ++r) {
        const auto n = lane.counters.invalid[static_cast<std::size_t>(r)];
        if (n == 0) continue;
        probe_.addInvalid(lane.dataset, static_cast<InvalidReason>(r), n);
        static log::RateLimiter limiter(std::chrono::seconds(10));
        std::uint64_t suppressed = 0;
        if (limiter.allow(suppressed)) {
          VIGIL_LOG(kWarn, kLog) << describe(tp) << ": " << n << " invalid record(s), reason "
                                 << reasonName(static_cast<InvalidReason>(r));
        }
      }
      lane.counters = LaneCounters{};
    }
    if (const std::uint64_t missing = worker->takeMissing()) {
      for (auto& lane : worker->lanes()) probe_.addMissing(lane.dataset, missing);
      VIGIL_LOG(kWarn, kLog) << describe(tp) << ": " << missing
                             << " record(s) needed to rebuild the windows are gone (retention); "
                                "windows reaching back to them emit nothing";
    }
  }
  for (std::size_t d = 0; d < datasets_.size(); ++d) {
    const std::uint64_t silenced = datasets_[d].detector.silencedEvents();
    probe_.addSilenced(d, silenced - datasets_[d].reported_silenced);
    datasets_[d].reported_silenced = silenced;
  }
  if (sink_) {
    probe_.addDeliveryFailures(sink_->failedDeliveries() - reported_delivery_failures_);
    reported_delivery_failures_ = sink_->failedDeliveries();
    probe_.addProducerRecreations(sink_->producerRecreations() - reported_recreations_);
    reported_recreations_ = sink_->producerRecreations();
  }
  if (checkpoints_) {
    probe_.addCheckpoints(checkpoints_->written() - reported_checkpoints_,
                          checkpoints_->failed() - reported_checkpoint_failures_);
    reported_checkpoints_ = checkpoints_->written();
    reported_checkpoint_failures_ = checkpoints_->failed();
  }
  std::uint64_t restored = 0;
  for (const DatasetState& d : datasets_) restored += d.detector.restoredCheckpoints();
  probe_.addCheckpointsRestored(restored - reported_restored_);
  reported_restored_ = restored;
}

void DetectService::updateResumePause() {
  std::size_t queued_bytes = 0;
  for (const auto& [tp, worker] : workers_) queued_bytes += worker->queuedBytes();
  std::vector<TopicPartition> to_pause;
  std::vector<TopicPartition> to_resume;
  for (auto& [tp, worker] : workers_) {
    const bool paused = std::find(paused_.begin(), paused_.end(), tp) != paused_.end();
    // Only a partition that is holding back keeps its queue after a round.
    const bool holding = worker->hasWork();
    if (!paused && holding && queued_bytes >= kQueueBudgetBytes) to_pause.push_back(tp);
    if (paused && (!holding || queued_bytes < kQueueBudgetBytes / 2)) to_resume.push_back(tp);
  }
  if (!to_pause.empty()) {
    source_->pause(to_pause);
    paused_.insert(paused_.end(), to_pause.begin(), to_pause.end());
  }
  if (!to_resume.empty()) {
    // A partition that was held back is not silent: its idle clock restarts now.
    const Timestamp now = clock_.now();
    for (const TopicPartition& tp : to_resume) {
      for (auto& lane : workers_.at(tp)->lanes()) lane.active_at = now;
    }
    source_->resume(to_resume);
    std::erase_if(paused_, [&](const TopicPartition& tp) {
      return std::find(to_resume.begin(), to_resume.end(), tp) != to_resume.end();
    });
  }
}

void DetectService::onAssigning(std::vector<Assignment>& partitions) {
  for (Assignment& a : partitions) {
    if (!a.committed) continue;
    // Commits never go back, not even while the windows are rebuilt.
    Rebuild& r = rebuilds_[a.tp] = Rebuild{*a.committed, *a.committed, {}};
    if (a.metadata.empty()) continue;
    const auto metadata = CommitMetadata::decode(a.metadata);
    if (!metadata) {
      VIGIL_LOG(kWarn, kLog) << "partition " << describe(a.tp)
                             << ": commit metadata not vigil's; reading on from offset "
                             << *a.committed << " without rebuilding the windows";
      continue;
    }
    if (metadata->reread < *a.committed) a.start = r.start = metadata->reread;
    r.metadata = *metadata;
  }
}

void DetectService::onAssigned(const std::vector<TopicPartition>& partitions) {
  finishProcessing();
  const Timestamp now = clock_.now();
  for (const TopicPartition& tp : partitions) {
    const auto it = datasets_by_topic_.find(tp.topic);
    if (it == datasets_by_topic_.end()) continue;
    auto worker = std::make_unique<PartitionWorker>(tp, it->second, bindings_);
    for (auto& lane : worker->lanes()) {
      lane.active_at = now;
      // The dataset is already evaluating: the partition catches up on its own first.
      detectors::DatasetDetector& main = datasets_[lane.dataset].detector;
      if (main.nextStepEnd()) {
        lane.catch_up = main.catchUp();
        lane.own_limits = LaneLimits{};
      }
    }
    std::string rebuild;
    if (const auto r = rebuilds_.find(tp); r != rebuilds_.end()) {
      worker->markCommitted(r->second.committed);
      worker->rebuildFrom(r->second.start, r->second.committed);
      for (auto& lane : worker->lanes()) {
        const auto& through = r->second.metadata.evaluated_through;
        const auto at = through.find(options_.datasets[lane.dataset].name);
        if (at != through.end()) lane.store.silenceThrough(at->second);
      }
      if (r->second.start < r->second.committed) {
        rebuild = ": rebuilding its windows from offset " + std::to_string(r->second.start) + " (" +
                  std::to_string(r->second.committed - r->second.start) +
                  " record(s) before the committed offset " + std::to_string(r->second.committed) + ")";
      }
      rebuilds_.erase(r);
    }
    workers_[tp] = std::move(worker);
    VIGIL_LOG(kInfo, kLog) << "partition " << describe(tp) << " assigned" << rebuild;
  }
  rebuilds_.clear();
  probe_.setPartitionsAssigned(workers_.size());
  // What a previous owner of these partitions checkpointed when it let go.
  if (checkpoints_) restoreCheckpoints(kCheckpointCatchUp);
  ready_.store(true, std::memory_order_release);
}

void DetectService::onRevoked(const std::vector<TopicPartition>& partitions, bool lost) {
  finishProcessing();
  if (!lost && sink_) {
    // Still ours: deliver what was decided and commit behind it before letting go.
    produceDeadLetters();
    sink_->flush(kRevokeFlush);
    commitAcknowledged(true);
    // What was learned goes out before the next owner reads it.
    if (checkpoints_) writeCheckpoints(kRevokeFlush);
  }
  // librdkafka keeps an application pause across revoke and reassign: lift it
  // now, or a partition held back here would never be read again.
  std::vector<TopicPartition> resume;
  for (const TopicPartition& tp : partitions) {
    if (std::find(paused_.begin(), paused_.end(), tp) != paused_.end()) resume.push_back(tp);
  }
  if (!resume.empty() && source_) source_->resume(resume);
  for (const TopicPartition& tp : partitions) {
    workers_.erase(tp);
    std::erase(paused_, tp);
    VIGIL_LOG(kInfo, kLog) << "partition " << describe(tp) << (lost ? " lost" : " revoked");
  }
  probe_.setPartitionsAssigned(workers_.size());
}

}  // namespace vigil::stream
