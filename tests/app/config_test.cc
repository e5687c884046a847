#include "app/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace vigil::app {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using namespace std::chrono_literals;

constexpr unsigned kAllSections =
    kKafkaSection | kDetectSection | kDatasetsSection | kRemediateSection;

// One line per problem, as `vigil check-config` prints them.
std::vector<std::string> problemsOf(const ConfigResult& result) {
  std::vector<std::string> out;
  for (const ConfigProblem& p : result.problems) out.push_back(p.format());
  return out;
}

std::vector<std::string> problemsOf(const std::string& yaml, unsigned required,
                                    const std::string& base_dir = ".") {
  return problemsOf(parseConfig(yaml, required, base_dir));
}

// A temporary directory for secret files, removed when the test ends.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "vigil-config-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Writes `contents` to `name` in the directory and returns its full path.
  std::string write(const std::string& name, const std::string& contents) const {
    const std::filesystem::path file = path_ / name;
    std::ofstream(file, std::ios::binary) << contents;
    return file.string();
  }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// A dataset that is valid on its own; tests append to or change it.
constexpr const char* kMinimalDataset = R"(
datasets:
  - name: orders
    topic: orders.events
    checks:
      freshness: { max_age: 10m }
)";

// The example of SPEC §2, with secret files under `dir`.
std::string specExample(const std::string& dir) {
  return R"(
kafka:
  bootstrap.servers: 127.0.0.1:9092
  sasl.password_file: )" +
         dir + R"(/kafka
detect:
  group_id: vigil-detect
  failures_topic: vigil.failures
  threads: 0
  listen: 127.0.0.1:9464
  state_topic: vigil.state
  idle_timeout: 20s
datasets:
  - name: orders
    topic: orders.events
    series_key: pipeline_id
    event_time: ts
    window: 5m
    step: 10s
    checks:
      latency:
        field: latency_ms
        unit: ms
        p95_max: 2s
        p99_max: 5s
        adaptive: {}
      freshness:
        max_age: 10m
      volume:
        count_field: rows
        min: 1000
        max: 100000
        adaptive: {}
      nulls:
        fields: [user_id, amount]
        max_rate: 0.01
        adaptive: {}
      schema:
        required: [user_id, amount]
        alert_on_new_fields: true
    alert:
      for: 0s
      keep_firing_for: 1m
      severity: error
remediate:
  group_id: vigil-remediate
  failures_topic: vigil.failures
  outcomes_topic: vigil.outcomes
  mode: enforce
  listen: 127.0.0.1:8088
  api_token_file: )" +
         dir + R"(/vigil-api-token
  budget: { per_pipeline_per_hour: 3, global_per_hour: 30 }
  approval_ttl: 30m
  actions:
    rerun:    { type: http, method: POST, url: "http://127.0.0.1:9000/rerun/{pipeline_id}", risk: low, timeout: 10s }
    restart:  { type: command, argv: ["/usr/local/bin/restart-job", "{pipeline_id}"], risk: low, timeout: 60s }
    rollback: { type: http, method: POST, url: "http://127.0.0.1:9000/rollback/{pipeline_id}", risk: medium }
    notify:   { type: kafka, topic: pipeline.commands, risk: low }
    page:     { type: pagerduty, routing_key_file: )" +
         dir + R"(/pd, severity: critical,
                url: "https://events.pagerduty.com/v2/enqueue" }
  playbooks:
    - match: { failure_type: [latency_spike, stale_data], dataset: "orders*" }
      steps:
        - { action: rerun, retries: 3, backoff: 30s, verify_within: 5m }
        - { action: rollback, verify_within: 10m }
      escalate: page
  default_escalation: page
)";
}

