#include "detectors/volume_check.h"

namespace vigil::detectors {
namespace {

// Volumes are modelled as log(count + 1): an empty window is log 1 = 0.
constexpr double kVolumeLogOffset = 1.0;

}  // namespace

VolumeCheck::VolumeCheck(const DatasetSpec& spec)
    : min_(spec.volume->min),
      max_(spec.volume->max),
      basics_(spec) {
  if (spec.volume->adaptive) {
    adaptive_ = adaptiveOptions(*spec.volume->adaptive, Direction::kBoth, 0, kVolumeLogOffset);
  }
}

VolumeCheck::State VolumeCheck::newState() const {
  State s{basics_.lifecycle(), basics_.lifecycle()};
  if (adaptive_) s.baseline = std::make_unique<AdaptiveBaseline>(*adaptive_);
  return s;
}

void VolumeCheck::evaluate(double volume, std::uint64_t records, Timestamp end,
                           const SeriesContext& series, State& state,
                           std::vector<FailureEvent>& out) const {
  AdaptiveJudgement learned;
  if (state.baseline) {
    learned = judge(*state.baseline, volume, end, state.spike.firing(), state.drop.firing());
  }
  bool anomalous = false;
  auto decide = [&](AlertLifecycle& lifecycle, const std::optional<double>& bound, bool below,
                    FailureType type) {
    const bool static_out = bound && (below ? volume < *bound : volume > *bound);
    const bool learned_out = below ? learned.below : learned.above;
    const bool judged = bound || learned.bounds;
    anomalous |= static_out || learned_out;
    const Condition c = !judged                     ? Condition::kUnknown
                        : static_out || learned_out ? Condition::kBreached
                                                    : Condition::kClear;
    const auto transition = lifecycle.update(c, end);
    if (transition == AlertLifecycle::Transition::kNone) return;
    FailureEvent e = basics_.event(transition, series, type, end);
    e.metric = "row_count";
    if (bound && (static_out || !learned.bounds)) {
      e.threshold = *bound;
    } else {
      e.threshold = below ? learned.bounds->lower() : learned.bounds->upper();
    }
    if (learned.bounds) e.baseline = learned.bounds->expected();
    e.actual_value = volume;
    e.sample_count = records;
    out.push_back(std::move(e));
  };
  decide(state.drop, min_, true, FailureType::kVolumeDrop);
  decide(state.spike, max_, false, FailureType::kVolumeSpike);
  if (state.baseline) state.baseline->observe(volume, end, anomalous);
}

}  // namespace vigil::detectors
