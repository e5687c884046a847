#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "detectors/schema.h"
#include "detectors/time.h"

namespace vigil::detectors {

// The few numbers the checks need from one record, decoded by stream/ and
// handed to the detectors. Views point into the decoder's buffers and are
// valid only until the next record is decoded.
struct Observation {
  std::string_view series;  // the series key value, or the dataset name
  Timestamp event_time;
  std::optional<double> latency_seconds;  // absent: no usable latency in this record
  double volume = 1;                      // 1, or the value of volume.count_field
  std::uint32_t null_mask = 0;            // bit i: nulls.fields[i] absent or JSON null
  std::span<const FieldSeen> fields;      // top-level fields; empty unless the schema check runs
  // Non-zero when the source can tell: observations with the same token carry equal `fields`
  // (ids and types, in order), so a store need not compare them again.
  std::uint64_t fields_token = 0;
};

}  // namespace vigil::detectors