// The whole example of the spec parses, every section, with secrets read from files.
TEST(ConfigTest, SpecExampleParses) {
  TempDir dir;
  dir.write("kafka", "kafka-secret\n");
  dir.write("vigil-api-token", "api-token\n");
  dir.write("pd", "routing-key\n");
  const ConfigResult result = parseConfig(specExample(dir.path()), kAllSections);
  ASSERT_THAT(problemsOf(result), IsEmpty());
  const Config& c = *result.config;

  EXPECT_EQ(c.kafka.at("bootstrap.servers"), "127.0.0.1:9092");
  EXPECT_EQ(c.kafka.at("sasl.password"), "kafka-secret");
  EXPECT_FALSE(c.kafka.contains("sasl.password_file"));

  EXPECT_EQ(c.detect.listen, "127.0.0.1:9464");
  EXPECT_EQ(c.detect.idle_timeout, 20s);

  ASSERT_EQ(c.datasets.size(), 1u);
  const detectors::DatasetSpec& d = c.datasets[0];
  EXPECT_EQ(d.name, "orders");
  EXPECT_EQ(d.series_key, "pipeline_id");
  EXPECT_EQ(d.window, 5min);
  EXPECT_EQ(d.step, 10s);
  ASSERT_TRUE(d.latency && d.freshness && d.volume && d.nulls && d.schema);
  EXPECT_EQ(d.latency->p95_max, 2s);
  EXPECT_EQ(d.latency->p99_max, 5s);
  EXPECT_TRUE(d.latency->adaptive.has_value());
  EXPECT_EQ(d.freshness->max_age, 10min);
  EXPECT_EQ(d.volume->min, 1000);
  EXPECT_EQ(d.volume->max, 100000);
  EXPECT_THAT(d.nulls->fields, ElementsAre("user_id", "amount"));
  EXPECT_EQ(d.nulls->max_rate, 0.01);
  EXPECT_TRUE(d.schema->alert_on_new_fields);
  EXPECT_EQ(d.alert.keep_firing_for, 1min);
  EXPECT_EQ(d.alert.severity, detectors::Severity::kError);

  const remediation::RemediateSpec& r = c.remediate;
  EXPECT_EQ(r.api_token, "api-token");
  EXPECT_EQ(r.budget.global_per_hour, 30u);
  ASSERT_EQ(r.actions.size(), 5u);
  EXPECT_EQ(r.actions[0].name, "rerun");
  EXPECT_EQ(r.actions[0].url, "http://127.0.0.1:9000/rerun/{pipeline_id}");
  EXPECT_THAT(r.actions[1].argv, ElementsAre("/usr/local/bin/restart-job", "{pipeline_id}"));
  EXPECT_EQ(r.actions[1].timeout, 60s);
  EXPECT_EQ(r.actions[2].risk, remediation::Risk::kMedium);
  EXPECT_EQ(r.actions[3].topic, "pipeline.commands");
  EXPECT_EQ(r.actions[4].routing_key, "routing-key");
  EXPECT_EQ(r.actions[4].severity, detectors::Severity::kCritical);
  ASSERT_EQ(r.playbooks.size(), 1u);
  EXPECT_THAT(r.playbooks[0].failure_types, ElementsAre("latency_spike", "stale_data"));
  EXPECT_EQ(r.playbooks[0].dataset_glob, "orders*");
  ASSERT_EQ(r.playbooks[0].steps.size(), 2u);
  EXPECT_EQ(r.playbooks[0].steps[0].retries, 3u);
  EXPECT_EQ(r.playbooks[0].steps[1].verify_within, 10min);
  EXPECT_EQ(r.playbooks[0].steps[1].backoff, 30s);
  EXPECT_EQ(r.playbooks[0].escalate, "page");
  EXPECT_EQ(r.default_escalation, "page");
}

// Keys left out take the documented defaults.
TEST(ConfigTest, OmittedKeysTakeDefaults) {
  const ConfigResult result = parseConfig(kMinimalDataset, kDatasetsSection);
  ASSERT_THAT(problemsOf(result), IsEmpty());
  const detectors::DatasetSpec& d = result.config->datasets.at(0);
  EXPECT_EQ(d.window, 5min);
  EXPECT_EQ(d.step, 10s);
  EXPECT_EQ(d.lateness(), 10s);
  EXPECT_EQ(d.alert.severity, detectors::Severity::kError);
  EXPECT_FALSE(d.latency.has_value());
}

// A value of the wrong shape is reported at its exact key path inside a list.
TEST(ConfigTest, BadDurationNamesItsKeyPath) {
  const std::string yaml = std::string(kMinimalDataset) + R"(
  - name: payments
    topic: payments.events
    checks:
      latency: { p99_max: fast }
)";
  EXPECT_THAT(problemsOf(yaml, kDatasetsSection),
              ElementsAre("datasets[1].checks.latency.p99_max: expected a duration like 5s"));
}

// A negative thread count is not an integer the section accepts.
TEST(ConfigTest, NegativeThreadsIsReported) {
  EXPECT_THAT(problemsOf("detect: { threads: -1 }", kDetectSection),
              ElementsAre("detect.threads: expected a non-negative integer"));
}

// A missing required key is reported at the path where it belongs.
TEST(ConfigTest, MissingDatasetNameIsRequired) {
  EXPECT_THAT(problemsOf(R"(
datasets:
  - topic: orders.events
    checks: { freshness: { max_age: 1m } }
)",
                         kDatasetsSection),
              ElementsAre("datasets[0].name: required"));
}

// Dataset names are unique; the later duplicate is the one reported.
TEST(ConfigTest, DuplicateDatasetNameIsReported) {
  const std::string yaml = std::string(kMinimalDataset) + R"(
  - name: payments
    topic: payments.events
    checks: { freshness: { max_age: 1m } }
  - name: orders
    topic: other.events
    checks: { freshness: { max_age: 1m } }
)";
  EXPECT_THAT(problemsOf(yaml, kDatasetsSection),
              ElementsAre(R"(datasets[2].name: duplicate dataset name "orders")"));
}

// Every problem is reported, in the order they appear in the file, not just the first.
TEST(ConfigTest, AllProblemsAreReportedInFileOrder) {
  EXPECT_THAT(
      problemsOf(R"(
detect:
  threads: many
  listen: nowhere
datasets:
  - name: orders
    window: 5x
    checks:
      nulls: { fields: [], max_rate: 2 }
)",
                 kDetectSection | kDatasetsSection),
      ElementsAre("detect.threads: expected a non-negative integer",
                  R"(detect.listen: expected HOST:PORT (port 0..65535), or "" to disable)",
                  "datasets[0].topic: required", "datasets[0].window: expected a duration like 5s",
                  "datasets[0].checks.nulls.fields: must list at least one field",
                  "datasets[0].checks.nulls.max_rate: expected a number between 0 and 1"));
}

