// The decisions of the remediation worker, driven with a manual clock: no
// network, no threads, no wall clock.

#include "remediation/engine.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace vigil::remediation {
namespace {

using detectors::EventStatus;
using detectors::FailureType;
using detectors::Timestamp;
using std::chrono::minutes;
using std::chrono::seconds;

const Timestamp kT0 = detectors::timestampFromMillis(1'736'950'000'000);

ActionSpec action(const std::string& name, ActionType type, Risk risk) {
  ActionSpec a;
  a.name = name;
  a.type = type;
  a.risk = risk;
  a.url = "http://127.0.0.1:9/" + name + "/{pipeline_id}";
  return a;
}

// rerun (low, 2 retries, 30 s backoff, verify 5 m), then rollback (medium),
// then page; `scale` is high risk; a second playbook for null spikes.
RemediateSpec baseSpec() {
  RemediateSpec s;
  s.actions = {action("rerun", ActionType::kHttp, Risk::kLow),
               action("rollback", ActionType::kHttp, Risk::kMedium),
               action("scale", ActionType::kHttp, Risk::kHigh),
               action("page", ActionType::kPagerDuty, Risk::kLow)};
  s.budget = {10, 100};
  s.approval_ttl = minutes(30);
  Playbook latency;
  latency.failure_types = {"latency_spike", "stale_data"};
  latency.dataset_glob = "orders*";
  latency.steps = {{"rerun", 2, seconds(30), minutes(5)},
                   {"rollback", 0, seconds(30), minutes(10)}};
  latency.escalate = "page";
  Playbook nulls;
  nulls.failure_types = {"null_spike"};
  nulls.steps = {{"scale", 0, seconds(30), minutes(5)}};
  s.playbooks = {latency, nulls};
  s.default_escalation = "page";
  return s;
}

ReceivedFailure failure(const std::string& id, EventStatus status,
                        FailureType type = FailureType::kLatencySpike,
                        const std::string& pipeline = "etl_1",
                        const std::string& dataset = "orders") {
  ReceivedFailure f;
  f.event_id = id;
  f.event.status = status;
  f.event.dataset = dataset;
  f.event.pipeline_id = pipeline;
  f.event.failure_type = type;
  f.event.metric = "latency_p99_seconds";
  f.event.actual_value = 45;
  f.event.threshold = 5;
  f.event.timestamp = kT0;
  f.event.window_start = kT0 - minutes(5);
  f.event.window_end = kT0;
  f.event.sample_count = 1234;
  f.event.p95_seconds = 30;
  f.event.p99_seconds = 45;
  f.event.baseline = 1.5;
  return f;
}

ActionResult done() {
  ActionResult r;
  r.status = ActionResult::Status::kDone;
  r.detail = "HTTP 200";
  r.http_status = 200;
  r.tries = 1;
  return r;
}

ActionResult failed() {
  ActionResult r;
  r.detail = "HTTP 503 after 3 tries";
  r.http_status = 503;
  r.tries = 3;
  return r;
}

std::vector<std::string> statuses(const Effects& e) {
  std::vector<std::string> out;
  for (const OutcomeEvent& o : e.outcomes) {
    out.push_back(std::string(outcomeStatusName(o.status)) + ":" + o.action + "#" +
                  std::to_string(o.attempt));
  }
  return out;
}

using V = std::vector<std::string>;

// A low-risk step runs at once; the resolved event within verify_within
// verifies it and closes the incident.
TEST(EngineTest, LowRiskStepRunsAndIsVerified) {
  const RemediateSpec spec = baseSpec();
  Engine engine(spec);
  Effects fx;
  engine.onFailure(failure("f1", EventStatus::kFiring), kT0, fx);
  ASSERT_EQ(fx.executions.size(), 1u);
  EXPECT_EQ(fx.executions[0].action->name, "rerun");
  EXPECT_EQ(fx.executions[0].attempt, 1u);
  EXPECT_TRUE(fx.outcomes.empty()) << "nothing is recorded before the action ran";
  const std::string id = fx.executions[0].id;

  engine.onResult(id, done(), kT0 + seconds(2), fx);
  engine.onFailure(failure("r1", EventStatus::kResolved), kT0 + minutes(2), fx);
  EXPECT_EQ(statuses(fx), (V{"executed:rerun#1", "verified:rerun#1", "resolved:rerun#1"}));
  EXPECT_EQ(engine.openIncidents(), 0u);
  EXPECT_EQ(fx.outcomes[0].event_id, "f1");
  EXPECT_EQ(fx.outcomes[0].detail["result"]["http_status"], 200);
}

// Unverified attempts are retried after a jittered, doubling backoff; when the
// low step is exhausted the medium one asks for approval.
TEST(EngineTest, UnverifiedAttemptsBackOffThenTheNextStepAsks) {
  const RemediateSpec spec = baseSpec();
  Engine engine(spec);
  Effects fx;
  engine.onFailure(failure("f1", EventStatus::kFiring), kT0, fx);
  Timestamp now = kT0;
  std::vector<detectors::Duration> waits;
  for (unsigned attempt = 1; attempt <= 3; ++attempt) {
    ASSERT_EQ(fx.executions.size(), attempt);
    EXPECT_EQ(fx.executions.back().attempt, attempt);
    engine.onResult(fx.executions.back().id, done(), now, fx);
    now += minutes(5);  // verify_within passes
    engine.tick(now - seconds(1), fx);
    EXPECT_EQ(fx.outcomes.back().status, OutcomeStatus::kExecuted) << "not yet unverified";
    engine.tick(now, fx);
    if (attempt == 3) break;
    EXPECT_EQ(fx.outcomes.back().status, OutcomeStatus::kUnverified);
    const Timestamp due = *engine.nextDue();
    waits.push_back(due - now);
    engine.tick(due - detectors::Duration{1}, fx);
    EXPECT_EQ(fx.executions.size(), attempt) << "no attempt before the backoff ends";
    now = due;
    engine.tick(now, fx);
  }
  // Backoff 30 s then 60 s, each with half of it jittered.
  ASSERT_EQ(waits.size(), 2u);
  EXPECT_GE(waits[0], seconds(15));
  EXPECT_LE(waits[0], seconds(30));
  EXPECT_GE(waits[1], seconds(30));
  EXPECT_LE(waits[1], seconds(60));
  ASSERT_GE(fx.outcomes.size(), 2u);
  EXPECT_EQ(fx.outcomes[fx.outcomes.size() - 2].status, OutcomeStatus::kUnverified);
  EXPECT_EQ(fx.outcomes[fx.outcomes.size() - 2].attempt, 3u);
  EXPECT_EQ(fx.outcomes.back().status, OutcomeStatus::kPendingApproval);
  EXPECT_EQ(fx.outcomes.back().action, "rollback");
  const auto approvals = engine.pendingApprovals();
  ASSERT_EQ(approvals.size(), 1u);
  EXPECT_EQ(approvals[0].action, "rollback");
  EXPECT_EQ(approvals[0].expires_at - approvals[0].requested_at, minutes(30));
}

// Helper: an engine whose incident f1 waits for approval of `rollback`.
struct Awaiting {
  RemediateSpec spec = baseSpec();
  Engine engine{spec};
  Effects fx;
  std::string approval;
  Awaiting() {
    spec.playbooks[0].steps.erase(spec.playbooks[0].steps.begin());  // rollback first
    engine.onFailure(failure("f1", EventStatus::kFiring), kT0, fx);
    approval = engine.pendingApprovals().at(0).id;
  }
};

TEST(EngineTest, ApprovedMediumStepRunsOnce) {
  Awaiting a;
  EXPECT_TRUE(a.fx.executions.empty()) << "medium never runs unapproved";
  Approval decided;
  EXPECT_EQ(
      a.engine.decide(a.approval, true, "ops@example", "go", kT0 + minutes(1), a.fx, &decided),
      Engine::Decision::kDecided);
  EXPECT_EQ(decided.action, "rollback");
  ASSERT_EQ(a.fx.executions.size(), 1u);
  EXPECT_EQ(a.fx.executions[0].action->name, "rollback");
  // Everyone else who clicks gets a conflict; the action does not run again.
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(a.engine.decide(a.approval, true, "x", "", kT0 + minutes(1), a.fx),
              Engine::Decision::kConflict);
  }
  EXPECT_EQ(a.fx.executions.size(), 1u);
  EXPECT_EQ(a.engine.decide("nope", true, "x", "", kT0, a.fx), Engine::Decision::kNotFound);
  EXPECT_EQ(statuses(a.fx), (V{"pending_approval:rollback#1", "approved:rollback#1"}));
  EXPECT_EQ(a.fx.outcomes[1].detail["by"], "ops@example");
}

