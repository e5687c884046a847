#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "detectors/time.h"
#include "remediation/executor.h"

namespace vigil::remediation {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// How one attempt retries transport failures, 5xx and 429 before its deadline.
struct RetryPolicy {
  detectors::Duration initial_backoff{200};
  detectors::Duration max_backoff{5000};
  // Called before every try, with the attempt's deadline; returning false stops the attempt
  // with `why` as its reason (the PagerDuty executor waits for a rate-limit token here).
  std::function<bool(std::chrono::steady_clock::time_point deadline, std::string& why)> before_try;
};

// One request, sent as is: URL and headers already expanded and checked.
struct HttpRequest {
  std::string method = "POST";
  std::string url;
  HttpHeaders headers;  // sent verbatim; never logged
  std::optional<std::string> body;
};

// How an attempt ended: the last try's status and body, and what happened on the way.
struct HttpResponse {
  static constexpr std::size_t kMaxBodyBytes = 64 * 1024;

  int status = 0;    // of the last try that got a response; 0 when none did
  std::string body;  // of that response, at most kMaxBodyBytes
  bool body_truncated = false;
  unsigned tries = 0;
  // Why the last try got no response ("Couldn't connect to server"); empty when it got one.
  std::string transport_error;
  bool timed_out = false;  // the deadline ended the attempt
  std::string stopped;     // set when RetryPolicy::before_try stopped it
  // A Retry-After that would end past the deadline stopped the retries.
  std::optional<detectors::Duration> retry_after_too_late;
  bool retryable_error = true;  // false for transport errors a retry cannot fix (bad URL)
  detectors::Duration elapsed{0};

  bool ok() const { return status >= 200 && status < 300; }
};

// Sends `request` until it gets a response that is neither 5xx nor 429, retrying transport
// failures, 5xx and 429 with exponential backoff (initial_backoff doubled per retry, capped at
// max_backoff, jittered to between half and all of it), honouring a Retry-After in seconds on 429
// and 503 when it ends before the deadline. `timeout` bounds the whole attempt, tries and waits.
// Thread-safe; never throws.
HttpResponse sendWithRetries(const HttpRequest& request, detectors::Duration timeout,
                             const RetryPolicy& policy = {});

// POSTs a JSON body (Content-Type: application/json unless `headers` set one) with retries.
HttpResponse postJson(const std::string& url, const std::string& body, const HttpHeaders& headers,
                      detectors::Duration timeout, const RetryPolicy& policy = {});

// The wait before retry number `retry` (1 = the first retry) for a jitter draw in [0, 1]: the
// exponential delay d, scaled to d/2 + jitter * d/2. Pure, for tests.
detectors::Duration backoffDelay(unsigned retry, const RetryPolicy& policy, double jitter);

// A Retry-After header value in its delay-seconds form; nullopt for anything else (the HTTP-date
// form is ignored and the backoff applies).
std::optional<detectors::Duration> parseRetryAfter(std::string_view value);

// The attempt's outcome in ActionResult terms (the detail holds status codes and timings only):
// "HTTP 200 in 35ms", "HTTP 503 after 3 tries in 9.8s", "timed out after 10s (HTTP 503, 4
// tries)". Never a header, URL or body.
std::string describeResponse(const HttpResponse& response, detectors::Duration timeout);

// An http action: expands the URL (percent-encoded), the headers (raw, refusing CR/LF/NUL) and the
// body (JSON-string-escaped), sends it with retries within the action's timeout and an
// Idempotency-Key header that is the same on every retry. 2xx is done; any other final status,
// a transport failure or the deadline is failed. Thread-safe: one curl handle per try.
class HttpExecutor final : public Executor {
 public:
  explicit HttpExecutor(RetryPolicy policy = {}) : policy_(std::move(policy)) {}
  ActionResult run(const ActionCall& call) override;

 private:
  RetryPolicy policy_;
};

}  // namespace vigil::remediation
