#include "app/telemetry.h"

#include <charconv>
#include <cmath>

#include "app/config.h"

namespace vigil::app {
namespace {

using detectors::Duration;
using detectors::Timestamp;

constexpr double kBurstFactor = 4.0;
constexpr double kCalmMeanSeconds = 30.0;
constexpr double kBurstMeanSeconds = 4.0;
constexpr double kLatencySigma = 0.35;
constexpr double kSpikeFactor = 10.0;
constexpr double kDropFactor = 0.1;
constexpr double kNullRate = 0.002;
constexpr double kNullBurstRate = 0.4;

// Long-run average of the burst multiplier, so `rate` is the average rate.
constexpr double kMeanBurstMultiplier =
    1.0 + (kBurstFactor - 1.0) * kBurstMeanSeconds / (kCalmMeanSeconds + kBurstMeanSeconds);

Duration seconds(double s) { return Duration{static_cast<std::int64_t>(std::llround(s * 1000.0))}; }

void appendNumber(std::string& out, double v) {
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, ec == std::errc{} ? end : buf);
}

void appendField(std::string& out, std::string_view name) {
  if (out.size() > 1) out.push_back(',');
  out.push_back('"');
  out.append(name);
  out.append("\":");
}

void appendString(std::string& out, std::string_view s) {
  out.push_back('"');
  out.append(s);
  out.push_back('"');
}

}  // namespace

std::string_view faultKindName(FaultKind kind) {
  switch (kind) {
    case FaultKind::kLatencySpike: return "latency_spike";
    case FaultKind::kStall: return "stall";
    case FaultKind::kVolumeDrop: return "volume_drop";
    case FaultKind::kNullBurst: return "null_burst";
    case FaultKind::kNewField: return "new_field";
  }
  return "unknown";
}

std::optional<FaultSpec> parseFault(std::string_view text, std::string& error) {
  FaultSpec fault;
  fault.text = std::string(text);
  const auto at = text.find('@');
  const auto plus = text.find('+', at == std::string_view::npos ? 0 : at);
  if (at == std::string_view::npos || plus == std::string_view::npos) {
    error = "expected KIND[:PIPELINE]@START+LEN, got \"" + std::string(text) + "\"";
    return std::nullopt;
  }
  std::string_view kind = text.substr(0, at);
  if (const auto colon = kind.find(':'); colon != std::string_view::npos) {
    fault.pipeline = std::string(kind.substr(colon + 1));
    kind = kind.substr(0, colon);
  }
  bool known = false;
  for (const FaultKind k : {FaultKind::kLatencySpike, FaultKind::kStall, FaultKind::kVolumeDrop,
                            FaultKind::kNullBurst, FaultKind::kNewField}) {
    if (kind == faultKindName(k)) {
      fault.kind = k;
      known = true;
    }
  }
  if (!known) {
    error = "unknown fault \"" + std::string(kind) +
            "\" (latency_spike, stall, volume_drop, null_burst, new_field)";
    return std::nullopt;
  }
  const auto start = parseDuration(text.substr(at + 1, plus - at - 1));
  const auto length = parseDuration(text.substr(plus + 1));
  if (!start || !length || length->count() <= 0) {
    error = "fault \"" + std::string(text) + "\": START and LEN are durations like 30s";
    return std::nullopt;
  }
  fault.start = *start;
  fault.length = *length;
  return fault;
}

TelemetryGenerator::TelemetryGenerator(std::vector<detectors::DatasetSpec> datasets,
                                       Options options)
    : datasets_(std::move(datasets)), options_(std::move(options)), rng_(options_.seed) {
  const int n = std::max(1, options_.pipelines);
  double weight_sum = 0;
  for (int i = 0; i < n; ++i) weight_sum += 1.0 / std::pow(i + 1, 0.7);
  std::lognormal_distribution<double> median_jitter(0.0, 0.3);
  for (std::size_t d = 0; d < datasets_.size(); ++d) {
    pipelines_.emplace_back();
    for (int i = 0; i < n; ++i) {
      char name[96];
      std::snprintf(name, sizeof name, "etl_%s_%02d", datasets_[d].name.c_str(), i + 1);
      pipelines_[d].push_back(name);
      const double share = (1.0 / std::pow(i + 1, 0.7)) / weight_sum;
      Stream s{d, static_cast<std::size_t>(i), options_.rate * share / kMeanBurstMultiplier,
               0.08 * (1.0 + 0.5 * i) * median_jitter(rng_)};
      std::exponential_distribution<double> calm(1.0 / kCalmMeanSeconds);
      s.burst_switch = options_.start + seconds(calm(rng_));
      streams_.push_back(s);
      schedule(streams_.size() - 1, options_.start);
    }
  }
}

const std::vector<std::string>& TelemetryGenerator::pipelines(std::size_t dataset) const {
  return pipelines_.at(dataset);
}

bool TelemetryGenerator::targets(const FaultSpec& fault, std::size_t dataset,
                                 std::size_t pipeline) const {
  if (!fault.pipeline) return pipeline == 0;
  return *fault.pipeline == "*" || *fault.pipeline == pipelines_.at(dataset).at(pipeline);
}

