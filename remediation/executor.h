#pragma once

#include <memory>
#include <string>

#include "detectors/failure_event.h"
#include "remediation/remediation_spec.h"

namespace vigil::remediation {

// One call of a configured action: the only place where remediation touches
// the world. The decision engine says what to call; an Executor does it and
// reports how it went. Executors hold no incident state.
struct ActionCall {
  const ActionSpec* action = nullptr;
  // The failure the step answers (placeholders, the command message, the
  // PagerDuty payload).
  const detectors::FailureEvent* event = nullptr;
  unsigned attempt = 1;
  // Stable for (event_id, action, attempt): sent as the Idempotency-Key header
  // by http actions, and as the message key suffix by kafka actions, so a
  // receiver can drop a repeat.
  std::string idempotency_key;

  // pagerduty only.
  enum class PagerDutyAction { kTrigger, kResolve };
  PagerDutyAction pagerduty_action = PagerDutyAction::kTrigger;
  std::string dedup_key;    // stable per incident, <= 255 characters
  std::string summary;      // payload.summary (trigger)
  std::string report_json;  // payload.custom_details (trigger): a JSON object
};

struct ActionResult {
  enum class Status {
    kDone,    // the action took effect (2xx, exit 0, acknowledged, PagerDuty 202)
    kFailed,  // it did not, and retrying within this attempt will not help (or time ran out)
  };
  Status status = Status::kFailed;
  // Short, human-readable, never a secret: "HTTP 503 after 3 tries",
  // "exit status 2", "timed out after 10s", "PagerDuty 400: invalid routing key".
  std::string detail;
  int http_status = 0;  // the last HTTP status, if any
  int exit_code = -1;   // command: the exit status; -1 if it did not exit normally
  std::string output;   // command: stdout+stderr, truncated to kMaxOutputBytes
  unsigned tries = 0;   // transport-level tries within this attempt

  bool done() const { return status == Status::kDone; }
};

// Runs one action call to completion (retrying transport failures, 5xx and
// 429 within the action's timeout, as SPEC §2b says), blocking the calling
// thread. Must be thread-safe: the worker runs calls of different pipelines
// in parallel.
class Executor {
 public:
  static constexpr std::size_t kMaxOutputBytes = 64 * 1024;
  virtual ~Executor() = default;
  virtual ActionResult run(const ActionCall& call) = 0;
};

}  // namespace vigil::remediation
