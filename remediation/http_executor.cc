#include "remediation/http_executor.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <exception>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

#include "common/log.h"
#include "remediation/placeholders.h"

namespace vigil::remediation {
namespace {

using SteadyClock = std::chrono::steady_clock;
using detectors::Duration;
using std::chrono::duration_cast;

constexpr std::string_view kComponent = "remediate";
constexpr char kUserAgent[] = "vigil/0.1";

// curl_global_init is not thread-safe on every libcurl build, so it runs once, before any handle.
void curlGlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// RFC 9110 token characters: what a header name may hold.
bool validHeaderName(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return std::isalnum(c) ||
           std::string_view("!#$%&'*+-.^_`|~").find(ch) != std::string_view::npos;
  });
}

bool hasLineBreakOrNul(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

// Jitter needs no quality, only independence between threads.
double jitterDraw() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

Duration since(SteadyClock::time_point start) {
  return duration_cast<Duration>(SteadyClock::now() - start);
}

// What one try collects through curl's callbacks.
struct TryState {
  std::string body;
  bool truncated = false;
  std::optional<Duration> retry_after;
};

std::size_t onBody(char* data, std::size_t size, std::size_t count, void* user) {
  auto* state = static_cast<TryState*>(user);
  const std::size_t len = size * count;
  const std::size_t room = HttpResponse::kMaxBodyBytes - state->body.size();
  if (len > room) {
    // Keep what fits and abort the transfer: a response body is bounded, whatever the peer sends.
    state->body.append(data, room);
    state->truncated = true;
    return 0;
  }
  state->body.append(data, len);
  return len;
}

std::size_t onHeader(char* data, std::size_t size, std::size_t count, void* user) {
  auto* state = static_cast<TryState*>(user);
  const std::size_t len = size * count;
  const std::string_view line(data, len);
  if (line.starts_with("HTTP/")) {
    state->retry_after.reset();  // a new response (after a 100 Continue, say) starts afresh
  } else if (line.size() > 12 && iequals(line.substr(0, 12), "retry-after:")) {
    std::string_view value = line.substr(12);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back()))) {
      value.remove_suffix(1);
    }
    state->retry_after = parseRetryAfter(value);
  }
  return len;
}

struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
struct EasyDeleter {
  void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
};

// Transport errors a retry cannot fix: the request itself is wrong, or the peer's certificate is.
bool retryableCurlError(CURLcode code) {
  switch (code) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_OUT_OF_MEMORY:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_UNKNOWN_OPTION:
      return false;
    default:
      return true;
  }
}

struct TryResult {
  CURLcode code = CURLE_OK;
  int status = 0;
  bool got_response = false;
};

TryResult tryOnce(const HttpRequest& request, curl_slist* headers, Duration budget,
                  TryState& state) {
  TryResult result;
  std::unique_ptr<CURL, EasyDeleter> curl(curl_easy_init());
  if (!curl) {
    result.code = CURLE_FAILED_INIT;
    return result;
  }
  CURL* h = curl.get();
  const long budget_ms = std::max<long>(1, static_cast<long>(budget.count()));
  curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // several threads; no SIGALRM for DNS timeouts
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, budget_ms);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, budget_ms);
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);  // a redirect would carry our headers elsewhere
  curl_easy_setopt(h, CURLOPT_USERAGENT, kUserAgent);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, onBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &state);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, onHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &state);

  const std::string& method = request.method;
  if (request.body || method == "POST" || method == "PUT" || method == "PATCH") {
    // A body (possibly empty, so Content-Length: 0 is sent) through POSTFIELDS; curl keeps the
    // pointer, which outlives the transfer.
    static const std::string kEmpty;
    const std::string& payload = request.body ? *request.body : kEmpty;
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(payload.size()));
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload.c_str());
    if (method != "POST") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
  } else if (method == "GET") {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
  }

  result.code = curl_easy_perform(h);
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  result.status = static_cast<int>(status);
  // A transfer we aborted for its size still got a response, and its status counts.
  result.got_response = status > 0 && (result.code == CURLE_OK ||
                                       (result.code == CURLE_WRITE_ERROR && state.truncated));
  return result;
}

