#include "detectors/latency_check.h"

#include <array>

namespace vigil::detectors {
namespace {

// Latencies are modelled as log(seconds + 1 us): a microsecond is noise.
constexpr double kLatencyLogOffset = 1e-6;

std::optional<double> boundSeconds(const std::optional<Duration>& d) {
  return d ? std::optional<double>(toSeconds(*d)) : std::nullopt;
}

}  // namespace

LatencyCheck::LatencyCheck(const DatasetSpec& spec)
    : p95_max_(boundSeconds(spec.latency->p95_max)),
      p99_max_(boundSeconds(spec.latency->p99_max)),
      basics_(spec) {
  if (spec.latency->adaptive) adaptive_ = adaptiveOptions(*spec.latency->adaptive, Direction::kUp, 0, kLatencyLogOffset);
}

LatencyCheck::State LatencyCheck::newState() const {
  State s{basics_.lifecycle()};
  if (adaptive_) s.baseline = std::make_unique<AdaptiveBaseline>(*adaptive_);
  return s;
}

std::optional<FailureEvent> LatencyCheck::evaluate(const QuantileSketch& window_latency,
                                                   Timestamp end, const SeriesContext& series,
                                                   State& state) const {
  if (window_latency.empty() || (!p95_max_ && !p99_max_ && !state.baseline)) {
    state.lifecycle.update(Condition::kUnknown, end);
    return std::nullopt;
  }
  static constexpr std::array<double, 2> kQuantiles = {0.95, 0.99};
  std::array<double, 2> p{};
  window_latency.quantiles(kQuantiles, p);
  const double p95 = p[0];
  const double p99 = p[1];
  const bool p99_out = p99_max_ && p99 > *p99_max_;
  const bool p95_out = p95_max_ && p95 > *p95_max_;
  AdaptiveJudgement learned;
  if (state.baseline) learned = judge(*state.baseline, p99, end, state.lifecycle.firing(), false);

  const bool breached = p99_out || p95_out || learned.above;
  const auto transition =
      state.lifecycle.update(breached ? Condition::kBreached : Condition::kClear, end);
  if (state.baseline) state.baseline->observe(p99, end, breached);
  if (transition == AlertLifecycle::Transition::kNone) return std::nullopt;

  using Cause = State::Cause;
  if (transition == AlertLifecycle::Transition::kFired) {
    state.cause = p99_out ? Cause::kP99 : p95_out ? Cause::kP95 : Cause::kAdaptive;
  }
  FailureEvent event =
      basics_.event(transition, series, FailureType::kLatencySpike, end);
  const bool on_p95 = state.cause == Cause::kP95;
  event.metric = on_p95 ? "latency_p95_seconds" : "latency_p99_seconds";
  event.actual_value = on_p95 ? p95 : p99;
  if (state.cause == Cause::kAdaptive) {
    event.threshold = learned.bounds ? learned.bounds->upper() : 0;
  } else {
    event.threshold = on_p95 ? *p95_max_ : *p99_max_;
  }
  if (learned.bounds) event.baseline = learned.bounds->expected();
  event.sample_count = window_latency.count();
  event.p95_seconds = p95;
  event.p99_seconds = p99;
  return event;
}

}  // namespace vigil::detectors