TEST(EngineTest, DeniedOrExpiredApprovalEscalates) {
  {
    Awaiting a;
    EXPECT_EQ(a.engine.decide(a.approval, false, "ops", "", kT0 + minutes(1), a.fx),
              Engine::Decision::kDecided);
    ASSERT_EQ(a.fx.executions.size(), 1u);
    EXPECT_EQ(a.fx.executions[0].kind, Execution::Kind::kEscalation);
    EXPECT_EQ(a.fx.executions[0].action->name, "page");
  }
  {
    Awaiting a;
    a.engine.tick(kT0 + minutes(30), a.fx);
    EXPECT_EQ(statuses(a.fx), (V{"pending_approval:rollback#1", "expired:rollback#1"}));
    ASSERT_EQ(a.fx.executions.size(), 1u);
    EXPECT_EQ(a.fx.executions[0].kind, Execution::Kind::kEscalation);
    EXPECT_EQ(a.engine.decide(a.approval, true, "late", "", kT0 + minutes(31), a.fx),
              Engine::Decision::kConflict);
  }
}

// A high-risk action is never executed: the step becomes an escalation that
// recommends it, and PagerDuty gets the diagnostic report; the resolved event
// resolves the page with the same dedup_key.
TEST(EngineTest, HighRiskIsNeverExecutedAndEscalatesWithAReport) {
  const RemediateSpec spec = baseSpec();
  Engine engine(spec);
  Effects fx;
  engine.onFailure(failure("n1", EventStatus::kFiring, FailureType::kNullSpike), kT0, fx);
  ASSERT_EQ(fx.executions.size(), 1u);
  const Execution page = fx.executions[0];
  EXPECT_EQ(page.kind, Execution::Kind::kEscalation);
  EXPECT_EQ(page.action->name, "page");
  EXPECT_EQ(statuses(fx), (V{"escalated:scale#1"}));
  EXPECT_EQ(fx.outcomes[0].risk, Risk::kHigh);
  const auto report = nlohmann::json::parse(page.report_json);
  EXPECT_EQ(report["recommendation"], "run scale (high risk: not automated)");
  EXPECT_EQ(report["evidence"]["threshold"], 5);
  EXPECT_EQ(report["steps"].size(), 1u);
  EXPECT_LE(page.dedup_key.size(), 255u);

  engine.onResult(page.id, done(), kT0 + seconds(1), fx);
  EXPECT_EQ(fx.outcomes.back().status, OutcomeStatus::kEscalated);
  EXPECT_EQ(fx.outcomes.back().action, "page");
  engine.onFailure(failure("n2", EventStatus::kResolved, FailureType::kNullSpike), kT0 + minutes(9),
                   fx);
  EXPECT_EQ(fx.outcomes.back().status, OutcomeStatus::kResolved);
  ASSERT_EQ(fx.executions.size(), 2u);
  EXPECT_EQ(fx.executions[1].kind, Execution::Kind::kPageResolve);
  EXPECT_EQ(fx.executions[1].dedup_key, page.dedup_key);
}

