// Decoder throughput: the per-record cost every Kafka message pays before any detector runs.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <string_view>

#include "detectors/observation.h"
#include "detectors/time.h"
#include "stream/decoder.h"

namespace vigil::stream {
namespace {

// A typical record: three wanted fields among eight, an RFC 3339 event time, 155 bytes.
constexpr std::string_view kRecord =
    R"({"pipeline_id":"etl_orders_07","ts":"2025-01-15T14:32:00.123Z","latency_ms":153.2,)"
    R"("rows":1200,"user_id":"u-8812","amount":19.99,"status":"ok","region":"eu-west-1"})";

// The same record with an epoch-millisecond event time, the other common producer choice.
constexpr std::string_view kEpochRecord =
    R"({"pipeline_id":"etl_orders_07","ts":1736951520123,"latency_ms":153.2,)"
    R"("rows":1200,"user_id":"u-8812","amount":19.99,"status":"ok","region":"eu-west-1"})";

DecodePlan benchPlan() {
  DecodePlan plan;
  plan.dataset = "orders";
  plan.series_key = "pipeline_id";
  plan.event_time = "ts";
  plan.latency_field = "latency_ms";
  plan.latency_scale = 1e-3;
  return plan;
}

void decodeLoop(benchmark::State& state, std::string_view record) {
  Decoder decoder(benchPlan());
  const detectors::Timestamp kafka_time = detectors::timestampFromMillis(1736951525000);
  detectors::Observation obs;
  DecodeNotes notes;
  for (auto _ : state) {
    auto reason = decoder.decode(record, kafka_time, obs, notes);
    benchmark::DoNotOptimize(reason);
    benchmark::DoNotOptimize(obs);
  }
  if (decoder.decode(record, kafka_time, obs, notes).has_value()) {
    state.SkipWithError("benchmark record did not decode");
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(record.size()));
}

void BM_DecodeRecordRfc3339(benchmark::State& state) { decodeLoop(state, kRecord); }
BENCHMARK(BM_DecodeRecordRfc3339);

void BM_DecodeRecordEpochMillis(benchmark::State& state) { decodeLoop(state, kEpochRecord); }
BENCHMARK(BM_DecodeRecordEpochMillis);

}  // namespace
}  // namespace vigil::stream

BENCHMARK_MAIN();
