// Feeds the input, as one message of the failures topic, to remediation::parseFailureEvent.
// Beyond "no crash" it checks:
//  - a rejection says why;
//  - an accepted event has its required members (event_id, dataset, pipeline_id non-empty);
//  - it survives a round trip: written again with FailureEvent::toJson() (the detector's own
//    writer) it parses to the same event, and that event writes the same text (a fixed point);
//    the id of the written event is the event's own eventId();
//  - its evidence survives the round trip through evidenceJson() and readEvidence(), the form in
//    which the worker records it in outcomes and rebuilds it after a restart.

#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "detectors/failure_event.h"
#include "fuzz/check.h"
#include "remediation/events.h"

namespace {

using vigil::detectors::FailureEvent;

// Equal as numbers, and -0 and 0 apart: what a reader of the JSON could tell.
bool sameNumber(double a, double b) { return a == b && std::signbit(a) == std::signbit(b); }
bool sameNumber(const std::optional<double>& a, const std::optional<double>& b) {
  return a.has_value() == b.has_value() && (!a || sameNumber(*a, *b));
}

bool sameEvidence(const FailureEvent& a, const FailureEvent& b) {
  return a.metric == b.metric && sameNumber(a.threshold, b.threshold) &&
         sameNumber(a.actual_value, b.actual_value) && a.severity == b.severity &&
         a.window_start == b.window_start && a.window_end == b.window_end &&
         sameNumber(a.baseline, b.baseline) && a.sample_count == b.sample_count &&
         sameNumber(a.p95_seconds, b.p95_seconds) && sameNumber(a.p99_seconds, b.p99_seconds) &&
         a.field == b.field && a.missing == b.missing && a.added == b.added &&
         a.changed == b.changed;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string error;
  const auto received = vigil::remediation::parseFailureEvent(text, error);
  if (!received) {
    FUZZ_CHECK(!error.empty());
    return 0;
  }
  const FailureEvent& event = received->event;
  FUZZ_CHECK(!received->event_id.empty() && !event.dataset.empty() && !event.pipeline_id.empty());

  const std::string written = event.toJson();
  std::string error_again;
  const auto again = vigil::remediation::parseFailureEvent(written, error_again);
  FUZZ_CHECK(again.has_value(),
             "the event as written does not parse: " + error_again + ": " + written);
  const FailureEvent& e2 = again->event;
  FUZZ_CHECK(again->event_id == event.eventId(), written);
  FUZZ_CHECK(e2.status == event.status && e2.timestamp == event.timestamp &&
                 e2.dataset == event.dataset && e2.pipeline_id == event.pipeline_id &&
                 e2.failure_type == event.failure_type && e2.topic == event.topic,
             written);
  FUZZ_CHECK(e2.toJson() == written, "not a fixed point: " + written + " then " + e2.toJson());

  // Evidence as an outcome records it. toJson() writes the schema lists only for schema_drift,
  // so compare against the event as written.
  FailureEvent restored;
  restored.timestamp = e2.timestamp;
  vigil::remediation::readEvidence(vigil::remediation::evidenceJson(e2), restored);
  FUZZ_CHECK(sameEvidence(e2, restored),
             "evidence lost: " + vigil::remediation::evidenceJson(e2).dump());
  return 0;
}