// The failure resolves while the page is being sent: once the trigger is
// through, the page is resolved too, so nobody is left paged for nothing.
TEST(EngineTest, ResolvedWhilePagingStillResolvesThePage) {
  const RemediateSpec spec = baseSpec();
  Engine engine(spec);
  Effects fx;
  engine.onFailure(failure("n1", EventStatus::kFiring, FailureType::kNullSpike), kT0, fx);
  ASSERT_EQ(fx.executions.size(), 1u);
  engine.onFailure(failure("n2", EventStatus::kResolved, FailureType::kNullSpike), kT0 + seconds(1),
                   fx);
  EXPECT_EQ(fx.executions.size(), 1u) << "nothing to resolve before the trigger is through";
  engine.onResult(fx.executions[0].id, done(), kT0 + seconds(2), fx);
  ASSERT_EQ(fx.executions.size(), 2u);
  EXPECT_EQ(fx.executions[1].kind, Execution::Kind::kPageResolve);
  EXPECT_EQ(fx.executions[1].dedup_key, fx.executions[0].dedup_key);
  EXPECT_EQ(statuses(fx), (V{"escalated:scale#1", "resolved:scale#1", "escalated:page#1"}));
}

// Resolved while the step's action still runs: the incident closes without a
// claim that the action fixed it, and the action's result is recorded after.
TEST(EngineTest, ResolvedWhileTheActionRunsIsNotVerified) {
  const RemediateSpec spec = baseSpec();
  Engine engine(spec);
  Effects fx;
  engine.onFailure(failure("f1", EventStatus::kFiring), kT0, fx);
  engine.onFailure(failure("r1", EventStatus::kResolved), kT0 + seconds(1), fx);
  engine.onResult(fx.executions[0].id, done(), kT0 + seconds(2), fx);
  EXPECT_EQ(statuses(fx), (V{"resolved:rerun#1", "executed:rerun#1"}));
  EXPECT_EQ(fx.outcomes[0].detail["closed_how"], "other");
  EXPECT_EQ(fx.executions.size(), 1u);
  EXPECT_EQ(engine.openIncidents(), 0u);
}

