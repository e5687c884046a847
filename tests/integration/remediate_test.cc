// `vigil remediate` end to end on the embedded broker: failure events in,
// actions against local stubs (a job scheduler, PagerDuty), outcome events
// out, approvals through the API, and a restart in the middle of a playbook.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <future>
#include <mutex>
#include <random>
#include <set>
#include <nlohmann/json.hpp>
#include <thread>

#include "app/stubs.h"
#include "detectors/failure_event.h"
#include "stream/record_producer.h"
#include "stream/topic_reader.h"
#include "tests/integration/support.h"

namespace vigil::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kToken = "integration-token";
constexpr const char* kRoutingKey = "R0UT1NGKEY0123456789abcdefABCDEF";

// The local scheduler and PagerDuty stubs (app/stubs.h), with waiting.
class Stubs {
 public:
  Stubs() {
    std::string error;
    stubs_ = app::ServiceStubs::start(kRoutingKey, {}, error);
    EXPECT_TRUE(stubs_) << error;
  }
  int port() const { return stubs_ ? stubs_->port() : 0; }
  std::vector<app::ServiceStubs::Call> requests(const std::string& prefix) const {
    return stubs_->calls(prefix);
  }
  // Polls until `n` requests under `prefix` arrived or 30 s passed.
  std::vector<app::ServiceStubs::Call> waitFor(const std::string& prefix, std::size_t n) const {
    const auto deadline = std::chrono::steady_clock::now() + seconds(30);
    while (requests(prefix).size() < n && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(50));
    }
    return requests(prefix);
  }

 private:
  std::unique_ptr<app::ServiceStubs> stubs_;
};

std::string configText(const std::string& bootstrap, int stub_port, const TempDir& dir,
                       const std::string& mode = "enforce") {
  const std::string stub = "http://127.0.0.1:" + std::to_string(stub_port);
  // A killed worker's partitions go to its successor after the session
  // timeout: short here, so the restart test does not wait 45 s.
  return "kafka:\n"
         "  bootstrap.servers: " +
         bootstrap +
         "\n"
         "  session.timeout.ms: 6000\n"
         "remediate:\n"
         "  mode: " +
         mode +
         "\n"
         "  listen: 127.0.0.1:0\n"
         "  api_token_file: " +
         dir.file("token") +
         "\n"
         "  budget: { per_pipeline_per_hour: 5, global_per_hour: 50 }\n"
         "  actions:\n"
         "    rerun:    { type: http, risk: low, url: \"" +
         stub +
         "/rerun/{pipeline_id}\", timeout: 5s }\n"
         "    rollback: { type: http, risk: medium, url: \"" +
         stub +
         "/rollback/{pipeline_id}\" }\n"
         "    scale:    { type: http, risk: high, url: \"" +
         stub +
         "/scale/{pipeline_id}\" }\n"
         "    page:     { type: pagerduty, routing_key_file: " +
         dir.file("pd") + ", url: \"" + stub +
         "/v2/enqueue\" }\n"
         "    notify:   { type: kafka, topic: pipeline.commands }\n"
         "  playbooks:\n"
         "    - match: { failure_type: [stale_data] }\n"
         "      steps: [{ action: notify, verify_within: 5m }]\n"
         "      escalate: page\n"
         "    - match: { failure_type: [latency_spike] }\n"
         "      steps: [{ action: rerun, verify_within: 5m }]\n"
         "      escalate: page\n"
         "    - match: { failure_type: [volume_drop] }\n"
         "      steps: [{ action: rollback, verify_within: 5m }]\n"
         "      escalate: page\n"
         "    - match: { failure_type: [null_spike] }\n"
         "      steps: [{ action: scale }]\n"
         "      escalate: page\n"
         "  default_escalation: page\n";
}

