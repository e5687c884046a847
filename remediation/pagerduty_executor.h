#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include "detectors/time.h"
#include "remediation/executor.h"
#include "remediation/http_executor.h"

namespace vigil::remediation {

inline constexpr std::size_t kPagerDutySummaryMaxChars = 1024;
inline constexpr std::size_t kPagerDutyDedupKeyMaxChars = 255;
inline constexpr std::size_t kPagerDutyEventsPerMinute = 120;

// The Events API v2 request body for one call (trigger or resolve), as sent:
//   trigger: {"routing_key", "event_action":"trigger", "dedup_key" (when set), "payload":
//             {"summary" (at most 1024 characters), "source":"vigil/<dataset>", "severity" (the
//             action's, else the failure event's), "timestamp" (RFC 3339), "component"
//             (pipeline_id), "group" (dataset), "class" (failure_type), "custom_details"},
//             "client":"vigil"}
//   resolve: {"routing_key", "event_action":"resolve", "dedup_key"}
// custom_details is call.report_json when that is a JSON object, {"report": <text>} when it is
// something else, and the failure event itself when it is empty. Pure; never throws for bad input
// text (invalid UTF-8 becomes U+FFFD).
std::string pagerDutyBody(const ActionCall& call);

// At most `limit` sends per key in any `window` (a sliding window over the times of the last
// `limit` sends, so the bound holds for every minute, not only on average). Callers reserve a slot
// and wait for it, so concurrent callers queue fairly. Thread-safe; time is passed in, so tests
// need no clock.
class SendRateLimiter {
 public:
  explicit SendRateLimiter(std::size_t limit = kPagerDutyEventsPerMinute,
                           std::chrono::steady_clock::duration window = std::chrono::minutes(1))
      : limit_(limit), window_(window) {}

  // Reserves the earliest slot for `key` at or after `now`: returns when it opens (`now` if
  // free), or nullopt, reserving nothing, when it would open after `latest`.
  std::optional<std::chrono::steady_clock::time_point> reserve(
      const std::string& key, std::chrono::steady_clock::time_point now,
      std::chrono::steady_clock::time_point latest);

 private:
  std::size_t limit_;
  std::chrono::steady_clock::duration window_;
  std::mutex mu_;
  // Per key, the times of its last `limit_` sends (reserved slots may lie in the future).
  std::unordered_map<std::string, std::deque<std::chrono::steady_clock::time_point>> sent_;
};

// The limiter shared by every PagerDuty call of the process: 120 events a minute per routing key,
// PagerDuty's own limit.
SendRateLimiter& pagerDutyRateLimiter();

// A pagerduty action: POSTs pagerDutyBody() to the action's url within its timeout. 2xx (202) is
// done; 400 is failed at once with PagerDuty's message; 429, 5xx and transport failures are
// retried with backoff; other statuses fail. Every try takes a slot of the routing key's rate
// limit first, waiting for it when it opens before the deadline. The routing key appears only in
// the request body: never in a detail, a log line or an exception message. Thread-safe.
class PagerDutyExecutor final : public Executor {
 public:
  explicit PagerDutyExecutor(RetryPolicy policy = {}, SendRateLimiter* limiter = nullptr)
      : policy_(std::move(policy)), limiter_(limiter ? limiter : &pagerDutyRateLimiter()) {}
  ActionResult run(const ActionCall& call) override;

 private:
  RetryPolicy policy_;
  SendRateLimiter* limiter_;
};

// "PagerDuty 400: <message>: <errors>" from a 400 response body, at most 200 characters after
// the prefix, without `secret` (the routing key) if the body echoed it.
std::string pagerDutyErrorDetail(int status, const std::string& body, const std::string& secret);

}  // namespace vigil::remediation
