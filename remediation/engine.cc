#include "remediation/engine.h"

#include <algorithm>
#include <cstdio>

#include "stream/decoder.h"

namespace vigil::remediation {
namespace {

using detectors::Duration;
using detectors::FailureType;
using detectors::Timestamp;
using nlohmann::json;

constexpr Duration kHour = std::chrono::hours(1);
constexpr std::size_t kMaxDedupKey = 255;
constexpr Duration kRememberClosed = std::chrono::hours(24);

std::string groupOf(const std::string& dataset, const std::string& pipeline_id) {
  return dataset + "/" + pipeline_id;
}

// Whether a failure of type `cause` on a pipeline plausibly explains one of
// type `effect` on the same pipeline: the likely cause an escalation names.
bool explains(FailureType cause, FailureType effect) {
  switch (cause) {
    case FailureType::kSchemaDrift:  // a renamed or retyped field reads as null
      return effect == FailureType::kNullSpike;
    case FailureType::kStaleData:  // nothing arrives: fewer rows
      return effect == FailureType::kVolumeDrop;
    case FailureType::kVolumeSpike:  // a burst backs the pipeline up
      return effect == FailureType::kLatencySpike;
    default:
      return false;
  }
}

// Glob with * and ? (no character classes): dataset names are plain words.
bool globMatch(std::string_view pattern, std::string_view text) {
  std::size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

Timestamp timeOr(const json& j, const char* name, Timestamp fallback) {
  const auto it = j.find(name);
  if (it == j.end() || !it->is_string()) return fallback;
  return stream::parseRfc3339(it->get<std::string>()).value_or(fallback);
}

}  // namespace

enum class Engine::Phase {
  kQueued,            // another incident of the pipeline is acting
  kReady,             // the current step (or attempt) is to be decided now
  kRunning,           // an execution of the step is in flight
  kVerifying,         // executed; waiting for the resolved event until `due`
  kBackoff,           // waiting until `due` for the next attempt
  kAwaitingApproval,  // a medium step waits for a human until `due`
  kNeedEscalation,    // the playbook ended, was denied or expired: escalate now
  kEscalating,        // the escalation action is in flight
  kEscalated,         // a human has it; waiting for the resolved event
};

struct Engine::Incident {
  ReceivedFailure firing;
  std::string group;
  const Playbook* playbook = nullptr;
  std::size_t step = 0;
  unsigned attempt = 1;
  bool approved = false;  // the current step's approval (covers its retries)
  Phase phase = Phase::kReady;
  Timestamp due{};
  std::string approval_id;
  Timestamp approval_requested{};
  bool approval_open = false;
  std::string running;  // execution in flight
  std::string escalation_reason;
  std::string recommended;  // a high-risk action the escalation recommends
  bool paged = false;       // a PagerDuty trigger went out: resolve it on close
  const ActionSpec* page = nullptr;
  bool closed = false;
  Timestamp closed_at{};
  json history = json::array();

