#pragma once

#include "detectors/sketch.h"

namespace vigil::detectors {

// Everything the checks keep about one series for one step (one sub-window).
// Sub-windows merge: the window statistic is the merge of its steps, and a
// series spread over partitions is the merge of its per-partition steps.
struct StepStats {
  QuantileSketch latency;  // seconds

  void clear() { latency.clear(); }
  void merge(const StepStats& other) { latency.merge(other.latency); }
};

}  // namespace vigil::detectors