// An unknown key close to a known one gets a suggestion.
TEST(ConfigTest, UnknownKeySuggestsClosestKnownKey) {
  EXPECT_THAT(problemsOf(R"(
datasets:
  - name: orders
    topic: orders.events
    checks:
      latncy: { p99_max: 5s }
)",
                         kDatasetsSection),
              ElementsAre(R"(datasets[0].checks.latncy: unknown key (did you mean "latency"?))"));
}

// An unknown key far from every known key is reported without a suggestion.
TEST(ConfigTest, UnknownKeyFarFromKnownKeysHasNoSuggestion) {
  EXPECT_THAT(problemsOf("detect: { colour: blue }", kDetectSection),
              ElementsAre("detect.colour: unknown key"));
}

// A suggestion must share a character with the word: "ab" is not a typo of "s".
TEST(ConfigTest, NoSuggestionThatSharesNothing) {
  EXPECT_THAT(problemsOf("datasets: [{ name: a, topic: t, checks: { latency: { unit: ab, "
                         "p99_max: 1s } } }]",
                         kDatasetsSection),
              ElementsAre("datasets[0].checks.latency.unit: expected one of us, ms, s"));
}

// A misspelled top-level section is an unknown key, so a required one is also missing.
TEST(ConfigTest, MisspelledSectionIsReported) {
  EXPECT_THAT(problemsOf("kafak: { bootstrap.servers: b:9092 }", kKafkaSection),
              ElementsAre("kafka: required", R"(kafak: unknown key (did you mean "kafka"?))"));
}

// A key written twice in one map is reported rather than silently shadowed.
TEST(ConfigTest, DuplicateKeyIsReported) {
  EXPECT_THAT(problemsOf("detect:\n  threads: 1\n  threads: 2\n", kDetectSection),
              ElementsAre("detect.threads: duplicate key"));
}

// A YAML syntax error is one problem at "config" with a 1-based line and column.
TEST(ConfigTest, SyntaxErrorIsOneProblemWithLineAndColumn) {
  const ConfigResult result = parseConfig("detect:\n  threads: [1, 2\n", kDetectSection);
  ASSERT_EQ(result.problems.size(), 1u);
  EXPECT_EQ(result.problems[0].path, "config");
  EXPECT_THAT(result.problems[0].message, HasSubstr("invalid YAML at line 3, column 1"));
  EXPECT_FALSE(result.config.has_value());
}

// A document that is not a map of sections is reported, not thrown.
TEST(ConfigTest, NonMapDocumentIsReported) {
  EXPECT_THAT(problemsOf("- just\n- a list\n", kDetectSection),
              ElementsAre("config: expected a map"));
}

// A required section that is absent is reported under the section's name.
TEST(ConfigTest, MissingRequiredSectionIsReported) {
  EXPECT_THAT(problemsOf("detect: {}\n", kKafkaSection | kDetectSection | kDatasetsSection),
              ElementsAre("kafka: required", "datasets: required"));
}

// When kafka is required it must name the brokers.
TEST(ConfigTest, RequiredKafkaNeedsBootstrapServers) {
  EXPECT_THAT(problemsOf("kafka: { client.id: vigil }\n", kKafkaSection),
              ElementsAre("kafka.bootstrap.servers: required"));
}

// A section the command does not need is still validated (a typo is never ignored).
TEST(ConfigTest, SectionNotRequiredIsStillValidated) {
  EXPECT_THAT(
      problemsOf(std::string(kMinimalDataset) + "detect: { thread: 2 }\n", kDatasetsSection),
      ElementsAre(R"(detect.thread: unknown key (did you mean "threads"?))"));
}

// A valid section the command does not need is returned too (check-config counts it).
TEST(ConfigTest, SectionNotRequiredIsReturned) {
  const ConfigResult result =
      parseConfig(std::string(kMinimalDataset) + "detect: { threads: 2 }\n", 0);
  ASSERT_TRUE(result.config.has_value());
  EXPECT_EQ(result.config->detect.threads, 2u);
  EXPECT_EQ(result.config->datasets.size(), 1u);
}

// Secrets of a section the command does not need are not read (that process may not see them).
TEST(ConfigTest, SecretsOfSectionNotRequiredAreNotRead) {
  const std::string yaml =
      std::string(kMinimalDataset) +
      "kafka: { bootstrap.servers: b:9092, sasl.password_file: /nonexistent }\n";
  const ConfigResult result = parseConfig(yaml, kDatasetsSection);
  ASSERT_THAT(problemsOf(result), IsEmpty());
  EXPECT_FALSE(result.config->kafka.contains("sasl.password"));
  EXPECT_THAT(problemsOf(yaml, kKafkaSection),
              ElementsAre("kafka.sasl.password_file: cannot read /nonexistent: "
                          "No such file or directory"));
}

// Kafka properties are strings, numbers and booleans passed through as written.
TEST(ConfigTest, KafkaScalarsPassVerbatim) {
  const ConfigResult result = parseConfig(R"(
kafka:
  bootstrap.servers: 127.0.0.1:9092
  enable.idempotence: true
  linger.ms: 5
  compression.type: zstd
)",
                                          kKafkaSection);
  ASSERT_THAT(problemsOf(result), IsEmpty());
  EXPECT_EQ(result.config->kafka.at("enable.idempotence"), "true");
  EXPECT_EQ(result.config->kafka.at("linger.ms"), "5");
  EXPECT_EQ(result.config->kafka.at("compression.type"), "zstd");
}

