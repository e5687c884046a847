#include "detectors/freshness_check.h"

namespace vigil::detectors {

FreshnessCheck::FreshnessCheck(const DatasetSpec& spec)
    : max_age_(spec.freshness->max_age),
      basics_(spec) {}

std::optional<FailureEvent> FreshnessCheck::evaluate(Timestamp newest, Timestamp at,
                                                     const SeriesContext& series,
                                                     State& state) const {
  const Duration age = at - newest;
  const auto transition =
      state.lifecycle.update(age > max_age_ ? Condition::kBreached : Condition::kClear, at);
  if (transition == AlertLifecycle::Transition::kNone) return std::nullopt;
  FailureEvent e = basics_.event(transition, series, FailureType::kStaleData, at);
  e.metric = "freshness_seconds";
  e.threshold = toSeconds(max_age_);
  e.actual_value = toSeconds(age);
  return e;
}

}  // namespace vigil::detectors
