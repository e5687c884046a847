#include "detectors/failure_event.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <tuple>

namespace vigil::detectors {
namespace {

constexpr std::uint64_t kFnvOffset = 0xcbf29ce484222325ULL;
constexpr std::uint64_t kFnvPrime = 0x100000001b3ULL;

void fnv(std::uint64_t& h, std::string_view s) {
  for (const unsigned char c : s) {
    h ^= c;
    h *= kFnvPrime;
  }
  // A separator that cannot occur in UTF-8 text keeps ("ab","c") apart from ("a","bc").
  h ^= 0xff;
  h *= kFnvPrime;
}

void appendEscaped(std::string& out, std::string_view s) {
  out.push_back('"');
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

// Shortest round-trip form; JSON has no NaN or infinity, so those become null. -0 is written 0:
// readers parse "-0" as the integer 0, so the sign would not survive a round trip anyway.
void appendNumber(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  if (v == 0) v = 0;
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, ec == std::errc{} ? end : buf);
}

void appendKey(std::string& out, std::string_view key) {
  appendEscaped(out, key);
  out.push_back(':');
}

void appendStringList(std::string& out, std::string_view key, const std::vector<std::string>& v) {
  out.push_back(',');
  appendKey(out, key);
  out.push_back('[');
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) out.push_back(',');
    appendEscaped(out, v[i]);
  }
  out.push_back(']');
}

}  // namespace

std::string_view failureTypeName(FailureType type) {
  switch (type) {
    case FailureType::kLatencySpike: return "latency_spike";
    case FailureType::kStaleData: return "stale_data";
    case FailureType::kVolumeDrop: return "volume_drop";
    case FailureType::kVolumeSpike: return "volume_spike";
    case FailureType::kNullSpike: return "null_spike";
    case FailureType::kSchemaDrift: return "schema_drift";
  }
  return "unknown";
}

std::string_view statusName(EventStatus status) {
  return status == EventStatus::kFiring ? "firing" : "resolved";
}

std::string FailureEvent::eventId() const {
  std::uint64_t h = kFnvOffset;
  fnv(h, dataset);
  fnv(h, pipeline_id);
  fnv(h, failureTypeName(failure_type));
  fnv(h, statusName(status));
  fnv(h, std::to_string(toMillis(timestamp)));
  if (!field.empty()) fnv(h, field);
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::string FailureEvent::toJson() const {
  std::string out;
  out.reserve(512);
  out += R"({"schema":"vigil.failure.v1","event_id":)";
  appendEscaped(out, eventId());
  out += R"(,"status":)";
  appendEscaped(out, statusName(status));
  out += R"(,"timestamp":)";
  appendEscaped(out, formatRfc3339(timestamp));
  out += R"(,"pipeline_id":)";
  appendEscaped(out, pipeline_id);
  out += R"(,"dataset":)";
  appendEscaped(out, dataset);
  out += R"(,"failure_type":)";
  appendEscaped(out, failureTypeName(failure_type));
  out += R"(,"metric":)";
  appendEscaped(out, metric);
  out += R"(,"threshold":)";
  appendNumber(out, threshold);
  out += R"(,"actual_value":)";
  appendNumber(out, actual_value);
  out += R"(,"severity":)";
  appendEscaped(out, severityName(severity));
  out += R"(,"window":{"start":)";
  appendEscaped(out, formatRfc3339(window_start));
  out += R"(,"end":)";
  appendEscaped(out, formatRfc3339(window_end));
  out += R"(},"context":{"topic":)";
  appendEscaped(out, topic);
  out += R"(,"sample_count":)";
  out += std::to_string(sample_count);
  if (baseline) {
    out += R"(,"baseline":)";
    appendNumber(out, *baseline);
  }
  if (p95_seconds) {
    out += R"(,"p95_seconds":)";
    appendNumber(out, *p95_seconds);
  }
  if (p99_seconds) {
    out += R"(,"p99_seconds":)";
    appendNumber(out, *p99_seconds);
  }
  if (!field.empty()) {
    out += R"(,"field":)";
    appendEscaped(out, field);
  }
  if (failure_type == FailureType::kSchemaDrift) {
    appendStringList(out, "missing", missing);
    appendStringList(out, "added", added);
    appendStringList(out, "changed", changed);
  }
  out += "}}";
  return out;
}

bool eventOrderLess(const FailureEvent& a, const FailureEvent& b) {
  const std::string_view ta = failureTypeName(a.failure_type);
  const std::string_view tb = failureTypeName(b.failure_type);
  return std::tie(a.timestamp, a.dataset, a.pipeline_id, ta, a.field) <
         std::tie(b.timestamp, b.dataset, b.pipeline_id, tb, b.field);
}

}  // namespace vigil::detectors