// A kafka property must be a scalar.
TEST(ConfigTest, KafkaNonScalarIsReported) {
  EXPECT_THAT(problemsOf("kafka: { bootstrap.servers: [a, b] }\n", kKafkaSection),
              ElementsAre("kafka.bootstrap.servers: expected a string, number or boolean"));
}

// A `_file` property loses exactly one trailing newline, no more.
TEST(ConfigTest, FileSubstitutionStripsExactlyOneNewline) {
  TempDir dir;
  dir.write("password", "s3cret\n\n");
  const ConfigResult result =
      parseConfig("kafka: { bootstrap.servers: b:9092, sasl.password_file: password }\n",
                  kKafkaSection, dir.path());
  ASSERT_THAT(problemsOf(result), IsEmpty());
  EXPECT_EQ(result.config->kafka.at("sasl.password"), "s3cret\n");
}

// A relative `_file` path resolves against base_dir, not the working directory.
TEST(ConfigTest, RelativeFileResolvesAgainstBaseDir) {
  TempDir dir;
  dir.write("pd", "key");
  const ConfigResult result = parseConfig(R"(
remediate:
  actions:
    page: { type: pagerduty, routing_key_file: pd }
)",
                                          kRemediateSection, dir.path());
  ASSERT_THAT(problemsOf(result), IsEmpty());
  EXPECT_EQ(result.config->remediate.actions.at(0).routing_key, "key");
}

// An unreadable secret file names the key and the path, never the contents.
TEST(ConfigTest, UnreadableSecretNamesKeyNotContents) {
  TempDir dir;
  const std::vector<std::string> problems =
      problemsOf("remediate: { api_token_file: missing-token }\n", kRemediateSection, dir.path());
  EXPECT_THAT(problems, ElementsAre("remediate.api_token_file: cannot read " + dir.path() +
                                    "/missing-token: No such file or directory"));
}

// Writing both a property and its `_file` form is ambiguous and reported.
TEST(ConfigTest, PropertyAndFileFormConflict) {
  TempDir dir;
  dir.write("pw", "x");
  EXPECT_THAT(
      problemsOf("kafka: { bootstrap.servers: b:1, sasl.password: a, sasl.password_file: pw }",
                 kKafkaSection, dir.path()),
      ElementsAre("kafka.sasl.password_file: conflicts with sasl.password: set one of them"));
}

// librdkafka judges every kafka property when the config is loaded: a typo of its name gets the
// closest property librdkafka has, in the form written (inline or `_file`).
TEST(ConfigTest, UnknownKafkaPropertySuggestsLibrdkafkasName) {
  EXPECT_THAT(
      problemsOf("kafka: { bootstrap.servers: b:1, sasl.passwrd: x, sasl.usernme_file: u }\n", 0),
      ElementsAre(R"(kafka.sasl.passwrd: unknown librdkafka property (did you mean "sasl.password"?))",
                  R"(kafka.sasl.usernme_file: unknown librdkafka property (did you mean "sasl.username_file"?))"));
  EXPECT_THAT(problemsOf("kafka: { bootstrap.servers: b:1, frobnicate: 1 }\n", kKafkaSection),
              ElementsAre("kafka.frobnicate: unknown librdkafka property"));
}

// An invalid value written inline is reported with librdkafka's message, which quotes it; also
// by check-config, which requires no section.
TEST(ConfigTest, InvalidKafkaValueHasLibrdkafkasMessage) {
  EXPECT_THAT(
      problemsOf("kafka: { bootstrap.servers: b:1, security.protocol: plaintxt, linger.ms: soon }\n",
                 0),
      ElementsAre("kafka.security.protocol: Invalid value \"plaintxt\" for configuration property "
                  "\"security.protocol\"",
                  "kafka.linger.ms: Invalid value for configuration property "
                  "\"queue.buffering.max.ms\""));
}

// A value read from a file is a secret: librdkafka judges it, and the problem never quotes it.
TEST(ConfigTest, InvalidKafkaValueFromFileIsNeverQuoted) {
  TempDir dir;
  dir.write("protocol", "Zq8-canary-protocol\n");
  dir.write("timeout", "0099\n");
  const std::vector<std::string> problems = problemsOf(
      "kafka: { bootstrap.servers: b:1, security.protocol_file: protocol, "
      "socket.timeout.ms_file: timeout }\n",
      kKafkaSection, dir.path());
  EXPECT_THAT(problems,
              ElementsAre("kafka.security.protocol_file: Invalid value for configuration property "
                          "\"security.protocol\"",
                          "kafka.socket.timeout.ms_file: Configuration property "
                          "\"socket.timeout.ms\" value is outside allowed range 10..300000"));
  // Not read when kafka is not required: only the names are checked.
  EXPECT_THAT(problemsOf("kafka: { bootstrap.servers: b:1, security.protocol_file: protocol }\n",
                         0, dir.path()),
              IsEmpty());
}

