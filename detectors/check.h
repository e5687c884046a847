#pragma once

#include <optional>
#include <string_view>

#include "detectors/alert_lifecycle.h"
#include "detectors/dataset_spec.h"
#include "detectors/failure_event.h"

namespace vigil::detectors {

// Identifies the series an evaluation is about; views into the caller's data.
struct SeriesContext {
  std::string_view dataset;
  std::string_view topic;
  std::string_view pipeline_id;
};

// What every check reports when its lifecycle changes state: the shared part
// of building a failure event. The check fills in what is its own.
inline FailureEvent makeEvent(AlertLifecycle::Transition transition, const SeriesContext& series,
                              FailureType type, Timestamp at, Duration window, Severity severity) {
  FailureEvent e;
  e.status = transition == AlertLifecycle::Transition::kFired ? EventStatus::kFiring
                                                              : EventStatus::kResolved;
  e.timestamp = at;
  e.dataset = series.dataset;
  e.pipeline_id = series.pipeline_id;
  e.topic = series.topic;
  e.failure_type = type;
  e.severity = severity;
  e.window_start = at - window;
  e.window_end = at;
  return e;
}

// What every check takes from its dataset: the window its events report and
// how its alerts live (`for`, keep_firing_for, severity). Plain data.
struct CheckBasics {
  explicit CheckBasics(const DatasetSpec& spec)
      : window(spec.window),
        for_duration(spec.alert.for_duration),
        keep_firing_for(spec.alert.keep_firing_for),
        severity(spec.alert.severity) {}

  AlertLifecycle lifecycle() const { return AlertLifecycle(for_duration, keep_firing_for); }
  FailureEvent event(AlertLifecycle::Transition transition, const SeriesContext& series,
                     FailureType type, Timestamp at) const {
    return makeEvent(transition, series, type, at, window, severity);
  }

  Duration window;
  Duration for_duration;
  Duration keep_firing_for;
  Severity severity;
};

}  // namespace vigil::detectors
