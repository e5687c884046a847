#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "detectors/observation.h"
#include "detectors/schema.h"
#include "detectors/sketch.h"

namespace vigil::detectors {

// Counts the set bits of an observation's null mask into per-field counters.
inline void addNullMask(std::vector<std::uint32_t>& nulls, std::uint32_t mask) {
  const std::size_t n = std::min<std::size_t>(nulls.size(), 32);  // the mask has 32 bits
  for (std::size_t i = 0; mask != 0 && i < n; ++i) nulls[i] += (mask >> i) & 1u;
}

// Everything the checks keep about one series for one step (one sub-window).
// A window's statistic combines its steps; a series spread over partitions
// combines its per-partition windows (DatasetDetector does both).
struct StepStats {
  QuantileSketch latency;             // seconds
  std::uint64_t records = 0;
  double volume = 0;                  // records, or the sum of count_field
  std::vector<std::uint32_t> nulls;   // per nulls.fields entry; empty without the nulls check
  // The FieldShapes id every record of this step had; kNoFields before the
  // first, FieldShapes::kUnshaped once they differ. Meaningful only with the
  // table of the store that holds the step. While the step has one shape its
  // fields are the shape's and `mixed_fields` stays empty: a step costs no
  // field merge until a record of another shape arrives.
  static constexpr std::uint32_t kNoFields = FieldShapes::kUnshaped - 1;
  std::uint32_t shape = kNoFields;
  FieldSet mixed_fields;  // the union of the step's fields once its shapes differ

  void add(const Observation& obs) {
    ++records;
    volume += obs.volume;
    if (obs.latency_seconds) latency.add(*obs.latency_seconds);
    addNullMask(nulls, obs.null_mask);
  }
  // A record's fields, interned in `shapes` as `obs_shape` (kUnshaped: not
  // interned, the table is full).
  void addFields(std::span<const FieldSeen> obs_fields, std::uint32_t obs_shape,
                 const FieldShapes& shapes) {
    if (obs_shape == shape && shape != FieldShapes::kUnshaped) return;
    if (shape == kNoFields && obs_shape != FieldShapes::kUnshaped) {
      shape = obs_shape;
      return;
    }
    if (shape < kNoFields) mixed_fields.merge(shapes.fields(shape));
    if (obs_shape == FieldShapes::kUnshaped) {
      for (const FieldSeen& f : obs_fields) mixed_fields.add(f);
    } else {
      mixed_fields.merge(shapes.fields(obs_shape));
    }
    shape = FieldShapes::kUnshaped;
  }
  // The fields the step's records had, given the table of the store holding it.
  const FieldSet& fields(const FieldShapes& shapes) const {
    return shape < kNoFields ? shapes.fields(shape) : mixed_fields;
  }
  void clear() {
    latency.clear();
    records = 0;
    volume = 0;
    std::fill(nulls.begin(), nulls.end(), 0);
    mixed_fields.clear();
    shape = kNoFields;
  }
};

}  // namespace vigil::detectors