// A closed incident whose action is still running keeps its pipeline: the
// next incident starts only once that action is done.
TEST(EngineTest, TheNextIncidentWaitsForARunningActionOfAClosedOne) {
  const RemediateSpec spec = baseSpec();
  Engine engine(spec);
  Effects fx;
  engine.onFailure(failure("f1", EventStatus::kFiring), kT0, fx);
  engine.onFailure(failure("s1", EventStatus::kFiring, FailureType::kStaleData), kT0 + seconds(1),
                   fx);
  engine.onFailure(failure("r1", EventStatus::kResolved), kT0 + seconds(2), fx);
  EXPECT_EQ(fx.executions.size(), 1u) << "f1's rerun still runs";
  engine.onResult(fx.executions[0].id, done(), kT0 + seconds(3), fx);
  ASSERT_EQ(fx.executions.size(), 2u);
  EXPECT_EQ(fx.executions[1].event_id, "s1");
}

TEST(EngineTest, OverBudgetSkipsAndEscalates) {
  RemediateSpec spec = baseSpec();
  spec.budget = {1, 100};
  Engine engine(spec);
  Effects fx;
  engine.onFailure(failure("f1", EventStatus::kFiring), kT0, fx);
  engine.onResult(fx.executions[0].id, done(), kT0, fx);
  engine.onFailure(failure("r1", EventStatus::kResolved), kT0 + minutes(1), fx);
  engine.onFailure(failure("f2", EventStatus::kFiring), kT0 + minutes(2), fx);
  EXPECT_EQ(fx.outcomes.back().status, OutcomeStatus::kSkippedBudget);
  ASSERT_EQ(fx.executions.size(), 2u);
  EXPECT_EQ(fx.executions[1].kind, Execution::Kind::kEscalation);
  // An hour later the pipeline has budget again.
  engine.onFailure(failure("r2", EventStatus::kResolved), kT0 + minutes(3), fx);
  engine.onFailure(failure("f3", EventStatus::kFiring), kT0 + minutes(61), fx);
  EXPECT_EQ(fx.executions.back().kind, Execution::Kind::kStep);
}

TEST(EngineTest, GlobalBudgetCapsAllPipelines) {
  RemediateSpec spec = baseSpec();
  spec.budget = {10, 2};
  Engine engine(spec);
  Effects fx;
  for (int i = 0; i < 3; ++i) {
    engine.onFailure(failure("f" + std::to_string(i), EventStatus::kFiring,
                             FailureType::kLatencySpike, "etl_" + std::to_string(i)),
                     kT0, fx);
    if (fx.executions.back().kind == Execution::Kind::kStep) {
      engine.onResult(fx.executions.back().id, done(), kT0, fx);
    }
  }
  ASSERT_EQ(fx.executions.size(), 3u);
  EXPECT_EQ(fx.executions[0].kind, Execution::Kind::kStep);
  EXPECT_EQ(fx.executions[1].kind, Execution::Kind::kStep);
  EXPECT_EQ(fx.executions[2].kind, Execution::Kind::kEscalation) << "the third pipeline is over";
  EXPECT_EQ(fx.outcomes.back().status, OutcomeStatus::kSkippedBudget);
}

TEST(EngineTest, ShadowModeDecidesEverythingAndExecutesNothing) {
  RemediateSpec spec = baseSpec();
  spec.mode = Mode::kShadow;
  Engine engine(spec);
  Effects fx;
  engine.onFailure(failure("f1", EventStatus::kFiring), kT0, fx);
  engine.onFailure(failure("n1", EventStatus::kFiring, FailureType::kNullSpike, "etl_2"), kT0, fx);
  EXPECT_TRUE(fx.executions.empty());
  EXPECT_EQ(statuses(fx),
            (V{"skipped_shadow:rerun#1", "skipped_shadow:rollback#1", "skipped_shadow:page#1",
               "skipped_shadow:scale#1", "skipped_shadow:page#1"}));
  engine.onFailure(failure("r1", EventStatus::kResolved), kT0 + minutes(1), fx);
  EXPECT_TRUE(fx.executions.empty()) << "no page to resolve either";
}

