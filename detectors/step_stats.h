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
// Sub-windows merge: the window statistic is the merge of its steps, and a
// series spread over partitions is the merge of its per-partition steps.
struct StepStats {
  QuantileSketch latency;             // seconds
  std::uint64_t records = 0;
  double volume = 0;                  // records, or the sum of count_field
  std::vector<std::uint32_t> nulls;   // per nulls.fields entry; empty without the nulls check
  FieldSet fields;                    // empty without the schema check
  // The FieldShapes id every record of this step had; kNoFields before the
  // first, FieldShapes::kUnshaped once they differ. Meaningful only with the
  // table of the store that holds the step.
  static constexpr std::uint32_t kNoFields = FieldShapes::kUnshaped - 1;
  std::uint32_t shape = kNoFields;

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
    if (obs_shape == FieldShapes::kUnshaped) {
      for (const FieldSeen& f : obs_fields) fields.add(f);
    } else {
      fields.merge(shapes.fields(obs_shape));
    }
    shape = shape == kNoFields ? obs_shape : FieldShapes::kUnshaped;
  }
  void clear() {
    latency.clear();
    records = 0;
    volume = 0;
    std::fill(nulls.begin(), nulls.end(), 0);
    fields.clear();
    shape = kNoFields;
  }
  void merge(const StepStats& other) {
    latency.merge(other.latency);
    mergeCounts(other);
  }
  // Everything but the latency sketch, which windows keep incrementally.
  void mergeCounts(const StepStats& other) {
    records += other.records;
    volume += other.volume;
    if (nulls.size() < other.nulls.size()) nulls.resize(other.nulls.size());
    for (std::size_t i = 0; i < other.nulls.size(); ++i) nulls[i] += other.nulls[i];
    if (other.shape != kNoFields) {
      fields.merge(other.fields);
      shape = FieldShapes::kUnshaped;  // shape ids of two stores do not compare
    }
  }
};

}  // namespace vigil::detectors
