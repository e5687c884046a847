#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "app/cli.h"
#include "app/commands.h"
#include "app/gen.h"
#include "app/signals.h"
#include "app/stubs.h"
#include "common/log.h"
#include "remediation/approvals_api.h"
#include "remediation/command_executor.h"
#include "remediation/http_executor.h"
#include "remediation/pagerduty_executor.h"
#include "remediation/remediate_service.h"
#include "remediation/remediation_probe.h"
#include "stream/detect_service.h"
#include "stream/embedded_broker.h"
#include "stream/stream_probe.h"
#include "stream/system_clock.h"
#include "stream/topic_reader.h"

namespace vigil::app {
namespace {

using std::chrono::seconds;
using std::chrono::steady_clock;

constexpr const char* kTopic = "orders.events";
constexpr const char* kFailures = "vigil.failures";
constexpr const char* kOutcomes = "vigil.outcomes";
constexpr auto kTrafficFor = seconds(80);
constexpr const char* kToken = "demo-approvals-token";
constexpr const char* kRoutingKey = "demo0routing0key0000000000000000";

// One fault of each kind, one after the other, each on its own pipeline.
// A fault with a fix ("rerun", "rollback") lasts until the stub scheduler
// receives that call for its pipeline; the others run their length.
struct DemoFault {
  FaultKind kind;
  const char* pipeline;
  seconds at;
  seconds length;
  const char* expect;  // the failure_type it must produce
  const char* what;
  const char* fixed_by;  // the scheduler call that ends it, or nullptr
};
constexpr DemoFault kFaults[] = {
    {FaultKind::kLatencySpike, "etl_orders_01", seconds(12), seconds(30), "latency_spike",
     "latency x10 on etl_orders_01 (until a rerun)", "rerun"},
    // 6 s: stale after 4 s, and back before its 8 s window empties below 60 rows.
    {FaultKind::kStall, "etl_orders_02", seconds(24), seconds(6), "stale_data",
     "etl_orders_02 stops producing", nullptr},
    {FaultKind::kVolumeDrop, "etl_orders_03", seconds(36), seconds(30), "volume_drop",
     "etl_orders_03 drops to 10 % of its rows (until a rollback)", "rollback"},
    {FaultKind::kNullBurst, "etl_orders_01", seconds(54), seconds(8), "null_spike",
     "40 % of user_id/amount null on etl_orders_01", nullptr},
    {FaultKind::kNewField, "etl_orders_04", seconds(66), seconds(6), "schema_drift",
     "a new field discount_code on etl_orders_04", nullptr},
};

// The worker's configuration: a rerun (low risk) for latency, a rollback
// (medium: needs an approval) for volume drops, a scale-out (high: never
// automated) for null spikes; PagerDuty for escalations.
remediation::RemediateSpec demoRemediation(const ServiceStubs& stubs) {
  using remediation::ActionSpec;
  using remediation::ActionType;
  using remediation::Risk;
  const auto http = [&](const char* name, Risk risk) {
    ActionSpec a;
    a.name = name;
    a.type = ActionType::kHttp;
    a.risk = risk;
    a.url = stubs.url(std::string("/") + name + "/{pipeline_id}");
    a.timeout = seconds(5);
    return a;
  };
  ActionSpec page;
  page.name = "page";
  page.type = ActionType::kPagerDuty;
  page.routing_key = kRoutingKey;
  page.url = stubs.url("/v2/enqueue");
  page.timeout = seconds(5);
  remediation::RemediateSpec spec;
  spec.outcomes_topic = kOutcomes;
  spec.failures_topic = kFailures;
  spec.group_id = "vigil-demo-remediate";
  spec.api_token = kToken;
  spec.approval_ttl = seconds(60);
  spec.actions = {http("rerun", Risk::kLow), http("rollback", Risk::kMedium),
                  http("scale", Risk::kHigh), page};
  const auto playbook = [](const char* type, const char* action) {
    remediation::Playbook p;
    p.failure_types = {type};
    p.steps = {{action, 0, seconds(5), seconds(25)}};
    p.escalate = "page";
    return p;
  };
  spec.playbooks = {playbook("latency_spike", "rerun"), playbook("volume_drop", "rollback"),
                    playbook("null_spike", "scale")};
  return spec;
}

// "worker  executed rerun on orders/etl_orders_01 (attempt 1): HTTP 200 in 3ms"
std::string describeOutcome(const nlohmann::json& o) {
  std::string line = o.value("status", "");
  const std::string action = o.value("action", "");
  const nlohmann::json detail = o.value("detail", nlohmann::json::object());
  if (!action.empty()) line += " " + action;
  line += " on " + o.value("dataset", "") + "/" + o.value("pipeline_id", "") + " (" +
          o.value("failure_type", "") + ", risk " + o.value("risk", "") + ")";
  if (detail.contains("result") && detail["result"].is_object()) {
    line += ": " + detail["result"].value("detail", "");
  } else if (detail.contains("result") && detail["result"].is_string()) {
    line += ": " + detail["result"].get<std::string>();
  } else if (detail.contains("reason")) {
    line += ": " + detail["reason"].get<std::string>();
  }
  if (detail.contains("approval_id"))
    line += " [approval " + detail["approval_id"].get<std::string>() + "]";
  return line;
}

detectors::DatasetSpec demoDataset() {
  detectors::DatasetSpec d;
  d.name = "orders";
  d.topic = kTopic;
  d.series_key = "pipeline_id";
  d.event_time = "ts";
  d.window = seconds(8);
  d.step = seconds(2);
  d.latency = detectors::LatencySpec{"latency_ms", detectors::LatencyUnit::kMilliseconds,
                                     std::nullopt, seconds(1), std::nullopt};
  d.freshness = detectors::FreshnessSpec{seconds(4)};
  d.volume = detectors::VolumeSpec{std::nullopt, 60.0, std::nullopt, std::nullopt};
  d.nulls = detectors::NullsSpec{{"user_id", "amount"}, 0.1, std::nullopt};
  d.schema = detectors::SchemaSpec{{"user_id", "amount"}, true};
  d.alert.severity = detectors::Severity::kError;
  return d;
}

// Prints timeline lines, "t+12.3s  who  what", from any thread.
class Timeline {
 public:
  Timeline() : start_(steady_clock::now()) {}
  void line(const char* who, const std::string& what) {
    const double t = std::chrono::duration<double>(steady_clock::now() - start_).count();
    std::lock_guard lock(mutex_);
    std::printf("  t+%5.1fs  %-7s %s\n", t, who, what.c_str());
    std::fflush(stdout);
  }