bool retryableStatus(int status) { return status == 429 || (status >= 500 && status <= 599); }

std::string triesText(unsigned tries) {
  return std::to_string(tries) + (tries == 1 ? " try" : " tries");
}

}  // namespace

Duration backoffDelay(unsigned retry, const RetryPolicy& policy, double jitter) {
  const long long cap = std::max<long long>(0, policy.max_backoff.count());
  long long d = std::max<long long>(0, policy.initial_backoff.count());
  for (unsigned i = 1; i < retry && d < cap; ++i) d *= 2;
  d = std::min(d, cap);
  jitter = std::clamp(jitter, 0.0, 1.0);
  return Duration{d / 2 + static_cast<long long>(jitter * static_cast<double>(d - d / 2))};
}

std::optional<Duration> parseRetryAfter(std::string_view value) {
  if (value.empty() || value.size() > 9) return std::nullopt;
  long long seconds = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec != std::errc{} || end != value.data() + value.size() || seconds < 0) return std::nullopt;
  return Duration{seconds * 1000};
}

HttpResponse sendWithRetries(const HttpRequest& request, Duration timeout,
                             const RetryPolicy& policy) {
  HttpResponse response;
  const SteadyClock::time_point start = SteadyClock::now();
  const SteadyClock::time_point deadline = start + timeout;
  try {
    curlGlobalInit();
    curl_slist* raw = nullptr;
    for (const auto& [name, value] : request.headers) {
      // "Name:" would tell curl to drop the header; "Name;" sends it empty.
      const std::string line = value.empty() ? name + ";" : name + ": " + value;
      curl_slist* next = curl_slist_append(raw, line.c_str());
      if (next == nullptr) {
        curl_slist_free_all(raw);
        throw std::bad_alloc();
      }
      raw = next;
    }
    // curl would otherwise wait for a 100 Continue before sending a body over 1 KiB.
    if (curl_slist* next = curl_slist_append(raw, "Expect:")) raw = next;
    const std::unique_ptr<curl_slist, SlistDeleter> headers(raw);

    for (unsigned retry = 0;; ++retry) {
      if (policy.before_try) {
        std::string why;
        if (!policy.before_try(deadline, why)) {
          response.stopped = why;
          break;
        }
      }
      const auto remaining = duration_cast<Duration>(deadline - SteadyClock::now());
      if (remaining.count() <= 0) {
        response.timed_out = true;
        break;
      }
      TryState state;
      ++response.tries;
      const TryResult t = tryOnce(request, headers.get(), remaining, state);
      if (t.got_response) {
        response.status = t.status;
        response.body = std::move(state.body);
        response.body_truncated = state.truncated;
        response.transport_error.clear();
        if (!retryableStatus(t.status)) break;
      } else {
        response.transport_error = curl_easy_strerror(t.code);
        if (t.code == CURLE_OPERATION_TIMEDOUT) {
          response.timed_out = true;
          break;
        }
        if (!retryableCurlError(t.code)) {
          response.retryable_error = false;
          break;
        }
      }

      Duration wait = backoffDelay(retry + 1, policy, jitterDraw());
      if (t.got_response && (t.status == 429 || t.status == 503) && state.retry_after) {
        if (SteadyClock::now() + *state.retry_after >= deadline) {
          response.retry_after_too_late = state.retry_after;
          break;
        }
        wait = std::max(wait, *state.retry_after);
      }
      if (SteadyClock::now() + wait >= deadline) {
        // No room for another try: the attempt ends now rather than sleeping to its deadline.
        response.timed_out = true;
        break;
      }
      VIGIL_LOG(kDebug, kComponent)
          << "http try " << response.tries << ": "
          << (t.got_response ? "HTTP " + std::to_string(t.status) : response.transport_error)
          << ", retrying in " << formatDuration(wait);
      std::this_thread::sleep_for(wait);
    }
  } catch (const std::exception& e) {
    response.transport_error = std::string("internal error: ") + e.what();
    response.retryable_error = false;
  }
  response.elapsed = since(start);
  return response;
}

