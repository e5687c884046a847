#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "detectors/alert_lifecycle.h"
#include "detectors/baseline.h"
#include "detectors/check.h"
#include "detectors/dataset_spec.h"

namespace vigil::detectors {

// The volume check: the number of records in the window, or the sum of
// count_field, against static `min` (volume_drop, strictly below) and `max`
// (volume_spike, strictly above), each with its own lifecycle, and with
// `adaptive` against a bound learned from the series' own history (both
// directions by default: below it is a drop, above it a spike). An empty
// window is a volume of 0 and is judged: a feed that stops is a drop.
class VolumeCheck {
 public:
  struct State {
    AlertLifecycle drop;
    AlertLifecycle spike;
    std::unique_ptr<AdaptiveBaseline> baseline;  // only with `adaptive`: it is large
  };

  explicit VolumeCheck(const DatasetSpec& spec);
  State newState() const;

  void evaluate(double volume, std::uint64_t records, Timestamp end, const SeriesContext& series,
                State& state, std::vector<FailureEvent>& out) const;

 private:
  std::optional<double> min_;
  std::optional<double> max_;
  std::optional<AdaptiveBaseline::Options> adaptive_;
  CheckBasics basics_;
};

}  // namespace vigil::detectors
