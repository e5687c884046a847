// Feeds the input, as one message of the outcomes topic, to remediation::OutcomeEvent::fromJson:
// the worker reads the topic back to rebuild its incidents after a restart or a rebalance, so a
// message it cannot restore would stop it at every start. Beyond "no crash" it checks:
//  - a rejection says why;
//  - an accepted event is in range: attempt 1..1,000,000, timestamp within 1970..9999, detail an
//    object;
//  - it survives a round trip: written again with toJson() it parses to an equal event (every
//    member, detail as JSON), whose text is the same (a fixed point) and whose outcome_id, as
//    written, is outcomeId() of both;
//  - the worker can take it: restored into an Engine (alone, and after the same event again, as
//    a redelivery), then resumed and ticked a day later, without an exception.

#include <chrono>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz/check.h"
#include "remediation/engine.h"
#include "remediation/events.h"

namespace {

using vigil::remediation::Engine;
using vigil::remediation::OutcomeEvent;

bool same(const OutcomeEvent& a, const OutcomeEvent& b) {
  return a.event_id == b.event_id && a.dataset == b.dataset && a.pipeline_id == b.pipeline_id &&
         a.failure_type == b.failure_type && a.action == b.action && a.risk == b.risk &&
         a.attempt == b.attempt && a.status == b.status && a.timestamp == b.timestamp &&
         a.detail == b.detail;
}

vigil::remediation::ActionSpec action(const std::string& name,
                                      vigil::remediation::ActionType type,
                                      vigil::remediation::Risk risk) {
  vigil::remediation::ActionSpec a;
  a.name = name;
  a.type = type;
  a.risk = risk;
  a.url = "http://127.0.0.1:9/" + name;
  return a;
}

// Actions of every risk, a playbook with retries for every failure type and dataset, and an
// escalation: each outcome status moves an incident somewhere.
const vigil::remediation::RemediateSpec& spec() {
  static const vigil::remediation::RemediateSpec s = [] {
    using vigil::remediation::ActionType;
    using vigil::remediation::Risk;
    using namespace std::chrono_literals;
    vigil::remediation::RemediateSpec r;
    r.actions = {action("rerun", ActionType::kHttp, Risk::kLow),
                 action("rollback", ActionType::kHttp, Risk::kMedium),
                 action("scale", ActionType::kHttp, Risk::kHigh),
                 action("page", ActionType::kPagerDuty, Risk::kLow)};
    vigil::remediation::Playbook p;
    p.steps = {{"rerun", 2, 30s, 5min}, {"rollback", 1, 30s, 10min}, {"scale", 0, 30s, 5min}};
    p.escalate = "page";
    r.playbooks = {p};
    r.default_escalation = "page";
    return r;
  }();
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string error;
  const auto received = OutcomeEvent::fromJson(text, error);
  if (!received) {
    FUZZ_CHECK(!error.empty());
    return 0;
  }
  const OutcomeEvent& o = *received;
  FUZZ_CHECK(o.attempt >= 1 && o.attempt <= 1'000'000);
  FUZZ_CHECK(o.detail.is_object());

  const std::string written = o.toJson();
  std::string error_again;
  const auto again = OutcomeEvent::fromJson(written, error_again);
  FUZZ_CHECK(again.has_value(), "the event as written does not parse: " + error_again + ": " + written);
  FUZZ_CHECK(same(o, *again), "not the same event: " + written);
  FUZZ_CHECK(again->toJson() == written, "not a fixed point: " + written + " then " + again->toJson());
  const nlohmann::json parsed = nlohmann::json::parse(written);
  FUZZ_CHECK(parsed.value("outcome_id", "") == o.outcomeId() && o.outcomeId() == again->outcomeId(),
             written);

  // What the worker does with the outcomes it reads back (RemediateService::onAssigned).
  try {
    Engine engine(spec());
    engine.restore(o);
    engine.restore(*again);
    vigil::remediation::Effects effects;
    engine.resume(o.timestamp, effects);
    engine.tick(o.timestamp + std::chrono::hours(24), effects);
    (void)engine.pendingApprovals();
    (void)engine.unrecorded();
  } catch (const std::exception& e) {
    FUZZ_CHECK(false, std::string("the engine cannot restore it: ") + e.what() + ": " + written);
  }
  return 0;
}
