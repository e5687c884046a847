#include "detectors/latency_check.h"

namespace vigil::detectors {
namespace {

std::optional<double> boundSeconds(const std::optional<Duration>& d) {
  return d ? std::optional<double>(toSeconds(*d)) : std::nullopt;
}

}  // namespace

LatencyCheck::LatencyCheck(const DatasetSpec& spec)
    : p95_max_(boundSeconds(spec.latency->p95_max)),
      p99_max_(boundSeconds(spec.latency->p99_max)),
      window_(spec.window),
      for_(spec.alert.for_duration),
      keep_firing_for_(spec.alert.keep_firing_for),
      severity_(spec.alert.severity) {}

std::optional<FailureEvent> LatencyCheck::evaluate(const QuantileSketch& window_latency,
                                                   Timestamp end, const SeriesContext& series,
                                                   State& state) const {
  if (window_latency.empty() || (!p95_max_ && !p99_max_)) {
    state.lifecycle.update(Condition::kUnknown, end);
    return std::nullopt;
  }
  const double p95 = window_latency.quantile(0.95);
  const double p99 = window_latency.quantile(0.99);
  const bool p99_out = p99_max_ && p99 > *p99_max_;
  const bool p95_out = p95_max_ && p95 > *p95_max_;

  const auto transition =
      state.lifecycle.update(p99_out || p95_out ? Condition::kBreached : Condition::kClear, end);
  if (transition == AlertLifecycle::Transition::kNone) return std::nullopt;

  if (transition == AlertLifecycle::Transition::kFired) state.fired_on_p99 = p99_out;
  const bool on_p99 = state.fired_on_p99;

  FailureEvent event =
      makeEvent(transition, series, FailureType::kLatencySpike, end, window_, severity_);
  event.metric = on_p99 ? "latency_p99_seconds" : "latency_p95_seconds";
  event.threshold = on_p99 ? *p99_max_ : *p95_max_;
  event.actual_value = on_p99 ? p99 : p95;
  event.sample_count = window_latency.count();
  event.p95_seconds = p95;
  event.p99_seconds = p99;
  return event;
}

}  // namespace vigil::detectors
