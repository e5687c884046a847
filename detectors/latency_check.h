#pragma once

#include <memory>
#include <optional>
#include <string_view>

#include "detectors/alert_lifecycle.h"
#include "detectors/baseline.h"
#include "detectors/check.h"
#include "detectors/dataset_spec.h"
#include "detectors/failure_event.h"
#include "detectors/sketch.h"

namespace vigil::detectors {

// The latency check: p95 and p99 of a series' latency over the sliding window,
// against the static bounds p95_max / p99_max and, with `adaptive`, a bound on
// p99 learned from the series' own history (upward by default). One
// `latency_spike` lifecycle covers every bound; the event names the quantile
// that is out of bounds (p99 when both are), and the resolved event the one
// that fired. A window with no latency samples says nothing (kUnknown) and
// teaches the baseline nothing: silence is the freshness check's business.
class LatencyCheck {
 public:
  struct State {
    AlertLifecycle lifecycle;
    enum class Cause { kP99, kP95, kAdaptive } cause = Cause::kP99;
    std::unique_ptr<AdaptiveBaseline> baseline;  // only with `adaptive`: it is large
  };

  explicit LatencyCheck(const DatasetSpec& spec);

  State newState() const;

  // Judges the window [end - window, end) summarised by `window_latency`.
  std::optional<FailureEvent> evaluate(const QuantileSketch& window_latency, Timestamp end,
                                       const SeriesContext& series, State& state) const;

 private:
  std::optional<double> p95_max_;  // seconds
  std::optional<double> p99_max_;
  std::optional<AdaptiveBaseline::Options> adaptive_;
  CheckBasics basics_;
};

}  // namespace vigil::detectors
