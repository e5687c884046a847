#include "remediation/approvals_api.h"

#include <nlohmann/json.hpp>

namespace vigil::remediation {
namespace {

constexpr std::string_view kPrefix = "/v1/approvals";
constexpr std::size_t kMaxNoteBytes = 1024;  // `by` and `comment` land in the audit log

http::Response error(int status, const std::string& message) {
  return http::Response::json(status, nlohmann::json{{"error", message}}.dump());
}

// 405 naming the method the path takes.
http::Response notAllowed(const std::string& allow) {
  http::Response r = error(405, "use " + allow);
  r.headers.emplace_back("Allow", allow);
  return r;
}

bool authorized(const http::Request& request, const std::string& token) {
  const auto it = request.headers.find("authorization");
  if (token.empty() || it == request.headers.end()) return false;
  constexpr std::string_view kBearer = "Bearer ";
  const std::string_view value = it->second;
  if (value.size() <= kBearer.size() || value.substr(0, kBearer.size()) != kBearer) return false;
  return constantTimeEquals(value.substr(kBearer.size()), token);
}

}  // namespace

bool constantTimeEquals(std::string_view a, std::string_view b) {
  // Every byte of the longer one is visited; only the length leaks.
  const std::size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < n; ++i) {
    const auto x = static_cast<unsigned char>(i < a.size() ? a[i] : 0);
    const auto y = static_cast<unsigned char>(i < b.size() ? b[i] : 0);
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

std::optional<http::Response> handleApprovals(const http::Request& request,
                                              const std::string& token, ApprovalDesk& desk) {
  const std::string_view path = request.path;
  if (path.substr(0, kPrefix.size()) != kPrefix ||
      (path.size() > kPrefix.size() && path[kPrefix.size()] != '/')) {
    return std::nullopt;
  }
  http::Response challenge = error(401, "missing or wrong bearer token");
  challenge.headers.emplace_back("WWW-Authenticate", "Bearer");
  if (!authorized(request, token)) return challenge;

  std::string_view rest = path.substr(kPrefix.size());
  if (rest.empty() || rest == "/") {
    if (request.method != "GET") return notAllowed("GET");
    std::string body = "{\"approvals\":[";
    bool first = true;
    for (const Approval& a : desk.pending()) {
      if (!first) body += ',';
      body += a.toJson();
      first = false;
    }
    body += "]}";
    return http::Response::json(200, body);
  }
  // /{id}/approve or /{id}/deny
  rest.remove_prefix(1);
  const std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return error(404, "not found");
  const std::string id(rest.substr(0, slash));
  const std::string_view verb = rest.substr(slash + 1);
  if (verb != "approve" && verb != "deny") return error(404, "not found");
  if (request.method != "POST") return notAllowed("POST");
  std::string by, comment;
  if (!request.body.empty()) {
    const auto j = nlohmann::json::parse(request.body, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) return error(400, "the body must be a JSON object");
    for (const auto& [name, out] : {std::pair{"by", &by}, std::pair{"comment", &comment}}) {
      if (!j.contains(name)) continue;
      if (!j[name].is_string()) return error(400, std::string("\"") + name + "\" must be a string");
      *out = j[name].get<std::string>();
      if (out->size() > kMaxNoteBytes)
        return error(400, std::string("\"") + name + "\" is too long");
    }
  }
  const ApprovalDesk::Result result = desk.decide(id, verb == "approve", by, comment);
  if (result.unavailable) {
    http::Response busy =
        error(503, "the worker is busy (rebuilding its state); nothing was decided");
    busy.headers.emplace_back("Retry-After", "5");
    return busy;
  }
  switch (result.decision) {
    case Engine::Decision::kNotFound:
      return error(404, "no approval " + id);
    case Engine::Decision::kConflict:
      return error(409, "approval " + id + " was already decided or has expired");
    case Engine::Decision::kDecided:
      break;
  }
  nlohmann::json body = result.approval ? nlohmann::json::parse(result.approval->toJson())
                                        : nlohmann::json{{"id", id}};
  body["status"] = verb == "approve" ? "approved" : "denied";
  if (!by.empty()) body["by"] = by;
  return http::Response::json(200, body.dump());
}

}  // namespace vigil::remediation