// Every value read from a file, and a sensitive property written inline, is listed as a secret
// (the commands register them so no log line shows them); nothing else is.
TEST(ConfigTest, SecretsAreListed) {
  TempDir dir;
  dir.write("kafka", "kafka-pass\n");
  dir.write("token", "api-token\n");
  dir.write("pd", "routing-key\n");
  const ConfigResult result = parseConfig(R"(
kafka:
  bootstrap.servers: b:1
  sasl.username: vigil-user
  sasl.password_file: kafka
  ssl.key.password: inline-pass
remediate:
  api_token_file: token
  actions: { page: { type: pagerduty, routing_key_file: pd } }
)",
                                          kKafkaSection | kRemediateSection, dir.path());
  ASSERT_THAT(problemsOf(result), IsEmpty());
  EXPECT_THAT(result.secrets, ::testing::UnorderedElementsAre("vigil-user", "kafka-pass",
                                                              "inline-pass", "api-token",
                                                              "routing-key"));
  // Listed also when the config has problems: the problems are printed after registering them.
  const ConfigResult bad =
      parseConfig("kafka: { bootstrap.servers: b:1, sasl.password_file: kafka, bogus: 1 }\n",
                  kKafkaSection, dir.path());
  EXPECT_FALSE(bad.config);
  EXPECT_THAT(bad.secrets, ElementsAre("kafka-pass"));
}

// An http action's header can come from a file (a scheduler's token): sent as read, a secret.
TEST(ConfigTest, HeaderFilesAreReadAsSecrets) {
  TempDir dir;
  dir.write("auth", "Bearer sched-token\n");
  dir.write("broken", "Bearer a\nX-Injected: b\n");
  const ConfigResult result = parseConfig(R"(
remediate:
  actions:
    rerun: { type: http, risk: low, url: "http://s/r", headers: { X-A: "{dataset}" },
             header_files: { Authorization: auth } }
)",
                                          kRemediateSection, dir.path());
  ASSERT_THAT(problemsOf(result), IsEmpty());
  const auto& action = result.config->remediate.actions.at(0);
  EXPECT_EQ(action.secret_headers.at("Authorization"), "Bearer sched-token");
  EXPECT_FALSE(action.headers.contains("Authorization"));
  EXPECT_THAT(result.secrets, ElementsAre("Bearer sched-token"));

  EXPECT_THAT(problemsOf(R"(
remediate:
  actions:
    a: { type: http, risk: low, url: "http://s/r", headers: { authorization: x },
         header_files: { Authorization: auth } }
    b: { type: http, risk: low, url: "http://s/r", header_files: { Authorization: broken } }
    c: { type: kafka, topic: t, header_files: { Authorization: auth } }
)",
                         kRemediateSection, dir.path()),
              ElementsAre("remediate.actions.a.header_files.Authorization: conflicts with "
                          "headers.authorization: set one of them",
                          "remediate.actions.b.header_files.Authorization: the file holds a line "
                          "break or NUL (one trailing newline is dropped)",
                          "remediate.actions.c.header_files: unknown key"));
}

// A duration that must be positive says so when written 0s.
TEST(ConfigTest, ZeroWindowMustBePositive) {
  EXPECT_THAT(problemsOf(std::string(kMinimalDataset) + "    window: 0s\n", kDatasetsSection),
              ElementsAre("datasets[0].window: must be positive"));
}

// A bare 0 is not a duration; 0s is.
TEST(ConfigTest, BareZeroIsNotADuration) {
  EXPECT_THAT(
      problemsOf(std::string(kMinimalDataset) + "    alert: { for: 0 }\n", kDatasetsSection),
      ElementsAre("datasets[0].alert.for: expected a duration like 5s"));
}

// The window must hold a whole number of steps.
TEST(ConfigTest, WindowMustBeMultipleOfStep) {
  EXPECT_THAT(
      problemsOf(std::string(kMinimalDataset) + "    window: 5m\n    step: 7s\n", kDatasetsSection),
      ElementsAre("datasets[0].window: must be a multiple of step (7s)"));
}

// The window cannot be shorter than one step.
TEST(ConfigTest, WindowMustBeAtLeastStep) {
  EXPECT_THAT(problemsOf(std::string(kMinimalDataset) + "    window: 10s\n    step: 1m\n",
                         kDatasetsSection),
              ElementsAre("datasets[0].window: must be at least step (1m)"));
}

// A window of more than 10000 steps is refused.
TEST(ConfigTest, TooManyStepsPerWindowIsReported) {
  EXPECT_THAT(
      problemsOf(std::string(kMinimalDataset) + "    window: 1h\n    step: 100ms\n",
                 kDatasetsSection),
      ElementsAre("datasets[0].step: window 1h holds more than 10000 steps of 100ms: use a larger "
                  "step"));
}

// Allowed lateness cannot exceed the window.
TEST(ConfigTest, LatenessMustNotExceedWindow) {
  EXPECT_THAT(
      problemsOf(std::string(kMinimalDataset) + "    allowed_lateness: 10m\n", kDatasetsSection),
      ElementsAre("datasets[0].allowed_lateness: must not exceed window (5m)"));
}

// A check with no bound would never fire, so each kind says which bounds it takes.
TEST(ConfigTest, CheckWithoutBoundIsReported) {
  EXPECT_THAT(
      problemsOf(R"(
datasets:
  - name: orders
    topic: orders.events
    checks:
      latency: { unit: s }
      volume: { count_field: rows }
      nulls: { fields: [a] }
)",
                 kDatasetsSection),
      ElementsAre(
          "datasets[0].checks.latency: no bound configured: set p95_max, p99_max or adaptive",
          "datasets[0].checks.volume: no bound configured: set min, max or adaptive",
          "datasets[0].checks.nulls: no bound configured: set max_rate or adaptive"));
}

