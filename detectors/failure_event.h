#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "detectors/dataset_spec.h"
#include "detectors/time.h"

namespace vigil::detectors {

enum class FailureType { kLatencySpike, kStaleData, kVolumeDrop, kVolumeSpike, kNullSpike, kSchemaDrift };
std::string_view failureTypeName(FailureType type);

enum class EventStatus { kFiring, kResolved };
std::string_view statusName(EventStatus status);

// A failure event, `vigil.failure.v1` (see the README): the one output of the
// detectors. Plain data.
struct FailureEvent {
  EventStatus status = EventStatus::kFiring;
  Timestamp timestamp;  // the step end at which the state changed
  std::string dataset;
  std::string pipeline_id;
  FailureType failure_type = FailureType::kLatencySpike;
  std::string metric;  // e.g. latency_p99_seconds
  double threshold = 0;
  double actual_value = 0;
  Severity severity = Severity::kError;
  Timestamp window_start;
  Timestamp window_end;

  // context
  std::string topic;
  std::uint64_t sample_count = 0;
  std::optional<double> baseline;
  std::optional<double> p95_seconds;  // latency events carry both quantiles
  std::optional<double> p99_seconds;
  std::string field;  // null_spike: the field
  std::vector<std::string> missing, added, changed;  // schema_drift

  // Deterministic: a 64-bit FNV-1a hash of (dataset, pipeline_id, failure_type,
  // status, timestamp in ms, field), as 16 hex digits. The same input yields
  // the same id in replay and detect, and a redelivery keeps it. `field` joins
  // the hash only when set, so two null_spike lifecycles of one series differ.
  std::string eventId() const;

  // The Kafka message key: "dataset/pipeline_id".
  std::string key() const { return dataset + "/" + pipeline_id; }

  // One JSON object, no trailing newline, fields in the documented order.
  std::string toJson() const;
};

// The documented order of events that share a timestamp: dataset, pipeline_id,
// failure_type (then field, so the order is total).
bool eventOrderLess(const FailureEvent& a, const FailureEvent& b);

}  // namespace vigil::detectors
