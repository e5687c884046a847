#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "remediation/http_executor.h"

namespace vigil::remediation {
namespace {

using detectors::Duration;
using ::testing::HasSubstr;

TEST(HttpRetryTest, BackoffDoublesFrom200msUpTo5sWithJitterInTheUpperHalf) {
  const RetryPolicy policy;
  EXPECT_EQ(backoffDelay(1, policy, 1.0), Duration{200});
  EXPECT_EQ(backoffDelay(1, policy, 0.0), Duration{100});
  EXPECT_EQ(backoffDelay(2, policy, 1.0), Duration{400});
  EXPECT_EQ(backoffDelay(3, policy, 1.0), Duration{800});
  EXPECT_EQ(backoffDelay(6, policy, 1.0), Duration{5000});  // 6.4 s capped
  EXPECT_EQ(backoffDelay(60, policy, 1.0), Duration{5000});
  EXPECT_EQ(backoffDelay(60, policy, 0.0), Duration{2500});
  EXPECT_EQ(backoffDelay(2, policy, 0.5), Duration{300});
}

TEST(HttpRetryTest, RetryAfterInSecondsOnly) {
  EXPECT_EQ(parseRetryAfter("1"), Duration{1000});
  EXPECT_EQ(parseRetryAfter("120"), Duration{120000});
  EXPECT_EQ(parseRetryAfter("0"), Duration{0});
  EXPECT_FALSE(parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT"));
  EXPECT_FALSE(parseRetryAfter("-1"));
  EXPECT_FALSE(parseRetryAfter("1.5"));
  EXPECT_FALSE(parseRetryAfter(""));
  EXPECT_FALSE(parseRetryAfter("99999999999999"));
}

TEST(HttpRetryTest, DetailsSayStatusTriesAndTimingOnly) {
  HttpResponse r;
  r.status = 200;
  r.tries = 1;
  r.elapsed = Duration{35};
  EXPECT_EQ(describeResponse(r, Duration{10000}), "HTTP 200 in 35ms");
  r.status = 503;
  r.tries = 4;
  r.elapsed = Duration{9100};
  r.timed_out = true;
  EXPECT_EQ(describeResponse(r, Duration{10000}), "timed out after 10s (HTTP 503, 4 tries)");
  r.status = 0;
  r.transport_error = "Couldn't connect to server";
  EXPECT_EQ(describeResponse(r, Duration{10000}),
            "timed out after 10s (Couldn't connect to server, 4 tries)");
  r = HttpResponse{};
  r.status = 404;
  r.tries = 1;
  r.elapsed = Duration{3};
  EXPECT_EQ(describeResponse(r, Duration{10000}), "HTTP 404 in 3ms");
  r.status = 429;
  r.retry_after_too_late = Duration{30000};
  EXPECT_THAT(describeResponse(r, Duration{10000}), HasSubstr("Retry-After 30s"));
  r = HttpResponse{};
  r.stopped = "rate limited (120/min per routing key)";
  EXPECT_EQ(describeResponse(r, Duration{10000}), "rate limited (120/min per routing key)");
}

TEST(HttpRetryTest, HeaderValuesWithLineBreaksFailTheCallBeforeSending) {
  ActionSpec action;
  action.name = "rerun";
  action.url = "http://127.0.0.1:9/unused";  // never contacted
  action.headers["X-Pipeline"] = "{pipeline_id}";
  detectors::FailureEvent event;
  event.pipeline_id = "p1\r\nX-Injected: yes";
  ActionCall call;
  call.action = &action;
  call.event = &event;
  HttpExecutor executor;
  const ActionResult r = executor.run(call);
  EXPECT_FALSE(r.done());
  EXPECT_EQ(r.tries, 0u);
  EXPECT_THAT(r.detail, HasSubstr("X-Pipeline"));
  EXPECT_THAT(r.detail, ::testing::Not(HasSubstr("Injected")));
}

}  // namespace
}  // namespace vigil::remediation
