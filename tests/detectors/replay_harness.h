#pragma once

// Shared by the detector tests: a base dataset and the replay-order driver.

#include <vector>

#include "detectors/dataset_detector.h"

namespace vigil::detectors::testing {

// Dataset "orders" on "orders.events", series by pipeline_id, event time ts,
// a 60 s window in 10 s steps, no checks yet.
inline DatasetSpec baseSpec() {
  DatasetSpec spec;
  spec.name = "orders";
  spec.topic = "orders.events";
  spec.series_key = "pipeline_id";
  spec.event_time = "ts";
  spec.window = std::chrono::seconds(60);
  spec.step = std::chrono::seconds(10);
  return spec;
}

// Feeds records the way `vigil replay` does: each record first advances the
// watermark (evaluating every step end it passes), then joins its window;
// finally every step end up to `end` is evaluated. `toObservation(record)`
// gives the record's Observation.
template <class Records, class ToObservation>
std::vector<FailureEvent> replayThrough(DatasetDetector& detector, const Records& records,
                                        ToObservation toObservation, Timestamp end) {
  SeriesStore store(detector.spec());
  const SeriesStore* stores[] = {&store};
  std::vector<FailureEvent> events;
  Timestamp watermark = Timestamp::min();
  for (const auto& record : records) {
    const Observation obs = toObservation(record);
    if (obs.event_time > watermark) {
      watermark = obs.event_time;
      detector.advanceTo(watermark, stores, events);
    }
    store.add(obs);
  }
  detector.advanceTo(end, stores, events);
  return events;
}

}  // namespace vigil::detectors::testing
