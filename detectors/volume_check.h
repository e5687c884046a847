#pragma once

#include <optional>
#include <vector>

#include "detectors/alert_lifecycle.h"
#include "detectors/check.h"
#include "detectors/dataset_spec.h"

namespace vigil::detectors {

// The volume check: the number of records in the window, or the sum of
// count_field, against static `min` (volume_drop, strictly below) and `max`
// (volume_spike, strictly above), each with its own lifecycle. An empty window
// is a volume of 0 and is judged: a feed that stops is a drop.
class VolumeCheck {
 public:
  struct State {
    AlertLifecycle drop;
    AlertLifecycle spike;
  };

  explicit VolumeCheck(const DatasetSpec& spec);
  State newState() const {
    return State{AlertLifecycle(for_, keep_firing_for_), AlertLifecycle(for_, keep_firing_for_)};
  }

  void evaluate(double volume, std::uint64_t records, Timestamp end, const SeriesContext& series,
                State& state, std::vector<FailureEvent>& out) const;

 private:
  std::optional<double> min_;
  std::optional<double> max_;
  Duration window_;
  Duration for_;
  Duration keep_firing_for_;
  Severity severity_;
};

}  // namespace vigil::detectors