detectors::FailureEvent event(const std::string& pipeline, detectors::FailureType type,
                              detectors::EventStatus status, int minute) {
  detectors::FailureEvent e;
  e.status = status;
  e.dataset = "orders";
  e.pipeline_id = pipeline;
  e.failure_type = type;
  e.metric = "latency_p99_seconds";
  e.actual_value = 12;
  e.threshold = 2;
  e.timestamp = detectors::timestampFromMillis(1'736'950'000'000 + minute * 60'000LL);
  e.window_start = e.timestamp - std::chrono::minutes(5);
  e.window_end = e.timestamp;
  e.topic = "orders.events";
  return e;
}

class RemediateEndToEnd : public ::testing::Test {
 protected:
  RemediateEndToEnd()
      : broker_(
            {"vigil.failures:2", "vigil.outcomes:1", "orders.events:1", "pipeline.commands:1"}) {
    dir_.write("token", std::string(kToken) + "\n");
    dir_.write("pd", std::string(kRoutingKey) + "\n");
    dir_.write("vigil.yaml", configText(broker_.bootstrap(), stubs_.port(), dir_));
    std::string error;
    producer_ = stream::RecordProducer::create({{"bootstrap.servers", broker_.bootstrap()}}, error);
    EXPECT_TRUE(producer_) << error;
  }

  void send(const detectors::FailureEvent& e) {
    ASSERT_TRUE(producer_->produce("vigil.failures", e.key(), e.toJson(), e.timestamp));
    ASSERT_TRUE(producer_->flush(seconds(10)));
  }

  std::unique_ptr<Process> start() {
    auto p = std::make_unique<Process>(
        std::vector<std::string>{vigilBinary(), "remediate", "--config", dir_.file("vigil.yaml")});
    const auto line = p->waitForErr("listening on", seconds(20));
    port_ = line ? std::stoi(line->substr(line->rfind(':') + 1)) : 0;
    EXPECT_GT(port_, 0);
    // Ready once the group assigned the failures topic and state is rebuilt.
    const auto deadline = std::chrono::steady_clock::now() + seconds(30);
    while (httpGet(port_, "/readyz").status != 200 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(100));
    }
    return p;
  }

  // Every outcome event so far (one reader for the test: joining a group per
  // read would cost seconds each), polling until `done` holds or 30 s pass.
  std::vector<json> outcomes(const std::function<bool(const std::vector<json>&)>& done) {
    if (!outcomes_reader_) {
      std::string error;
      outcomes_reader_ = stream::TopicReader::create({{"bootstrap.servers", broker_.bootstrap()}},
                                                     "vigil.outcomes", error);
      EXPECT_TRUE(outcomes_reader_) << error;
      if (!outcomes_reader_) return outcomes_;
    }
    std::vector<stream::TopicReader::Item> items;
    const auto deadline = std::chrono::steady_clock::now() + seconds(30);
    while (!done(outcomes_) && std::chrono::steady_clock::now() < deadline) {
      items.clear();
      outcomes_reader_->poll(items, milliseconds(200));
      for (const auto& item : items) outcomes_.push_back(json::parse(item.value));
    }
    return outcomes_;
  }

  static std::vector<std::string> statusesOf(const std::vector<json>& outcomes,
                                             const std::string& pipeline) {
    std::vector<std::string> out;
    for (const json& o : outcomes) {
      if (o["pipeline_id"] == pipeline)
        out.push_back(o["status"].get<std::string>() + ":" + o["action"].get<std::string>());
    }
    return out;
  }

  static HttpResult authorized(int port, const std::string& method, const std::string& path) {
    return httpRequest(port, method, path, {std::string("Authorization: Bearer ") + kToken});
  }
  static int post(int port, const std::string& path) {
    return authorized(port, "POST", path).status;
  }

  Broker broker_;
  TempDir dir_;
  Stubs stubs_;
  std::unique_ptr<stream::RecordProducer> producer_;
  std::unique_ptr<stream::TopicReader> outcomes_reader_;
  std::vector<json> outcomes_;
  int port_ = 0;
};

using detectors::EventStatus;
using detectors::FailureType;
using V = std::vector<std::string>;

