#include "remediation/pagerduty_executor.h"

#include <exception>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/log.h"
#include "detectors/failure_event.h"
#include "remediation/placeholders.h"

namespace vigil::remediation {
namespace {

using SteadyClock = std::chrono::steady_clock;
using Json = nlohmann::ordered_json;
using detectors::Duration;

constexpr std::string_view kComponent = "remediate";
constexpr std::size_t kMessageMaxChars = 200;

// The first `max_chars` code points of valid UTF-8 `text`, the last one "…" when cut.
std::string truncateChars(const std::string& text, std::size_t max_chars) {
  if (utf8Length(text) <= max_chars) return text;
  std::size_t chars = 0;
  std::size_t end = 0;
  for (; end < text.size(); ++end) {
    if ((static_cast<unsigned char>(text[end]) & 0xC0) != 0x80) {
      if (chars == max_chars - 1) break;
      ++chars;
    }
  }
  return text.substr(0, end) + "\xE2\x80\xA6";  // U+2026 HORIZONTAL ELLIPSIS
}

Json customDetails(const ActionCall& call) {
  if (call.report_json.empty()) {
    if (call.event == nullptr) return Json::object();
    Json event = Json::parse(call.event->toJson(), nullptr, false);
    return event.is_discarded() ? Json::object() : event;
  }
  Json report = Json::parse(call.report_json, nullptr, false);
  if (!report.is_discarded() && report.is_object()) return report;
  // Not an object (or not JSON): still worth showing to whoever is paged.
  return Json{{"report", sanitizeUtf8(call.report_json)}};
}

void replaceAll(std::string& text, const std::string& needle, std::string_view with) {
  if (needle.empty()) return;
  for (std::size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + with.size())) {
    text.replace(at, needle.size(), with);
  }
}

ActionResult failed(std::string detail) {
  ActionResult result;
  result.status = ActionResult::Status::kFailed;
  result.detail = std::move(detail);
  return result;
}

}  // namespace

