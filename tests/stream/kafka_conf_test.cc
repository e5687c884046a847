#include "stream/kafka_conf.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <librdkafka/rdkafkacpp.h>

#include <algorithm>

namespace vigil::stream {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kCanary = "Zq8-canary-71f3";

// What librdkafka says about a property, or "" when it accepts it.
std::string problemOf(const std::string& name, const std::string& value, bool secret) {
  const auto problem = checkKafkaProperty(name, value, secret);
  return problem ? problem->message : "";
}

TEST(KafkaConfTest, AcceptedPropertiesHaveNoProblem) {
  EXPECT_FALSE(checkKafkaProperty("bootstrap.servers", "127.0.0.1:9092", false));
  EXPECT_FALSE(checkKafkaProperty("security.protocol", "SASL_SSL", false));
  EXPECT_FALSE(checkKafkaProperty("sasl.mechanism", "SCRAM-SHA-512", false));
  EXPECT_FALSE(checkKafkaProperty("sasl.password", kCanary, true));
  EXPECT_FALSE(checkKafkaProperty("acks", "all", false)) << "topic properties are accepted too";
}

TEST(KafkaConfTest, UnknownPropertyIsUnknown) {
  const auto problem = checkKafkaProperty("sasl.passwrd", "x", false);
  ASSERT_TRUE(problem);
  EXPECT_EQ(problem->kind, KafkaPropertyProblem::Kind::kUnknown);
  EXPECT_EQ(problem->message, "unknown librdkafka property");
  EXPECT_FALSE(knownKafkaProperty("sasl.passwrd"));
  EXPECT_TRUE(knownKafkaProperty("sasl.password"));
  EXPECT_TRUE(knownKafkaProperty("acks"));
}

// A value that is not a secret is quoted as librdkafka quotes it: that is the useful part.
TEST(KafkaConfTest, InvalidValueKeepsLibrdkafkasMessage) {
  const auto problem = checkKafkaProperty("security.protocol", "plaintxt", false);
  ASSERT_TRUE(problem);
  EXPECT_EQ(problem->kind, KafkaPropertyProblem::Kind::kInvalid);
  EXPECT_EQ(problem->message,
            "Invalid value \"plaintxt\" for configuration property \"security.protocol\"");
  EXPECT_EQ(problemOf("socket.timeout.ms", "5", false),
            "Configuration property \"socket.timeout.ms\" value 5 is outside allowed range "
            "10..300000")
      << "one line, without librdkafka's trailing newline";
}

// Every form of librdkafka's message that quotes the value loses it when the value is a secret.
TEST(KafkaConfTest, SecretValueIsNeverInTheMessage) {
  const std::string enum_problem = problemOf("security.protocol", kCanary, true);
  EXPECT_EQ(enum_problem, "Invalid value for configuration property \"security.protocol\"");

  const std::string list_problem = problemOf("debug", std::string("all,") + kCanary, true);
  EXPECT_EQ(list_problem, "Invalid value for configuration property \"debug\"");

  // librdkafka prints the number it read, "0099" as 0: no number stays.
  const std::string range_problem = problemOf("socket.timeout.ms", "0099", true);
  EXPECT_EQ(range_problem,
            "Configuration property \"socket.timeout.ms\" value is outside allowed range "
            "10..300000");

  const std::string bool_problem = problemOf("enable.idempotence", kCanary, true);
  EXPECT_THAT(bool_problem, HasSubstr("enable.idempotence"));
  EXPECT_THAT(bool_problem, Not(HasSubstr(kCanary)));
}

// A message of a form not cut (here librdkafka's dlopen error names the path) is withheld whole.
TEST(KafkaConfTest, MessageThatWouldStillShowTheSecretIsWithheld) {
  const std::string path = std::string("/nonexistent/") + kCanary;
  const std::string shown = problemOf("plugin.library.paths", path, false);
  ASSERT_THAT(shown, HasSubstr(kCanary)) << "the premise: librdkafka quotes this value";
  const std::string hidden = problemOf("plugin.library.paths", path, true);
  EXPECT_THAT(hidden, HasSubstr("not shown"));
  EXPECT_THAT(hidden, Not(HasSubstr(kCanary)));
}

// Sensitive properties are secrets wherever they are written: checkKafkaProperty implies `secret`.
TEST(KafkaConfTest, SensitivePropertiesAreKnownByName) {
  EXPECT_TRUE(sensitiveKafkaProperty("sasl.password"));
  EXPECT_TRUE(sensitiveKafkaProperty("ssl.keystore.password"));
  EXPECT_TRUE(sensitiveKafkaProperty("ssl.key.pem"));
  EXPECT_TRUE(sensitiveKafkaProperty("sasl.oauthbearer.client.secret"));
  EXPECT_FALSE(sensitiveKafkaProperty("bootstrap.servers"));
  EXPECT_FALSE(sensitiveKafkaProperty("security.protocol"));
}

TEST(KafkaConfTest, PropertyNamesComeFromLibrdkafka) {
  const auto& names = kafkaPropertyNames();
  EXPECT_GT(names.size(), 150u);
  EXPECT_THAT(names, Contains("bootstrap.servers"));
  EXPECT_THAT(names, Contains("sasl.password"));
  EXPECT_THAT(names, Contains("auto.offset.reset")) << "topic properties";
  EXPECT_THAT(names, Not(Contains("Property")));
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
}

// makeKafkaConf, which judges values it did not load, never quotes one.
TEST(KafkaConfTest, MakeKafkaConfNamesThePropertyNotTheValue) {
  std::string error;
  EXPECT_TRUE(makeKafkaConf({{"bootstrap.servers", "127.0.0.1:1"}}, error)) << error;
  EXPECT_FALSE(makeKafkaConf({{"security.protocol", kCanary}}, error));
  EXPECT_EQ(error,
            "kafka.security.protocol: Invalid value for configuration property "
            "\"security.protocol\"");
  EXPECT_FALSE(makeKafkaConf({{"no.such.property", kCanary}}, error));
  EXPECT_EQ(error, "kafka.no.such.property: unknown librdkafka property");
}

}  // namespace
}  // namespace vigil::stream
