#include "common/secrets.h"

#include <gtest/gtest.h>

namespace vigil::secrets {
namespace {

class SecretsTest : public ::testing::Test {
 protected:
  void SetUp() override { clear(); }
  void TearDown() override { clear(); }
};

TEST_F(SecretsTest, EveryOccurrenceIsRedacted) {
  add("hunter22");
  EXPECT_EQ(redact("a hunter22 b hunter22hunter22"),
            "a [redacted] b [redacted][redacted]");
  EXPECT_EQ(redact("nothing here"), "nothing here");
}

// A secret that holds another goes whole, not in part.
TEST_F(SecretsTest, LongerSecretsGoFirst) {
  add("abcd");
  add("xxabcdxx");
  EXPECT_EQ(redact("xxabcdxx abcd"), "[redacted] [redacted]");
}

// Too short to be a secret: blanking it would garble every line.
TEST_F(SecretsTest, ShortValuesAreNotRegistered) {
  add("on");
  add("");
  EXPECT_EQ(redact("on and on"), "on and on");
}

// The replacement holding a secret does not loop.
TEST_F(SecretsTest, ReplacementIsNotRescanned) {
  add("redacted");
  EXPECT_EQ(redact("redacted"), "[redacted]");
}

}  // namespace
}  // namespace vigil::secrets
