#include "remediation/events.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <limits>

#include "stream/decoder.h"

namespace vigil::remediation {
namespace {

using detectors::EventStatus;
using detectors::FailureType;
using nlohmann::json;

constexpr std::array kFailureTypes = {FailureType::kLatencySpike, FailureType::kStaleData,
                                      FailureType::kVolumeDrop,   FailureType::kVolumeSpike,
                                      FailureType::kNullSpike,    FailureType::kSchemaDrift};

std::optional<FailureType> parseFailureType(std::string_view name) {
  for (FailureType t : kFailureTypes) {
    if (detectors::failureTypeName(t) == name) return t;
  }
  return std::nullopt;
}

// Reads a string member; false (with `error`) when absent or not a string.
bool member(const json& j, const char* name, std::string& out, std::string& error) {
  const auto it = j.find(name);
  if (it == j.end() || !it->is_string()) {
    error = std::string("missing or non-string \"") + name + "\"";
    return false;
  }
  out = it->get<std::string>();
  return true;
}

constexpr detectors::Timestamp kMinTime{};
constexpr detectors::Timestamp kEndTime{
    std::chrono::sys_days{std::chrono::year{10000} / std::chrono::January / 1}};

bool timeMember(const json& j, const char* name, detectors::Timestamp& out, std::string& error) {
  std::string text;
  if (!member(j, name, text, error)) return false;
  const auto t = stream::parseRfc3339(text);
  // Event times are 1970..9999, as the decoder takes them: the range formatRfc3339 writes back.
  if (!t || *t < kMinTime || *t >= kEndTime) {
    error = std::string("\"") + name + "\" is not an RFC 3339 time in years 1970 to 9999";
    return false;
  }
  out = *t;
  return true;
}

std::optional<double> number(const json& j, const char* name) {
  const auto it = j.find(name);
  if (it == j.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

std::vector<std::string> strings(const json& j, const char* name) {
  std::vector<std::string> out;
  const auto it = j.find(name);
  if (it == j.end() || !it->is_array()) return out;
  for (const auto& v : *it) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

}  // namespace

std::optional<ReceivedFailure> parseFailureEvent(std::string_view text, std::string& error) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    error = "not a JSON object";
    return std::nullopt;
  }
  std::string schema, status, type, severity;
  ReceivedFailure r;
  detectors::FailureEvent& e = r.event;
  if (!member(j, "schema", schema, error)) return std::nullopt;
  if (schema != "vigil.failure.v1") {
    error = "schema is not vigil.failure.v1";
    return std::nullopt;
  }
  if (!member(j, "event_id", r.event_id, error) || !member(j, "status", status, error) ||
      !member(j, "dataset", e.dataset, error) || !member(j, "pipeline_id", e.pipeline_id, error) ||
      !member(j, "failure_type", type, error) || !timeMember(j, "timestamp", e.timestamp, error)) {
    return std::nullopt;
  }
  if (r.event_id.empty() || e.dataset.empty() || e.pipeline_id.empty()) {
    error = "empty event_id, dataset or pipeline_id";
    return std::nullopt;
  }
  if (status == "firing") {
    e.status = EventStatus::kFiring;
  } else if (status == "resolved") {
    e.status = EventStatus::kResolved;
  } else {
    error = "status is neither firing nor resolved";
    return std::nullopt;
  }
  const auto parsed_type = parseFailureType(type);
  if (!parsed_type) {
    error = "unknown failure_type";
    return std::nullopt;
  }
  e.failure_type = *parsed_type;
  // The rest is evidence: taken when present and well-typed, never required.
  if (const auto it = j.find("metric"); it != j.end() && it->is_string()) e.metric = *it;
  e.threshold = number(j, "threshold").value_or(0);
  e.actual_value = number(j, "actual_value").value_or(0);
  if (const auto it = j.find("severity"); it != j.end() && it->is_string()) {
    e.severity =
        detectors::parseSeverity(it->get<std::string>()).value_or(detectors::Severity::kError);
  }
  e.window_start = e.window_end = e.timestamp;
  if (const auto w = j.find("window"); w != j.end() && w->is_object()) {
    std::string ignored;
    (void)timeMember(*w, "start", e.window_start, ignored);
    (void)timeMember(*w, "end", e.window_end, ignored);
  }
  if (const auto c = j.find("context"); c != j.end() && c->is_object()) {
    if (const auto it = c->find("topic"); it != c->end() && it->is_string()) e.topic = *it;
    // An unsigned integer, as the detector writes it (a double beyond 2^64 has no such value).
    if (const auto it = c->find("sample_count"); it != c->end() && it->is_number_unsigned()) {
      e.sample_count = it->get<std::uint64_t>();
    }
    e.baseline = number(*c, "baseline");
    e.p95_seconds = number(*c, "p95_seconds");
    e.p99_seconds = number(*c, "p99_seconds");
    if (const auto it = c->find("field"); it != c->end() && it->is_string()) e.field = *it;
    e.missing = strings(*c, "missing");
    e.added = strings(*c, "added");
    e.changed = strings(*c, "changed");
  }
  return r;
}

json evidenceJson(const detectors::FailureEvent& e) {
  json j = {{"metric", e.metric},
            {"actual_value", e.actual_value},
            {"threshold", e.threshold},
            {"severity", detectors::severityName(e.severity)},
            {"window",
             {{"start", detectors::formatRfc3339(e.window_start)},
              {"end", detectors::formatRfc3339(e.window_end)}}}};
  if (e.baseline) j["baseline"] = *e.baseline;
  if (e.sample_count) j["sample_count"] = e.sample_count;
  if (e.p95_seconds) j["p95_seconds"] = *e.p95_seconds;
  if (e.p99_seconds) j["p99_seconds"] = *e.p99_seconds;
  if (!e.field.empty()) j["field"] = e.field;
  if (!e.missing.empty()) j["missing"] = e.missing;
  if (!e.added.empty()) j["added"] = e.added;
  if (!e.changed.empty()) j["changed"] = e.changed;
  return j;
}

void readEvidence(const json& j, detectors::FailureEvent& e) {
  std::string ignored;
  (void)timeMember(j, "timestamp", e.timestamp, ignored);
  e.window_start = e.window_end = e.timestamp;
  if (const auto w = j.find("window"); w != j.end() && w->is_object()) {
    (void)timeMember(*w, "start", e.window_start, ignored);
    (void)timeMember(*w, "end", e.window_end, ignored);
  }
  if (const auto it = j.find("metric"); it != j.end() && it->is_string()) e.metric = *it;
  e.actual_value = number(j, "actual_value").value_or(e.actual_value);
  e.threshold = number(j, "threshold").value_or(e.threshold);
  if (const auto it = j.find("severity"); it != j.end() && it->is_string()) {
    e.severity = detectors::parseSeverity(it->get<std::string>()).value_or(e.severity);
  }
  if (const auto b = number(j, "baseline")) e.baseline = b;
  if (const auto it = j.find("sample_count"); it != j.end() && it->is_number_unsigned()) {
    e.sample_count = it->get<std::uint64_t>();
  }
  if (const auto p95 = number(j, "p95_seconds")) e.p95_seconds = p95;
  if (const auto p99 = number(j, "p99_seconds")) e.p99_seconds = p99;
  if (const auto it = j.find("field"); it != j.end() && it->is_string()) e.field = *it;
  for (const auto& [name, list] : {std::pair{"missing", &e.missing}, std::pair{"added", &e.added},
                                   std::pair{"changed", &e.changed}}) {
    if (j.contains(name)) *list = strings(j, name);
  }
}

namespace {
constexpr std::array<std::pair<OutcomeStatus, std::string_view>, 12> kStatusNames = {{
    {OutcomeStatus::kExecuted, "executed"},
    {OutcomeStatus::kFailed, "failed"},
    {OutcomeStatus::kPendingApproval, "pending_approval"},
    {OutcomeStatus::kApproved, "approved"},
    {OutcomeStatus::kDenied, "denied"},
    {OutcomeStatus::kExpired, "expired"},
    {OutcomeStatus::kSkippedBudget, "skipped_budget"},
    {OutcomeStatus::kSkippedShadow, "skipped_shadow"},
    {OutcomeStatus::kVerified, "verified"},
    {OutcomeStatus::kUnverified, "unverified"},
    {OutcomeStatus::kEscalated, "escalated"},
    {OutcomeStatus::kResolved, "resolved"},
}};
}  // namespace

std::string_view outcomeStatusName(OutcomeStatus status) {
  for (const auto& [s, name] : kStatusNames) {
    if (s == status) return name;
  }
  return "unknown";
}

std::optional<OutcomeStatus> parseOutcomeStatus(std::string_view name) {
  for (const auto& [s, n] : kStatusNames) {
    if (n == name) return s;
  }
  return std::nullopt;
}

std::string_view riskName(Risk risk) {
  switch (risk) {
    case Risk::kLow:
      return "low";
    case Risk::kMedium:
      return "medium";
    case Risk::kHigh:
      return "high";
  }
  return "high";
}

std::optional<Risk> parseRisk(std::string_view name) {
  for (Risk r : {Risk::kLow, Risk::kMedium, Risk::kHigh}) {
    if (riskName(r) == name) return r;
  }
  return std::nullopt;
}

std::uint64_t stableHash(std::initializer_list<std::string_view> parts) {
  std::uint64_t h = 14695981039346656037ull;
  for (const std::string_view part : parts) {
    for (const char c : part) {
      h ^= static_cast<unsigned char>(c);
      h *= 1099511628211ull;
    }
    h ^= 0xff;  // field separator
    h *= 1099511628211ull;
  }
  return h;
}

std::string stableId(std::initializer_list<std::string_view> parts) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(stableHash(parts)));
  return buf;
}