bool TelemetryGenerator::active(FaultKind kind, const Stream& s, Timestamp t) const {
  for (const FaultSpec& f : options_.faults) {
    if (f.kind != kind || f.isCut() || !targets(f, s.dataset, s.pipeline)) continue;
    const Timestamp from = options_.start + f.start;
    if (t >= from && t < from + f.length) return true;
  }
  return false;
}

void TelemetryGenerator::schedule(std::size_t index, Timestamp after) {
  Stream& s = streams_[index];
  Timestamp t = after;
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const Timestamp end = options_.start + options_.duration;
  for (;;) {
    if (t >= end) return;  // nothing more to schedule for this stream
    double rate = s.base_rate * (s.bursting ? kBurstFactor : 1.0);
    if (active(FaultKind::kVolumeDrop, s, t)) rate *= kDropFactor;
    const double u = std::max(unit(rng_), 1e-12);
    const Timestamp candidate = t + std::max(Duration{1}, seconds(-std::log(u) / rate));
    if (candidate < s.burst_switch) {
      arrivals_.push({candidate, index});
      return;
    }
    // The burst state flips before the next arrival: arrivals are memoryless,
    // so continue from the flip at the new rate.
    t = s.burst_switch;
    s.bursting = !s.bursting;
    std::exponential_distribution<double> stay(1.0 /
                                               (s.bursting ? kBurstMeanSeconds : kCalmMeanSeconds));
    s.burst_switch = t + std::max(Duration{1}, seconds(stay(rng_)));
  }
}

std::optional<GeneratedRecord> TelemetryGenerator::next() {
  const Timestamp end = options_.start + options_.duration;
  while (!arrivals_.empty()) {
    const Arrival a = arrivals_.top();
    if (a.at >= end) return std::nullopt;
    arrivals_.pop();
    schedule(a.stream, a.at);
    const Stream& s = streams_[a.stream];
    if (active(FaultKind::kStall, s, a.at)) continue;

    std::normal_distribution<double> normal(0.0, 1.0);
    double latency = s.latency_median_s * std::exp(kLatencySigma * normal(rng_));
    if (active(FaultKind::kLatencySpike, s, a.at)) latency *= kSpikeFactor;

    GeneratedRecord r;
    r.dataset = s.dataset;
    r.key = pipelines_[s.dataset][s.pipeline];
    r.event_time = a.at;
    r.kafka_time = datasets_[s.dataset].event_time ? a.at + seconds(latency) : a.at;
    r.value = render(s, a.at, latency);
    return r;
  }
  return std::nullopt;
}

std::string TelemetryGenerator::render(const Stream& s, Timestamp t, double latency_s) {
  const detectors::DatasetSpec& spec = datasets_[s.dataset];
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::string out = "{";
  out.reserve(256);
  appendField(out, spec.series_key.value_or("pipeline_id"));
  appendString(out, pipelines_[s.dataset][s.pipeline]);
  if (spec.event_time) {
    appendField(out, *spec.event_time);
    appendString(out, detectors::formatRfc3339(t));
  }
  if (spec.latency && spec.latency->field) {
    const double in_unit = latency_s / detectors::secondsPer(spec.latency->unit);
    appendField(out, *spec.latency->field);
    appendNumber(out, std::round(in_unit * 1000.0) / 1000.0);
  }
  const std::string rows_field =
      spec.volume && spec.volume->count_field ? *spec.volume->count_field : "rows";
  std::lognormal_distribution<double> rows(std::log(1000.0), 0.25);
  appendField(out, rows_field);
  appendNumber(out, std::round(rows(rng_)));

  const double null_rate = active(FaultKind::kNullBurst, s, t) ? kNullBurstRate : kNullRate;
  std::vector<std::string> nullable = {"user_id", "amount"};
  if (spec.nulls) nullable = spec.nulls->fields;
  for (const std::string& field : nullable) {
    appendField(out, field);
    if (unit(rng_) < null_rate) {
      out.append("null");
    } else if (field == "amount") {
      appendNumber(out, std::round(unit(rng_) * 20000.0) / 100.0);
    } else {
      appendString(out, "u-" + std::to_string(1000 + (sequence_ * 7919) % 9000));
    }
  }
  if (spec.schema) {
    for (const std::string& field : spec.schema->required) {
      if (out.find("\"" + field + "\":") != std::string::npos) continue;
      appendField(out, field);
      appendString(out, "x");
    }
  }
  appendField(out, "status");
  appendString(out, unit(rng_) < 0.01 ? "retry" : "ok");
  appendField(out, "region");
  appendString(out, s.pipeline % 2 == 0 ? "eu-west-1" : "us-east-1");
  if (active(FaultKind::kNewField, s, t)) {
    appendField(out, "discount_code");
    appendString(out, "SPRING25");
  }
  out.push_back('}');
  ++sequence_;
  return out;
}

}  // namespace vigil::app
