// Feeds the input, as one Kafka record value, to stream::Decoder under three plans, and as a
// bare string to stream::parseRfc3339. Beyond "no crash" it checks:
//  - a decode depends on the value only: decoding it again after other records gives the same
//    result, so nothing of an earlier record leaks through the reused buffers;
//  - the verdict agrees with an independent JSON parser (nlohmann's): valid JSON nested at most
//    64 deep is never invalid_json, deeper or invalid JSON is never accepted;
//  - an accepted record's Observation holds: event time within [1970, 10000), the Kafka
//    timestamp when the plan has no event_time field, latency finite and non-negative, volume 1
//    or a finite non-negative count, no null-mask bit beyond the configured fields, field types
//    that are single JSON type bits;
//  - its series and field names can be carried by a failure event that the remediation worker
//    parses back to the same names (so detect never emits an event remediate rejects);
//  - a time parseRfc3339 accepts is formatted back to the same instant.

#include <simdjson.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "detectors/failure_event.h"
#include "detectors/observation.h"
#include "detectors/schema.h"
#include "detectors/time.h"
#include "fuzz/check.h"
#include "remediation/events.h"
#include "stream/decoder.h"

namespace {

using vigil::detectors::Observation;
using vigil::detectors::Timestamp;
using vigil::stream::DecodeNotes;
using vigil::stream::DecodePlan;
using vigil::stream::Decoder;
using vigil::stream::InvalidReason;

constexpr std::size_t kMaxDepth = 64;  // stream/decoder.cc

Timestamp utc(int y, unsigned mo, unsigned d) {
  return Timestamp{std::chrono::sys_days{std::chrono::year{y} / mo / d}};
}
const Timestamp kKafkaTime = utc(2025, 1, 15) + std::chrono::hours(14) + std::chrono::seconds(5);
const Timestamp kMinEventTime = utc(1970, 1, 1);
const Timestamp kEndEventTime = utc(10000, 1, 1);

// The record of the README's examples: every role has its own field, schema tracked.
DecodePlan fullPlan() {
  DecodePlan plan;
  plan.dataset = "orders";
  plan.series_key = "pipeline_id";
  plan.event_time = "ts";
  plan.latency_field = "latency_ms";
  plan.latency_scale = 1e-3;
  plan.count_field = "rows";
  plan.null_fields = {"user_id", "amount", "pipeline_id"};
  plan.track_fields = true;
  plan.max_record_bytes = 8192;
  return plan;
}

// No series key, the Kafka timestamp as event time, latency derived from it, and the most nulls
// fields a plan can have.
DecodePlan kafkaTimePlan() {
  DecodePlan plan;
  plan.dataset = "clicks";
  plan.derived_latency = true;
  plan.null_fields.push_back("user_id");
  for (int i = 1; i < static_cast<int>(DecodePlan::kMaxNullFields); ++i) {
    plan.null_fields.push_back("f" + std::to_string(i));
  }
  plan.max_record_bytes = 8192;
  return plan;
}

// One key in every role, and a small size limit.
DecodePlan sharedKeyPlan() {
  DecodePlan plan;
  plan.dataset = "shared";
  plan.series_key = "id";
  plan.event_time = "id";
  plan.latency_field = "id";
  plan.latency_scale = 1.0;
  plan.count_field = "id";
  plan.null_fields = {"id"};
  plan.track_fields = true;
  plan.max_record_bytes = 256;
  return plan;
}

// What a decode produced, copied out of the decoder's buffers.
struct Outcome {
  std::optional<InvalidReason> reason;
  std::string series;
  Timestamp event_time;
  std::optional<double> latency_seconds;
  double volume = 0;
  std::uint32_t null_mask = 0;
  bool latency_wrong_type = false;
  bool count_wrong_type = false;
  std::vector<std::pair<std::string, std::uint8_t>> fields;