// A dataset must configure at least one check.
TEST(ConfigTest, EmptyChecksIsReported) {
  EXPECT_THAT(problemsOf("datasets: [{ name: a, topic: t, checks: {} }]", kDatasetsSection),
              ElementsAre("datasets[0].checks: at least one check is required: latency, "
                          "freshness, volume, nulls or schema"));
}

// Required datasets cannot be an empty list.
TEST(ConfigTest, EmptyDatasetsIsReportedWhenRequired) {
  EXPECT_THAT(problemsOf("datasets: []", kDatasetsSection),
              ElementsAre("datasets: at least one dataset is required"));
}

// A volume minimum above the maximum can never be satisfied.
TEST(ConfigTest, VolumeMinAboveMaxIsReported) {
  EXPECT_THAT(
      problemsOf("datasets: [{ name: a, topic: t, checks: { volume: { min: 10, max: 5 } } }]",
                 kDatasetsSection),
      ElementsAre("datasets[0].checks.volume.min: must not exceed max (5)"));
}

// Adaptive options are checked one by one, enum values with a suggestion.
TEST(ConfigTest, AdaptiveOptionsAreValidated) {
  EXPECT_THAT(
      problemsOf(R"(
datasets:
  - name: a
    topic: t
    checks:
      volume:
        adaptive: { sensitivity: -1, seasonality: hour_of_dya, direction: sideways }
)",
                 kDatasetsSection),
      ElementsAre(
          "datasets[0].checks.volume.adaptive.sensitivity: expected a positive number",
          R"(datasets[0].checks.volume.adaptive.seasonality: expected one of auto, none, hour_of_day, hour_of_week (did you mean "hour_of_day"?))",
          "datasets[0].checks.volume.adaptive.direction: expected one of up, down, both"));
}

// Adaptive must be a map, even an empty one.
TEST(ConfigTest, AdaptiveMustBeAMap) {
  EXPECT_THAT(problemsOf("datasets: [{ name: a, topic: t, checks: { nulls: { fields: [x], "
                         "adaptive: true } } }]",
                         kDatasetsSection),
              ElementsAre("datasets[0].checks.nulls.adaptive: expected a map"));
}

// Severity and latency unit accept only their documented values, with a suggestion.
TEST(ConfigTest, EnumValuesAreChecked) {
  EXPECT_THAT(
      problemsOf(R"(
datasets:
  - name: a
    topic: t
    checks: { latency: { unit: sec, p99_max: 1s } }
    alert: { severity: critcal }
)",
                 kDatasetsSection),
      ElementsAre(
          R"(datasets[0].checks.latency.unit: expected one of us, ms, s (did you mean "s"?))",
          R"(datasets[0].alert.severity: expected one of critical, error, warning, info (did you mean "critical"?))"));
}

// Freshness needs a positive max_age.
TEST(ConfigTest, FreshnessNeedsMaxAge) {
  EXPECT_THAT(
      problemsOf("datasets: [{ name: a, topic: t, checks: { freshness: {} } }]", kDatasetsSection),
      ElementsAre("datasets[0].checks.freshness.max_age: required"));
}

// max_record_bytes and max_series are positive integers.
TEST(ConfigTest, DatasetLimitsArePositiveIntegers) {
  EXPECT_THAT(problemsOf(std::string(kMinimalDataset) +
                             "    max_record_bytes: 0\n    max_series: 5000000000\n",
                         kDatasetsSection),
              ElementsAre("datasets[0].max_record_bytes: expected a positive integer",
                          "datasets[0].max_series: must be at most 4294967295"));
}

// max_record_bytes is capped at 64 MiB: each partition's decoder is sized for it.
TEST(ConfigTest, MaxRecordBytesIsAtMost64MiB) {
  EXPECT_THAT(problemsOf(std::string(kMinimalDataset) + "    max_record_bytes: 67108865\n",
                         kDatasetsSection),
              ElementsAre("datasets[0].max_record_bytes: must be at most 67108864"));
  EXPECT_THAT(problemsOf(std::string(kMinimalDataset) + "    max_record_bytes: 67108864\n",
                         kDatasetsSection),
              IsEmpty());
}

// A text that is not UTF-8 is one problem that says where.
TEST(ConfigTest, TextThatIsNotUtf8IsOneProblem) {
  EXPECT_THAT(problemsOf("detect:\n  group_id: g\xff\n", kDetectSection),
              ElementsAre("config: not UTF-8 text: invalid byte at line 2, column 14"));
  EXPECT_THAT(problemsOf("detect: { group_id: \"\xed\xa0\x80\" }", kDetectSection),
              ElementsAre("config: not UTF-8 text: invalid byte at line 1, column 22"));
}

// The parser's message may quote a control character of the text: escaped too.
TEST(ConfigTest, SyntaxErrorQuotingAControlCharacterIsOneLine) {
  EXPECT_THAT(problemsOf("detect: { group_id: \"a\\\x01\" }\n", kDetectSection),
              ElementsAre("config: invalid YAML at line 1, column 25: unknown escape character: "
                          "\\x01"));
}

// An empty key still gets a path to name it by.
TEST(ConfigTest, EmptyKeyIsNamedByItsQuotes) {
  EXPECT_THAT(problemsOf("\"\": 1\ndetect: { \"\": 2 }\n", kDetectSection),
              ElementsAre(R"("": unknown key)", R"(detect."": unknown key)"));
}

