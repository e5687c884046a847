#pragma once

#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "detectors/failure_event.h"
#include "remediation/remediation_spec.h"

namespace vigil::remediation {

// A failure event as the worker receives it (`vigil.failure.v1`), with the id
// it was sent with: ids are compared as received, never recomputed.
struct ReceivedFailure {
  detectors::FailureEvent event;
  std::string event_id;
  std::int32_t partition = -1;  // of the failures topic; -1 when not from Kafka
};

// A stable 64-bit FNV-1a hash of `parts` (each followed by a separator), and
// the same as 16 hex digits: the deterministic ids of outcomes, executions
// and approvals, equal across restarts.
std::uint64_t stableHash(std::initializer_list<std::string_view> parts);
std::string stableId(std::initializer_list<std::string_view> parts);

// Parses one failures-topic message. nullopt, with the reason in `error`, for
// anything that is not a well-formed vigil.failure.v1 object.
std::optional<ReceivedFailure> parseFailureEvent(std::string_view json, std::string& error);

// The failure event's evidence as a JSON object (for outcome details and the
// PagerDuty report): metric, values, threshold, baseline, window, context.
nlohmann::json evidenceJson(const detectors::FailureEvent& event);
// The inverse: fills `event`'s evidence from what evidenceJson() wrote (its
// "timestamp" too, when present); absent or ill-typed members are left as they are.
void readEvidence(const nlohmann::json& evidence, detectors::FailureEvent& event);

enum class OutcomeStatus {
  kExecuted,
  kFailed,
  kPendingApproval,
  kApproved,
  kDenied,
  kExpired,
  kSkippedBudget,
  kSkippedShadow,
  kVerified,
  kUnverified,
  kEscalated,
  kResolved,
};
std::string_view outcomeStatusName(OutcomeStatus status);
std::optional<OutcomeStatus> parseOutcomeStatus(std::string_view name);
std::string_view riskName(Risk risk);
std::optional<Risk> parseRisk(std::string_view name);

// One step of remediation (`vigil.outcome.v1`): the audit log, and the
// worker's durable state (it rebuilds from these). Keyed dataset/pipeline_id.
struct OutcomeEvent {
  std::string event_id;  // the firing event of the incident
  std::string dataset;
  std::string pipeline_id;
  detectors::FailureType failure_type = detectors::FailureType::kLatencySpike;
  std::string action;  // empty for `resolved` of an incident nothing acted on
  Risk risk = Risk::kLow;
  unsigned attempt = 1;
  OutcomeStatus status = OutcomeStatus::kExecuted;
  detectors::Timestamp timestamp;  // when it was decided (the worker's clock)
  nlohmann::json detail = nlohmann::json::object();

  // Deterministic: a hash of (event_id, detail.step, action, attempt, status),
  // so the same decision re-made after a restart has the same id.
  std::string outcomeId() const;
  std::string key() const { return dataset + "/" + pipeline_id; }
  std::string toJson() const;
  static std::optional<OutcomeEvent> fromJson(std::string_view json, std::string& error);
};

}  // namespace vigil::remediation