std::string OutcomeEvent::outcomeId() const {
  const std::string step = detail.contains("step") ? detail["step"].dump() : "";
  return stableId({event_id, step, action, std::to_string(attempt), outcomeStatusName(status)});
}

std::string OutcomeEvent::toJson() const {
  // Insertion order is the documented field order.
  nlohmann::ordered_json j;
  j["schema"] = "vigil.outcome.v1";
  j["outcome_id"] = outcomeId();
  j["event_id"] = event_id;
  j["pipeline_id"] = pipeline_id;
  j["dataset"] = dataset;
  j["failure_type"] = detectors::failureTypeName(failure_type);
  j["action"] = action;
  j["risk"] = riskName(risk);
  j["attempt"] = attempt;
  j["status"] = outcomeStatusName(status);
  j["timestamp"] = detectors::formatRfc3339(timestamp);
  j["detail"] = nlohmann::ordered_json::parse(detail.dump());
  return j.dump();
}

namespace {

// How deep the text nests arrays and objects (brackets inside strings aside). Walking a parsed
// value (copying, writing) recurses once per level, so a deep one would overflow the stack.
std::size_t nestingDepth(std::string_view text) {
  std::size_t depth = 0;
  std::size_t deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

// The members of an outcome's detail that the engine reads back when it rebuilds an incident
// (Engine::restore, apply) and the worker when it sorts incidents by partition: each absent or of
// the type it is written with. Anything else would throw, or convert out of range, there.
bool checkDetail(const json& detail, std::string& error) {
  if (const auto it = detail.find("partition"); it != detail.end()) {
    if (!it->is_number_integer() || it->get<std::int64_t>() < 0 ||
        it->get<std::int64_t>() > std::numeric_limits<std::int32_t>::max()) {
      error = "detail.partition is not a partition number";
      return false;
    }
  }
  if (const auto it = detail.find("step"); it != detail.end() && !it->is_number_unsigned()) {
    error = "detail.step is not an unsigned integer";
    return false;
  }
  for (const char* name : {"kind", "approval_id", "reason", "expires_at", "closed_how"}) {
    if (const auto it = detail.find(name); it != detail.end() && !it->is_string()) {
      error = std::string("detail.") + name + " is not a string";
      return false;
    }
  }
  if (const auto it = detail.find("paged"); it != detail.end() && !it->is_boolean()) {
    error = "detail.paged is not a boolean";
    return false;
  }
  if (const auto it = detail.find("failure"); it != detail.end() && !it->is_object()) {
    error = "detail.failure is not an object";
    return false;
  }
  return true;
}

}  // namespace

std::optional<OutcomeEvent> OutcomeEvent::fromJson(std::string_view text, std::string& error) {
  // What the worker writes nests 4 levels; the decoder's limit for records is 64.
  if (nestingDepth(text) > 64) {
    error = "nested deeper than 64 levels";
    return std::nullopt;
  }
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    error = "not a JSON object";
    return std::nullopt;
  }
  OutcomeEvent o;
  std::string schema, type, risk, status;
  if (!member(j, "schema", schema, error)) return std::nullopt;
  if (schema != "vigil.outcome.v1") {
    error = "schema is not vigil.outcome.v1";
    return std::nullopt;
  }
  if (!member(j, "event_id", o.event_id, error) || !member(j, "dataset", o.dataset, error) ||
      !member(j, "pipeline_id", o.pipeline_id, error) || !member(j, "failure_type", type, error) ||
      !member(j, "action", o.action, error) || !member(j, "risk", risk, error) ||
      !member(j, "status", status, error) || !timeMember(j, "timestamp", o.timestamp, error)) {
    return std::nullopt;
  }
  const auto t = parseFailureType(type);
  const auto r = parseRisk(risk);
  const auto s = parseOutcomeStatus(status);
  const auto attempt = j.find("attempt");
  if (!t || !r || !s || attempt == j.end() || !attempt->is_number_unsigned() ||
      attempt->get<std::uint64_t>() < 1 || attempt->get<std::uint64_t>() > 1'000'000) {
    error = "bad failure_type, risk, status or attempt";
    return std::nullopt;
  }
  o.failure_type = *t;
  o.risk = *r;
  o.status = *s;
  o.attempt = static_cast<unsigned>(attempt->get<std::uint64_t>());
  if (const auto d = j.find("detail"); d != j.end() && d->is_object()) {
    if (!checkDetail(*d, error)) return std::nullopt;
    o.detail = *d;
  }
  return o;
}

}  // namespace vigil::remediation
