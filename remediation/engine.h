#pragma once

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "detectors/time.h"
#include "remediation/events.h"
#include "remediation/executor.h"
#include "remediation/remediation_spec.h"

namespace vigil::remediation {

// An action the engine wants run. The service runs it on an Executor and
// reports the result back through Engine::onResult(id, ...).
struct Execution {
  enum class Kind { kStep, kEscalation, kPageResolve };
  std::string id;  // the Idempotency-Key: stable for (event_id, action, attempt, kind)
  Kind kind = Kind::kStep;
  std::string event_id;         // the incident
  std::int32_t partition = -1;  // of the failures topic the incident came from
  const ActionSpec* action = nullptr;
  unsigned attempt = 1;
  detectors::FailureEvent event;  // the firing event
  std::string dedup_key;          // PagerDuty
  std::string summary;            // PagerDuty trigger
  std::string report_json;        // PagerDuty trigger: the diagnostic report

  // The executor's view; valid while this Execution lives.
  ActionCall call() const;
};

// What a decision produced: outcome events to record (in order) and actions
// to run.
struct Effects {
  std::vector<OutcomeEvent> outcomes;
  std::vector<Execution> executions;
};

struct Approval {
  std::string id;
  std::string event_id;
  std::string pipeline_id;
  std::string dataset;
  detectors::FailureType failure_type = detectors::FailureType::kLatencySpike;
  std::string action;
  Risk risk = Risk::kMedium;
  detectors::Timestamp requested_at;
  detectors::Timestamp expires_at;

  std::string toJson() const;
};

// The decisions of `vigil remediate` (SPEC §2b), as pure functions of (input,
// state, clock): no I/O, no threads, no wall clock. Inputs are failure events,
// action results, approval decisions and the passing of time (tick); outputs
// are outcome events and executions.
//
// State is event-sourced: every change of an incident follows from an
// outcome event it records (apply), so replaying the outcomes topic through
// restore() rebuilds what is done and what is pending after a restart. Only
// an execution in flight is not in the log; resume() issues it again with the
// same Idempotency-Key.
//
// Safety layer, whatever a playbook says: only configured actions run; a
// `high` action is never executed (the step escalates, recommending it); a
// `medium` one runs only after an approval; executions of playbook steps are
// capped per pipeline and in total per rolling hour; in shadow mode every
// step and escalation is recorded as skipped_shadow and nothing runs.
// Escalation actions run only if `low` (they notify; they do not change a
// pipeline). One pipeline has at most one playbook acting at a time: later
// incidents of the pipeline wait until it verifies or escalates, and an
// incident that another open one explains (schema drift explains a null
// spike) waits until its cause closes.
//
// Not thread-safe: the service serialises calls.
class Engine {
 public:
  explicit Engine(const RemediateSpec& spec);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // A failure event. A firing event opens an incident (a redelivery of one
  // already known is ignored); a resolved one closes the open incident of its
  // (dataset, pipeline_id, failure_type).
  void onFailure(const ReceivedFailure& failure, detectors::Timestamp now, Effects& out);
  // The result of an execution the engine asked for; unknown ids are ignored.
  void onResult(const std::string& execution_id, const ActionResult& result,
                detectors::Timestamp now, Effects& out);

  enum class Decision { kDecided, kNotFound, kConflict };
  // Approves or denies a pending approval. kConflict when it was already
  // decided, expired, or its incident closed.
  Decision decide(const std::string& approval_id, bool approve, const std::string& by,
                  const std::string& comment, detectors::Timestamp now, Effects& out,
                  Approval* decided = nullptr);

  // Timers: backoffs that ended, verifications and approvals that ran out.
  void tick(detectors::Timestamp now, Effects& out);
  // When tick() next has something to do; nullopt when nothing waits.
  std::optional<detectors::Timestamp> nextDue() const;

  // Rebuilding: apply recorded outcomes in log order, then resume() once: it
  // continues what was ready, issues again what was in flight (same
  // Idempotency-Key), and runs the timers that fell due meanwhile.
  void restore(const OutcomeEvent& outcome);
  void resume(detectors::Timestamp now, Effects& out);

  // Forgets the incidents whose firing events came from `partition` of the
  // failures topic (revoked: the next owner rebuilds them from the outcomes).
  void forgetPartition(std::int32_t partition);
  // Open incidents with no outcome recorded yet (queued behind another of
  // their pipeline): nothing durable knows them, so the offsets of their
  // firing events must not be committed.
  std::vector<std::string> unrecorded() const;

  std::vector<Approval> pendingApprovals() const;
  std::size_t openIncidents() const;
  bool knows(const std::string& event_id) const;
  // Pipelines the engine keeps anything for (incidents, budget): bounded by
  // what happened in the last day.
  std::size_t trackedPipelines() const;
  // The firing event of an incident (open or closed but still remembered).
  const ReceivedFailure* firingOf(const std::string& event_id) const;

 private:
  struct Incident;
  enum class Phase;

  Incident* find(const std::string& event_id);
  Incident* openIncidentOf(const ReceivedFailure& failure);
  void record(Incident& incident, OutcomeEvent outcome, Effects& out);
  void apply(Incident& incident, const OutcomeEvent& outcome);
  void drive(Incident& incident, detectors::Timestamp now, Effects& out);
  void runStep(Incident& incident, const ActionSpec& action, detectors::Timestamp now,
               Effects& out);
  void escalate(Incident& incident, detectors::Timestamp now, Effects& out);
  void close(Incident& incident, detectors::Timestamp now, Effects& out);
  void resolvePage(const Incident& incident, Effects& out);
  static std::string dedupKey(const Incident& incident);
  void startNextOf(const std::string& group, detectors::Timestamp now, Effects& out);
  bool explainedByOpen(const Incident& incident) const;
  OutcomeEvent outcome(const Incident& incident, OutcomeStatus status, const std::string& action,
                       detectors::Timestamp now) const;
  const ActionSpec* actionNamed(const std::string& name) const;
  // The first playbook matching the failure (SPEC §2b); null for none.
  const Playbook* matchPlaybook(const detectors::FailureEvent& event) const;
  const PlaybookStep* currentStep(const Incident& incident) const;
  const ActionSpec* escalationOf(const Incident& incident) const;
  bool withinBudget(const std::string& group, detectors::Timestamp now);
  void countExecution(const std::string& group, const OutcomeEvent& outcome);
  detectors::Duration backoffBefore(const Incident& incident, unsigned attempt) const;
  std::string report(const Incident& incident, const std::string& reason) const;

  const RemediateSpec& spec_;
  std::map<std::string, std::unique_ptr<Incident>> incidents_;  // by firing event_id
  std::map<std::string, std::deque<std::string>> groups_;  // pipeline -> incidents, oldest first
  std::map<std::string, std::string> executions_;          // execution id -> event_id
  // Executions of steps in the last hour, per pipeline and in all, counted
  // once per outcome id.
  std::map<std::string, std::multiset<detectors::Timestamp>> executed_;
  std::multiset<detectors::Timestamp> executed_all_;
  std::map<std::string, detectors::Timestamp> counted_;
};

}  // namespace vigil::remediation