std::string pagerDutyBody(const ActionCall& call) {
  const bool trigger = call.pagerduty_action == ActionCall::PagerDutyAction::kTrigger;
  Json body;
  body["routing_key"] = call.action ? call.action->routing_key : std::string();
  body["event_action"] = trigger ? "trigger" : "resolve";
  if (!call.dedup_key.empty() || !trigger) body["dedup_key"] = sanitizeUtf8(call.dedup_key);
  if (trigger) {
    Json payload;
    payload["summary"] = truncateChars(sanitizeUtf8(call.summary), kPagerDutySummaryMaxChars);
    if (call.event != nullptr) {
      const detectors::FailureEvent& e = *call.event;
      const detectors::Severity severity =
          call.action && call.action->severity ? *call.action->severity : e.severity;
      payload["source"] = "vigil/" + sanitizeUtf8(e.dataset);
      // vigil's severities are PagerDuty's four, by the same names.
      payload["severity"] = std::string(detectors::severityName(severity));
      payload["timestamp"] = detectors::formatRfc3339(e.timestamp);
      payload["component"] = sanitizeUtf8(e.pipeline_id);
      payload["group"] = sanitizeUtf8(e.dataset);
      payload["class"] = std::string(detectors::failureTypeName(e.failure_type));
    } else {
      payload["source"] = "vigil";
      payload["severity"] = std::string(detectors::severityName(call.action && call.action->severity
                                                                    ? *call.action->severity
                                                                    : detectors::Severity::kError));
    }
    payload["custom_details"] = customDetails(call);
    body["payload"] = std::move(payload);
    body["client"] = "vigil";
  }
  return body.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::optional<std::chrono::steady_clock::time_point> SendRateLimiter::reserve(
    const std::string& key, std::chrono::steady_clock::time_point now,
    std::chrono::steady_clock::time_point latest) {
  if (limit_ == 0) return std::nullopt;
  std::lock_guard lock(mu_);
  std::deque<std::chrono::steady_clock::time_point>& sent = sent_[key];
  // The slot opens `window_` after the send `limit_` places back; slots are handed out in order,
  // so the times stay sorted and only the last `limit_` matter.
  auto slot = now;
  if (sent.size() >= limit_) slot = std::max(now, sent[sent.size() - limit_] + window_);
  if (!sent.empty()) slot = std::max(slot, sent.back());
  if (slot > latest) return std::nullopt;
  sent.push_back(slot);
  while (sent.size() > limit_) sent.pop_front();
  return slot;
}

SendRateLimiter& pagerDutyRateLimiter() {
  static SendRateLimiter limiter;
  return limiter;
}

std::string pagerDutyErrorDetail(int status, const std::string& body, const std::string& secret) {
  std::string message;
  const Json j = Json::parse(body, nullptr, false);
  if (!j.is_discarded() && j.is_object()) {
    if (auto it = j.find("message"); it != j.end() && it->is_string()) {
      message = it->get<std::string>();
    }
    if (auto it = j.find("errors"); it != j.end() && it->is_array()) {
      std::string errors;
      for (const Json& e : *it) {
        if (!errors.empty()) errors += "; ";
        errors += e.is_string() ? e.get<std::string>()
                                : e.dump(-1, ' ', false, Json::error_handler_t::replace);
      }
      if (!errors.empty()) message += (message.empty() ? "" : ": ") + errors;
    }
  } else {
    message = body;  // not JSON: a proxy's page, say
  }
  message = sanitizeUtf8(message);
  replaceAll(message, secret, "[routing key]");
  for (char& c : message) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  std::string detail = "PagerDuty " + std::to_string(status);
  if (!message.empty()) detail += ": " + truncateChars(message, kMessageMaxChars);
  return detail;
}

ActionResult PagerDutyExecutor::run(const ActionCall& call) {
  try {
    if (call.action == nullptr) return failed("internal error: no action");
    const ActionSpec& action = *call.action;
    const bool trigger = call.pagerduty_action == ActionCall::PagerDutyAction::kTrigger;
    if (action.routing_key.empty()) return failed("no routing key configured");
    if (utf8Length(call.dedup_key) > kPagerDutyDedupKeyMaxChars) {
      return failed("dedup_key longer than 255 characters");
    }
    if (!trigger && call.dedup_key.empty()) return failed("resolve needs a dedup_key");
    if (trigger && call.event == nullptr) return failed("internal error: no failure event");

    const std::string body = pagerDutyBody(call);
    const std::string& key = action.routing_key;
    RetryPolicy policy = policy_;
    policy.before_try = [this, &key](SteadyClock::time_point deadline, std::string& why) {
      const auto slot = limiter_->reserve(key, SteadyClock::now(), deadline);
      if (!slot) {
        why = "rate limited (120/min per routing key)";
        return false;
      }
      std::this_thread::sleep_until(*slot);
      return true;
    };
    const HttpResponse response = postJson(action.url, body, {}, action.timeout, policy);

    ActionResult result;
    result.http_status = response.status;
    result.tries = response.tries;
    if (response.ok()) {
      result.status = ActionResult::Status::kDone;
      result.detail = "PagerDuty " + std::to_string(response.status) +
                      (response.tries > 1 ? " after " + std::to_string(response.tries) + " tries"
                                          : std::string()) +
                      " in " + formatDuration(response.elapsed);
    } else if (response.transport_error.empty() && response.status >= 400 &&
               response.status < 500 && response.status != 429) {
      result.detail = pagerDutyErrorDetail(response.status, response.body, key);
    } else {
      result.detail = describeResponse(response, action.timeout);
    }
    replaceAll(result.detail, key, "[routing key]");
    VIGIL_LOG(kDebug, kComponent) << "action " << action.name << " "
                                  << (trigger ? "trigger" : "resolve") << ": " << result.detail;
    return result;
  } catch (const std::exception& e) {
    // Exceptions here come from the standard library or the JSON parser, never with the key.
    return failed(std::string("internal error: ") + e.what());
  }
}

}  // namespace vigil::remediation
