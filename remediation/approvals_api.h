#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/http_server.h"
#include "remediation/engine.h"

namespace vigil::remediation {

// What the approvals API talks to; the worker implements it. Thread-safe.
class ApprovalDesk {
 public:
  struct Result {
    Engine::Decision decision = Engine::Decision::kNotFound;
    std::optional<Approval> approval;  // the one decided
    bool unavailable = false;          // the worker could not take it now: nothing decided
  };
  virtual ~ApprovalDesk() = default;
  virtual std::vector<Approval> pending() const = 0;
  // Decides one approval; exactly one of many concurrent calls on the same
  // approval gets kDecided.
  virtual Result decide(const std::string& id, bool approve, const std::string& by,
                        const std::string& comment) = 0;
};

// The approvals API (SPEC §5): GET /v1/approvals, POST /v1/approvals/{id}/approve
// and /deny with an optional {"by", "comment"} body. Every request needs
// `Authorization: Bearer <token>` (compared in constant time): 401 without it
// or with a wrong one, 404 for an unknown id, 409 when already decided or
// expired, 400 for a malformed body, 405 for another method, 503 when the
// worker could not take the decision in time (nothing was decided). nullopt for a
// path outside /v1/approvals. An empty `token` refuses every request.
std::optional<http::Response> handleApprovals(const http::Request& request,
                                              const std::string& token, ApprovalDesk& desk);

// Equal strings, compared without an early exit that would leak how many
// leading bytes matched.
bool constantTimeEquals(std::string_view a, std::string_view b);

}  // namespace vigil::remediation