// One playbook acts on a pipeline at a time; the later incident waits, and
// an escalation names the likely cause among the pipeline's open failures.
TEST(EngineTest, OnePlaybookPerPipelineAndTheLikelyCause) {
  RemediateSpec spec = baseSpec();
  spec.playbooks[1].steps = {{"rerun", 0, seconds(30), minutes(5)}};  // null spikes: rerun
  Playbook schema;
  schema.failure_types = {"schema_drift"};
  schema.steps = {{"rerun", 0, seconds(30), minutes(5)}};
  schema.escalate = "page";
  spec.playbooks.push_back(schema);
  Engine engine(spec);
  Effects fx;
  engine.onFailure(failure("n1", EventStatus::kFiring, FailureType::kNullSpike), kT0, fx);
  engine.onFailure(failure("s1", EventStatus::kFiring, FailureType::kSchemaDrift), kT0 + seconds(5),
                   fx);
  ASSERT_EQ(fx.executions.size(), 1u) << "the schema drift waits for the null spike's playbook";
  EXPECT_EQ(fx.executions[0].event_id, "n1");
  // Another pipeline is independent.
  engine.onFailure(failure("x1", EventStatus::kFiring, FailureType::kLatencySpike, "etl_2"), kT0,
                   fx);
  ASSERT_EQ(fx.executions.size(), 2u);
  EXPECT_EQ(fx.executions[1].event_id, "x1");

  // The null spike's rerun is unverified: it escalates, naming the schema
  // drift as the likely cause; then the schema drift's playbook starts.
  engine.onResult(fx.executions[0].id, done(), kT0 + seconds(10), fx);
  engine.tick(kT0 + minutes(6), fx);
  ASSERT_EQ(fx.executions.size(), 3u);
  const Execution& page = fx.executions[2];
  EXPECT_EQ(page.kind, Execution::Kind::kEscalation);
  EXPECT_EQ(page.event_id, "n1");
  const auto report = nlohmann::json::parse(page.report_json);
  EXPECT_EQ(report["likely_cause"]["failure_type"], "schema_drift");
  EXPECT_EQ(report["related"].size(), 1u);
  engine.onResult(page.id, done(), kT0 + minutes(6), fx);
  ASSERT_EQ(fx.executions.size(), 4u);
  EXPECT_EQ(fx.executions[3].event_id, "s1");
  EXPECT_EQ(fx.executions[3].kind, Execution::Kind::kStep);
}

// A symptom waits for its cause: a volume drop on a pipeline whose feed is
// stale does not get its own playbook until the staleness is over (and then
// only if the drop is still open).
TEST(EngineTest, ASymptomWaitsForItsCause) {
  RemediateSpec spec = baseSpec();
  Playbook volume;
  volume.failure_types = {"volume_drop"};
  volume.steps = {{"rerun", 0, seconds(30), minutes(5)}};
  spec.playbooks.push_back(volume);
  spec.playbooks[0].failure_types = {"latency_spike"};  // stale_data: no playbook, escalates
  spec.default_escalation.reset();
  Engine engine(spec);
  Effects fx;
  engine.onFailure(failure("s1", EventStatus::kFiring, FailureType::kStaleData), kT0, fx);
  EXPECT_EQ(statuses(fx), (V{"escalated:#1"})) << "no playbook, no escalation action";
  engine.onFailure(failure("v1", EventStatus::kFiring, FailureType::kVolumeDrop), kT0 + seconds(2),
                   fx);
  EXPECT_TRUE(fx.executions.empty()) << "the drop waits for the staleness";
  engine.onFailure(failure("s2", EventStatus::kResolved, FailureType::kStaleData), kT0 + seconds(9),
                   fx);
  ASSERT_EQ(fx.executions.size(), 1u) << "the cause closed, the drop is still open: it acts";
  EXPECT_EQ(fx.executions[0].event_id, "v1");
  // Had the drop resolved with its cause, nothing would have run.
  Engine other(spec);
  Effects quiet;
  other.onFailure(failure("s1", EventStatus::kFiring, FailureType::kStaleData), kT0, quiet);
  other.onFailure(failure("v1", EventStatus::kFiring, FailureType::kVolumeDrop), kT0, quiet);
  other.onFailure(failure("v2", EventStatus::kResolved, FailureType::kVolumeDrop), kT0 + seconds(8),
                  quiet);
  other.onFailure(failure("s2", EventStatus::kResolved, FailureType::kStaleData), kT0 + seconds(9),
                  quiet);
  EXPECT_TRUE(quiet.executions.empty());
}

TEST(EngineTest, RedeliveredEventsActOnce) {
  const RemediateSpec spec = baseSpec();
  Engine engine(spec);
  Effects fx;
  for (int i = 0; i < 3; ++i) engine.onFailure(failure("f1", EventStatus::kFiring), kT0, fx);
  EXPECT_EQ(fx.executions.size(), 1u);
  engine.onResult(fx.executions[0].id, done(), kT0, fx);
  engine.onResult(fx.executions[0].id, done(), kT0, fx);  // a repeated result
  EXPECT_EQ(fx.outcomes.size(), 1u);
  for (int i = 0; i < 2; ++i) {
    engine.onFailure(failure("r1", EventStatus::kResolved), kT0 + minutes(1), fx);
  }
  engine.onFailure(failure("f1", EventStatus::kFiring), kT0 + minutes(2), fx);
  EXPECT_EQ(fx.executions.size(), 1u) << "a closed incident's firing event, redelivered";
  EXPECT_EQ(statuses(fx), (V{"executed:rerun#1", "verified:rerun#1", "resolved:rerun#1"}));
}