 private:
  steady_clock::time_point start_;
  std::mutex mutex_;
};

std::string join(const nlohmann::json& list) {
  std::string out;
  for (const auto& v : list) out += (out.empty() ? "" : ",") + v.get<std::string>();
  return out.empty() ? "-" : out;
}

// "FIRING   latency_spike  orders/etl_orders_01  p99 1.84s > 1s (612 samples)"
std::string describeEvent(const nlohmann::json& e) {
  const bool firing = e.value("status", "") == "firing";
  const std::string type = e.value("failure_type", "");
  const auto ctx = e.value("context", nlohmann::json::object());
  const double v = e.value("actual_value", 0.0);
  const double bound = e.value("threshold", 0.0);
  char value[200];
  if (type == "latency_spike") {
    std::snprintf(value, sizeof value, "%s %.2fs %s %.2gs",
                  e.value("metric", "").substr(8, 3).c_str(), v, firing ? ">" : "<=", bound);
  } else if (type == "stale_data") {
    std::snprintf(value, sizeof value, "newest record %.1fs old %s %.0fs", v,
                  firing ? ">" : "<=", bound);
  } else if (type == "volume_drop" || type == "volume_spike") {
    std::snprintf(value, sizeof value, "%.0f rows in window %s %.0f", v,
                  (type == "volume_drop") == firing ? "<" : ">=", bound);
  } else if (type == "null_spike") {
    std::snprintf(value, sizeof value, "%s null in %.1f%% of records %s %.0f%%",
                  ctx.value("field", "").c_str(), v * 100, firing ? ">" : "<=", bound * 100);
  } else {
    std::snprintf(value, sizeof value, "missing %s, added %s, changed %s",
                  join(ctx.value("missing", nlohmann::json::array())).c_str(),
                  join(ctx.value("added", nlohmann::json::array())).c_str(),
                  join(ctx.value("changed", nlohmann::json::array())).c_str());
  }
  char line[512];
  std::snprintf(line, sizeof line, "%s %-13s %s/%s  %s  [%s]", firing ? "FIRING  " : "RESOLVED",
                type.c_str(), e.value("dataset", "").c_str(), e.value("pipeline_id", "").c_str(),
                value, e.value("event_id", "").c_str());
  return line;
}

}  // namespace

int runDemo(int argc, char** argv) {
  std::string error;
  if (!Args::parse(argc, argv, 2, {}, error)) {
    std::fprintf(stderr, "vigil demo: %s (demo takes no options)\n", error.c_str());
    return kExitUsage;
  }
  if (std::getenv("VIGIL_LOG_LEVEL") == nullptr) log::setLevel(log::Level::kWarn);
  installStopSignals();

  auto broker = stream::EmbeddedBroker::start(1, error);
  if (!broker || !broker->createTopic(kTopic, 3, error) ||
      !broker->createTopic(kFailures, 1, error) || !broker->createTopic(kOutcomes, 1, error)) {
    std::fprintf(stderr, "vigil demo: cannot start the embedded broker: %s\n", error.c_str());
    return kExitRuntime;
  }
  const stream::KafkaProperties kafka{{"bootstrap.servers", broker->bootstrapServers()}};
  const std::vector<detectors::DatasetSpec> datasets{demoDataset()};

  Timeline timeline;
  // Faults end when the stub scheduler receives their fix.
  std::map<std::string, std::shared_ptr<std::atomic<bool>>> fixes;  // "rerun/etl_orders_01"
  for (const DemoFault& f : kFaults) {
    if (f.fixed_by)
      fixes[std::string(f.fixed_by) + "/" + f.pipeline] =
          std::make_shared<std::atomic<bool>>(false);
  }
  auto stubs = ServiceStubs::start(
      kRoutingKey,
      [&](const ServiceStubs::Call& call) {
        if (call.path == "/v2/enqueue") {
          const auto j = nlohmann::json::parse(call.body, nullptr, false);
          timeline.line("pager", "PagerDuty " + j.value("event_action", std::string("?")) +
                                     " dedup_key " + j.value("dedup_key", std::string("?")));
          return;
        }
        const std::string job = call.path.substr(1);
        const auto fix = fixes.find(job);
        timeline.line("sched",
                      "job " + job + " started" + (fix != fixes.end() ? ": the fault ends" : ""));
        if (fix != fixes.end()) fix->second->store(true, std::memory_order_release);
      },
      error);
  if (!stubs) {
    std::fprintf(stderr, "vigil demo: cannot start the local stubs: %s\n", error.c_str());
    return kExitRuntime;
  }

  std::printf(
      "vigil demo: embedded Kafka broker at %s; dataset \"orders\" on %s, 4 pipelines,\n"
      "~200 records/s. Checks over a sliding 8 s window, evaluated every 2 s: p99 latency <= 1s,\n"
      "newest record <= 4s old, >= 60 rows per window, <= 10 %% nulls in user_id/amount, no\n"
      "schema drift. One fault of each kind is injected. The worker reruns a slow pipeline (low\n"
      "risk), rolls back a short one once the demo approves it through the API (medium), and\n"
      "pages for a null spike whose fix (scale, high risk) it never runs. A local scheduler stub\n"
      "ends a fault when its fix arrives; a PagerDuty stub takes the pages.\n\n",
      broker->bootstrapServers().c_str(), kTopic);

  std::atomic<bool> stop_detect{false};
  std::atomic<bool> stop_gen{false};
  std::atomic<bool> stop_worker{false};

  stream::StreamProbe probe({"orders"});
  stream::SystemClock clock;
  stream::DetectService service(
      {kafka, stream::DetectSpec{"vigil-demo", kFailures, 2, "", "", {}}, datasets}, clock, probe);
  int detect_rc = 0;
  std::thread detect([&] { detect_rc = service.run(stop_detect); });

  const remediation::RemediateSpec remediate = demoRemediation(*stubs);
  std::vector<std::string> action_names;
  for (const auto& a : remediate.actions) action_names.push_back(a.name);
  remediation::RemediationProbe worker_probe(action_names);
  remediation::HttpExecutor http_executor;
  remediation::PagerDutyExecutor pagerduty_executor;
  remediation::RemediateService worker(
      {kafka, remediate}, clock, worker_probe,
      {{remediation::ActionType::kHttp, &http_executor},
       {remediation::ActionType::kPagerDuty, &pagerduty_executor}});
  auto api = http::HttpServer::start(
      "remediate", "127.0.0.1:0",
      [&](const http::Request& r) {
        return remediation::handleApprovals(r, kToken, worker)
            .value_or(http::Response::text(404, "not found\n"));
      },
      error);
  if (!api) {
    std::fprintf(stderr, "vigil demo: cannot start the approvals API: %s\n", error.c_str());
    return kExitRuntime;
  }
  int worker_rc = 0;
  std::thread remediate_thread([&] { worker_rc = worker.run(stop_worker); });

  TelemetryGenerator::Options options;
  options.rate = 200;
  options.pipelines = 4;
  options.seed = 7;
  options.start = clock.now();
  options.duration = kTrafficFor;
  std::map<std::string, std::string> fault_text;
  for (const DemoFault& f : kFaults) {
    const std::string spec = std::string(faultKindName(f.kind)) + ":" + f.pipeline;
    FaultSpec fault{f.kind, f.pipeline, f.at, f.length, spec, nullptr};
    if (f.fixed_by) fault.cut = fixes.at(std::string(f.fixed_by) + "/" + f.pipeline);
    options.faults.push_back(fault);
    fault_text[spec] = f.what;
  }
  timeline.line("gen", "traffic starts");
  std::int64_t delivered = 0;
  std::thread gen([&] {
    delivered = produceTelemetry(
        kafka, datasets, options, true, stop_gen, [&](const FaultSpec& f, bool started) {
          timeline.line("gen",
                        std::string(started ? "fault:   " : "ends:    ") + fault_text[f.text]);
        });
    timeline.line("gen", "traffic ends");
  });

  auto failures = stream::TopicReader::create(kafka, kFailures, error);
  auto outcomes = stream::TopicReader::create(kafka, kOutcomes, error);
  std::set<std::pair<std::string, std::string>> seen;           // (failure_type, status)
  std::set<std::pair<std::string, std::string>> outcomes_seen;  // (failure_type, status:action)
  std::size_t events = 0, outcome_count = 0;
  const auto deadline = steady_clock::now() + kTrafficFor + seconds(4);
  std::vector<stream::TopicReader::Item> items;
  while (failures && outcomes && steady_clock::now() < deadline && !stopRequested().load()) {
    items.clear();
    failures->poll(items, std::chrono::milliseconds(100));
    for (const auto& item : items) {
      const auto e = nlohmann::json::parse(item.value, nullptr, false);
      if (e.is_discarded() || !e.is_object()) continue;
      ++events;
      seen.emplace(e.value("failure_type", ""), e.value("status", ""));
      timeline.line("detect", describeEvent(e));
    }
    items.clear();
    outcomes->poll(items, std::chrono::milliseconds(100));
    for (const auto& item : items) {
      const auto o = nlohmann::json::parse(item.value, nullptr, false);
      if (o.is_discarded() || !o.is_object()) continue;
      ++outcome_count;
      const std::string status = o.value("status", "");
      outcomes_seen.emplace(o.value("failure_type", ""), status + ":" + o.value("action", ""));
      timeline.line("worker", describeOutcome(o));
      if (status == "pending_approval") {
        // A human would look at the evidence; the demo approves through the API.
        const std::string id = o["detail"].value("approval_id", "");
        const auto response = remediation::postJson(
            "http://127.0.0.1:" + std::to_string(api->port()) + "/v1/approvals/" + id + "/approve",
            R"({"by":"demo","comment":"looked at the evidence"})",
            {{"Authorization", std::string("Bearer ") + kToken}}, seconds(5));
        timeline.line(
            "demo", "POST /v1/approvals/" + id + "/approve -> " + std::to_string(response.status));
      }
    }
  }
  stop_gen.store(true);
  gen.join();
  stop_detect.store(true);
  detect.join();
  stop_worker.store(true);
  remediate_thread.join();

  std::printf("\n%lld records produced, %zu failure events on %s, %zu outcome events on %s.\n",
              static_cast<long long>(delivered), events, kFailures, outcome_count, kOutcomes);
  bool all = detect_rc == 0 && worker_rc == 0;
  for (const DemoFault& f : kFaults) {
    const bool fired = seen.count({f.expect, "firing"}) > 0;
    const bool resolved = seen.count({f.expect, "resolved"}) > 0;
    std::printf("  %-14s fired: %-3s resolved: %s\n", f.expect, fired ? "yes" : "NO",
                resolved ? "yes" : "NO");
    all = all && fired && resolved;
  }
  // The three tiers, end to end.
  const auto has = [&](const char* type, const char* what) {
    return outcomes_seen.count({type, what}) > 0;
  };
  const bool low = has("latency_spike", "executed:rerun") && has("latency_spike", "verified:rerun");
  const bool medium =
      has("volume_drop", "pending_approval:rollback") && has("volume_drop", "approved:rollback") &&
      has("volume_drop", "executed:rollback") && has("volume_drop", "verified:rollback");
  const bool high = has("null_spike", "escalated:scale") && has("null_spike", "escalated:page") &&
                    stubs->calls("/scale").empty() && stubs->calls("/v2/enqueue").size() >= 2;
  std::printf("  low risk (rerun):        executed and verified: %s\n", low ? "yes" : "NO");
  std::printf("  medium risk (rollback):  approved, executed and verified: %s\n",
              medium ? "yes" : "NO");
  std::printf("  high risk (scale):       never run, paged and the page resolved: %s\n",
              high ? "yes" : "NO");
  all = all && low && medium && high;
  if (all) {
    std::printf(
        "Every fault was detected and resolved; the worker fixed, approved, verified and paged.\n"
        "Next: `make test`.\n");
    return kExitOk;
  }
  std::printf(
      "vigil demo: expected every fault to fire and resolve and every tier to play out; "
      "some did not.\n");
  return kExitRuntime;
}

}  // namespace vigil::app
