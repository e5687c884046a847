#include "detectors/volume_check.h"

namespace vigil::detectors {

VolumeCheck::VolumeCheck(const DatasetSpec& spec)
    : min_(spec.volume->min),
      max_(spec.volume->max),
      window_(spec.window),
      for_(spec.alert.for_duration),
      keep_firing_for_(spec.alert.keep_firing_for),
      severity_(spec.alert.severity) {}

void VolumeCheck::evaluate(double volume, std::uint64_t records, Timestamp end,
                           const SeriesContext& series, State& state,
                           std::vector<FailureEvent>& out) const {
  auto judge = [&](AlertLifecycle& lifecycle, const std::optional<double>& bound, bool below,
                   FailureType type) {
    const Condition c = !bound ? Condition::kUnknown
                        : (below ? volume < *bound : volume > *bound) ? Condition::kBreached
                                                                        : Condition::kClear;
    const auto transition = lifecycle.update(c, end);
    if (transition == AlertLifecycle::Transition::kNone) return;
    FailureEvent e = makeEvent(transition, series, type, end, window_, severity_);
    e.metric = "row_count";
    e.threshold = *bound;
    e.actual_value = volume;
    e.sample_count = records;
    out.push_back(std::move(e));
  };
  judge(state.drop, min_, true, FailureType::kVolumeDrop);
  judge(state.spike, max_, false, FailureType::kVolumeSpike);
}

}  // namespace vigil::detectors
