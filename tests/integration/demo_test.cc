#include <gtest/gtest.h>

#include "tests/integration/support.h"

namespace vigil::testing {
namespace {

// `vigil demo` needs no arguments, ends by itself well under two minutes,
// exits 0, and its timeline shows the injected spike firing and resolving.
TEST(DemoTest, ShowsTheSpikeFiringAndResolving) {
  const RunResult r = run({vigilBinary(), "demo"}, std::chrono::seconds(120));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  const auto fault = r.out.find("fault begins");
  const auto firing = r.out.find("FIRING   latency_spike orders/etl_orders_01");
  const auto resolved = r.out.find("RESOLVED latency_spike orders/etl_orders_01");
  ASSERT_NE(fault, std::string::npos) << r.out;
  ASSERT_NE(firing, std::string::npos) << r.out;
  ASSERT_NE(resolved, std::string::npos) << r.out;
  EXPECT_LT(fault, firing);
  EXPECT_LT(firing, resolved);
}

}  // namespace
}  // namespace vigil::testing
