#include "app/gen.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "app/cli.h"
#include "app/commands.h"
#include "app/config_command.h"
#include "app/signals.h"
#include "common/log.h"
#include "stream/decoder.h"
#include "stream/record_producer.h"
#include "stream/system_clock.h"

namespace vigil::app {
namespace {

constexpr std::string_view kLog = "gen";

// Reports fault starts and ends as event time passes them.
class FaultClock {
 public:
  FaultClock(const TelemetryGenerator::Options& options,
             const std::function<void(const FaultSpec&, bool)>& on_fault)
      : options_(options), on_fault_(on_fault), started_(options.faults.size()),
        ended_(options.faults.size()) {}

  void advance(detectors::Timestamp t) {
    if (!on_fault_) return;
    for (std::size_t i = 0; i < options_.faults.size(); ++i) {
      const FaultSpec& f = options_.faults[i];
      const auto from = options_.start + f.start;
      if (!started_[i] && t >= from) {
        started_[i] = true;
        on_fault_(f, true);
      }
      if (started_[i] && !ended_[i] && (t >= from + f.length || f.isCut())) {
        ended_[i] = true;
        on_fault_(f, false);
      }
    }
  }

 private:
  const TelemetryGenerator::Options& options_;
  const std::function<void(const FaultSpec&, bool)>& on_fault_;
  std::vector<bool> started_, ended_;
};

}  // namespace

std::int64_t produceTelemetry(const stream::KafkaProperties& kafka,
                              const std::vector<detectors::DatasetSpec>& datasets,
                              const TelemetryGenerator::Options& options, bool paced,
                              const std::atomic<bool>& stop,
                              const std::function<void(const FaultSpec&, bool)>& on_fault) {
  std::string error;
  auto producer = stream::RecordProducer::create(kafka, error);
  if (!producer) {
    VIGIL_LOG(kError, kLog) << error;
    return -1;
  }
  TelemetryGenerator generator(datasets, options);
  FaultClock faults(options, on_fault);
  const auto wall_start = std::chrono::steady_clock::now();
  std::uint64_t produced = 0;
  while (!stop.load(std::memory_order_relaxed)) {
    auto record = generator.next();
    if (!record) break;
    if (paced) {
      const auto due = wall_start + (record->event_time - options.start);
      while (std::chrono::steady_clock::now() < due && !stop.load(std::memory_order_relaxed)) {
        producer->poll();
        std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
            due - std::chrono::steady_clock::now(), std::chrono::milliseconds(20)));
      }
    }
    faults.advance(record->event_time);
    if (!producer->produce(datasets[record->dataset].topic, record->key, record->value,
                           record->kafka_time)) {
      return -1;
    }
    if (++produced % 1024 == 0) producer->poll();
  }
  faults.advance(options.start + options.duration);
  if (!producer->flush(std::chrono::seconds(30)) || producer->failed() > 0) {
    VIGIL_LOG(kError, kLog) << producer->failed() << " record(s) not delivered";
    return -1;
  }
  return static_cast<std::int64_t>(producer->delivered());
}

int runGen(int argc, char** argv) {
  std::string error;
  const auto args = Args::parse(
      argc, argv, 2,
      {"config", "rate", "duration", "fault", "pipelines", "seed", "start", "output", "topic"},
      error);
  if (!args) {
    std::fprintf(stderr, "vigil gen: %s\n", error.c_str());
    return kExitUsage;
  }
  const auto output = args->get("output");
  const auto config =
      loadForCommand("gen", *args, kDatasetsSection | (output ? 0u : unsigned{kKafkaSection}));
  if (!config) return kExitUsage;

  auto usage = [](const std::string& message) {
    std::fprintf(stderr, "vigil gen: %s\n", message.c_str());
    return kExitUsage;
  };
  TelemetryGenerator::Options options;
  try {
    if (const auto v = args->get("rate")) options.rate = std::stod(*v);
    if (const auto v = args->get("pipelines")) options.pipelines = std::stoi(*v);
    if (const auto v = args->get("seed")) options.seed = std::stoull(*v);
  } catch (const std::exception&) {
    return usage("--rate, --pipelines and --seed take numbers");
  }
  if (!(options.rate >= 0.01) || options.rate > 10e6) {
    return usage("--rate: expected 0.01 <= N <= 10000000 records/s");
  }
  if (options.pipelines < 1 || options.pipelines > 100000) {
    return usage("--pipelines: expected 1..100000");
  }
  if (const auto v = args->get("duration")) {
    const auto d = parseDuration(*v);
    if (!d || d->count() <= 0) return usage("--duration: expected a duration like 60s");
    options.duration = *d;
  }
  for (const std::string& f : args->all("fault")) {
    auto fault = parseFault(f, error);
    if (!fault) return usage("--fault: " + error);
    options.faults.push_back(*fault);
  }
  stream::SystemClock clock;
  bool paced = true;
  options.start = clock.now();
  if (const auto v = args->get("start")) {
    const auto t = stream::parseRfc3339(*v);
    if (!t) return usage("--start: expected an RFC 3339 time like 2025-01-15T14:00:00Z");
    options.start = *t;
    paced = false;
  }
  std::vector<detectors::DatasetSpec> datasets;
  for (const auto& d : config->datasets) {
    if (!args->has("topic") || d.topic == *args->get("topic")) datasets.push_back(d);
  }
  if (datasets.empty()) return usage("no dataset reads topic \"" + *args->get("topic") + "\"");

  if (output) {
    if (datasets.size() != 1) return usage("--output writes one topic: pick it with --topic");
    std::ofstream out(*output, std::ios::trunc | std::ios::binary);
    if (!out) {
      VIGIL_LOG(kError, kLog) << "cannot write " << *output;
      return kExitRuntime;
    }
    TelemetryGenerator generator(datasets, options);
    std::uint64_t n = 0;
    while (auto record = generator.next()) {
      out << record->value << '\n';
      ++n;
    }
    if (!out.flush()) {
      VIGIL_LOG(kError, kLog) << "cannot write " << *output;
      return kExitRuntime;
    }
    VIGIL_LOG(kInfo, kLog) << "wrote " << n << " record(s) to " << *output;
    return kExitOk;
  }

  installStopSignals();
  VIGIL_LOG(kInfo, kLog) << "producing about " << options.rate << " records/s per dataset for "
                         << std::chrono::duration_cast<std::chrono::seconds>(options.duration).count()
                         << "s" << (paced ? " in real time" : " as fast as possible") << " from "
                         << detectors::formatRfc3339(options.start);
  const auto delivered = produceTelemetry(
      config->kafka, datasets, options, paced, stopRequested(), [](const FaultSpec& f, bool started) {
        VIGIL_LOG(kInfo, kLog) << "fault " << f.text << (started ? " begins" : " ends");
      });
  if (delivered < 0) return kExitRuntime;
  VIGIL_LOG(kInfo, kLog) << "delivered " << delivered << " record(s)";
  return kExitOk;
}

}  // namespace vigil::app