// Low risk runs at once and is verified by the resolved event; medium waits
// for one approval among many concurrent ones; high never runs and pages,
// and the page resolves with the incident.
TEST_F(RemediateEndToEnd, ThreeTiers) {
  auto worker = start();

  send(event("etl_low", FailureType::kLatencySpike, EventStatus::kFiring, 0));
  const auto reruns = stubs_.waitFor("/rerun/etl_low", 1);
  ASSERT_EQ(reruns.size(), 1u);
  EXPECT_EQ(reruns[0].method, "POST");
  EXPECT_FALSE(reruns[0].headers.at("idempotency-key").empty());
  outcomes([](const auto& o) { return statusesOf(o, "etl_low").size() >= 1; });
  send(event("etl_low", FailureType::kLatencySpike, EventStatus::kResolved, 3));
  auto all = outcomes([](const auto& o) { return statusesOf(o, "etl_low").size() >= 3; });
  EXPECT_EQ(statusesOf(all, "etl_low"), (V{"executed:rerun", "verified:rerun", "resolved:rerun"}));

  send(event("etl_mid", FailureType::kVolumeDrop, EventStatus::kFiring, 0));
  outcomes([](const auto& o) { return statusesOf(o, "etl_mid").size() >= 1; });
  EXPECT_EQ(httpGet(port_, "/v1/approvals").status, 401) << "the token is required";
  const HttpResult list = authorized(port_, "GET", "/v1/approvals");
  ASSERT_EQ(list.status, 200) << list.body;
  const json approvals = json::parse(list.body)["approvals"];
  ASSERT_EQ(approvals.size(), 1u) << list.body;
  EXPECT_EQ(approvals[0]["action"], "rollback");
  const auto oldest = sampleValue(httpGet(port_, "/metrics").body,
                                  "vigil_remediation_approval_oldest_requested_timestamp_seconds");
  ASSERT_TRUE(oldest);
  EXPECT_EQ(detectors::formatRfc3339(detectors::timestampFromMillis(std::llround(*oldest * 1000))),
            approvals[0]["requested_at"])
      << "the gauge holds when the pending approval was requested";
  const std::string id = approvals[0]["id"];
  std::vector<std::future<int>> calls;
  for (int i = 0; i < 50; ++i) {
    calls.push_back(std::async(std::launch::async,
                               [&] { return post(port_, "/v1/approvals/" + id + "/approve"); }));
  }
  int ok = 0, conflict = 0;
  for (auto& c : calls) {
    const int status = c.get();
    ok += status == 200;
    conflict += status == 409;
  }
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(conflict, 49);
  EXPECT_EQ(stubs_.waitFor("/rollback/etl_mid", 1).size(), 1u);
  EXPECT_EQ(post(port_, "/v1/approvals/unknown/approve"), 404);

  send(event("etl_high", FailureType::kNullSpike, EventStatus::kFiring, 0));
  const auto pages = stubs_.waitFor("/v2/enqueue", 1);
  ASSERT_EQ(pages.size(), 1u);
  const json trigger = json::parse(pages[0].body);
  EXPECT_EQ(trigger["event_action"], "trigger");
  EXPECT_EQ(trigger["payload"]["custom_details"]["recommendation"],
            "run scale (high risk: not automated)");
  send(event("etl_high", FailureType::kNullSpike, EventStatus::kResolved, 4));
  const auto both = stubs_.waitFor("/v2/enqueue", 2);
  ASSERT_EQ(both.size(), 2u);
  const json resolve = json::parse(both[1].body);
  EXPECT_EQ(resolve["event_action"], "resolve");
  EXPECT_EQ(resolve["dedup_key"], trigger["dedup_key"]);
  EXPECT_TRUE(stubs_.requests("/scale").empty()) << "high risk is never executed";

  const std::string metrics = httpGet(port_, "/metrics").body;
  EXPECT_NE(
      metrics.find("vigil_remediation_outcomes_total{action=\"rerun\",status=\"verified\"} 1"),
      std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("vigil_remediation_time_to_verified_seconds_count 1"), std::string::npos);
  EXPECT_NE(metrics.find("vigil_remediation_incidents_closed_total{how=\"verified\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics.find("vigil_remediation_incidents_closed_total{how=\"escalated\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics.find("vigil_remediation_approvals_pending 0"), std::string::npos);
  EXPECT_EQ(sampleValue(metrics, "vigil_remediation_approval_oldest_requested_timestamp_seconds"),
            0.0);
  EXPECT_EQ(metrics.find(kRoutingKey), std::string::npos);
  EXPECT_EQ(metrics.find(kToken), std::string::npos);
  EXPECT_EQ(worker->terminate(), 0);
  const std::string logs = worker->drainErr();
  EXPECT_EQ(logs.find(kRoutingKey), std::string::npos) << "secrets never reach the logs";
}

// Killed after a step executed, a restarted worker rebuilds the incident from
// the outcomes topic: the step is not run again, and the resolved event
// verifies it.
TEST_F(RemediateEndToEnd, RestartMidPlaybookDoesNotRepeatAStep) {
  auto worker = start();
  send(event("etl_r", FailureType::kLatencySpike, EventStatus::kFiring, 0));
  outcomes([](const auto& o) { return statusesOf(o, "etl_r").size() >= 1; });
  worker->kill();
  worker = start();
  send(event("etl_r", FailureType::kLatencySpike, EventStatus::kResolved, 2));
  const auto all = outcomes([](const auto& o) { return statusesOf(o, "etl_r").size() >= 3; });
  EXPECT_EQ(statusesOf(all, "etl_r"), (V{"executed:rerun", "verified:rerun", "resolved:rerun"}));
  EXPECT_EQ(stubs_.requests("/rerun/etl_r").size(), 1u);
  EXPECT_EQ(worker->terminate(), 0);
}

// Killed at seeded random moments while incidents arrive (reliability test
// 7): every rerun has exactly one effect (one Idempotency-Key reaches the
// scheduler, however often it was sent), and every incident ends in exactly
// one resolved outcome.
TEST_F(RemediateEndToEnd, KilledAtRandomMomentsActsOncePerAttempt) {
  std::mt19937 rng(7);
  std::vector<std::string> pipelines;
  std::string logs;
  auto worker = start();
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < 2; ++i) {
      pipelines.push_back("etl_kill_" + std::to_string(round) + "_" + std::to_string(i));
      send(event(pipelines.back(), FailureType::kLatencySpike, EventStatus::kFiring, 0));
    }
    std::this_thread::sleep_for(milliseconds(rng() % 400));
    worker->kill();
    logs += "--- worker " + std::to_string(round) + "\n" + worker->drainErr();
    worker = start();
  }
  const auto executed = [&](const std::vector<json>& o) {
    return std::all_of(pipelines.begin(), pipelines.end(), [&](const std::string& p) {
      const auto s = statusesOf(o, p);
      return std::find(s.begin(), s.end(), "executed:rerun") != s.end();
    });
  };
  const auto so_far = outcomes(executed);
  if (!executed(so_far)) {
    for (const std::string& p : pipelines) {
      std::string statuses;
      for (const auto& st : statusesOf(so_far, p)) statuses += st + " ";
      ADD_FAILURE() << p << ": " << statuses << "; " << stubs_.requests("/rerun/" + p).size()
                    << " request(s)";
    }
    const auto raw = readTopic(broker_.bootstrap(), "vigil.outcomes",
                               [](const std::vector<std::string>& v) { return v.size() > 100; },
                               seconds(8));
    std::string dump;
    for (const auto& r : raw) dump += r.substr(0, 160) + "\n";
    FAIL() << "every incident's rerun should be recorded; " << so_far.size() << " outcomes read, "
           << raw.size() << " in the topic:\n" << dump << logs << "--- the last worker said:\n" << worker->drainErr() << "--- its metrics:\n"
           << httpGet(port_, "/metrics").body;
  }
  for (const std::string& p : pipelines) {
    send(event(p, FailureType::kLatencySpike, EventStatus::kResolved, 2));
  }
  const auto resolvedOnce = [&](const std::vector<json>& o, const std::string& p) {
    std::set<std::string> ids;
    for (const json& e : o) {
      if (e["pipeline_id"] == p && e["status"] == "resolved") ids.insert(e["outcome_id"].get<std::string>());
    }
    return ids.size();
  };
  const auto all = outcomes([&](const std::vector<json>& o) {
    return std::all_of(pipelines.begin(), pipelines.end(),
                       [&](const std::string& p) { return resolvedOnce(o, p) >= 1; });
  });
  for (const std::string& p : pipelines) {
    std::set<std::string> keys;
    for (const auto& call : stubs_.requests("/rerun/" + p)) keys.insert(call.headers.at("idempotency-key"));
    EXPECT_EQ(keys.size(), 1u) << p << ": " << stubs_.requests("/rerun/" + p).size() << " request(s)";
    EXPECT_EQ(resolvedOnce(all, p), 1u) << p;
  }
  EXPECT_EQ(worker->terminate(), 0);
}

// A kafka action produces the command message, acknowledged, to its topic.
TEST_F(RemediateEndToEnd, KafkaActionProducesACommand) {
  auto worker = start();
  send(event("etl_k", FailureType::kStaleData, EventStatus::kFiring, 0));
  const auto commands = readTopic(
      broker_.bootstrap(), "pipeline.commands",
      [](const std::vector<std::string>& v) { return !v.empty(); }, seconds(30));
  ASSERT_EQ(commands.size(), 1u);
  const json c = json::parse(commands[0]);
  EXPECT_EQ(c["schema"], "vigil.command.v1");
  EXPECT_EQ(c["action"], "notify");
  EXPECT_EQ(c["attempt"], 1);
  EXPECT_FALSE(c["idempotency_key"].get<std::string>().empty());
  EXPECT_EQ(c["event"]["pipeline_id"], "etl_k");
  EXPECT_EQ(c["event"]["failure_type"], "stale_data");
  const auto all = outcomes([](const auto& o) { return statusesOf(o, "etl_k").size() >= 1; });
  EXPECT_EQ(statusesOf(all, "etl_k"), (V{"executed:notify"}));
  EXPECT_EQ(worker->terminate(), 0);
}

// A failure event delivered twice (a detector restarted before committing)
// is one incident: the action runs once.
TEST_F(RemediateEndToEnd, RedeliveredFailureEventActsOnce) {
  auto worker = start();
  const auto firing = event("etl_dup", FailureType::kLatencySpike, EventStatus::kFiring, 0);
  send(firing);
  send(firing);
  outcomes([](const auto& o) { return statusesOf(o, "etl_dup").size() >= 1; });  // executed
  send(event("etl_dup", FailureType::kLatencySpike, EventStatus::kResolved, 2));
  const auto all = outcomes([](const auto& o) { return statusesOf(o, "etl_dup").size() >= 3; });
  EXPECT_EQ(statusesOf(all, "etl_dup"), (V{"executed:rerun", "verified:rerun", "resolved:rerun"}));
  send(firing);  // once more, after the incident closed
  std::this_thread::sleep_for(seconds(2));
  EXPECT_EQ(stubs_.requests("/rerun/etl_dup").size(), 1u);
  EXPECT_EQ(worker->terminate(), 0);
}

// Shadow mode decides and records every step and the escalation, and runs
// nothing: no request reaches any stub.
TEST_F(RemediateEndToEnd, ShadowModeRunsNothing) {
  dir_.write("vigil.yaml", configText(broker_.bootstrap(), stubs_.port(), dir_, "shadow"));
  auto worker = start();
  send(event("etl_s", FailureType::kLatencySpike, EventStatus::kFiring, 0));
  send(event("etl_s2", FailureType::kVolumeDrop, EventStatus::kFiring, 0));
  const auto all = outcomes([](const auto& o) {
    return statusesOf(o, "etl_s").size() >= 2 && statusesOf(o, "etl_s2").size() >= 2;
  });
  EXPECT_EQ(statusesOf(all, "etl_s"), (V{"skipped_shadow:rerun", "skipped_shadow:page"}));
  EXPECT_EQ(statusesOf(all, "etl_s2"), (V{"skipped_shadow:rollback", "skipped_shadow:page"}));
  EXPECT_TRUE(stubs_.requests("/").empty());
  EXPECT_EQ(worker->terminate(), 0);
}

}  // namespace
}  // namespace vigil::testing