HttpResponse postJson(const std::string& url, const std::string& body, const HttpHeaders& headers,
                      Duration timeout, const RetryPolicy& policy) {
  HttpRequest request;
  request.method = "POST";
  request.url = url;
  request.headers = headers;
  const bool has_type = std::any_of(headers.begin(), headers.end(),
                                    [](const auto& h) { return iequals(h.first, "Content-Type"); });
  if (!has_type) request.headers.emplace_back("Content-Type", "application/json");
  request.body = body;
  return sendWithRetries(request, timeout, policy);
}

std::string describeResponse(const HttpResponse& r, Duration timeout) {
  const std::string took =
      (r.tries > 1 ? " after " + triesText(r.tries) : "") + " in " + formatDuration(r.elapsed);
  const std::string last = r.status > 0 && r.transport_error.empty()
                               ? "HTTP " + std::to_string(r.status)
                               : r.transport_error;
  if (!r.stopped.empty()) {
    if (r.tries == 0) return r.stopped;
    return r.stopped + " (" + (last.empty() ? "" : last + ", ") + triesText(r.tries) + ")";
  }
  if (r.retry_after_too_late) {
    return last + took + " (Retry-After " + formatDuration(*r.retry_after_too_late) +
           " does not fit the " + formatDuration(timeout) + " timeout)";
  }
  if (r.timed_out) {
    return "timed out after " + formatDuration(timeout) + " (" + (last.empty() ? "" : last + ", ") +
           triesText(r.tries) + ")";
  }
  return (last.empty() ? std::string("no response") : last) + took;
}

ActionResult HttpExecutor::run(const ActionCall& call) {
  ActionResult result;
  try {
    if (call.action == nullptr) {
      result.detail = "internal error: no action";
      return result;
    }
    const ActionSpec& action = *call.action;
    HttpRequest request;
    request.method = action.method;
    request.url = expandUrl(action.url, call);

    const PlaceholderValues values(call);
    bool has_type = false;
    for (const auto& [name, tmpl] : action.headers) {
      if (!validHeaderName(name)) {
        result.detail = "header name \"" + sanitizeUtf8(name) + "\" is not a valid HTTP token";
        return result;
      }
      if (iequals(name, "Idempotency-Key")) continue;  // ours: the receiver's dedup depends on it
      std::string value = expandPlaceholders(tmpl, values, Escaping::kRaw);
      // A line break would let an event inject headers; the value itself is never reported.
      if (hasLineBreakOrNul(value)) {
        result.detail = "header " + name + ": value holds CR, LF or NUL after expansion";
        return result;
      }
      if (iequals(name, "Content-Type")) has_type = true;
      request.headers.emplace_back(name, std::move(value));
    }
    for (const auto& [name, value] : action.secret_headers) {
      if (!validHeaderName(name)) {
        result.detail = "header name \"" + sanitizeUtf8(name) + "\" is not a valid HTTP token";
        return result;
      }
      if (iequals(name, "Idempotency-Key")) continue;
      if (hasLineBreakOrNul(value)) {  // refused when the config is loaded; never sent
        result.detail = "header " + name + ": value holds CR, LF or NUL";
        return result;
      }
      if (iequals(name, "Content-Type")) has_type = true;
      request.headers.emplace_back(name, value);
    }
    if (action.body) {
      request.body = expandJsonBody(*action.body, call);
      if (!has_type) request.headers.emplace_back("Content-Type", "application/json");
    }
    if (!call.idempotency_key.empty()) {
      if (hasLineBreakOrNul(call.idempotency_key)) {
        result.detail = "internal error: Idempotency-Key holds CR, LF or NUL";
        return result;
      }
      request.headers.emplace_back("Idempotency-Key", call.idempotency_key);
    }

    const HttpResponse response = sendWithRetries(request, action.timeout, policy_);
    result.http_status = response.status;
    result.tries = response.tries;
    result.status = response.ok() ? ActionResult::Status::kDone : ActionResult::Status::kFailed;
    result.detail = describeResponse(response, action.timeout);
    VIGIL_LOG(kDebug, kComponent) << "action " << action.name << " attempt " << call.attempt << ": "
                                  << result.detail;
  } catch (const std::exception& e) {
    result.status = ActionResult::Status::kFailed;
    result.detail = std::string("internal error: ") + e.what();
  }
  return result;
}

}  // namespace vigil::remediation