// A NUL byte is no YAML (yaml-cpp would turn it into other bytes): one problem that says where.
TEST(ConfigTest, NulByteIsOneProblem) {
  EXPECT_THAT(problemsOf(std::string("datasets:\n  - name: a\0b\n", 24), kDatasetsSection),
              ElementsAre("config: a NUL byte at line 2, column 12: YAML text has none"));
}

// Control characters in keys are escaped: every problem stays on one line.
TEST(ConfigTest, ProblemWithControlCharactersInKeyIsOneLine) {
  EXPECT_THAT(problemsOf("detect:\n  \"group\\nid\\x1b\": g\n", kDetectSection),
              ElementsAre(R"(detect.group\x0aid\x1b: unknown key (did you mean "group_id"?))"));
}

// An empty listen disables the endpoint; a port above 65535 does not parse.
TEST(ConfigTest, ListenIsHostPortOrEmpty) {
  const ConfigResult off = parseConfig(R"(detect: { listen: "" })", kDetectSection);
  ASSERT_TRUE(off.config.has_value());
  EXPECT_EQ(off.config->detect.listen, "");
  EXPECT_THAT(
      problemsOf("detect: { listen: 127.0.0.1:70000 }", kDetectSection),
      ElementsAre(R"(detect.listen: expected HOST:PORT (port 0..65535), or "" to disable)"));
}

// http and command actions change pipelines, so their risk must be chosen by the operator.
TEST(ConfigTest, RiskIsRequiredForHttpAndCommand) {
  EXPECT_THAT(problemsOf(R"(
remediate:
  actions:
    rerun: { type: http, url: "http://h/rerun" }
    restart: { type: command, argv: [/bin/restart] }
)",
                         kRemediateSection),
              ElementsAre("remediate.actions.rerun.risk: required: one of low, medium, high",
                          "remediate.actions.restart.risk: required: one of low, medium, high"));
}

// kafka and pagerduty actions default to low risk, and pagerduty to the public endpoint.
TEST(ConfigTest, NotificationActionsDefaultToLowRisk) {
  TempDir dir;
  dir.write("pd", "k\n");
  const ConfigResult result = parseConfig(R"(
remediate:
  actions:
    notify: { type: kafka, topic: t }
    page: { type: pagerduty, routing_key_file: pd }
)",
                                          kRemediateSection, dir.path());
  ASSERT_THAT(problemsOf(result), IsEmpty());
  EXPECT_EQ(result.config->remediate.actions[0].risk, remediation::Risk::kLow);
  EXPECT_EQ(result.config->remediate.actions[1].risk, remediation::Risk::kLow);
  EXPECT_EQ(result.config->remediate.actions[1].url, "https://events.pagerduty.com/v2/enqueue");
}

// Each action type needs its own keys, and rejects the keys of other types.
TEST(ConfigTest, ActionTypeSpecificKeysAreChecked) {
  EXPECT_THAT(
      problemsOf(R"(
remediate:
  actions:
    a: { type: http, risk: low }
    b: { type: command, risk: low, argv: [] }
    c: { type: kafka, url: "http://x" }
    d: { type: pagerduty }
    e: { type: webhook }
)",
                 kRemediateSection),
      ElementsAre("remediate.actions.a.url: required",
                  "remediate.actions.b.argv: must list the program and its arguments",
                  "remediate.actions.c.topic: required", "remediate.actions.c.url: unknown key",
                  "remediate.actions.d.routing_key_file: required",
                  "remediate.actions.e.type: expected one of http, command, kafka, "
                  "pagerduty"));
}

// A URL placeholder that is not one of the documented ones is a typo.
TEST(ConfigTest, UnknownUrlPlaceholderIsReported) {
  EXPECT_THAT(
      problemsOf(R"(
remediate:
  actions:
    rerun: { type: http, risk: low, url: "http://h/rerun/{pipline_id}" }
)",
                 kRemediateSection),
      ElementsAre(
          R"(remediate.actions.rerun.url: unknown placeholder {pipline_id} (did you mean "pipeline_id"?))"));
}

// Placeholders are checked wherever a template takes them; the program of a
// command is never one.
TEST(ConfigTest, PlaceholdersAreCheckedInEveryTemplate) {
  EXPECT_THAT(problemsOf(R"(
remediate:
  actions:
    rerun:
      type: http
      risk: low
      url: "http://h/rerun/{pipeline_id}?try={attempt}"
      headers: { X-Job: "{pipline_id}" }
      body: '{"job": "{datset}"}'
    restart: { type: command, risk: low, argv: ["/bin/{pipeline_id}", "{evnt_id}", "{status}"] }
)",
                         kRemediateSection),
              ElementsAre(
                  R"(remediate.actions.rerun.headers.X-Job: unknown placeholder {pipline_id} (did you mean "pipeline_id"?))",
                  R"(remediate.actions.rerun.body: unknown placeholder {datset} (did you mean "dataset"?))",
                  "remediate.actions.restart.argv: the program (first element) cannot hold a placeholder",
                  R"(remediate.actions.restart.argv: unknown placeholder {evnt_id} (did you mean "event_id"?))"));
}

// Playbooks may only match the documented failure types.
TEST(ConfigTest, UnknownFailureTypeIsReported) {
  EXPECT_THAT(
      problemsOf(R"(
remediate:
  actions: { page: { type: kafka, topic: t } }
  playbooks:
    - match: { failure_type: [stale_data, latncy_spike] }
      escalate: page
)",
                 kRemediateSection),
      ElementsAre(
          R"(remediate.playbooks[0].match.failure_type[1]: unknown failure type "latncy_spike" (did you mean "latency_spike"?))"));
}

