#include "stream/replay_engine.h"

#include <algorithm>

namespace vigil::stream {

using detectors::Timestamp;

ReplayEngine::ReplayEngine(const std::vector<detectors::DatasetSpec>& datasets, Sink sink,
                           RejectSink rejects)
    : sink_(std::move(sink)), rejects_(std::move(rejects)) {
  lanes_.reserve(datasets.size());
  for (const auto& spec : datasets) {
    auto detector = std::make_unique<detectors::DatasetDetector>(spec);
    FieldInterner interner(detector->fields(), nullptr);
    lanes_.push_back(Lane{std::move(detector), Decoder(DecodePlan::fromSpec(spec)),
                          detectors::SeriesStore(spec), std::move(interner)});
  }
}

void ReplayEngine::reject(InvalidReason reason) {
  ++invalid_[static_cast<std::size_t>(reason)];
  if (rejects_) rejects_(records_, reason);
}

void ReplayEngine::feed(std::string_view value) {
  ++records_;
  detectors::Observation obs;
  DecodeNotes& notes = notes_;  // decode() resets it, keeping its capacity
  for (Lane& lane : lanes_) {
    // A replayed line has no Kafka timestamp: its event time stands in for it.
    if (const auto bad = lane.decoder.decode(value, Timestamp{}, obs, notes)) {
      reject(*bad);
      continue;
    }
    if (lane.decoder.plan().derived_latency) obs.latency_seconds = 0.0;
    if (notes.latency_wrong_type || notes.count_wrong_type) reject(InvalidReason::kWrongType);
    lane.interner.intern(notes, obs);
    if (lane.watermark != Timestamp::min() && lane.detector->isLate(obs.event_time, lane.watermark)) {
      reject(InvalidReason::kLate);
      continue;
    }
    if (obs.event_time > lane.watermark) {
      // The store is told about the record's time first, so the detector's
      // first step is anchored even before the record is added.
      lane.watermark = obs.event_time;
      const detectors::SeriesStore* stores[] = {&lane.store};
      lane.detector->advanceTo(lane.watermark, stores, pending_);
      for (const std::string& key : lane.detector->takeEvicted()) lane.store.evict(key);
    }
    switch (lane.store.add(obs)) {
      case detectors::SeriesStore::AddResult::kAdded: break;
      case detectors::SeriesStore::AddResult::kLate: reject(InvalidReason::kLate); break;
      case detectors::SeriesStore::AddResult::kSeriesCap: reject(InvalidReason::kSeriesCap); break;
    }
  }
  Timestamp through = Timestamp::max();
  for (const Lane& lane : lanes_) through = std::min(through, lane.watermark);
  deliver(through);
}

void ReplayEngine::finish() {
  for (Lane& lane : lanes_) {
    if (lane.watermark == Timestamp::min()) continue;
    const auto step = lane.detector->spec().step;
    const detectors::SeriesStore* stores[] = {&lane.store};
    lane.detector->advanceTo(detectors::alignDown(lane.watermark, step) + step, stores, pending_);
  }
  deliver(Timestamp::max());
}

void ReplayEngine::deliver(Timestamp through) {
  if (pending_.empty()) return;
  std::stable_sort(pending_.begin(), pending_.end(), detectors::eventOrderLess);
  std::size_t n = 0;
  for (; n < pending_.size() && pending_[n].timestamp <= through; ++n) sink_(pending_[n]);
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
}

}  // namespace vigil::stream
