#pragma once

#include <optional>
#include <string>
#include <vector>

#include "detectors/alert_lifecycle.h"
#include "detectors/baseline.h"
#include "detectors/check.h"
#include "detectors/dataset_spec.h"

namespace vigil::detectors {

// The nulls check: per configured field, the fraction of the window's records
// in which the field is absent or JSON null, against max_rate (strictly
// above) and, with `adaptive`, against a rate learned from the series' own
// history (upward by default; the spread never below half a percentage
// point, so a field that is never null does not alert on its first null).
// One null_spike lifecycle per (series, field); the event names the field in
// context.field. A window without records says nothing.
class NullsCheck {
 public:
  struct State {
    std::vector<AlertLifecycle> fields;
    std::vector<AdaptiveBaseline> baselines;  // one per field with `adaptive`
  };

  explicit NullsCheck(const DatasetSpec& spec);
  static constexpr double kRateFloor = 0.005;

  State newState() const;
  std::size_t fieldCount() const { return fields_.size(); }

  void evaluate(const std::vector<std::uint32_t>& nulls, std::uint64_t records, Timestamp end,
                const SeriesContext& series, State& state, std::vector<FailureEvent>& out) const;

 private:
  std::vector<std::string> fields_;
  std::optional<double> max_rate_;
  std::optional<AdaptiveBaseline::Options> adaptive_;
  CheckBasics basics_;
};

}  // namespace vigil::detectors
