// Feeds the input, as the text of a configuration file, to app::parseConfig, twice: as
// `check-config` and `replay` read it (no section required) and as `detect` reads it (detect and
// datasets required). Neither reads a file: secrets are read only for required kafka and
// remediate sections, which are never required here. Beyond "no crash" it checks:
//  - a result has a config exactly when it has no problem; each problem names a key path and
//    prints on one line (no control characters);
//  - parsing is deterministic, and requiring more sections never accepts more: every problem
//    found with none required is found with detect's;
//  - a loaded configuration holds what validation promises (dataset names unique, window a
//    multiple of step within 10,000 steps, lateness within the window, every check bounded,
//    actions referenced by playbooks exist, escalations are low risk, templates hold only
//    known placeholders);
//  - it can be used: each dataset's decode plan builds a decoder that accepts a record written
//    for that dataset, and its name can be carried by a failure event that remediate parses.

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "app/config.h"
#include "detectors/failure_event.h"
#include "detectors/observation.h"
#include "fuzz/check.h"
#include "remediation/events.h"
#include "remediation/placeholders.h"
#include "stream/decoder.h"

namespace {

using vigil::app::ConfigResult;
using vigil::detectors::DatasetSpec;
using vigil::detectors::Timestamp;

// Every relative *_file path would resolve here; none is read (see above).
constexpr const char* kBaseDir = "/nonexistent/vigil-fuzz";
constexpr std::size_t kMaxDatasetsDecoded = 4;

std::vector<std::string> formatted(const ConfigResult& r) {
  std::vector<std::string> out;
  for (const auto& p : r.problems) out.push_back(p.format());
  return out;
}

void checkShape(const ConfigResult& r) {
  FUZZ_CHECK(r.config.has_value() == r.problems.empty());
  for (const auto& p : r.problems) {
    FUZZ_CHECK(!p.path.empty() && !p.message.empty(), p.format());
    const std::string line = p.format();
    FUZZ_CHECK(
        std::none_of(line.begin(), line.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }),
        "a problem spans more than one line: " + line);
  }
}

// A record carrying every field the dataset's checks read, with a usable value in each.
std::string recordFor(const DatasetSpec& spec) {
  nlohmann::json record = nlohmann::json::object();
  if (spec.nulls) {
    for (const auto& field : spec.nulls->fields) record[field] = 1;
  }
  if (spec.volume && spec.volume->count_field) record[*spec.volume->count_field] = 3;
  if (spec.latency && spec.latency->field) record[*spec.latency->field] = 12;
  if (spec.series_key) record[*spec.series_key] = "etl_orders_01";
  if (spec.event_time) record[*spec.event_time] = "2025-01-15T14:32:00Z";
  try {
    return record.dump();
  } catch (const nlohmann::json::exception&) {
    FUZZ_CHECK(false, "a field name that is not UTF-8 was accepted");
  }
  return {};
}

