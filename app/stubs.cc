#include "app/stubs.h"

#include <nlohmann/json.hpp>

namespace vigil::app {
namespace {

using nlohmann::json;

http::Response invalidEvent(const std::string& error) {
  return http::Response::json(
      400,
      json{{"status", "invalid event"}, {"message", "Event object is invalid"}, {"errors", {error}}}
          .dump());
}

}  // namespace

std::unique_ptr<ServiceStubs> ServiceStubs::start(std::string routing_key, OnAccepted on_accepted,
                                                  std::string& error) {
  std::unique_ptr<ServiceStubs> stubs(new ServiceStubs());
  stubs->routing_key_ = std::move(routing_key);
  stubs->on_accepted_ = std::move(on_accepted);
  ServiceStubs* self = stubs.get();
  stubs->server_ = http::HttpServer::start(
      "stub", "127.0.0.1:0", [self](const http::Request& r) { return self->handle(r); }, error);
  if (!stubs->server_) return nullptr;
  return stubs;
}

std::string ServiceStubs::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port()) + path;
}

std::vector<ServiceStubs::Call> ServiceStubs::calls(const std::string& prefix) const {
  std::lock_guard lock(mutex_);
  std::vector<Call> out;
  for (const Call& c : calls_) {
    if (c.path.rfind(prefix, 0) == 0) out.push_back(c);
  }
  return out;
}

void ServiceStubs::throttle(int n) {
  std::lock_guard lock(mutex_);
  throttled_ = n;
}

http::Response ServiceStubs::handle(const http::Request& request) {
  http::Response response;
  bool accepted = false;
  if (request.path == "/v2/enqueue") {
    response = pagerDuty(request);
    accepted = response.status == 202;
  } else if (request.method != "POST") {
    response = http::Response::json(405, R"({"error":"use POST"})");
  } else if (request.path.rfind("/rerun/", 0) == 0 || request.path.rfind("/rollback/", 0) == 0 ||
             request.path.rfind("/scale/", 0) == 0) {
    const auto key = request.headers.find("idempotency-key");
    if (key == request.headers.end() || key->second.empty()) {
      response = http::Response::json(400, R"({"error":"Idempotency-Key required"})");
    } else {
      std::lock_guard lock(mutex_);
      accepted = idempotency_keys_.insert(key->second).second;
      response =
          http::Response::json(200, json{{"status", accepted ? "started" : "duplicate"}}.dump());
    }
  } else {
    response = http::Response::json(404, R"({"error":"not found"})");
  }
  Call call{request.method, request.path, request.headers, request.body, response.status};
  {
    std::lock_guard lock(mutex_);
    calls_.push_back(call);
  }
  if (accepted && on_accepted_) on_accepted_(call);
  return response;
}

http::Response ServiceStubs::pagerDuty(const http::Request& request) {
  {
    std::lock_guard lock(mutex_);
    if (throttled_ > 0) {
      --throttled_;
      return http::Response::json(
          429,
          R"({"status":"throttle event","message":"Requests for this service are arriving too quickly"})");
    }
  }
  if (request.method != "POST") return http::Response::json(405, R"({"error":"use POST"})");
  const json j = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return invalidEvent("the body is not a JSON object");
  if (j.value("routing_key", "") != routing_key_) return invalidEvent("invalid routing_key");
  const std::string action = j.value("event_action", "");
  if (action != "trigger" && action != "resolve" && action != "acknowledge") {
    return invalidEvent("event_action must be trigger, acknowledge or resolve");
  }
  const std::string dedup = j.value("dedup_key", "");
  if (dedup.size() > 255) return invalidEvent("dedup_key is longer than 255 characters");
  if (action != "trigger" && dedup.empty()) return invalidEvent("dedup_key is required");
  if (action == "trigger") {
    const auto payload = j.find("payload");
    if (payload == j.end() || !payload->is_object()) return invalidEvent("payload is required");
    const std::string summary = payload->value("summary", "");
    if (summary.empty() || summary.size() > 1024)
      return invalidEvent("payload.summary is required (<= 1024)");
    if (payload->value("source", "").empty()) return invalidEvent("payload.source is required");
    const std::string severity = payload->value("severity", "");
    if (severity != "critical" && severity != "error" && severity != "warning" &&
        severity != "info") {
      return invalidEvent("payload.severity must be critical, error, warning or info");
    }
    if (payload->contains("custom_details") && !(*payload)["custom_details"].is_object()) {
      return invalidEvent("payload.custom_details must be an object");
    }
  }
  return http::Response::json(
      202,
      json{{"status", "success"}, {"message", "Event processed"}, {"dedup_key", dedup}}.dump());
}

}  // namespace vigil::app