// An unknown failure type with no close match lists the known ones.
TEST(ConfigTest, UnknownFailureTypeListsKnownOnes) {
  EXPECT_THAT(
      problemsOf("remediate: { actions: { p: { type: kafka, topic: t } }, playbooks: "
                 "[{ match: { failure_type: [stale] }, escalate: p }] }",
                 kRemediateSection),
      ElementsAre(
          R"(remediate.playbooks[0].match.failure_type[0]: unknown failure type "stale": expected one of latency_spike, stale_data, volume_drop, volume_spike, null_spike, schema_drift)"));
}

// Steps, escalate and default_escalation must name configured actions.
TEST(ConfigTest, ActionReferencesMustResolve) {
  EXPECT_THAT(
      problemsOf(R"(
remediate:
  actions:
    rollback: { type: http, risk: medium, url: "http://h/rollback" }
  playbooks:
    - steps:
        - { action: rolback }
      escalate: page
  default_escalation: pager
)",
                 kRemediateSection),
      ElementsAre(
          R"(remediate.playbooks[0].steps[0].action: unknown action "rolback" (did you mean "rollback"?))",
          R"(remediate.playbooks[0].escalate: unknown action "page")",
          R"(remediate.default_escalation: unknown action "pager")"));
}

// An escalation runs without approval, so its action must be low risk.
TEST(ConfigTest, EscalationActionsMustBeLowRisk) {
  EXPECT_THAT(problemsOf(R"(
remediate:
  actions:
    rollback: { type: http, risk: medium, url: "http://h/rollback" }
    wipe: { type: command, risk: high, argv: [/bin/wipe] }
  playbooks:
    - steps: [{ action: rollback }]
      escalate: rollback
  default_escalation: wipe
)",
                         kRemediateSection),
              ElementsAre(R"(remediate.playbooks[0].escalate: escalation action "rollback" must be risk low: an escalation notifies, it does not change a pipeline)",
                          R"(remediate.default_escalation: escalation action "wipe" must be risk low: an escalation notifies, it does not change a pipeline)"));
}

// Mode is enforce or shadow, and budgets are non-negative integers.
TEST(ConfigTest, ModeAndBudgetAreChecked) {
  EXPECT_THAT(problemsOf("remediate: { mode: dry-run, budget: { global_per_hour: -3 } }",
                         kRemediateSection),
              ElementsAre("remediate.mode: expected one of enforce, shadow",
                          "remediate.budget.global_per_hour: expected a non-negative integer"));
}

// loadConfig reports a missing file as one "config" problem.
TEST(ConfigTest, LoadConfigReportsMissingFile) {
  EXPECT_THAT(
      problemsOf(loadConfig("/nonexistent/vigil.yaml", kDatasetsSection)),
      ElementsAre("config: cannot read /nonexistent/vigil.yaml: No such file or directory"));
}

// loadConfig resolves relative secret files next to the config file.
TEST(ConfigTest, LoadConfigResolvesFilesNextToConfig) {
  TempDir dir;
  dir.write("token", "t0ken\n");
  const std::string path = dir.write("vigil.yaml", "remediate: { api_token_file: token }\n");
  const ConfigResult result = loadConfig(path, kRemediateSection);
  ASSERT_THAT(problemsOf(result), IsEmpty());
  EXPECT_EQ(result.config->remediate.api_token, "t0ken");
}

// Hostile or odd input never throws and never yields a config.
TEST(ConfigTest, OddInputIsReportedNotThrown) {
  for (const char* yaml : {"{", "datasets: 3", "datasets: [1, [2]]", "? [a]\n: b\n",
                           "detect: *nope", "remediate: { actions: [a] }"}) {
    const ConfigResult result = parseConfig(yaml, kAllSections);
    EXPECT_FALSE(result.config.has_value()) << yaml;
    EXPECT_THAT(result.problems, Not(IsEmpty())) << yaml;
  }
}

// An empty file is valid when no section is required.
TEST(ConfigTest, EmptyFileWithNothingRequiredIsValid) {
  EXPECT_TRUE(parseConfig("", 0).config.has_value());
}

struct DurationCase {
  const char* text;
  std::chrono::milliseconds expected;
};

// Every documented unit parses to the right number of milliseconds.
TEST(ParseDurationTest, AcceptsEveryUnit) {
  const DurationCase cases[] = {
      {"250ms", 250ms}, {"10s", 10s},    {"5m", 5min},
      {"2h", 2h},       {"7d", 7 * 24h}, {"0s", 0ms},
      {"0ms", 0ms},     {"007s", 7s},    {"36500d", 36500 * 24h},
  };
  for (const DurationCase& c : cases) {
    EXPECT_EQ(parseDuration(c.text), c.expected) << c.text;
  }
}

// Anything but digits followed by one unit is refused, including overflow.
TEST(ParseDurationTest, RejectsInvalidText) {
  for (const char* text :
       {"", "0", "5", "-5s", "+5s", "s", "5 s", " 5s", "5s ", "1.5s", "5sec", "5S", "1m30s", "5us",
        "99999999999999999999s", "9223372036854775807d", "36501d"}) {
    EXPECT_EQ(parseDuration(text), std::nullopt) << '"' << text << '"';
  }
}

}  // namespace
}  // namespace vigil::app
