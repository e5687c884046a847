#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "detectors/dataset_spec.h"
#include "detectors/observation.h"

namespace vigil::stream {

// Why a record was not (fully) used. The names are the `reason` label of
// vigil_records_invalid_total and never change.
enum class InvalidReason {
  kEmpty,             // zero-length value
  kTooLarge,          // larger than max_record_bytes
  kInvalidUtf8,
  kInvalidJson,
  kNotObject,         // valid JSON, but not an object
  kMissingSeriesKey,  // series_key absent, null, empty or not a string/number
  kMissingEventTime,  // event_time field absent or null
  kBadEventTime,      // event_time present but not RFC 3339 nor epoch s/ms
  kWrongType,         // a check's field has the wrong type: the record is still used by the others
  kLate,              // older than the allowed lateness behind the watermark
  kSeriesCap,         // a new series beyond max_series
  kFuture,            // event time implausibly far ahead of the clock (detect)
};
inline constexpr int kInvalidReasonCount = 12;
std::string_view reasonName(InvalidReason reason);

// Which fields to pull out of a record, derived once from a DatasetSpec.
struct DecodePlan {
  std::string dataset;                     // the series name when there is no series_key
  std::optional<std::string> series_key;
  std::optional<std::string> event_time;   // absent: the Kafka timestamp
  std::optional<std::string> latency_field;
  bool derived_latency = false;            // latency = Kafka timestamp - event time
  double latency_scale = 1.0;              // field unit -> seconds
  std::optional<std::string> count_field;  // volume: sum this field instead of counting records
  std::vector<std::string> null_fields;    // nulls: at most kMaxNullFields
  bool track_fields = false;               // schema: report every top-level field and its type
  std::uint64_t max_record_bytes = 1 << 20;

  static constexpr std::size_t kMaxNullFields = 32;

  static DecodePlan fromSpec(const detectors::DatasetSpec& spec);
};

// A top-level field as the record has it: its name (valid until the next
// decode) and its JSON type as a detectors::JsonType bit.
struct RawField {
  std::string_view name;
  std::uint8_t type;
};

// Side results of a decode that did not reject the record.
struct DecodeNotes {
  bool latency_wrong_type = false;  // latency field present but not a non-negative number
  bool count_wrong_type = false;    // count_field present but not a non-negative number
  std::vector<RawField> fields;     // with plan.track_fields: every top-level field, in order
  // Records of one decoder given the same keys_id had the same keys in the same order (the types
  // may differ); a new sequence gets a new id, unique in the process. 0: none.
  std::uint64_t keys_id = 0;
  // With plan.track_fields: records of one decoder given the same shape_id had the same keys in
  // the same order, each of the same JSON type, so `fields` are equal; ids come from the same
  // counter as keys_id. 0: none.
  std::uint64_t shape_id = 0;
};

// Decodes JSON record values with simdjson's on-demand API, touching only the
// top-level fields the plan names; no DOM is built. One Decoder per partition
// worker: it owns a parser and a padded buffer and is not thread-safe.
// Never throws; every malformed input yields an InvalidReason.
class Decoder {
 public:
  explicit Decoder(DecodePlan plan);
  ~Decoder();
  Decoder(Decoder&&) noexcept;
  Decoder& operator=(Decoder&&) noexcept;

  // Fills `out` (views valid until the next call) or returns why the record is
  // invalid. `kafka_timestamp` is the event time when the plan has no
  // event_time field, and the end of the derived latency.
  std::optional<InvalidReason> decode(std::string_view value, detectors::Timestamp kafka_timestamp,
                                      detectors::Observation& out, DecodeNotes& notes);

  const DecodePlan& plan() const { return plan_; }

 private:
  struct Impl;
  DecodePlan plan_;
  std::unique_ptr<Impl> impl_;
};

// Parses an event time: an RFC 3339 string ("2025-01-15T14:32:00Z",
// "2025-01-15T14:32:00.250+02:00") or an epoch number, read as seconds when its
// magnitude is below 1e11 and as milliseconds otherwise.
std::optional<detectors::Timestamp> parseRfc3339(std::string_view text);
std::optional<detectors::Timestamp> fromEpochNumber(double value);

}  // namespace vigil::stream
