#pragma once

#include <functional>
#include <optional>
#include <string>

#include "http/http_server.h"

namespace vigil::http {

// What /metrics and /readyz report; the functions are called on the server's
// threads and must be thread-safe.
struct OpsEndpoints {
  std::function<std::string()> metrics;  // Prometheus text format
  std::function<bool()> ready;
  std::string not_ready;  // the 503 body of /readyz, one line
};

// /metrics, /healthz and /readyz, read-only: GET and HEAD answer, any other
// method gets 405 with `Allow: GET, HEAD`. nullopt for another path.
std::optional<Response> serveOps(const Request& request, const OpsEndpoints& ops);

// 405 with the Allow header a client needs to retry correctly (RFC 9110 §15.5.6).
Response methodNotAllowed(const std::string& allow);

}  // namespace vigil::http
