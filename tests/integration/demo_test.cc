#include <gtest/gtest.h>

#include "tests/integration/support.h"

namespace vigil::testing {
namespace {

// `vigil demo` needs no arguments, ends by itself under two minutes, exits 0,
// and its timeline shows every injected fault kind firing, then resolving.
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
}

}  // namespace
}  // namespace vigil::testing
