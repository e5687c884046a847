#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "app/cli.h"
#include "app/commands.h"
#include "app/gen.h"
#include "app/signals.h"
#include "common/log.h"
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
constexpr auto kTrafficFor = seconds(80);

// One fault of each kind, one after the other, each on its own pipeline.
struct DemoFault {
  FaultKind kind;
  const char* pipeline;
  seconds at;
  seconds length;
  const char* expect;  // the failure_type it must produce
  const char* what;
};
constexpr DemoFault kFaults[] = {
    {FaultKind::kLatencySpike, "etl_orders_01", seconds(12), seconds(6), "latency_spike",
     "latency x10 on etl_orders_01"},
    {FaultKind::kStall, "etl_orders_02", seconds(24), seconds(8), "stale_data",
     "etl_orders_02 stops producing"},
    {FaultKind::kVolumeDrop, "etl_orders_03", seconds(38), seconds(10), "volume_drop",
     "etl_orders_03 drops to 10 % of its rows"},
    {FaultKind::kNullBurst, "etl_orders_01", seconds(54), seconds(6), "null_spike",
     "40 % of user_id/amount null on etl_orders_01"},
    {FaultKind::kNewField, "etl_orders_04", seconds(66), seconds(6), "schema_drift",
     "a new field discount_code on etl_orders_04"},
};

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
    std::snprintf(value, sizeof value, "%s %.2fs %s %.2gs", e.value("metric", "").substr(8, 3).c_str(),
                  v, firing ? ">" : "<=", bound);
  } else if (type == "stale_data") {
    std::snprintf(value, sizeof value, "newest record %.1fs old %s %.0fs", v, firing ? ">" : "<=",
                  bound);
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
      !broker->createTopic(kFailures, 1, error)) {
    std::fprintf(stderr, "vigil demo: cannot start the embedded broker: %s\n", error.c_str());
    return kExitRuntime;
  }
  const stream::KafkaProperties kafka{{"bootstrap.servers", broker->bootstrapServers()}};
  const std::vector<detectors::DatasetSpec> datasets{demoDataset()};

  std::printf(
      "vigil demo: embedded Kafka broker at %s; dataset \"orders\" on %s, 4 pipelines,\n"
      "~200 records/s. Checks over a sliding 8 s window, evaluated every 2 s: p99 latency <= 1s,\n"
      "newest record <= 4s old, >= 60 rows per window, <= 10 %% nulls in user_id/amount, no\n"
      "schema drift. One fault of each kind is injected; failure events are read back from %s.\n\n",
      broker->bootstrapServers().c_str(), kTopic, kFailures);

  Timeline timeline;
  std::atomic<bool> stop_detect{false};
  std::atomic<bool> stop_gen{false};

  stream::StreamProbe probe({"orders"});
  stream::SystemClock clock;
  stream::DetectService service(
      {kafka, stream::DetectSpec{"vigil-demo", kFailures, 2, "", "", {}}, datasets}, clock, probe);
  int detect_rc = 0;
  std::thread detect([&] { detect_rc = service.run(stop_detect); });

  TelemetryGenerator::Options options;
  options.rate = 200;
  options.pipelines = 4;
  options.seed = 7;
  options.start = clock.now();
  options.duration = kTrafficFor;
  std::map<std::string, std::string> fault_text;
  for (const DemoFault& f : kFaults) {
    const std::string spec = std::string(faultKindName(f.kind)) + ":" + f.pipeline;
    options.faults.push_back(FaultSpec{f.kind, f.pipeline, f.at, f.length, spec});
    fault_text[spec] = f.what;
  }
  timeline.line("gen", "traffic starts");
  std::int64_t delivered = 0;
  std::thread gen([&] {
    delivered = produceTelemetry(kafka, datasets, options, true, stop_gen,
                                 [&](const FaultSpec& f, bool started) {
                                   timeline.line("gen", std::string(started ? "fault:   " : "ends:    ") +
                                                            fault_text[f.text]);
                                 });
    timeline.line("gen", "traffic ends");
  });

  auto reader = stream::TopicReader::create(kafka, kFailures, error);
  std::set<std::pair<std::string, std::string>> seen;  // (failure_type, status)
  std::size_t events = 0;
  const auto deadline = steady_clock::now() + kTrafficFor + seconds(4);
  std::vector<stream::TopicReader::Item> items;
  while (reader && steady_clock::now() < deadline && !stopRequested().load()) {
    items.clear();
    reader->poll(items, std::chrono::milliseconds(200));
    for (const auto& item : items) {
      const auto e = nlohmann::json::parse(item.value, nullptr, false);
      if (e.is_discarded() || !e.is_object()) continue;
      ++events;
      seen.emplace(e.value("failure_type", ""), e.value("status", ""));
      timeline.line("detect", describeEvent(e));
    }
  }
  stop_gen.store(true);
  gen.join();
  stop_detect.store(true);
  detect.join();

  std::printf("\n%lld records produced, %zu failure events on %s.\n",
              static_cast<long long>(delivered), events, kFailures);
  bool all = detect_rc == 0;
  for (const DemoFault& f : kFaults) {
    const bool fired = seen.count({f.expect, "firing"}) > 0;
    const bool resolved = seen.count({f.expect, "resolved"}) > 0;
    std::printf("  %-14s fired: %-3s resolved: %s\n", f.expect, fired ? "yes" : "NO",
                resolved ? "yes" : "NO");
    all = all && fired && resolved;
  }
  if (all) {
    std::printf("Every fault was detected and its resolution seen. Next: `make test`.\n");
    return kExitOk;
  }
  std::printf("vigil demo: expected every fault to fire and resolve; some did not.\n");
  return kExitRuntime;
}

}  // namespace vigil::app
