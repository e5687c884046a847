#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace vigil::detectors {

// Event time is UTC with millisecond resolution, the resolution of Kafka timestamps.
using Duration = std::chrono::milliseconds;
using Timestamp = std::chrono::sys_time<Duration>;

inline Timestamp timestampFromMillis(std::int64_t ms) { return Timestamp{Duration{ms}}; }
inline std::int64_t toMillis(Timestamp t) { return t.time_since_epoch().count(); }

// The start of the step that contains `t`; steps are aligned to the Unix epoch.
// Floors toward negative infinity so times before 1970 align too.
inline Timestamp alignDown(Timestamp t, Duration step) {
  const std::int64_t ms = toMillis(t);
  const std::int64_t s = step.count();
  std::int64_t q = ms / s;
  if (ms % s != 0 && ms < 0) --q;
  return timestampFromMillis(q * s);
}

// RFC 3339 in UTC: "2025-01-15T14:32:00Z", with ".123" only when the milliseconds are non-zero.
std::string formatRfc3339(Timestamp t);

// Seconds as a double, for event fields that are in seconds.
inline double toSeconds(Duration d) { return static_cast<double>(d.count()) / 1000.0; }

}  // namespace vigil::detectors
