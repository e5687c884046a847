#pragma once

#include <optional>
#include <string_view>

#include "detectors/time.h"

namespace vigil::detectors {

// The few numbers the checks need from one record, decoded by stream/ and
// handed to the detectors. Views point into the decoder's buffer and are valid
// only until the next record is decoded.
struct Observation {
  std::string_view series;  // the series key value, or the dataset name
  Timestamp event_time;
  std::optional<double> latency_seconds;  // absent: no usable latency in this record
};

}  // namespace vigil::detectors