void checkDataset(const DatasetSpec& spec, bool decode) {
  FUZZ_CHECK(!spec.name.empty() && !spec.topic.empty());
  FUZZ_CHECK(spec.step.count() > 0 && spec.window >= spec.step);
  FUZZ_CHECK(spec.window.count() % spec.step.count() == 0);
  FUZZ_CHECK(spec.window / spec.step <= 10000);
  FUZZ_CHECK(spec.lateness().count() >= 0 && spec.lateness() <= spec.window);
  FUZZ_CHECK(spec.max_record_bytes >= 1 && spec.max_series >= 1);
  FUZZ_CHECK(spec.latency || spec.freshness || spec.volume || spec.nulls || spec.schema);
  if (spec.latency) {
    FUZZ_CHECK(spec.latency->p95_max || spec.latency->p99_max || spec.latency->adaptive);
  }
  if (spec.freshness) FUZZ_CHECK(spec.freshness->max_age.count() > 0);
  if (spec.volume) {
    FUZZ_CHECK(spec.volume->min || spec.volume->max || spec.volume->adaptive);
    if (spec.volume->min && spec.volume->max) FUZZ_CHECK(*spec.volume->min <= *spec.volume->max);
  }
  if (spec.nulls) {
    FUZZ_CHECK(!spec.nulls->fields.empty() && spec.nulls->fields.size() <= 32);
    FUZZ_CHECK(spec.nulls->max_rate || spec.nulls->adaptive);
  }

  // The dataset's name, in a failure event as remediate reads it.
  vigil::detectors::FailureEvent event;
  event.dataset = spec.name;
  event.pipeline_id = spec.name;
  event.failure_type = vigil::detectors::FailureType::kStaleData;
  std::string error;
  const auto received = vigil::remediation::parseFailureEvent(event.toJson(), error);
  FUZZ_CHECK(received && received->event.dataset == spec.name,
             "dataset name unusable in a failure event: " + error);

  if (!decode) return;
  const auto plan = vigil::stream::DecodePlan::fromSpec(spec);
  FUZZ_CHECK(plan.null_fields.size() == (spec.nulls ? spec.nulls->fields.size() : 0));
  FUZZ_CHECK(plan.max_record_bytes == spec.max_record_bytes);
  vigil::stream::Decoder decoder(plan);
  const std::string record = recordFor(spec);
  vigil::detectors::Observation obs;
  vigil::stream::DecodeNotes notes;
  const Timestamp kafka_time = vigil::detectors::timestampFromMillis(1736951525000);
  const auto reason = decoder.decode(record, kafka_time, obs, notes);
  if (record.size() <= spec.max_record_bytes) {
    FUZZ_CHECK(!reason, "a record written for the dataset is rejected: " + record + ": " +
                            std::string(vigil::stream::reasonName(*reason)));
    FUZZ_CHECK(obs.null_mask == 0, record);
  } else {
    FUZZ_CHECK(reason == vigil::stream::InvalidReason::kTooLarge);
  }
}

void checkTemplate(const std::string& text) {
  FUZZ_CHECK(vigil::remediation::unknownPlaceholders(text).empty(), text);
}

void checkRemediate(const vigil::remediation::RemediateSpec& spec) {
  std::set<std::string> actions;
  std::set<std::string> low_risk;
  for (const auto& a : spec.actions) {
    FUZZ_CHECK(!a.name.empty() && actions.insert(a.name).second, a.name);
    if (a.risk == vigil::remediation::Risk::kLow) low_risk.insert(a.name);
    FUZZ_CHECK(a.timeout.count() > 0);
    checkTemplate(a.url);
    for (const auto& [name, value] : a.headers) checkTemplate(value);
    if (a.body) checkTemplate(*a.body);
    for (const auto& arg : a.argv) checkTemplate(arg);
    if (a.type == vigil::remediation::ActionType::kCommand) FUZZ_CHECK(!a.argv.empty());
  }
  for (const auto& p : spec.playbooks) {
    FUZZ_CHECK(!p.steps.empty() || p.escalate);
    for (const auto& step : p.steps) FUZZ_CHECK(actions.count(step.action) == 1, step.action);
    if (p.escalate) FUZZ_CHECK(low_risk.count(*p.escalate) == 1, *p.escalate);
  }
  if (spec.default_escalation) {
    FUZZ_CHECK(low_risk.count(*spec.default_escalation) == 1, *spec.default_escalation);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const unsigned strict = vigil::app::kDetectSection | vigil::app::kDatasetsSection;

  const ConfigResult lax = vigil::app::parseConfig(text, 0, kBaseDir);
  const ConfigResult detect = vigil::app::parseConfig(text, strict, kBaseDir);
  checkShape(lax);
  checkShape(detect);
  FUZZ_CHECK(formatted(vigil::app::parseConfig(text, 0, kBaseDir)) == formatted(lax),
             "parsing the same text twice gave different problems");

  const std::vector<std::string> lax_problems = formatted(lax);
  const std::vector<std::string> detect_problems = formatted(detect);
  for (const auto& p : lax_problems) {
    FUZZ_CHECK(
        std::find(detect_problems.begin(), detect_problems.end(), p) != detect_problems.end(),
        "found without requirements but not with detect's: " + p);
  }
  if (detect.config) FUZZ_CHECK(lax.config.has_value());
  if (!lax.config) return 0;

  std::set<std::string> names;
  for (std::size_t i = 0; i < lax.config->datasets.size(); ++i) {
    const DatasetSpec& spec = lax.config->datasets[i];
    FUZZ_CHECK(names.insert(spec.name).second, "duplicate dataset " + spec.name);
    checkDataset(spec, i < kMaxDatasetsDecoded);
  }
  FUZZ_CHECK(lax.config->detect.threads <= 1024);
  checkRemediate(lax.config->remediate);
  return 0;
}