TEST(EngineTest, FailedExecutionIsRetried) {
  const RemediateSpec spec = baseSpec();
  Engine engine(spec);
  Effects fx;
  engine.onFailure(failure("f1", EventStatus::kFiring), kT0, fx);
  engine.onResult(fx.executions[0].id, failed(), kT0 + seconds(1), fx);
  EXPECT_EQ(statuses(fx), (V{"failed:rerun#1"}));
  EXPECT_EQ(fx.outcomes[0].detail["result"]["detail"], "HTTP 503 after 3 tries");
  engine.tick(*engine.nextDue(), fx);
  ASSERT_EQ(fx.executions.size(), 2u);
  EXPECT_EQ(fx.executions[1].attempt, 2u);
  EXPECT_NE(fx.executions[1].id, fx.executions[0].id) << "a new attempt has a new idempotency key";
}

// The outcomes are the durable state: an engine rebuilt from them (and
// resumed) goes on exactly as the one that wrote them.
TEST(EngineTest, RebuiltFromOutcomesGoesOnAlike) {
  const RemediateSpec spec = baseSpec();
  Engine live(spec);
  Effects fx;
  live.onFailure(failure("f1", EventStatus::kFiring), kT0, fx);
  live.onFailure(failure("n1", EventStatus::kFiring, FailureType::kNullSpike, "etl_2"), kT0, fx);
  live.onResult(fx.executions[0].id, done(), kT0 + seconds(1), fx);
  live.tick(kT0 + minutes(6), fx);  // unverified: backoff
  live.tick(*live.nextDue(), fx);   // attempt 2 starts (in flight)

  Engine rebuilt(spec);
  for (const OutcomeEvent& o : fx.outcomes) {
    std::string error;
    const auto parsed = OutcomeEvent::fromJson(o.toJson(), error);
    ASSERT_TRUE(parsed) << error;
    rebuilt.restore(*parsed);
  }
  Effects resumed;
  rebuilt.resume(kT0 + minutes(7), resumed);
  // What was in flight (f1's attempt 2, n1's page) is issued again, with the
  // same idempotency keys; nothing else runs.
  std::vector<std::string> live_ids, resumed_ids;
  for (const Execution& x : fx.executions) {
    if (x.event_id == "f1" ? x.attempt == 2 : true) live_ids.push_back(x.id);
  }
  for (const Execution& x : resumed.executions) resumed_ids.push_back(x.id);
  std::sort(live_ids.begin(), live_ids.end());
  std::sort(resumed_ids.begin(), resumed_ids.end());
  EXPECT_EQ(resumed_ids, live_ids);
  EXPECT_TRUE(resumed.outcomes.empty());
  EXPECT_EQ(rebuilt.openIncidents(), live.openIncidents());
  // The rebuilt incident has the same evidence as the live one.
  ASSERT_NE(rebuilt.firingOf("f1"), nullptr);
  EXPECT_EQ(evidenceJson(rebuilt.firingOf("f1")->event), evidenceJson(live.firingOf("f1")->event));

  // From here both see the same inputs and decide the same outcomes.
  Effects a, b;
  for (auto [engine, out] : {std::pair{&live, &a}, std::pair{&rebuilt, &b}}) {
    engine->onResult(fx.executions.back().id, done(), kT0 + minutes(8), *out);
    engine->tick(kT0 + minutes(14), *out);
    engine->tick(kT0 + minutes(20), *out);
    engine->onFailure(failure("r1", EventStatus::kResolved), kT0 + minutes(25), *out);
  }
  ASSERT_EQ(statuses(a), statuses(b));
  for (std::size_t i = 0; i < a.outcomes.size(); ++i) {
    EXPECT_EQ(a.outcomes[i].outcomeId(), b.outcomes[i].outcomeId());
  }
  EXPECT_FALSE(a.outcomes.empty());
}

