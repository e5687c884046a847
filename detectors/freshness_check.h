#pragma once

#include <optional>

#include "detectors/alert_lifecycle.h"
#include "detectors/check.h"
#include "detectors/dataset_spec.h"

namespace vigil::detectors {

// The freshness check: the age of a series' newest event time, `at - newest`,
// against max_age (stale when strictly older). `threshold` and `actual_value`
// are in seconds. A series never seen is not judged; one seen and stopped
// stays judged until it resolves. `at` is a step end in replay and the clock
// in detect. Stateless apart from the per-series State it is handed.
class FreshnessCheck {
 public:
  struct State {
    AlertLifecycle lifecycle;
  };

  explicit FreshnessCheck(const DatasetSpec& spec);
  State newState() const { return State{basics_.lifecycle()}; }
  Duration maxAge() const { return max_age_; }

  std::optional<FailureEvent> evaluate(Timestamp newest, Timestamp at, const SeriesContext& series,
                                       State& state) const;

 private:
  Duration max_age_;
  CheckBasics basics_;
};

}  // namespace vigil::detectors
