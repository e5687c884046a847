#include <gtest/gtest.h>

#include "app/config.h"

namespace vigil::app {
namespace {

// The example shipped in deploy/ is valid for every command that reads it.
TEST(ExampleConfigTest, ShippedExampleIsValid) {
  const std::string path = std::string(VIGIL_SOURCE_DIR) + "/deploy/examples/vigil.yaml";
  const ConfigResult result = loadConfig(path, kKafkaSection | kDetectSection | kDatasetsSection);
  for (const auto& p : result.problems) ADD_FAILURE() << p.format();
  ASSERT_TRUE(result.config);
  EXPECT_EQ(result.config->datasets.size(), 2u);
  EXPECT_EQ(result.config->remediate.actions.size(), 3u);
}

}  // namespace
}  // namespace vigil::app
