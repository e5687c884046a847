#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
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
constexpr auto kTrafficFor = seconds(45);
constexpr auto kSpikeAt = seconds(15);
constexpr auto kSpikeFor = seconds(10);

detectors::DatasetSpec demoDataset() {
  detectors::DatasetSpec d;
  d.name = "orders";
  d.topic = kTopic;
  d.series_key = "pipeline_id";
  d.event_time = "ts";
  d.window = seconds(10);
  d.step = seconds(2);
  detectors::LatencySpec latency;
  latency.field = "latency_ms";
  latency.unit = detectors::LatencyUnit::kMilliseconds;
  latency.p99_max = seconds(1);
  d.latency = latency;
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
    std::printf("  t+%5.1fs  %-8s %s\n", t, who, what.c_str());
    std::fflush(stdout);
  }

 private:
  steady_clock::time_point start_;
  std::mutex mutex_;
};

std::string describeEvent(const nlohmann::json& e) {
  char buf[512];
  const bool firing = e.value("status", "") == "firing";
  const auto& ctx = e.value("context", nlohmann::json::object());
  std::snprintf(buf, sizeof buf, "%s %s %s/%s: %s = %.2fs %s bound %.2fs (%llu samples, window %s..%s) id %s",
                firing ? "FIRING  " : "RESOLVED", e.value("failure_type", "").c_str(),
                e.value("dataset", "").c_str(), e.value("pipeline_id", "").c_str(),
                e.value("metric", "").c_str(), e.value("actual_value", 0.0), firing ? ">" : "<=",
                e.value("threshold", 0.0),
                static_cast<unsigned long long>(ctx.value("sample_count", 0ULL)),
                e["window"].value("start", "").substr(11, 8).c_str(),
                e["window"].value("end", "").substr(11, 8).c_str(),
                e.value("event_id", "").c_str());
  return buf;
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

  std::printf("vigil demo: an embedded Kafka broker at %s, one dataset \"orders\" on %s\n",
              broker->bootstrapServers().c_str(), kTopic);
  std::printf("  4 pipelines, ~200 records/s, lognormal latencies; check: p99 latency <= 1s over a\n"
              "  sliding 10s window, evaluated every 2s; a 10x latency spike is injected into\n"
              "  etl_orders_01 at t+15s for 10s. Failure events are read back from %s.\n\n",
              kFailures);

  Timeline timeline;
  std::atomic<bool> stop_detect{false};
  std::atomic<bool> stop_gen{false};

  stream::StreamProbe probe({"orders"});
  stream::SystemClock clock;
  stream::DetectService service({kafka, stream::DetectSpec{"vigil-demo", kFailures, 2, "", "", {}},
                                 datasets},
                                clock, probe);
  int detect_rc = 0;
  std::thread detect([&] { detect_rc = service.run(stop_detect); });

  TelemetryGenerator::Options options;
  options.rate = 200;
  options.pipelines = 4;
  options.seed = 7;
  options.start = clock.now();
  options.duration = kTrafficFor;
  options.faults.push_back(FaultSpec{FaultKind::kLatencySpike, std::nullopt, kSpikeAt, kSpikeFor,
                                     "latency_spike@15s+10s"});
  timeline.line("gen", "traffic starts: 4 pipelines of dataset orders");
  std::int64_t delivered = 0;
  std::thread gen([&] {
    delivered = produceTelemetry(kafka, datasets, options, true, stop_gen,
                                 [&](const FaultSpec&, bool started) {
                                   timeline.line("gen", std::string(started ? "fault begins: " : "fault ends:   ") +
                                                            "latency x10 on etl_orders_01");
                                 });
    timeline.line("gen", "traffic ends");
  });

  auto reader = stream::TopicReader::create(kafka, kFailures, error);
  int firing = 0;
  int resolved = 0;
  const auto deadline = steady_clock::now() + kTrafficFor + seconds(10);
  std::vector<stream::TopicReader::Item> items;
  while (reader && steady_clock::now() < deadline && !stopRequested().load()) {
    items.clear();
    reader->poll(items, std::chrono::milliseconds(200));
    for (const auto& item : items) {
      const auto e = nlohmann::json::parse(item.value, nullptr, false);
      if (e.is_discarded()) continue;
      (e.value("status", "") == "firing" ? firing : resolved)++;
      timeline.line("detect", describeEvent(e));
    }
    if (resolved > 0 && steady_clock::now() > deadline - seconds(10)) break;
  }
  stop_gen.store(true);
  gen.join();
  stop_detect.store(true);
  detect.join();

  std::printf("\n%lld records produced; %d firing and %d resolved failure event(s) on %s.\n",
              static_cast<long long>(delivered), firing, resolved, kFailures);
  if (firing >= 1 && resolved >= 1 && detect_rc == 0) {
    std::printf("The spike was detected and its resolution seen. Next: `make test`.\n");
    return kExitOk;
  }
  std::printf("vigil demo: expected the spike to fire and resolve; it did not.\n");
  return kExitRuntime;
}

}  // namespace vigil::app
