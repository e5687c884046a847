#include "stream/partition_worker.h"

#include <algorithm>
#include <exception>

#include "common/log.h"

namespace vigil::stream {

using detectors::Timestamp;

PartitionWorker::PartitionWorker(TopicPartition tp, const std::vector<std::size_t>& datasets,
                                 const std::vector<DatasetBinding>& bindings)
    : tp_(std::move(tp)) {
  lanes_.reserve(datasets.size());
  for (const std::size_t d : datasets) {
    const DatasetBinding& b = bindings[d];
    lanes_.push_back(Lane{.dataset = d,
                          .decoder = Decoder(DecodePlan::fromSpec(*b.spec)),
                          .store = detectors::SeriesStore(*b.spec, b.series_budget),
                          .interner = FieldInterner(*b.fields, b.fields_mutex),
                          .offsets = WindowOffsets(b.spec->step),
                          .keeps_dead_letters = b.spec->dead_letter_topic.has_value()});
  }
}

void PartitionWorker::rebuildFrom(Offset start, Offset committed) {
  if (start >= committed) return;
  replay_until_ = committed;
  expect_first_ = start;
}

bool PartitionWorker::rebuilding() const {
  if (!replay_until_) return false;
  if (!processed_through_) return true;
  return *processed_through_ < *replay_until_;
}

void PartitionWorker::noteFirst(Offset first) {
  if (first > *expect_first_) {
    missing_ = static_cast<std::uint64_t>(first - *expect_first_);
    for (Lane& lane : lanes_) lane.incomplete = true;
  }
  expect_first_.reset();
}

std::optional<Offset> PartitionWorker::rereadOffset() const {
  std::optional<Offset> out = processed_through_;
  for (const Lane& lane : lanes_) {
    if (const auto oldest = lane.offsets.oldest()) out = out ? std::min(*out, *oldest) : *oldest;
  }
  return out;
}

void PartitionWorker::reject(Lane& lane, const Record& record, InvalidReason reason) const {
  // Counted and copied the first time it was read.
  if (replay_until_ && record.offset < *replay_until_) return;
  ++lane.counters.invalid[static_cast<std::size_t>(reason)];
  if (lane.keeps_dead_letters) {
    lane.dead_letters.push_back(
        DeadLetter{std::string(record.key), std::string(record.value), reason, record.offset});
  }
}

bool PartitionWorker::hasWork() const {
  return std::any_of(lanes_.begin(), lanes_.end(),
                     [&](const Lane& l) { return l.position < base_ + queue_.size(); });
}

void PartitionWorker::process(const std::vector<LaneLimits>& limits) {
  try {
    for (Lane& lane : lanes_) processLane(lane, lane.own_limits ? *lane.own_limits : limits[lane.dataset]);
  } catch (const std::exception& e) {
    // Nothing on this path throws by design; if something does, hold the
    // partition rather than lose records.
    VIGIL_LOG(kError, "stream") << "partition " << tp_.topic << "[" << tp_.partition
                                << "] processing failed: " << e.what();
  }
  trimQueue();
}

void PartitionWorker::processLane(Lane& lane, const LaneLimits& limits) {
  detectors::Observation obs;
  DecodeNotes& notes = lane.notes;  // decode() resets it, keeping its capacity
  const std::uint64_t end = base_ + queue_.size();
  // Before the dataset's first evaluation, a lane bounds itself by its own start.
  std::optional<Timestamp> accept_before = limits.accept_before;
  if (!accept_before && lane.store.oldestSeen() != Timestamp::max()) {
    const auto step = lane.store.step();
    accept_before = lane.store.acceptBefore(detectors::alignDown(lane.store.oldestSeen(), step) + step);
  }

  lane.held.reset();
  for (; lane.position < end; ++lane.position) {
    const Record& record = queue_[lane.position - base_].record();
    if (const auto bad = lane.decoder.decode(record.value, record.timestamp, obs, notes)) {
      reject(lane, record, *bad);
      continue;
    }
    if (obs.event_time > limits.future_limit) {
      reject(lane, record, InvalidReason::kFuture);
      continue;
    }
    if (accept_before && obs.event_time >= *accept_before) {
      lane.held = obs.event_time;  // hold until evaluation catches up
      lane.placed_since_check = true;
      return;
    }
    const Timestamp watermark = std::max(limits.watermark, lane.newest);
    if (watermark != Timestamp::min() && obs.event_time < watermark - lane.store.lateness()) {
      reject(lane, record, InvalidReason::kLate);
      continue;
    }
    if (notes.latency_wrong_type || notes.count_wrong_type) {
      ++lane.counters.invalid[static_cast<std::size_t>(InvalidReason::kWrongType)];
    }
    lane.interner.intern(notes, obs);
    if (lane.incomplete) [[unlikely]] {
      // The records before this one are gone: windows reaching back past it
      // are incomplete and must not emit.
      lane.store.silenceThrough(obs.event_time + lane.store.window());
      lane.incomplete = false;
    }
    switch (lane.store.add(obs)) {
      case detectors::SeriesStore::AddResult::kAdded:
        if (replay_until_ && record.offset < *replay_until_) [[unlikely]] {
          ++lane.counters.replayed;
        } else {
          ++lane.counters.consumed;
        }
        lane.offsets.placed(obs.event_time, record.offset);
        lane.placed_since_check = true;
        lane.newest = std::max(lane.newest, obs.event_time);
        if (!accept_before) {
          const auto step = lane.store.step();
          accept_before = lane.store.acceptBefore(detectors::alignDown(obs.event_time, step) + step);
        }
        break;
      case detectors::SeriesStore::AddResult::kLate:
        reject(lane, record, InvalidReason::kLate);
        break;
      case detectors::SeriesStore::AddResult::kSeriesCap:
        reject(lane, record, InvalidReason::kSeriesCap);
        break;
    }
  }
}

void PartitionWorker::trimQueue() {
  std::uint64_t done = base_ + queue_.size();
  for (const Lane& lane : lanes_) done = std::min(done, lane.position);
  while (base_ < done) {
    processed_through_ = queue_.front().record().offset + 1;
    queued_bytes_ -= queuedSize(queue_.front());
    queue_.pop_front();
    ++base_;
  }
}

void PartitionWorker::tag(std::uint64_t seq, std::string metadata) {
  if (!tagDue()) return;
  tags_.push_back(Tag{*processed_through_, seq, std::move(metadata)});
  last_tagged_ = processed_through_;
}

std::optional<PartitionWorker::Commit> PartitionWorker::committable(std::uint64_t acked_before) {
  std::optional<Commit> result;
  while (!tags_.empty() && tags_.front().seq <= acked_before) {
    result = Commit{tags_.front().offset, std::move(tags_.front().metadata)};
    tags_.pop_front();
  }
  if (result && last_committed_ && result->offset <= *last_committed_) return std::nullopt;
  return result;
}

}  // namespace vigil::stream
