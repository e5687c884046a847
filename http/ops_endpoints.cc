#include "http/ops_endpoints.h"

namespace vigil::http {

Response methodNotAllowed(const std::string& allow) {
  Response r = Response::text(405, "method not allowed: use " + allow + "\n");
  r.headers.emplace_back("Allow", allow);
  return r;
}

std::optional<Response> serveOps(const Request& request, const OpsEndpoints& ops) {
  if (request.path != "/metrics" && request.path != "/healthz" && request.path != "/readyz") {
    return std::nullopt;
  }
  if (request.method != "GET" && request.method != "HEAD") return methodNotAllowed("GET, HEAD");
  if (request.path == "/metrics") {
    return Response{200, "text/plain; version=0.0.4; charset=utf-8", ops.metrics(), {}};
  }
  if (request.path == "/healthz") return Response::text(200, "ok\n");
  return ops.ready() ? Response::text(200, "ready\n") : Response::text(503, ops.not_ready + "\n");
}

}  // namespace vigil::http
