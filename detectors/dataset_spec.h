#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "detectors/time.h"

namespace vigil::detectors {

// What one dataset is and how it is judged: the `datasets[]` entry of the
// configuration, already validated. Plain data, copied freely.

enum class Severity { kCritical, kError, kWarning, kInfo };
std::string_view severityName(Severity s);
std::optional<Severity> parseSeverity(std::string_view s);

enum class LatencyUnit { kMicroseconds, kMilliseconds, kSeconds };
// Multiplier that turns a value in `unit` into seconds.
double secondsPer(LatencyUnit unit);

// Seasonality of an adaptive baseline; kAuto chooses from the history it has.
enum class Seasonality { kAuto, kNone, kHourOfDay, kHourOfWeek };

// Which side of the baseline an adaptive bound watches.
enum class Direction { kDefault, kUp, kDown, kBoth };

struct AdaptiveSpec {
  double sensitivity = 0;  // 0 means the documented default
  Seasonality seasonality = Seasonality::kAuto;
  Direction direction = Direction::kDefault;
};

struct LatencySpec {
  std::optional<std::string> field;  // absent: Kafka timestamp - event time
  LatencyUnit unit = LatencyUnit::kMilliseconds;
  std::optional<Duration> p95_max;
  std::optional<Duration> p99_max;
  std::optional<AdaptiveSpec> adaptive;
};

struct FreshnessSpec {
  Duration max_age{};
};

struct VolumeSpec {
  std::optional<std::string> count_field;
  std::optional<double> min;
  std::optional<double> max;
  std::optional<AdaptiveSpec> adaptive;
};

struct NullsSpec {
  std::vector<std::string> fields;
  std::optional<double> max_rate;
  std::optional<AdaptiveSpec> adaptive;
};

struct SchemaSpec {
  std::vector<std::string> required;
  bool alert_on_new_fields = false;
};

struct AlertSpec {
  Duration for_duration{0};
  Duration keep_firing_for{0};
  Severity severity = Severity::kError;
};

struct DatasetSpec {
  std::string name;
  std::string topic;
  std::optional<std::string> series_key;  // absent: the whole dataset is one series
  std::optional<std::string> event_time;  // absent: the Kafka timestamp
  Duration window{std::chrono::minutes(5)};
  Duration step{std::chrono::seconds(10)};
  std::optional<Duration> allowed_lateness;  // absent: one step
  std::uint64_t max_record_bytes = 1 << 20;
  std::uint32_t max_series = 100000;
  std::optional<std::string> dead_letter_topic;

  std::optional<LatencySpec> latency;
  std::optional<FreshnessSpec> freshness;
  std::optional<VolumeSpec> volume;
  std::optional<NullsSpec> nulls;
  std::optional<SchemaSpec> schema;
  AlertSpec alert;

  Duration lateness() const { return allowed_lateness.value_or(step); }
};

}  // namespace vigil::detectors
