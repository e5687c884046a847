#include "detectors/nulls_check.h"

namespace vigil::detectors {

NullsCheck::NullsCheck(const DatasetSpec& spec)
    : fields_(spec.nulls->fields),
      max_rate_(spec.nulls->max_rate),
      window_(spec.window),
      for_(spec.alert.for_duration),
      keep_firing_for_(spec.alert.keep_firing_for),
      severity_(spec.alert.severity) {}

void NullsCheck::evaluate(const std::vector<std::uint32_t>& nulls, std::uint64_t records,
                          Timestamp end, const SeriesContext& series, State& state,
                          std::vector<FailureEvent>& out) const {
  for (std::size_t i = 0; i < fields_.size(); ++i) {
    const std::uint32_t n = i < nulls.size() ? nulls[i] : 0;
    const double rate = records ? static_cast<double>(n) / static_cast<double>(records) : 0.0;
    const Condition c = !max_rate_ || records == 0 ? Condition::kUnknown
                        : rate > *max_rate_        ? Condition::kBreached
                                                   : Condition::kClear;
    const auto transition = state.fields[i].update(c, end);
    if (transition == AlertLifecycle::Transition::kNone) continue;
    FailureEvent e = makeEvent(transition, series, FailureType::kNullSpike, end, window_, severity_);
    e.metric = "null_rate";
    e.threshold = *max_rate_;
    e.actual_value = rate;
    e.sample_count = records;
    e.field = fields_[i];
    out.push_back(std::move(e));
  }
}

}  // namespace vigil::detectors
