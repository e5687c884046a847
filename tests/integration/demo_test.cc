#include <gtest/gtest.h>

#include "tests/integration/support.h"

namespace vigil::testing {
namespace {

// `vigil demo` needs no arguments, ends by itself under two minutes, exits 0,
// and its timeline shows every injected fault kind firing, then resolving, and
// the worker's three risk tiers playing out against the local stubs.
TEST(DemoTest, ShowsEveryFaultFiringAndResolving) {
  const RunResult r = run({vigilBinary(), "demo"}, std::chrono::seconds(120));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  for (const char* type :
       {"latency_spike", "stale_data", "volume_drop", "null_spike", "schema_drift"}) {
    const auto firing = r.out.find(std::string("FIRING   ") + type);
    const auto resolved = r.out.find(std::string("RESOLVED ") + type);
    ASSERT_NE(firing, std::string::npos) << type << "\n" << r.out;
    ASSERT_NE(resolved, std::string::npos) << type << "\n" << r.out;
    EXPECT_LT(firing, resolved) << type;
  }
  for (const char* line :
       {"job rerun/etl_orders_01 started: the fault ends", "verified rerun on orders/etl_orders_01",
        "POST /v1/approvals/", "approved rollback on orders/etl_orders_03",
        "verified rollback on orders/etl_orders_03", "escalated scale on orders/etl_orders_01",
        "PagerDuty trigger", "PagerDuty resolve",
        "low risk (rerun):        executed and verified: yes",
        "medium risk (rollback):  approved, executed and verified: yes",
        "high risk (scale):       never run, paged and the page resolved: yes"}) {
    EXPECT_NE(r.out.find(line), std::string::npos) << line << "\n" << r.out;
  }
  EXPECT_EQ(r.out.find("job scale/"), std::string::npos) << "high risk never runs";
}

}  // namespace
}  // namespace vigil::testing
