#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include "detectors/dataset_spec.h"
#include "detectors/time.h"

namespace vigil::app {

// The faults `vigil gen` can inject (SPEC §1).
enum class FaultKind { kLatencySpike, kStall, kVolumeDrop, kNullBurst, kNewField };
std::string_view faultKindName(FaultKind kind);

// KIND[:PIPELINE]@START+LEN, times relative to the start of generation.
// Without PIPELINE the fault hits the first pipeline of each dataset; `*` hits all.
struct FaultSpec {
  FaultKind kind = FaultKind::kLatencySpike;
  std::optional<std::string> pipeline;
  detectors::Duration start{};
  detectors::Duration length{};
  std::string text;  // as written, for messages
  // Set from another thread to end the fault early, as a fix would (the
  // demo's stub scheduler does). Null: the fault runs its length.
  std::shared_ptr<std::atomic<bool>> cut;

  bool isCut() const { return cut && cut->load(std::memory_order_acquire); }
};
std::optional<FaultSpec> parseFault(std::string_view text, std::string& error);

struct GeneratedRecord {
  std::size_t dataset = 0;  // index into the datasets given to the generator
  std::string key;          // the pipeline id
  std::string value;        // one JSON object
  detectors::Timestamp event_time;
  detectors::Timestamp kafka_time;  // event time plus the record's end-to-end lag
};

// Synthetic pipeline telemetry, deterministic for a seed: per dataset, several
// pipelines with skewed shares of the traffic; arrivals are Poisson with bursts
// (each pipeline alternates calm stretches with short bursts at 4x its rate);
// latencies are lognormal around a per-pipeline median; row counts lognormal;
// nullable fields are rarely null. Faults reshape one pipeline for a while:
// latency x10, no records (stall), 10 % of the volume, 40 % nulls, a new field.
// Records come out in event-time order across all datasets. Not thread-safe.
class TelemetryGenerator {
 public:
  struct Options {
    double rate = 100;  // records per second per dataset, on average
    int pipelines = 4;
    std::uint64_t seed = 1;
    detectors::Timestamp start;
    detectors::Duration duration{std::chrono::minutes(1)};
    std::vector<FaultSpec> faults;
  };

  TelemetryGenerator(std::vector<detectors::DatasetSpec> datasets, Options options);

  // The next record, or nullopt once the duration has passed.
  std::optional<GeneratedRecord> next();

  // The pipeline ids of a dataset, in order.
  const std::vector<std::string>& pipelines(std::size_t dataset) const;
  // True when `fault` applies to that pipeline (by name or by default).
  bool targets(const FaultSpec& fault, std::size_t dataset, std::size_t pipeline) const;

 private:
  struct Stream {
    std::size_t dataset;
    std::size_t pipeline;
    double base_rate;         // records/s
    double latency_median_s;  // seconds
    bool bursting = false;
    detectors::Timestamp burst_switch;  // when the burst state flips next
  };
  struct Arrival {
    detectors::Timestamp at;
    std::size_t stream;
    bool operator>(const Arrival& o) const {
      return at > o.at || (at == o.at && stream > o.stream);
    }
  };

  bool active(FaultKind kind, const Stream& s, detectors::Timestamp t) const;
  void schedule(std::size_t stream, detectors::Timestamp after);
  std::string render(const Stream& s, detectors::Timestamp t, double latency_s);

  std::vector<detectors::DatasetSpec> datasets_;
  Options options_;
  std::vector<std::vector<std::string>> pipelines_;
  std::vector<Stream> streams_;
  std::priority_queue<Arrival, std::vector<Arrival>, std::greater<>> arrivals_;
  std::mt19937_64 rng_;
  std::uint64_t sequence_ = 0;
};

}  // namespace vigil::app