// A closed incident rebuilt from its outcomes (resolved included, and an
// action result recorded after it) stays closed: its firing event, delivered
// again, runs nothing, and the budget counts its execution once.
TEST(EngineTest, RebuiltClosedIncidentIgnoresARedelivery) {
  RemediateSpec spec = baseSpec();
  spec.budget = {1, 100};
  Engine live(spec);
  Effects fx;
  live.onFailure(failure("f1", EventStatus::kFiring), kT0, fx);
  live.onFailure(failure("r1", EventStatus::kResolved), kT0 + seconds(1), fx);
  live.onResult(fx.executions[0].id, done(), kT0 + seconds(2), fx);
  ASSERT_EQ(statuses(fx), (V{"resolved:rerun#1", "executed:rerun#1"}));

  Engine rebuilt(spec);
  for (int twice = 0; twice < 2; ++twice) {  // a partition given up and assigned again
    for (const OutcomeEvent& o : fx.outcomes) rebuilt.restore(o);
  }
  Effects after;
  rebuilt.resume(kT0 + seconds(3), after);
  rebuilt.onFailure(failure("f1", EventStatus::kFiring), kT0 + seconds(4), after);
  EXPECT_TRUE(after.executions.empty());
  EXPECT_TRUE(after.outcomes.empty());
  EXPECT_EQ(rebuilt.openIncidents(), 0u);
  // Budget 1/h: the one execution is counted once, so the next one is over.
  rebuilt.onFailure(failure("f2", EventStatus::kFiring), kT0 + seconds(5), after);
  ASSERT_EQ(after.outcomes.size(), 1u);
  EXPECT_EQ(after.outcomes[0].status, OutcomeStatus::kSkippedBudget);
}

// Memory follows the last day, not every pipeline ever seen.
TEST(EngineTest, ForgetsClosedIncidentsAndIdlePipelinesAfterADay) {
  const RemediateSpec spec = baseSpec();
  Engine engine(spec);
  Effects fx;
  for (int i = 0; i < 100; ++i) {
    const std::string pipeline = "etl_" + std::to_string(i);
    engine.onFailure(failure("f" + std::to_string(i), EventStatus::kFiring,
                             FailureType::kLatencySpike, pipeline),
                     kT0, fx);
    engine.onResult(fx.executions.back().id, done(), kT0, fx);
    engine.onFailure(failure("r" + std::to_string(i), EventStatus::kResolved,
                             FailureType::kLatencySpike, pipeline),
                     kT0 + minutes(1), fx);
  }
  EXPECT_EQ(engine.openIncidents(), 0u);
  EXPECT_GE(engine.trackedPipelines(), 100u);
  engine.tick(kT0 + std::chrono::hours(23), fx);
  EXPECT_TRUE(engine.knows("f7")) << "a redelivery within a day is still recognised";
  engine.tick(kT0 + std::chrono::hours(25), fx);
  EXPECT_FALSE(engine.knows("f7"));
  EXPECT_EQ(engine.trackedPipelines(), 0u);
}

