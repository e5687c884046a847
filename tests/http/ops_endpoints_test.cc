#include "http/ops_endpoints.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace vigil::http {
namespace {

using ::testing::Contains;
using ::testing::IsEmpty;
using Header = std::pair<std::string, std::string>;

Request request(const std::string& method, const std::string& path) {
  Request r;
  r.method = method;
  r.path = path;
  return r;
}

struct Fixture {
  bool ready = false;
  OpsEndpoints ops{[] { return std::string("vigil_up 1\n"); }, [this] { return ready; },
                   "waiting"};
};

TEST(OpsEndpointsTest, GetAndHeadAnswer) {
  Fixture f;
  for (const char* method : {"GET", "HEAD"}) {
    const auto metrics = serveOps(request(method, "/metrics"), f.ops);
    ASSERT_TRUE(metrics);
    EXPECT_EQ(metrics->status, 200);
    EXPECT_EQ(metrics->body, "vigil_up 1\n");
    EXPECT_EQ(metrics->content_type, "text/plain; version=0.0.4; charset=utf-8");
    EXPECT_EQ(serveOps(request(method, "/healthz"), f.ops)->status, 200);
  }
  const auto waiting = serveOps(request("GET", "/readyz"), f.ops);
  EXPECT_EQ(waiting->status, 503);
  EXPECT_EQ(waiting->body, "waiting\n");
  f.ready = true;
  EXPECT_EQ(serveOps(request("GET", "/readyz"), f.ops)->status, 200);
}

// The endpoints are read-only: any other method is 405 and says which ones work.
TEST(OpsEndpointsTest, OtherMethodsGet405WithAllow) {
  Fixture f;
  for (const char* path : {"/metrics", "/healthz", "/readyz"}) {
    for (const char* method : {"POST", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
      const auto r = serveOps(request(method, path), f.ops);
      ASSERT_TRUE(r) << method << " " << path;
      EXPECT_EQ(r->status, 405) << method << " " << path;
      EXPECT_THAT(r->headers, Contains(Header("Allow", "GET, HEAD"))) << method << " " << path;
    }
  }
}

// Other paths are the caller's (404, or the approvals API).
TEST(OpsEndpointsTest, OtherPathsAreNotServed) {
  Fixture f;
  EXPECT_FALSE(serveOps(request("GET", "/"), f.ops));
  EXPECT_FALSE(serveOps(request("POST", "/metricsx"), f.ops));
  EXPECT_FALSE(serveOps(request("GET", "/v1/approvals"), f.ops));
}

TEST(OpsEndpointsTest, MethodNotAllowedNamesTheMethods) {
  const Response r = methodNotAllowed("GET");
  EXPECT_EQ(r.status, 405);
  EXPECT_THAT(r.headers, Contains(Header("Allow", "GET")));
  EXPECT_THAT(r.body, ::testing::Not(IsEmpty()));
}

}  // namespace
}  // namespace vigil::http
