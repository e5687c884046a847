#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "detectors/failure_event.h"
#include "remediation/pagerduty_executor.h"
#include "remediation/placeholders.h"

namespace vigil::remediation {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::json;
using std::chrono::seconds;
using TimePoint = std::chrono::steady_clock::time_point;

const std::string kRoutingKey = "R0UT1NGKEY0123456789abcdefABCDEF";

detectors::FailureEvent sampleEvent() {
  detectors::FailureEvent e;
  e.status = detectors::EventStatus::kFiring;
  e.timestamp = detectors::timestampFromMillis(1736951520000);  // 2025-01-15T14:32:00Z
  e.dataset = "orders";
  e.pipeline_id = "etl_orders_01";
  e.failure_type = detectors::FailureType::kLatencySpike;
  e.metric = "latency_p99_seconds";
  e.severity = detectors::Severity::kWarning;
  return e;
}

// A trigger call of a pagerduty action; owns what the call points to.
struct Fixture {
  Fixture() : event(sampleEvent()) {
    action.name = "page";
    action.type = ActionType::kPagerDuty;
    action.routing_key = kRoutingKey;
    action.url = "https://events.pagerduty.com/v2/enqueue";
    call.action = &action;
    call.event = &event;
    call.dedup_key = "vigil/orders/etl_orders_01/latency_spike/fdd1c1b93fe77794";
    call.summary = "latency_spike on orders/etl_orders_01: p99 45s > 5s";
    call.report_json = R"({"steps":[{"action":"rerun","status":"unverified"}]})";
  }
  ActionSpec action;
  detectors::FailureEvent event;
  ActionCall call;
};

std::size_t occurrences(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

TEST(PagerDutyPayloadTest, TriggerHasTheEventsV2Schema) {
  Fixture f;
  const Json j = Json::parse(pagerDutyBody(f.call));
  EXPECT_EQ(j["routing_key"], kRoutingKey);
  EXPECT_EQ(j["event_action"], "trigger");
  EXPECT_EQ(j["dedup_key"], f.call.dedup_key);
  EXPECT_EQ(j["client"], "vigil");
  const Json& p = j["payload"];
  EXPECT_EQ(p["summary"], f.call.summary);
  EXPECT_EQ(p["source"], "vigil/orders");
  EXPECT_EQ(p["severity"], "warning");
  EXPECT_EQ(p["timestamp"], "2025-01-15T14:32:00Z");
  EXPECT_EQ(p["component"], "etl_orders_01");
  EXPECT_EQ(p["group"], "orders");
  EXPECT_EQ(p["class"], "latency_spike");
  EXPECT_EQ(p["custom_details"]["steps"][0]["action"], "rerun");
  std::set<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.insert(k);
  EXPECT_EQ(keys, (std::set<std::string>{"routing_key", "event_action", "dedup_key", "payload",
                                         "client"}));
}

TEST(PagerDutyPayloadTest, SeverityIsTheActionsElseTheEventsInPagerDutyTerms) {
  Fixture f;
  const std::pair<detectors::Severity, std::string> cases[] = {
      {detectors::Severity::kCritical, "critical"},
      {detectors::Severity::kError, "error"},
      {detectors::Severity::kWarning, "warning"},
      {detectors::Severity::kInfo, "info"}};
  for (const auto& [severity, name] : cases) {
    f.action.severity.reset();
    f.event.severity = severity;
    EXPECT_EQ(Json::parse(pagerDutyBody(f.call))["payload"]["severity"], name);
    f.event.severity = detectors::Severity::kInfo;
    f.action.severity = severity;
    EXPECT_EQ(Json::parse(pagerDutyBody(f.call))["payload"]["severity"], name);
  }
}

TEST(PagerDutyPayloadTest, SummaryIsCutTo1024Characters) {
  Fixture f;
  f.call.summary = std::string(1024, 'x');
  EXPECT_EQ(Json::parse(pagerDutyBody(f.call))["payload"]["summary"], f.call.summary);

  // Multi-byte characters count as one each and are never cut in half.
  f.call.summary.clear();
  for (int i = 0; i < 2000; ++i) f.call.summary += "é";
  const std::string summary = Json::parse(pagerDutyBody(f.call))["payload"]["summary"];
  EXPECT_EQ(utf8Length(summary), 1024u);
  EXPECT_TRUE(summary.ends_with("\xE2\x80\xA6"));
  EXPECT_EQ(summary.substr(0, 2 * 1023), f.call.summary.substr(0, 2 * 1023));
}

TEST(PagerDutyPayloadTest, ResolveCarriesOnlyKeyActionAndDedupKey) {
  Fixture f;
  f.call.pagerduty_action = ActionCall::PagerDutyAction::kResolve;
  const Json j = Json::parse(pagerDutyBody(f.call));
  EXPECT_EQ(j, (Json{{"routing_key", kRoutingKey},
                     {"event_action", "resolve"},
                     {"dedup_key", f.call.dedup_key}}));
}

TEST(PagerDutyPayloadTest, RoutingKeyIsOnlyInItsField) {
  Fixture f;
  const std::string body = pagerDutyBody(f.call);
  EXPECT_EQ(occurrences(body, kRoutingKey), 1u);
  EXPECT_THAT(body, HasSubstr("\"routing_key\":\"" + kRoutingKey + "\""));
}

TEST(PagerDutyPayloadTest, CustomDetailsFallBackSensibly) {
  Fixture f;
  f.call.report_json = "[1,2]";  // not an object
  EXPECT_EQ(Json::parse(pagerDutyBody(f.call))["payload"]["custom_details"],
            (Json{{"report", "[1,2]"}}));
  f.call.report_json = "not json \xff";
  EXPECT_EQ(Json::parse(pagerDutyBody(f.call))["payload"]["custom_details"]["report"],
            "not json \xEF\xBF\xBD");
  f.call.report_json.clear();  // the failure event itself
  const Json details = Json::parse(pagerDutyBody(f.call))["payload"]["custom_details"];
  EXPECT_EQ(details["schema"], "vigil.failure.v1");
  EXPECT_EQ(details["event_id"], f.event.eventId());
}

TEST(PagerDutyPayloadTest, HostileTextStaysInsideItsStrings) {
  Fixture f;
  f.event.pipeline_id = "\"}, \"routing_key\": \"stolen";
  f.call.summary = "line\nbreak \"quoted\" \xff";
  const Json j = Json::parse(pagerDutyBody(f.call));
  EXPECT_EQ(j["routing_key"], kRoutingKey);
  EXPECT_EQ(j["payload"]["component"], f.event.pipeline_id);
  EXPECT_EQ(j["payload"]["summary"], "line\nbreak \"quoted\" \xEF\xBF\xBD");
}

TEST(PagerDutyPayloadTest, ErrorDetailQuotesMessageAndErrorsWithoutTheKey) {
  const std::string body = R"({"status":"invalid event","message":"Event object is invalid",)"
                           R"("errors":["'payload.summary' is missing or blank", "routing_key )" +
                           kRoutingKey + R"( is unknown"]})";
  const std::string detail = pagerDutyErrorDetail(400, body, kRoutingKey);
  EXPECT_THAT(detail, HasSubstr("PagerDuty 400: Event object is invalid: 'payload.summary' is "
                                "missing or blank; routing_key [routing key] is unknown"));
  EXPECT_THAT(detail, Not(HasSubstr(kRoutingKey)));

  const std::string long_message = R"({"message":")" + std::string(500, 'm') + R"("})";
  const std::string cut = pagerDutyErrorDetail(400, long_message, kRoutingKey);
  EXPECT_EQ(utf8Length(cut), std::string("PagerDuty 400: ").size() + 200);

  EXPECT_EQ(pagerDutyErrorDetail(400, "", kRoutingKey), "PagerDuty 400");
}