TEST(OutcomeEventTest, JsonRoundTripAndStableIds) {
  OutcomeEvent o;
  o.event_id = "9f2c4e1a7b3d5e60";
  o.dataset = "orders";
  o.pipeline_id = "etl \"1\"";
  o.failure_type = FailureType::kStaleData;
  o.action = "rerun";
  o.risk = Risk::kMedium;
  o.attempt = 2;
  o.status = OutcomeStatus::kPendingApproval;
  o.timestamp = kT0;
  o.detail = {{"step", 1}, {"approval_id", "abc"}};
  const std::string text = o.toJson();
  EXPECT_EQ(text.rfind("{\"schema\":\"vigil.outcome.v1\",\"outcome_id\":", 0), 0u) << text;
  std::string error;
  const auto back = OutcomeEvent::fromJson(text, error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(back->toJson(), text);
  OutcomeEvent later = o;
  later.timestamp += minutes(5);
  EXPECT_EQ(later.outcomeId(), o.outcomeId()) << "the same decision keeps its id";
  later.attempt = 3;
  EXPECT_NE(later.outcomeId(), o.outcomeId());
  for (const char* bad : {"", "[]", "{\"schema\":\"vigil.outcome.v1\"}", "{\"schema\":\"x\"}"}) {
    EXPECT_FALSE(OutcomeEvent::fromJson(bad, error)) << bad;
  }
}

// The members of detail the engine reads back are refused when ill-typed (restore would throw
// or convert a number out of range), and so is text nested too deep to copy; a restored outcome
// of the worker's own always passes.
TEST(OutcomeEventTest, RefusesWhatTheEngineCouldNotRestore) {
  OutcomeEvent o;
  o.event_id = "e1";
  o.dataset = "orders";
  o.pipeline_id = "etl_1";
  o.timestamp = kT0;
  o.detail = {{"step", 0}, {"partition", 3}, {"kind", "escalation"}, {"paged", true}};
  std::string error;
  ASSERT_TRUE(OutcomeEvent::fromJson(o.toJson(), error)) << error;
  for (const auto& [name, bad] : std::vector<std::pair<std::string, nlohmann::json>>{
           {"partition", "1"},
           {"partition", 1e30},
           {"partition", -1},
           {"partition", 4294967297ull},
           {"step", -1},
           {"kind", 5},
           {"paged", "yes"},
           {"reason", nlohmann::json::array({"x"})},
           {"approval_id", 7},
           {"expires_at", nullptr},
           {"failure", "x"}}) {
    OutcomeEvent ill = o;
    ill.detail[name] = bad;
    error.clear();
    EXPECT_FALSE(OutcomeEvent::fromJson(ill.toJson(), error)) << ill.toJson();
    EXPECT_NE(error.find("detail." + name), std::string::npos) << error;
  }
  OutcomeEvent deep = o;
  nlohmann::json nested = nlohmann::json::array();
  for (int i = 0; i < 61; ++i) nested = nlohmann::json::array({nested});
  deep.detail["result"] = nested;  // 64 levels with the outcome and detail
  EXPECT_TRUE(OutcomeEvent::fromJson(deep.toJson(), error)) << error;
  deep.detail["result"] = nlohmann::json::array({nested});
  EXPECT_FALSE(OutcomeEvent::fromJson(deep.toJson(), error));
  EXPECT_EQ(error, "nested deeper than 64 levels");
}

TEST(FailureEventParseTest, ReadsWhatTheDetectorWrites) {
  detectors::FailureEvent e = failure("x", EventStatus::kFiring).event;
  e.baseline = 1.9;
  e.field = "user_id";
  e.topic = "orders.events";
  e.sample_count = 42;
  std::string error;
  const auto parsed = parseFailureEvent(e.toJson(), error);
  ASSERT_TRUE(parsed) << error;
  EXPECT_EQ(parsed->event_id, e.eventId());
  EXPECT_EQ(parsed->event.toJson(), e.toJson());
  for (
      const char* bad :
      {"nope", "{}", "{\"schema\":\"vigil.failure.v1\"}",
       R"({"schema":"vigil.failure.v1","event_id":"a","status":"odd","dataset":"d","pipeline_id":"p","failure_type":"stale_data","timestamp":"2025-01-15T14:00:00Z"})",
       R"({"schema":"vigil.failure.v1","event_id":"a","status":"firing","dataset":"d","pipeline_id":"p","failure_type":"boom","timestamp":"2025-01-15T14:00:00Z"})",
       R"({"schema":"vigil.failure.v1","event_id":"a","status":"firing","dataset":"d","pipeline_id":"p","failure_type":"stale_data","timestamp":"yesterday"})"}) {
    EXPECT_FALSE(parseFailureEvent(bad, error)) << bad;
  }
}

// sample_count is taken when it is an unsigned integer, as the detector writes it; another
// number is ignored rather than converted (1e30 has no uint64 value).
TEST(FailureEventParseTest, SampleCountIsAnUnsignedInteger) {
  const std::string head =
      R"({"schema":"vigil.failure.v1","event_id":"a","status":"firing","dataset":"d",)"
      R"("pipeline_id":"p","failure_type":"stale_data","timestamp":"2025-01-15T14:00:00Z",)"
      R"("context":{"sample_count":)";
  std::string error;
  for (const auto& [text, expected] : {std::pair<const char*, std::uint64_t>{"42", 42},
                                       {"18446744073709551615", UINT64_MAX},
                                       {"1e30", 0},
                                       {"2.5", 0},
                                       {"-1", 0}}) {
    const auto parsed = parseFailureEvent(head + text + "}}", error);
    ASSERT_TRUE(parsed) << text << ": " << error;
    EXPECT_EQ(parsed->event.sample_count, expected) << text;
  }
}

// Times outside 1970..9999 are refused: formatRfc3339 could not write them back
// ("-001-12-31T23:00:00Z"), so the event would not survive being recorded.
TEST(FailureEventParseTest, TimestampOutsideYears1970To9999IsRefused) {
  const std::string head =
      R"({"schema":"vigil.failure.v1","event_id":"a","status":"firing","dataset":"d",)"
      R"("pipeline_id":"p","failure_type":"stale_data","timestamp":)";
  std::string error;
  for (const char* t : {R"("0000-01-01T00:00:00+01:00")", R"("1969-12-31T23:59:59.999Z")",
                        R"("9999-12-31T23:59:59-00:01")"}) {
    EXPECT_FALSE(parseFailureEvent(head + t + "}", error)) << t;
    EXPECT_EQ(error, R"("timestamp" is not an RFC 3339 time in years 1970 to 9999)");
  }
  for (const char* t : {R"("1970-01-01T00:00:00Z")", R"("9999-12-31T23:59:59.999Z")"}) {
    const auto parsed = parseFailureEvent(head + t + "}", error);
    ASSERT_TRUE(parsed) << t << ": " << error;
    EXPECT_NE(parsed->event.toJson().find(std::string(t).substr(1, 19)), std::string::npos)
        << parsed->event.toJson();
  }
}

}  // namespace
}  // namespace vigil::remediation
