#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "http/http_server.h"

namespace vigil::app {

// Local stand-ins for the services outside the machine — a job scheduler and
// PagerDuty's Events API v2 — on one loopback HTTP server, for the demo and
// the tests. Each checks what the real one checks:
//   POST /rerun/{pipeline}, /rollback/{pipeline}, /scale/{pipeline}: the job
//     API; needs an Idempotency-Key header (400 without); a key seen before
//     answers 200 again without running anything twice.
//   POST /v2/enqueue: Events API v2; 202 for a well-formed trigger or resolve
//     with the expected routing key, 400 with PagerDuty's error shape
//     otherwise; 429 while throttled.
// Thread-safe.
class ServiceStubs {
 public:
  struct Call {
    std::string method;
    std::string path;
    std::map<std::string, std::string> headers;  // names lower-cased
    std::string body;
    int status = 0;  // what the stub answered
  };
  // Called for every job run (not for a repeated Idempotency-Key) and every
  // accepted PagerDuty event, on the server's threads.
  using OnAccepted = std::function<void(const Call&)>;

  static std::unique_ptr<ServiceStubs> start(std::string routing_key, OnAccepted on_accepted,
                                             std::string& error);

  int port() const { return server_->port(); }
  std::string url(const std::string& path) const;
  // Every request whose path starts with `prefix`, in arrival order.
  std::vector<Call> calls(const std::string& prefix) const;
  // The next `n` PagerDuty requests get 429.
  void throttle(int n);

 private:
  ServiceStubs() = default;
  http::Response handle(const http::Request& request);
  http::Response pagerDuty(const http::Request& request);

  std::string routing_key_;
  OnAccepted on_accepted_;
  mutable std::mutex mutex_;
  std::vector<Call> calls_;
  std::set<std::string> idempotency_keys_;
  int throttled_ = 0;
  std::unique_ptr<http::HttpServer> server_;
};

}  // namespace vigil::app
