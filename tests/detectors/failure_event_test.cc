#include "detectors/failure_event.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>

namespace vigil::detectors {
namespace {

using std::chrono::minutes;

FailureEvent sampleEvent() {
  FailureEvent e;
  e.status = EventStatus::kFiring;
  e.timestamp = timestampFromMillis(1736951520000);  // 2025-01-15T14:32:00Z
  e.dataset = "orders";
  e.pipeline_id = "user_analytics_daily";
  e.failure_type = FailureType::kLatencySpike;
  e.metric = "latency_p99_seconds";
  e.threshold = 5;
  e.actual_value = 45;
  e.severity = Severity::kError;
  e.window_start = e.timestamp - minutes(5);
  e.window_end = e.timestamp;
  e.topic = "orders.events";
  e.sample_count = 18234;
  e.baseline = 1.9;
  return e;
}

// The JSON carries every documented field with the documented names and values.
TEST(FailureEventTest, JsonHasTheDocumentedShape) {
  const FailureEvent e = sampleEvent();
  const auto j = nlohmann::json::parse(e.toJson());
  EXPECT_EQ(j["schema"], "vigil.failure.v1");
  EXPECT_EQ(j["event_id"], e.eventId());
  EXPECT_EQ(j["status"], "firing");
  EXPECT_EQ(j["timestamp"], "2025-01-15T14:32:00Z");
  EXPECT_EQ(j["pipeline_id"], "user_analytics_daily");
  EXPECT_EQ(j["dataset"], "orders");
  EXPECT_EQ(j["failure_type"], "latency_spike");
  EXPECT_EQ(j["metric"], "latency_p99_seconds");
  EXPECT_EQ(j["threshold"], 5);
  EXPECT_EQ(j["actual_value"], 45);
  EXPECT_EQ(j["severity"], "error");
  EXPECT_EQ(j["window"]["start"], "2025-01-15T14:27:00Z");
  EXPECT_EQ(j["window"]["end"], "2025-01-15T14:32:00Z");
  EXPECT_EQ(j["context"]["topic"], "orders.events");
  EXPECT_EQ(j["context"]["sample_count"], 18234);
  EXPECT_DOUBLE_EQ(j["context"]["baseline"].get<double>(), 1.9);
  EXPECT_EQ(e.key(), "orders/user_analytics_daily");
}

// The id is 16 hex digits, equal for equal identity, different when any part differs.
TEST(FailureEventTest, EventIdIsDeterministicAndDiscriminating) {
  const FailureEvent a = sampleEvent();
  FailureEvent same = sampleEvent();
  same.actual_value = 99;  // not part of the identity
  EXPECT_EQ(a.eventId(), same.eventId());
  EXPECT_EQ(a.eventId().size(), 16u);
  EXPECT_EQ(a.eventId().find_first_not_of("0123456789abcdef"), std::string::npos);

  std::set<std::string> ids{a.eventId()};
  FailureEvent v = sampleEvent();
  v.status = EventStatus::kResolved;
  ids.insert(v.eventId());
  v = sampleEvent();
  v.timestamp += minutes(1);
  ids.insert(v.eventId());
  v = sampleEvent();
  v.pipeline_id = "other";
  ids.insert(v.eventId());
  v = sampleEvent();
  v.dataset = "payments";
  ids.insert(v.eventId());
  v = sampleEvent();
  v.failure_type = FailureType::kStaleData;
  ids.insert(v.eventId());
  v = sampleEvent();
  v.field = "user_id";
  ids.insert(v.eventId());
  EXPECT_EQ(ids.size(), 7u);
}

// Field boundaries are part of the hash: ("ab","c") and ("a","bc") differ.
TEST(FailureEventTest, EventIdSeparatesFields) {
  FailureEvent a = sampleEvent();
  FailureEvent b = sampleEvent();
  a.dataset = "ab";
  a.pipeline_id = "c";
  b.dataset = "a";
  b.pipeline_id = "bc";
  EXPECT_NE(a.eventId(), b.eventId());
}

// Strings with quotes, backslashes and control characters stay valid JSON.
TEST(FailureEventTest, JsonEscapesStrings) {
  FailureEvent e = sampleEvent();
  e.pipeline_id = "we\"ird\\id\n\x01";
  const auto j = nlohmann::json::parse(e.toJson());
  EXPECT_EQ(j["pipeline_id"], "we\"ird\\id\n\x01");
}

// Non-finite numbers become null rather than invalid JSON.
TEST(FailureEventTest, NonFiniteNumbersBecomeNull) {
  FailureEvent e = sampleEvent();
  e.actual_value = std::numeric_limits<double>::infinity();
  const auto j = nlohmann::json::parse(e.toJson());
  EXPECT_TRUE(j["actual_value"].is_null());
}

// Negative zero is written 0: a reader parses "-0" as the integer 0, so only 0 round-trips.
TEST(FailureEventTest, NegativeZeroIsWrittenZero) {
  FailureEvent e = sampleEvent();
  e.threshold = -0.0;
  e.baseline = -0.0;
  const std::string json = e.toJson();
  EXPECT_NE(json.find(R"("threshold":0,)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("baseline":0)"), std::string::npos) << json;
  EXPECT_EQ(json.find(":-0"), std::string::npos) << json;
}

// Events sharing a timestamp order by dataset, pipeline_id, then failure type name.
TEST(FailureEventTest, OrderIsTimestampDatasetPipelineType) {
  FailureEvent a = sampleEvent();
  a.failure_type = FailureType::kStaleData;
  FailureEvent b = sampleEvent();
  b.failure_type = FailureType::kNullSpike;  // by name, "null_spike" sorts before "stale_data"
  EXPECT_TRUE(eventOrderLess(b, a));
  EXPECT_FALSE(eventOrderLess(a, b));
  FailureEvent c = sampleEvent();
  c.pipeline_id = "a_first";
  EXPECT_TRUE(eventOrderLess(c, a));
  FailureEvent d = sampleEvent();
  d.timestamp -= minutes(1);
  d.dataset = "zzz";
  EXPECT_TRUE(eventOrderLess(d, a));
}

}  // namespace
}  // namespace vigil::detectors
