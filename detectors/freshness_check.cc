#include "detectors/freshness_check.h"

namespace vigil::detectors {

FreshnessCheck::FreshnessCheck(const DatasetSpec& spec)
    : max_age_(spec.freshness->max_age),
      window_(spec.window),
      for_(spec.alert.for_duration),
      keep_firing_for_(spec.alert.keep_firing_for),
      severity_(spec.alert.severity) {}

std::optional<FailureEvent> FreshnessCheck::evaluate(Timestamp newest, Timestamp at,
                                                     const SeriesContext& series,
                                                     State& state) const {
  const Duration age = at - newest;
  const auto transition =
      state.lifecycle.update(age > max_age_ ? Condition::kBreached : Condition::kClear, at);
  if (transition == AlertLifecycle::Transition::kNone) return std::nullopt;
  FailureEvent e = makeEvent(transition, series, FailureType::kStaleData, at, window_, severity_);
  e.metric = "freshness_seconds";
  e.threshold = toSeconds(max_age_);
  e.actual_value = toSeconds(age);
  return e;
}

}  // namespace vigil::detectors
