// `vigil detect` and `vigil replay` emit the same events for the same input,
// for every check but freshness (which detect judges on the wall clock).

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <set>

#include "tests/integration/support.h"

namespace vigil::testing {
namespace {

using std::chrono::seconds;

constexpr const char* kConfig = R"(
detect:
  group_id: equivalence
  failures_topic: vigil.failures
  listen: 127.0.0.1:0
datasets:
  - name: all
    topic: all.events
    series_key: pipeline_id
    event_time: ts
    window: 1m
    step: 10s
    checks:
      latency: { field: latency_ms, unit: ms, p99_max: 1s, adaptive: {} }
      freshness: { max_age: 30s }
      volume: { adaptive: {} }
      nulls: { fields: [user_id, amount], max_rate: 0.1 }
      schema: { required: [user_id, amount], alert_on_new_fields: true }
)";

// Events that are not stale_data and are not later than `last`.
std::vector<std::string> comparable(const std::vector<std::string>& events,
                                    const std::string& last) {
  std::vector<std::string> out;
  for (const std::string& line : events) {
    const auto e = nlohmann::json::parse(line);
    if (e["failure_type"] == "stale_data" || e["timestamp"].get<std::string>() > last) continue;
    out.push_back(line);
  }
  return out;
}

// Generates the input twice (to the broker and to a file), replays the file,
// runs detect on the topic, and returns (replay's, detect's) comparable events.
std::pair<std::vector<std::string>, std::vector<std::string>> replayAndDetect(
    const TempDir& dir, const std::string& bootstrap, std::vector<std::string> gen,
    const std::string& last) {
  EXPECT_EQ(run(gen).exit_code, 0);
  gen.insert(gen.end(), {"--output", dir.file("input.ndjson")});
  EXPECT_EQ(run(gen).exit_code, 0);
  const RunResult replay = run({vigilBinary(), "replay", "--config", dir.file("vigil.yaml"),
                                "--input", dir.file("input.ndjson")});
  EXPECT_EQ(replay.exit_code, 0) << replay.err;
  const auto expected = comparable(lines(replay.out), last);

  Process detect({vigilBinary(), "detect", "--config", dir.file("vigil.yaml")});
  EXPECT_TRUE(detect.waitForErr("listening on", seconds(20)));
  const auto produced = readTopic(
      bootstrap, "vigil.failures",
      [&](const std::vector<std::string>& v) { return comparable(v, last).size() >= expected.size(); },
      seconds(90));
  EXPECT_EQ(detect.terminate(), 0);
  return {expected, comparable(produced, last)};
}

TEST(ReplayEquivalenceTest, DetectEmitsWhatReplayComputesForEveryCheck) {
  TempDir dir;
  Broker broker({"all.events:6", "vigil.failures:1"});
  ASSERT_FALSE(broker.bootstrap().empty());
  dir.write("vigil.yaml", "kafka:\n  bootstrap.servers: " + broker.bootstrap() + "\n" + kConfig);
  const std::vector<std::string> gen = {
      vigilBinary(), "gen", "--config", dir.file("vigil.yaml"), "--start",
      "2025-01-15T14:00:00Z", "--rate", "20", "--pipelines", "6", "--duration", "40m", "--seed",
      "5", "--fault", "latency_spike@10m+2m", "--fault", "stall:etl_all_02@15m+3m", "--fault",
      "volume_drop:etl_all_03@20m+4m", "--fault", "null_burst@26m+2m", "--fault",
      "new_field:etl_all_04@30m+3m"};
  // Replay evaluates through the step holding the last record: 14:40:00.
  const auto [expected, detected] =
      replayAndDetect(dir, broker.bootstrap(), gen, "2025-01-15T14:40:00Z");
  std::set<std::string> types;
  for (const auto& e : expected) types.insert(nlohmann::json::parse(e)["failure_type"]);
  EXPECT_EQ(types, (std::set<std::string>{"latency_spike", "volume_drop", "null_spike",
                                          "schema_drift"}));
  EXPECT_EQ(detected, expected);
}

// A backlog with a gap in event time longer than the ring's lookahead (every
// pipeline stalls for 2 minutes at a 10 s step) is read through, not stalled
// on, and gives replay's events.
TEST(ReplayEquivalenceTest, EventTimeGapInBacklogDoesNotStall) {
  TempDir dir;
  Broker broker({"gap.events:2", "vigil.failures:1"});
  ASSERT_FALSE(broker.bootstrap().empty());
  dir.write("vigil.yaml", "kafka:\n  bootstrap.servers: " + broker.bootstrap() +
                              "\ndetect:\n  group_id: gap\n  listen: 127.0.0.1:0\n"
                              "datasets:\n  - name: gap\n    topic: gap.events\n"
                              "    series_key: pipeline_id\n    event_time: ts\n"
                              "    window: 30s\n    step: 10s\n"
                              "    checks:\n      volume: { min: 5 }\n");
  const std::vector<std::string> gen = {
      vigilBinary(), "gen",   "--config", dir.file("vigil.yaml"), "--start", "2025-01-15T14:00:00Z",
      "--rate",      "20",    "--duration", "6m", "--seed", "3", "--fault", "stall:*@2m+2m"};
  const auto [expected, detected] =
      replayAndDetect(dir, broker.bootstrap(), gen, "2025-01-15T14:06:00Z");
  ASSERT_GE(expected.size(), 2u) << "the stall must drop the volume";
  EXPECT_EQ(detected, expected);
}

}  // namespace
}  // namespace vigil::testing