  bool operator==(const Outcome& o) const {
    const bool same_latency = latency_seconds.has_value() == o.latency_seconds.has_value() &&
                              (!latency_seconds || *latency_seconds == *o.latency_seconds);
    if (reason != o.reason) return false;
    if (reason) return true;  // the rest is unspecified for a rejected record
    return series == o.series && event_time == o.event_time && same_latency && volume == o.volume &&
           null_mask == o.null_mask && latency_wrong_type == o.latency_wrong_type &&
           count_wrong_type == o.count_wrong_type && fields == o.fields;
  }
};

// A record of exactly `size` bytes of `fill` after an opening, valid UTF-8 but not JSON: decoded
// before the input, it overwrites the whole buffer, so what the input finds there is fixed.
std::string filler(std::size_t size, std::string_view opening, char fill) {
  std::string s(opening);
  s.resize(size, fill);
  return s;
}

struct Lane {
  explicit Lane(DecodePlan p)
      : decoder(p),
        before(filler(p.max_record_bytes, R"({"pipeline_id":")", '"')),
        between(filler(p.max_record_bytes, R"({"id":[)", '\\')) {}

  Outcome decode(std::string_view value) {
    Observation obs;
    DecodeNotes notes;
    Outcome out;
    out.reason = decoder.decode(value, kKafkaTime, obs, notes);
    if (out.reason) return out;
    out.series = std::string(obs.series);
    out.event_time = obs.event_time;
    out.latency_seconds = obs.latency_seconds;
    out.volume = obs.volume;
    out.null_mask = obs.null_mask;
    out.latency_wrong_type = notes.latency_wrong_type;
    out.count_wrong_type = notes.count_wrong_type;
    for (const auto& f : notes.fields) out.fields.emplace_back(std::string(f.name), f.type);
    return out;
  }

  Decoder decoder;
  std::string before;
  std::string between;
};

bool validUtf8(std::string_view s) { return simdjson::validate_utf8(s.data(), s.size()); }

// Depth of the deepest container, via nlohmann's SAX interface (no DOM).
struct DepthSax : nlohmann::json_sax<nlohmann::json> {
  std::size_t depth = 0;
  std::size_t max_depth = 0;
  bool open() {
    max_depth = std::max(max_depth, ++depth);
    return true;
  }
  bool close() {
    --depth;
    return true;
  }
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return open(); }
  bool key(string_t&) override { return true; }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(); }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    // 406: a well-formed number beyond double range, which JSON allows and nlohmann refuses.
    out_of_range = e.id == 406;
    return false;
  }
  bool out_of_range = false;
};

std::string describe(const Outcome& o) {
  return o.reason ? "rejected: " + std::string(vigil::stream::reasonName(*o.reason))
                  : "accepted: series " + o.series;
}

void checkAgainstReferenceParser(std::string_view value, const DecodePlan& plan,
                                 const Outcome& out) {
  if (value.empty() || value.size() > plan.max_record_bytes || !validUtf8(value)) return;
  // A byte order mark: nlohmann skips it, the decoder refuses it; RFC 8259 allows both.
  if (value.starts_with("\xEF\xBB\xBF")) return;
  // A NUL byte is never JSON (a control character, in a string or out of it), but nlohmann
  // takes it for the end of the input.
  if (value.find('\0') != std::string_view::npos) {
    FUZZ_CHECK(out.reason == InvalidReason::kInvalidJson, "a NUL byte accepted: " + describe(out));
    return;
  }
  DepthSax sax;
  const bool valid = nlohmann::json::sax_parse(value.begin(), value.end(), &sax,
                                               nlohmann::json::input_format_t::json,
                                               /*strict=*/true, /*ignore_comments=*/false);
  const bool says_invalid = out.reason == InvalidReason::kInvalidJson;
  if (sax.out_of_range) return;  // nothing known about the rest
  if (valid && sax.max_depth <= kMaxDepth) {
    FUZZ_CHECK(!says_invalid, "valid JSON rejected as invalid_json");
  } else if (valid) {
    FUZZ_CHECK(says_invalid, "JSON nested beyond 64 " + describe(out));
  } else if (value.find("\\u") == std::string_view::npos) {
    // Strings the plan does not read are not unescaped, so an escaped lone surrogate in one of
    // them (well-formed JSON that nlohmann refuses) passes by design; without any \u escape the
    // two parsers must agree.
    FUZZ_CHECK(says_invalid, "invalid JSON " + describe(out));
  }
}