  bool acting() const { return !closed && phase != Phase::kQueued && phase != Phase::kEscalated; }
};

ActionCall Execution::call() const {
  ActionCall c;
  c.action = action;
  c.event = &event;
  c.attempt = attempt;
  c.idempotency_key = id;
  c.pagerduty_action = kind == Kind::kPageResolve ? ActionCall::PagerDutyAction::kResolve
                                                  : ActionCall::PagerDutyAction::kTrigger;
  c.dedup_key = dedup_key;
  c.summary = summary;
  c.report_json = report_json;
  return c;
}

std::string Approval::toJson() const {
  nlohmann::ordered_json j;
  j["id"] = id;
  j["event_id"] = event_id;
  j["pipeline_id"] = pipeline_id;
  j["dataset"] = dataset;
  j["failure_type"] = detectors::failureTypeName(failure_type);
  j["action"] = action;
  j["risk"] = riskName(risk);
  j["requested_at"] = detectors::formatRfc3339(requested_at);
  j["expires_at"] = detectors::formatRfc3339(expires_at);
  return j.dump();
}

Engine::Engine(const RemediateSpec& spec) : spec_(spec) {}
Engine::~Engine() = default;

const Playbook* Engine::matchPlaybook(const detectors::FailureEvent& e) const {
  const std::string_view type = detectors::failureTypeName(e.failure_type);
  for (const Playbook& p : spec_.playbooks) {
    const bool type_ok =
        p.failure_types.empty() ||
        std::find(p.failure_types.begin(), p.failure_types.end(), type) != p.failure_types.end();
    if (type_ok && (!p.dataset_glob || globMatch(*p.dataset_glob, e.dataset))) return &p;
  }
  return nullptr;
}

const ActionSpec* Engine::actionNamed(const std::string& name) const {
  for (const ActionSpec& a : spec_.actions) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

const PlaybookStep* Engine::currentStep(const Incident& incident) const {
  if (incident.playbook == nullptr || incident.step >= incident.playbook->steps.size()) {
    return nullptr;
  }
  return &incident.playbook->steps[incident.step];
}

const ActionSpec* Engine::escalationOf(const Incident& incident) const {
  if (incident.playbook != nullptr && incident.playbook->escalate) {
    return actionNamed(*incident.playbook->escalate);
  }
  return spec_.default_escalation ? actionNamed(*spec_.default_escalation) : nullptr;
}

Engine::Incident* Engine::find(const std::string& event_id) {
  const auto it = incidents_.find(event_id);
  return it == incidents_.end() ? nullptr : it->second.get();
}

Engine::Incident* Engine::openIncidentOf(const ReceivedFailure& failure) {
  const auto group = groups_.find(groupOf(failure.event.dataset, failure.event.pipeline_id));
  if (group == groups_.end()) return nullptr;
  for (const std::string& id : group->second) {
    Incident* incident = find(id);
    if (incident != nullptr && !incident->closed &&
        incident->firing.event.failure_type == failure.event.failure_type) {
      return incident;
    }
  }
  return nullptr;
}

std::size_t Engine::trackedPipelines() const { return groups_.size() + executed_.size(); }

bool Engine::knows(const std::string& event_id) const { return incidents_.count(event_id) != 0; }

const ReceivedFailure* Engine::firingOf(const std::string& event_id) const {
  const auto it = incidents_.find(event_id);
  return it == incidents_.end() ? nullptr : &it->second->firing;
}

void Engine::forgetPartition(std::int32_t partition) {
  for (auto it = incidents_.begin(); it != incidents_.end();) {
    if (it->second->firing.partition != partition) {
      ++it;
      continue;
    }
    auto& group = groups_[it->second->group];
    std::erase(group, it->first);
    if (!it->second->running.empty()) executions_.erase(it->second->running);
    it = incidents_.erase(it);
  }
}

std::vector<std::string> Engine::unrecorded() const {
  std::vector<std::string> out;
  for (const auto& [id, incident] : incidents_) {
    if (!incident->closed && incident->history.empty()) out.push_back(id);
  }
  return out;
}

std::size_t Engine::openIncidents() const {
  return static_cast<std::size_t>(std::count_if(incidents_.begin(), incidents_.end(),
                                                [](const auto& i) { return !i.second->closed; }));
}

std::vector<Approval> Engine::pendingApprovals() const {
  std::vector<Approval> out;
  for (const auto& [id, incident] : incidents_) {
    if (!incident->approval_open) continue;
    const PlaybookStep* step = currentStep(*incident);
    const ActionSpec* action = step != nullptr ? actionNamed(step->action) : nullptr;
    const detectors::FailureEvent& e = incident->firing.event;
    out.push_back(Approval{incident->approval_id, id, e.pipeline_id, e.dataset, e.failure_type,
                           action != nullptr ? action->name : "",
                           action != nullptr ? action->risk : Risk::kMedium,
                           incident->approval_requested, incident->due});
  }
  std::sort(out.begin(), out.end(),
            [](const Approval& a, const Approval& b) { return a.requested_at < b.requested_at; });
  return out;
}

OutcomeEvent Engine::outcome(const Incident& incident, OutcomeStatus status,
                             const std::string& action, Timestamp now) const {
  const detectors::FailureEvent& e = incident.firing.event;
  OutcomeEvent o;
  o.event_id = incident.firing.event_id;
  o.dataset = e.dataset;
  o.pipeline_id = e.pipeline_id;
  o.failure_type = e.failure_type;
  o.action = action;
  const ActionSpec* spec = action.empty() ? nullptr : actionNamed(action);
  o.risk = spec != nullptr ? spec->risk : Risk::kLow;
  o.attempt = incident.attempt;
  o.status = status;
  o.timestamp = now;
  json failure = evidenceJson(e);
  failure["timestamp"] = detectors::formatRfc3339(e.timestamp);
  o.detail = {{"step", incident.step}, {"failure", std::move(failure)}};
  if (incident.firing.partition >= 0) o.detail["partition"] = incident.firing.partition;
  return o;
}

void Engine::record(Incident& incident, OutcomeEvent o, Effects& out) {
  apply(incident, o);
  out.outcomes.push_back(std::move(o));
}

// Every change of an incident's state follows from an outcome: the same code
// runs live and when the outcomes topic is replayed after a restart.
void Engine::apply(Incident& incident, const OutcomeEvent& o) {
  const std::string kind = o.detail.value("kind", "step");
  json entry = {{"status", outcomeStatusName(o.status)},
                {"action", o.action},
                {"attempt", o.attempt},
                {"at", detectors::formatRfc3339(o.timestamp)}};
  if (o.detail.contains("result")) entry["result"] = o.detail["result"];
  if (o.detail.contains("reason")) entry["reason"] = o.detail["reason"];
  incident.history.push_back(std::move(entry));
  if (o.detail.contains("step") && o.detail["step"].is_number_unsigned()) {
    incident.step = o.detail["step"].get<std::size_t>();
  }
  incident.attempt = o.attempt;
  // An execution counts against the budget even if it finished after its
  // incident closed.
  if (o.status == OutcomeStatus::kExecuted ||
      (o.status == OutcomeStatus::kFailed && kind != "escalation" && !o.action.empty())) {
    countExecution(incident.group, o);
  }
  if (incident.closed) return;  // an execution that finished after the incident closed

  const PlaybookStep* step = currentStep(incident);
  const auto nextAttempt = [&] {
    if (step != nullptr && incident.attempt < 1 + step->retries) {
      incident.attempt += 1;
      incident.phase = Phase::kBackoff;
      incident.due = o.timestamp + backoffBefore(incident, incident.attempt);
    } else {
      incident.step += 1;
      incident.attempt = 1;
      incident.approved = false;
      incident.phase = Phase::kReady;
    }
  };
  switch (o.status) {
    case OutcomeStatus::kPendingApproval:
      incident.phase = Phase::kAwaitingApproval;
      incident.approval_id = o.detail.value("approval_id", "");
      incident.approval_requested = o.timestamp;
      incident.due = timeOr(o.detail, "expires_at", o.timestamp + spec_.approval_ttl);
      incident.approval_open = true;
      break;
    case OutcomeStatus::kApproved:
      incident.approval_open = false;
      incident.approved = true;
      incident.phase = Phase::kReady;
      break;
    case OutcomeStatus::kDenied:
    case OutcomeStatus::kExpired:
    case OutcomeStatus::kSkippedBudget:
      incident.approval_open = false;
      incident.escalation_reason =
          o.detail.value("reason", std::string(outcomeStatusName(o.status)));
      incident.phase = Phase::kNeedEscalation;
      break;
    case OutcomeStatus::kExecuted: {
      incident.phase = Phase::kVerifying;
      incident.due = o.timestamp + (step != nullptr ? step->verify_within : Duration{0});
      break;
    }
    case OutcomeStatus::kFailed:
      if (kind == "escalation") {
        incident.phase = Phase::kEscalated;
      } else {
        nextAttempt();
      }
      break;
    case OutcomeStatus::kUnverified:
      nextAttempt();
      break;
    case OutcomeStatus::kSkippedShadow:
      if (kind == "escalation") {
        incident.phase = Phase::kEscalated;
      } else {
        incident.step += 1;
        incident.attempt = 1;
        incident.phase = Phase::kReady;
      }
      break;
    case OutcomeStatus::kEscalated:
      if (kind == "recommend") {
        incident.recommended = o.action;
        incident.escalation_reason = o.detail.value("reason", "high risk");
        incident.phase = Phase::kNeedEscalation;
      } else {
        incident.paged = o.detail.value("paged", false);
        incident.page = incident.paged ? actionNamed(o.action) : nullptr;
        incident.phase = Phase::kEscalated;
      }
      break;
    case OutcomeStatus::kVerified:
      break;  // `resolved` follows
    case OutcomeStatus::kResolved:
      incident.closed = true;
      incident.closed_at = o.timestamp;
      incident.approval_open = false;
      break;
  }
}

// Stable for the incident, readable, and within PagerDuty's 255 characters.
std::string Engine::dedupKey(const Incident& incident) {
  const detectors::FailureEvent& e = incident.firing.event;
  std::string key = e.dataset + "/" + e.pipeline_id + "/" +
                    std::string(detectors::failureTypeName(e.failure_type)) + "/" +
                    incident.firing.event_id;
  if (key.size() > kMaxDedupKey) key = key.substr(0, kMaxDedupKey - 17) + "~" + stableId({key});
  return key;
}

Duration Engine::backoffBefore(const Incident& incident, unsigned attempt) const {
  const PlaybookStep* step = currentStep(incident);
  if (step == nullptr || attempt < 2) return Duration{0};
  // backoff, doubled for each further attempt, with "equal jitter": half of it
  // fixed, half spread by a hash of the attempt, so a restart computes the
  // same delay and many incidents do not retry in lockstep.
  const unsigned doublings = std::min(attempt - 2, 20u);
  const double base =
      static_cast<double>(step->backoff.count()) * static_cast<double>(1u << doublings);
  const std::uint64_t h = stableHash({incident.firing.event_id, std::to_string(incident.step),
                                      std::to_string(attempt), "backoff"});
  const double spread = static_cast<double>(h % 1'000'001) / 1'000'000.0;
  return Duration{static_cast<std::int64_t>(base * (0.5 + 0.5 * spread))};
}

// Each execution counts once, however often its outcome is applied (a
// partition given up and assigned again replays its outcomes).
void Engine::countExecution(const std::string& group, const OutcomeEvent& o) {
  if (!counted_.emplace(o.outcomeId(), o.timestamp).second) return;
  executed_[group].insert(o.timestamp);
  executed_all_.insert(o.timestamp);
}

bool Engine::withinBudget(const std::string& group, Timestamp now) {
  const auto prune = [&](std::multiset<Timestamp>& times) {
    times.erase(times.begin(), times.lower_bound(now - kHour + Duration{1}));
  };
  prune(executed_[group]);
  prune(executed_all_);
  std::erase_if(counted_, [&](const auto& c) { return c.second <= now - kHour; });
  return executed_[group].size() < spec_.budget.per_pipeline_per_hour &&
         executed_all_.size() < spec_.budget.global_per_hour;
}

void Engine::runStep(Incident& incident, const ActionSpec& action, Timestamp now, Effects& out) {
  (void)now;
  Execution x;
  x.kind = Execution::Kind::kStep;
  x.id = stableId({incident.firing.event_id, action.name, std::to_string(incident.attempt), "step",
                   std::to_string(incident.step)});
  x.event_id = incident.firing.event_id;
  x.action = &action;
  x.attempt = incident.attempt;
  x.event = incident.firing.event;
  x.partition = incident.firing.partition;
  incident.phase = Phase::kRunning;
  incident.running = x.id;
  executions_[x.id] = x.event_id;
  out.executions.push_back(std::move(x));
}

void Engine::drive(Incident& incident, Timestamp now, Effects& out) {
  while (!incident.closed) {
    if (incident.phase == Phase::kNeedEscalation) {
      escalate(incident, now, out);
      continue;
    }
    if (incident.phase != Phase::kReady) return;
    const PlaybookStep* step = currentStep(incident);
    if (step == nullptr) {
      incident.escalation_reason =
          incident.playbook == nullptr ? "no playbook matches" : "every step was tried";
      incident.phase = Phase::kNeedEscalation;
      continue;
    }
    const ActionSpec* action = actionNamed(step->action);
    if (action == nullptr) {  // configuration validation makes this unreachable
      OutcomeEvent o = outcome(incident, OutcomeStatus::kFailed, step->action, now);
      o.detail["reason"] = "unknown action";
      record(incident, std::move(o), out);
      continue;
    }
    if (spec_.mode == Mode::kShadow) {
      OutcomeEvent o = outcome(incident, OutcomeStatus::kSkippedShadow, action->name, now);
      o.detail["reason"] = "shadow mode";
      record(incident, std::move(o), out);
      continue;
    }
    if (action->risk == Risk::kHigh) {
      OutcomeEvent o = outcome(incident, OutcomeStatus::kEscalated, action->name, now);
      o.detail["kind"] = "recommend";
      o.detail["reason"] = "high risk: never automated";
      record(incident, std::move(o), out);
      continue;
    }
    if (action->risk == Risk::kMedium && !incident.approved) {
      OutcomeEvent o = outcome(incident, OutcomeStatus::kPendingApproval, action->name, now);
      o.detail["approval_id"] =
          stableId({incident.firing.event_id, std::to_string(incident.step), "approval"});
      o.detail["expires_at"] = detectors::formatRfc3339(now + spec_.approval_ttl);
      record(incident, std::move(o), out);
      return;
    }
    if (!withinBudget(incident.group, now)) {
      OutcomeEvent o = outcome(incident, OutcomeStatus::kSkippedBudget, action->name, now);
      o.detail["reason"] = "over budget";
      record(incident, std::move(o), out);
      continue;
    }
    runStep(incident, *action, now, out);
    return;
  }
}

std::string Engine::report(const Incident& incident, const std::string& reason) const {
  const detectors::FailureEvent& e = incident.firing.event;
  json related = json::array();
  const Incident* cause = nullptr;
  if (const auto group = groups_.find(incident.group); group != groups_.end()) {
    for (const std::string& id : group->second) {
      const auto it = incidents_.find(id);
      if (id == incident.firing.event_id || it == incidents_.end() || it->second->closed) continue;
      const Incident& other = *it->second;
      related.push_back(
          {{"event_id", id},
           {"failure_type", detectors::failureTypeName(other.firing.event.failure_type)},
           {"since", detectors::formatRfc3339(other.firing.event.timestamp)}});
      if (cause == nullptr && explains(other.firing.event.failure_type, e.failure_type)) {
        cause = &other;
      }
    }
  }
  json likely =
      cause != nullptr
          ? json{{"failure_type", detectors::failureTypeName(cause->firing.event.failure_type)},
                 {"event_id", cause->firing.event_id},
                 {"why", std::string(detectors::failureTypeName(cause->firing.event.failure_type)) +
                             " on the same pipeline explains " +
                             std::string(detectors::failureTypeName(e.failure_type))}}
          : json{{"failure_type", detectors::failureTypeName(e.failure_type)},
                 {"event_id", incident.firing.event_id},
                 {"why", "no other open failure of the pipeline explains it"}};
  std::string recommendation;
  if (!incident.recommended.empty()) {
    recommendation = "run " + incident.recommended + " (high risk: not automated)";
  } else if (incident.playbook == nullptr) {
    recommendation = "no playbook matches: investigate by hand";
  } else {
    recommendation = "the playbook's steps did not resolve it: investigate by hand";
  }
  json r = {{"failure",
             {{"event_id", incident.firing.event_id},
              {"dataset", e.dataset},
              {"pipeline_id", e.pipeline_id},
              {"failure_type", detectors::failureTypeName(e.failure_type)},
              {"since", detectors::formatRfc3339(e.timestamp)}}},
            {"evidence", evidenceJson(e)},
            {"reason", reason},
            {"steps", incident.history},
            {"related", std::move(related)},
            {"likely_cause", std::move(likely)},
            {"recommendation", recommendation}};
  return r.dump();
}

void Engine::escalate(Incident& incident, Timestamp now, Effects& out) {
  const ActionSpec* action = escalationOf(incident);
  const std::string name = action != nullptr ? action->name : "";
  const auto done = [&](OutcomeStatus status, const std::string& why) {
    OutcomeEvent o = outcome(incident, status, name, now);
    o.detail["kind"] = "escalation";
    o.detail["reason"] = incident.escalation_reason;
    if (!why.empty()) o.detail["result"] = why;
    record(incident, std::move(o), out);
  };
  if (spec_.mode == Mode::kShadow) return done(OutcomeStatus::kSkippedShadow, "shadow mode");
  if (action == nullptr) return done(OutcomeStatus::kEscalated, "no escalation action configured");
  if (action->risk != Risk::kLow) {
    return done(OutcomeStatus::kEscalated,
                "not executed: escalation action has risk " + std::string(riskName(action->risk)));
  }
  Execution x;
  x.kind = Execution::Kind::kEscalation;
  x.id = stableId(
      {incident.firing.event_id, action->name, std::to_string(incident.attempt), "escalation"});
  x.event_id = incident.firing.event_id;
  x.action = action;
  x.attempt = incident.attempt;
  x.event = incident.firing.event;
  x.partition = incident.firing.partition;
  const detectors::FailureEvent& e = incident.firing.event;
  x.dedup_key = dedupKey(incident);
  char value[64];
  std::snprintf(value, sizeof value, "%.6g vs threshold %.6g", e.actual_value, e.threshold);
  x.summary = std::string(detectors::failureTypeName(e.failure_type)) + " on " + e.dataset + "/" +
              e.pipeline_id + ": " + e.metric + " " + value + " (" + incident.escalation_reason +
              ")";
  if (x.summary.size() > 1024) x.summary.resize(1024);
  x.report_json = report(incident, incident.escalation_reason);
  incident.phase = Phase::kEscalating;
  incident.running = x.id;
  executions_[x.id] = x.event_id;
  out.executions.push_back(std::move(x));
}

void Engine::close(Incident& incident, Timestamp now, Effects& out) {
  if (incident.phase == Phase::kVerifying) {
    const PlaybookStep* step = currentStep(incident);
    record(incident, outcome(incident, OutcomeStatus::kVerified, step ? step->action : "", now),
           out);
  }
  const PlaybookStep* step = currentStep(incident);
  OutcomeEvent resolved =
      outcome(incident, OutcomeStatus::kResolved, step ? step->action : "", now);
  const bool escalated =
      incident.phase == Phase::kEscalated || incident.phase == Phase::kEscalating;
  resolved.detail["closed_how"] = incident.phase == Phase::kVerifying ? "verified"
                                  : escalated                         ? "escalated"
                                                                      : "other";
  record(incident, std::move(resolved), out);
  if (incident.paged) resolvePage(incident, out);
  // Its pipeline may have a queued incident, or one this one explained.
  startNextOf(incident.group, now, out);
}

void Engine::resolvePage(const Incident& incident, Effects& out) {
  // The action is named by the log; it must still be a PagerDuty notification.
  if (incident.page == nullptr || spec_.mode != Mode::kEnforce ||
      incident.page->type != ActionType::kPagerDuty || incident.page->risk != Risk::kLow) {
    return;
  }
  Execution x;
  x.kind = Execution::Kind::kPageResolve;
  x.id = stableId({incident.firing.event_id, incident.page->name, "resolve"});
  x.event_id = incident.firing.event_id;
  x.action = incident.page;
  x.event = incident.firing.event;
  x.partition = incident.firing.partition;
  x.dedup_key = dedupKey(incident);
  executions_[x.id] = x.event_id;
  out.executions.push_back(std::move(x));
}

// An incident whose failure another open incident of its pipeline explains (a
// stale feed explains its volume drop) waits for that one: fixing the symptom
// while the cause is open would act on the wrong thing.
bool Engine::explainedByOpen(const Incident& incident) const {
  const auto group = groups_.find(incident.group);
  if (group == groups_.end()) return false;
  for (const std::string& id : group->second) {
    const auto it = incidents_.find(id);
    if (it == incidents_.end() || it->second.get() == &incident || it->second->closed) continue;
    if (explains(it->second->firing.event.failure_type, incident.firing.event.failure_type)) {
      return true;
    }
  }
  return false;
}

void Engine::startNextOf(const std::string& group, Timestamp now, Effects& out) {
  const auto it = groups_.find(group);
  if (it == groups_.end()) return;
  for (const std::string& id : it->second) {
    const Incident* incident = find(id);
    // A closed incident whose action still runs keeps the pipeline too.
    if (incident != nullptr && (incident->acting() || !incident->running.empty())) return;
  }
  for (const std::string& id : it->second) {
    Incident* incident = find(id);
    if (incident == nullptr || incident->phase != Phase::kQueued || incident->closed) continue;
    if (explainedByOpen(*incident)) continue;  // its cause first
    incident->phase = Phase::kReady;
    drive(*incident, now, out);
    if (incident->acting()) return;
  }
}

void Engine::onFailure(const ReceivedFailure& failure, Timestamp now, Effects& out) {
  const detectors::FailureEvent& e = failure.event;
  if (e.status == detectors::EventStatus::kResolved) {
    if (Incident* incident = openIncidentOf(failure)) close(*incident, now, out);
    return;
  }
  if (knows(failure.event_id) || openIncidentOf(failure) != nullptr) return;  // a redelivery
  auto incident = std::make_unique<Incident>();
  incident->firing = failure;
  incident->group = groupOf(e.dataset, e.pipeline_id);
  incident->playbook = matchPlaybook(e);
  auto& group = groups_[incident->group];
  const bool busy = std::any_of(group.begin(), group.end(),
                                [&](const std::string& id) {
                                  const Incident* other = find(id);
                                  return other != nullptr && other->acting();
                                }) ||
                    explainedByOpen(*incident);
  incident->phase = busy ? Phase::kQueued : Phase::kReady;
  Incident& ref = *incident;
  group.push_back(failure.event_id);
  incidents_[failure.event_id] = std::move(incident);
  if (!busy) {
    drive(ref, now, out);
    if (!ref.acting()) startNextOf(ref.group, now, out);
  }
}

void Engine::onResult(const std::string& execution_id, const ActionResult& result, Timestamp now,
                      Effects& out) {
  const auto it = executions_.find(execution_id);
  if (it == executions_.end()) return;
  Incident* incident = find(it->second);
  executions_.erase(it);
  if (incident == nullptr || incident->running != execution_id) return;  // a page resolve
  incident->running.clear();
  if (incident->closed) {
    // It resolved while the action ran: record what happened; a page that
    // went out meanwhile is resolved at once.
    const bool paging = incident->phase == Phase::kEscalating && result.done() &&
                        escalationOf(*incident) != nullptr &&
                        escalationOf(*incident)->type == ActionType::kPagerDuty;
    if (paging) {
      incident->page = escalationOf(*incident);
      resolvePage(*incident, out);
    }
  }
  const bool was_acting = incident->acting();
  const bool escalation = incident->phase == Phase::kEscalating;
  json detail = {{"detail", result.detail}};
  if (result.http_status != 0) detail["http_status"] = result.http_status;
  if (result.exit_code >= 0) detail["exit_code"] = result.exit_code;
  if (result.tries > 0) detail["tries"] = result.tries;
  const PlaybookStep* step = currentStep(*incident);
  const ActionSpec* escalation_action = escalationOf(*incident);
  const std::string action = escalation ? (escalation_action ? escalation_action->name : "")
                                        : (step != nullptr ? step->action : "");
  OutcomeEvent o =
      outcome(*incident,
              result.done() ? (escalation ? OutcomeStatus::kEscalated : OutcomeStatus::kExecuted)
                            : OutcomeStatus::kFailed,
              action, now);
  o.detail["result"] = std::move(detail);
  if (escalation) {
    o.detail["kind"] = "escalation";
    o.detail["reason"] = incident->escalation_reason;
    o.detail["paged"] = result.done() && escalation_action != nullptr &&
                        escalation_action->type == ActionType::kPagerDuty;
  }
  record(*incident, std::move(o), out);
  drive(*incident, now, out);
  if ((was_acting || incident->closed) && !incident->acting()) {
    startNextOf(incident->group, now, out);
  }
}

Engine::Decision Engine::decide(const std::string& approval_id, bool approve, const std::string& by,
                                const std::string& comment, Timestamp now, Effects& out,
                                Approval* decided) {
  Incident* target = nullptr;
  bool seen = false;
  for (auto& [id, incident] : incidents_) {
    if (incident->approval_id != approval_id) continue;
    seen = true;
    if (incident->approval_open) target = incident.get();
  }
  if (target == nullptr) return seen ? Decision::kConflict : Decision::kNotFound;
  if (now >= target->due) return Decision::kConflict;  // expired; tick() records it
  if (decided != nullptr) {
    for (const Approval& a : pendingApprovals()) {
      if (a.id == approval_id) *decided = a;
    }
  }
  const PlaybookStep* step = currentStep(*target);
  OutcomeEvent o = outcome(*target, approve ? OutcomeStatus::kApproved : OutcomeStatus::kDenied,
                           step != nullptr ? step->action : "", now);
  o.detail["approval_id"] = approval_id;
  o.detail["by"] = by;
  if (!comment.empty()) o.detail["comment"] = comment;
  if (!approve) o.detail["reason"] = "denied by " + (by.empty() ? std::string("an operator") : by);
  const bool was_acting = target->acting();
  record(*target, std::move(o), out);
  drive(*target, now, out);
  if (was_acting && !target->acting()) startNextOf(target->group, now, out);
  return Decision::kDecided;
}

void Engine::tick(Timestamp now, Effects& out) {
  // Closed incidents are remembered a day, so a late redelivery of their
  // firing event is still recognised, and then forgotten.
  for (auto it = incidents_.begin(); it != incidents_.end();) {
    const Incident& incident = *it->second;
    if (incident.closed && incident.running.empty() &&
        incident.closed_at + kRememberClosed <= now) {
      std::erase(groups_[incident.group], it->first);
      it = incidents_.erase(it);
    } else {
      ++it;
    }
  }
  std::erase_if(groups_, [](const auto& g) { return g.second.empty(); });
  for (auto it = executed_.begin(); it != executed_.end();) {
    it->second.erase(it->second.begin(), it->second.lower_bound(now - kHour + Duration{1}));
    it = it->second.empty() ? executed_.erase(it) : std::next(it);
  }
  std::erase_if(counted_, [&](const auto& c) { return c.second <= now - kHour; });
  std::vector<Incident*> due;
  for (auto& [id, incident] : incidents_) {
    if (!incident->closed && incident->due <= now &&
        (incident->phase == Phase::kBackoff || incident->phase == Phase::kVerifying ||
         incident->phase == Phase::kAwaitingApproval)) {
      due.push_back(incident.get());
    }
  }
  // Oldest deadline first, so the order of outcomes does not depend on ids.
  std::sort(due.begin(), due.end(), [](const Incident* a, const Incident* b) {
    return a->due != b->due ? a->due < b->due : a->firing.event_id < b->firing.event_id;
  });
  for (Incident* incident : due) {
    const bool was_acting = incident->acting();
    const PlaybookStep* step = currentStep(*incident);
    const std::string action = step != nullptr ? step->action : "";
    switch (incident->phase) {
      case Phase::kBackoff:
        incident->phase = Phase::kReady;
        break;
      case Phase::kVerifying: {
        OutcomeEvent o = outcome(*incident, OutcomeStatus::kUnverified, action, now);
        o.detail["reason"] = "not resolved within verify_within";
        record(*incident, std::move(o), out);
        break;
      }
      case Phase::kAwaitingApproval: {
        OutcomeEvent o = outcome(*incident, OutcomeStatus::kExpired, action, now);
        o.detail["approval_id"] = incident->approval_id;
        o.detail["reason"] = "approval expired";
        record(*incident, std::move(o), out);
        break;
      }
      default:
        break;
    }
    drive(*incident, now, out);
    if (was_acting && !incident->acting()) startNextOf(incident->group, now, out);
  }
}

std::optional<Timestamp> Engine::nextDue() const {
  std::optional<Timestamp> next;
  for (const auto& [id, incident] : incidents_) {
    if (incident->closed ||
        (incident->phase != Phase::kBackoff && incident->phase != Phase::kVerifying &&
         incident->phase != Phase::kAwaitingApproval)) {
      continue;
    }
    if (!next || incident->due < *next) next = incident->due;
  }
  return next;
}

void Engine::restore(const OutcomeEvent& o) {
  Incident* incident = find(o.event_id);
  if (incident == nullptr) {
    auto created = std::make_unique<Incident>();
    ReceivedFailure& f = created->firing;
    f.event_id = o.event_id;
    f.event.dataset = o.dataset;
    f.event.pipeline_id = o.pipeline_id;
    f.event.failure_type = o.failure_type;
    f.partition = o.detail.value("partition", -1);
    f.event.timestamp = o.timestamp;
    if (const auto it = o.detail.find("failure"); it != o.detail.end() && it->is_object()) {
      readEvidence(*it, f.event);
    }
    created->group = groupOf(o.dataset, o.pipeline_id);
    created->playbook = matchPlaybook(f.event);
    incident = created.get();
    groups_[incident->group].push_back(o.event_id);
    incidents_[o.event_id] = std::move(created);
  }
  apply(*incident, o);
}

void Engine::resume(Timestamp now, Effects& out) {
  // Restored incidents whose next move is now: the playbook goes on, one
  // acting incident per pipeline, the oldest first.
  for (auto& [group, ids] : groups_) {
    bool acting = false;
    for (const std::string& id : ids) {
      Incident* incident = find(id);
      if (incident == nullptr || incident->closed) continue;
      if (acting && incident->phase == Phase::kReady) {
        incident->phase = Phase::kQueued;
        continue;
      }
      drive(*incident, now, out);
      acting = acting || incident->acting();
    }
  }
  tick(now, out);  // what fell due while the worker was away
}

}  // namespace vigil::remediation