TEST(PagerDutyPayloadTest, ExecutorRefusesOverlongDedupKeyBeforeSending) {
  Fixture f;
  f.action.url = "http://127.0.0.1:9/unused";  // never contacted: the call fails first
  f.call.dedup_key = std::string(256, 'd');
  PagerDutyExecutor executor;
  const ActionResult r = executor.run(f.call);
  EXPECT_FALSE(r.done());
  EXPECT_EQ(r.tries, 0u);
  EXPECT_THAT(r.detail, HasSubstr("255"));
  EXPECT_THAT(r.detail, Not(HasSubstr(kRoutingKey)));
}

TEST(PagerDutyPayloadTest, ExecutorRefusesResolveWithoutDedupKey) {
  Fixture f;
  f.action.url = "http://127.0.0.1:9/unused";
  f.call.pagerduty_action = ActionCall::PagerDutyAction::kResolve;
  f.call.dedup_key.clear();
  PagerDutyExecutor executor;
  const ActionResult r = executor.run(f.call);
  EXPECT_FALSE(r.done());
  EXPECT_EQ(r.tries, 0u);
}

// The limiter is fed times, so no clock is read.
TEST(SendRateLimiterTest, AllowsTheLimitPerWindowThenQueues) {
  SendRateLimiter limiter(120, seconds(60));
  const TimePoint t0{};
  for (int i = 0; i < 120; ++i) {
    const auto slot = limiter.reserve("k", t0, t0);
    ASSERT_TRUE(slot) << i;
    EXPECT_EQ(*slot, t0);
  }
  // The 121st does not fit now; not reserving when it does not fit within `latest`.
  EXPECT_FALSE(limiter.reserve("k", t0, t0 + seconds(59)));
  const auto slot = limiter.reserve("k", t0, t0 + seconds(60));
  ASSERT_TRUE(slot);
  EXPECT_EQ(*slot, t0 + seconds(60));
  // Another key has its own budget.
  EXPECT_EQ(limiter.reserve("other", t0, t0), t0);
}

TEST(SendRateLimiterTest, NeverMoreThanTheLimitInAnyWindow) {
  SendRateLimiter limiter(3, seconds(10));
  std::vector<TimePoint> slots;
  TimePoint now{};
  for (int i = 0; i < 12; ++i) {
    const auto slot = limiter.reserve("k", now, now + seconds(100));
    ASSERT_TRUE(slot);
    slots.push_back(*slot);
    now += seconds(1);
  }
  for (std::size_t i = 3; i < slots.size(); ++i) {
    EXPECT_GE(slots[i] - slots[i - 3], seconds(10)) << i;
    EXPECT_GE(slots[i], slots[i - 1]);
  }
}

}  // namespace
}  // namespace vigil::remediation