void checkObservation(const DecodePlan& plan, const Outcome& out) {
  FUZZ_CHECK(out.event_time >= kMinEventTime && out.event_time < kEndEventTime);
  if (!plan.event_time) FUZZ_CHECK(out.event_time == kKafkaTime);
  if (!plan.series_key) FUZZ_CHECK(out.series == plan.dataset);
  if (out.latency_seconds) {
    FUZZ_CHECK(std::isfinite(*out.latency_seconds) && *out.latency_seconds >= 0);
    FUZZ_CHECK(!out.latency_wrong_type);
  }
  if (plan.derived_latency) FUZZ_CHECK(out.latency_seconds.has_value());
  if (!plan.latency_field) FUZZ_CHECK(!out.latency_wrong_type);
  FUZZ_CHECK(std::isfinite(out.volume) && out.volume >= 0);
  if (!plan.count_field) FUZZ_CHECK(out.volume == 1 && !out.count_wrong_type);
  if (out.count_wrong_type) FUZZ_CHECK(out.volume == 0);
  FUZZ_CHECK(plan.null_fields.size() == 32 || (out.null_mask >> plan.null_fields.size()) == 0,
             "null mask beyond the configured fields");
  if (!plan.track_fields) FUZZ_CHECK(out.fields.empty());
  for (const auto& [name, type] : out.fields) {
    FUZZ_CHECK(type != 0 && (type & (type - 1)) == 0 && type <= vigil::detectors::kJsonObject);
  }

  // What detect would emit about this series, as remediate reads it.
  vigil::detectors::FailureEvent event;
  event.dataset = plan.dataset;
  event.pipeline_id = out.series;
  event.failure_type = vigil::detectors::FailureType::kSchemaDrift;
  event.timestamp = event.window_start = event.window_end = out.event_time;
  for (const auto& field : out.fields) event.added.push_back(field.first);
  const std::string json = event.toJson();
  std::string error;
  const auto received = vigil::remediation::parseFailureEvent(json, error);
  FUZZ_CHECK(received.has_value(),
             "event about series rejected by remediate: " + error + ": " + json);
  FUZZ_CHECK(received->event.pipeline_id == out.series);
  FUZZ_CHECK(received->event.added == event.added);
  FUZZ_CHECK(received->event.timestamp == out.event_time);
}

void checkRfc3339(std::string_view text) {
  const auto t = vigil::stream::parseRfc3339(text);
  if (!t) return;
  // Offsets move a date by at most a day either side of years 0000..9999.
  FUZZ_CHECK(*t >= utc(-1, 12, 31) && *t < utc(10000, 1, 2));
  if (*t < kMinEventTime || *t >= kEndEventTime) return;
  const std::string formatted = vigil::detectors::formatRfc3339(*t);
  const auto again = vigil::stream::parseRfc3339(formatted);
  FUZZ_CHECK(again == t, formatted);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Lane lanes[] = {Lane(fullPlan()), Lane(kafkaTimePlan()), Lane(sharedKeyPlan())};
  const std::string_view value(reinterpret_cast<const char*>(data), size);
  for (Lane& lane : lanes) {
    const DecodePlan& plan = lane.decoder.plan();
    (void)lane.decode(lane.before);
    const Outcome first = lane.decode(value);
    (void)lane.decode(lane.between);
    const Outcome second = lane.decode(value);
    FUZZ_CHECK(first == second, "decode depends on earlier records: " + describe(first) + " then " +
                                    describe(second));
    checkAgainstReferenceParser(value, plan, first);
    if (!first.reason) checkObservation(plan, first);
  }
  checkRfc3339(value);
  return 0;
}
