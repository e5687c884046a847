#include "detectors/nulls_check.h"

namespace vigil::detectors {

NullsCheck::NullsCheck(const DatasetSpec& spec)
    : fields_(spec.nulls->fields),
      max_rate_(spec.nulls->max_rate),
      basics_(spec) {
  if (spec.nulls->adaptive) {
    adaptive_ = adaptiveOptions(*spec.nulls->adaptive, Direction::kUp, kRateFloor);
  }
}

NullsCheck::State NullsCheck::newState() const {
  State s{std::vector<AlertLifecycle>(fields_.size(), basics_.lifecycle()), {}};
  if (adaptive_) s.baselines.assign(fields_.size(), AdaptiveBaseline(*adaptive_));
  return s;
}

void NullsCheck::evaluate(const std::vector<std::uint32_t>& nulls, std::uint64_t records,
                          Timestamp end, const SeriesContext& series, State& state,
                          std::vector<FailureEvent>& out) const {
  for (std::size_t i = 0; i < fields_.size(); ++i) {
    const std::uint32_t n = i < nulls.size() ? nulls[i] : 0;
    const double rate = records ? static_cast<double>(n) / static_cast<double>(records) : 0.0;
    AlertLifecycle& lifecycle = state.fields[i];
    AdaptiveJudgement learned;
    if (!state.baselines.empty() && records > 0) {
      learned = judge(state.baselines[i], rate, end, lifecycle.firing(), false);
    }
    const bool static_out = max_rate_ && rate > *max_rate_;
    const bool breached = static_out || learned.above;
    const Condition c = records == 0 || (!max_rate_ && !learned.bounds) ? Condition::kUnknown
                        : breached                                       ? Condition::kBreached
                                                                         : Condition::kClear;
    const auto transition = lifecycle.update(c, end);
    if (!state.baselines.empty() && records > 0) state.baselines[i].observe(rate, end, breached);
    if (transition == AlertLifecycle::Transition::kNone) continue;
    FailureEvent e = basics_.event(transition, series, FailureType::kNullSpike, end);
    e.metric = "null_rate";
    e.threshold = max_rate_ && (static_out || !learned.bounds) ? *max_rate_ : learned.bounds->upper();
    if (learned.bounds) e.baseline = learned.bounds->expected();
    e.actual_value = rate;
    e.sample_count = records;
    e.field = fields_[i];
    out.push_back(std::move(e));
  }
}

}  // namespace vigil::detectors
