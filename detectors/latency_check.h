#pragma once

#include <optional>
#include <string_view>

#include "detectors/alert_lifecycle.h"
#include "detectors/check.h"
#include "detectors/dataset_spec.h"
#include "detectors/failure_event.h"
#include "detectors/sketch.h"

namespace vigil::detectors {

// The latency check: p95 and p99 of a series' latency over the sliding window,
// against the static bounds p95_max / p99_max. One `latency_spike` lifecycle
// covers both bounds; the event names the quantile that is out of bounds (p99
// when both are), and the resolved event names the one that fired. A window
// with no latency samples says nothing (kUnknown): silence is the freshness
// check's business. Stateless apart from the per-series State it is handed.
class LatencyCheck {
 public:
  struct State {
    AlertLifecycle lifecycle;
    bool fired_on_p99 = true;
  };

  explicit LatencyCheck(const DatasetSpec& spec);

  State newState() const { return State{AlertLifecycle(for_, keep_firing_for_)}; }

  // Judges the window [end - window, end) summarised by `window_latency`.
  std::optional<FailureEvent> evaluate(const QuantileSketch& window_latency, Timestamp end,
                                       const SeriesContext& series, State& state) const;

 private:
  std::optional<double> p95_max_;  // seconds
  std::optional<double> p99_max_;
  Duration window_;
  Duration for_;
  Duration keep_firing_for_;
  Severity severity_;
};

}  // namespace vigil::detectors
