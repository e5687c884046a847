// Long-lived state survives a restart: `vigil detect` checkpoints what its
// series learned (adaptive baselines, reference schemas) to state_topic when
// it stops, and a new process restores it; unreadable checkpoints are counted
// and skipped.

#include <gtest/gtest.h>

#include <regex>
#include <thread>

#include "stream/checkpoint_log.h"
#include "stream/record_producer.h"
#include "tests/integration/support.h"

namespace vigil::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::string configText(const std::string& bootstrap, const std::string& group) {
  return "kafka:\n"
         "  bootstrap.servers: " + bootstrap + "\n"
         "detect:\n"
         "  group_id: " + group + "\n"
         "  failures_topic: vigil.failures\n"
         "  state_topic: vigil.state\n"
         "  listen: 127.0.0.1:0\n"
         "datasets:\n"
         "  - name: orders\n"
         "    topic: orders.events\n"
         "    series_key: pipeline_id\n"
         "    event_time: ts\n"
         "    window: 30s\n"
         "    step: 5s\n"
         "    checks:\n"
         "      volume: {adaptive: {}}\n"
         "      schema: {required: [pipeline_id]}\n";
}

int listeningPort(Process& detect) {
  const auto line = detect.waitForErr("listening on", seconds(20));
  if (!line) return 0;
  return std::stoi(line->substr(line->rfind(':') + 1));
}

// The value of a metric sample, polling /metrics until it is at least `want`.
double waitForSample(int port, const std::string& sample, double want) {
  double value = -1;
  const auto deadline = std::chrono::steady_clock::now() + seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string body = httpGet(port, "/metrics").body;
    const auto at = body.find(sample + " ");
    if (at != std::string::npos) value = std::stod(body.substr(at + sample.size() + 1));
    if (value >= want) break;
    std::this_thread::sleep_for(milliseconds(200));
  }
  return value;
}

TEST(CheckpointEndToEnd, StateSurvivesARestartAndBadCheckpointsAreSkipped) {
  const Broker broker({"orders.events:2", "vigil.failures:1", "vigil.state:1"});
  ASSERT_FALSE(broker.bootstrap().empty());
  TempDir dir;
  dir.write("one.yaml", configText(broker.bootstrap(), "group-one"));
  dir.write("two.yaml", configText(broker.bootstrap(), "group-two"));
  constexpr int kPipelines = 4;
  const RunResult produced =
      run({vigilBinary(), "gen", "--config", dir.file("one.yaml"), "--start",
           "2025-01-15T14:00:00Z", "--rate", "200", "--duration", "3m", "--seed", "5",
           "--pipelines", std::to_string(kPipelines)});
  ASSERT_EQ(produced.exit_code, 0) << produced.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(produced.err, m, std::regex("delivered (\\d+) record")));
  const std::string consumed = "vigil_records_consumed_total{dataset=\"orders\"}";

  // The first process judges every series and checkpoints them as it stops.
  {
    Process detect({vigilBinary(), "detect", "--config", dir.file("one.yaml")});
    const int port = listeningPort(detect);
    ASSERT_GT(port, 0);
    EXPECT_EQ(waitForSample(port, consumed, std::stod(m[1])), std::stod(m[1]));
    EXPECT_EQ(detect.terminate(), 0);
  }
  const auto checkpoints = readTopic(
      broker.bootstrap(), "vigil.state",
      [](const std::vector<std::string>& v) { return v.size() >= kPipelines; }, seconds(30));
  ASSERT_EQ(checkpoints.size(), static_cast<std::size_t>(kPipelines));

  // Two unreadable records: a checkpoint cut short, and a key that is not ours.
  std::string error;
  auto producer = stream::RecordProducer::create({{"bootstrap.servers", broker.bootstrap()}}, error);
  ASSERT_TRUE(producer) << error;
  const auto now = detectors::timestampFromMillis(1'736'950'000'000);
  ASSERT_TRUE(producer->produce("vigil.state", stream::CheckpointLog::key("orders", "etl_x"),
                                checkpoints.front().substr(0, 10), now));
  ASSERT_TRUE(producer->produce("vigil.state", "not-a-checkpoint-key", "x", now));
  ASSERT_TRUE(producer->flush(seconds(10)));

  // The second process reads them back and restores every series it meets.
  Process detect({vigilBinary(), "detect", "--config", dir.file("two.yaml")});
  const int port = listeningPort(detect);  // logged before the state is read
  ASSERT_GT(port, 0);
  const auto read = detect.waitForErr("checkpoint(s) from vigil.state", seconds(30));
  ASSERT_TRUE(read) << detect.drainErr();
  EXPECT_NE(read->find("read " + std::to_string(kPipelines + 2) + " checkpoint(s)"),
            std::string::npos)
      << *read;
  EXPECT_NE(read->find("2 unreadable"), std::string::npos) << *read;
  EXPECT_EQ(waitForSample(port, "vigil_state_checkpoints_total{outcome=\"restored\"}", kPipelines),
            kPipelines);
  EXPECT_EQ(waitForSample(port, "vigil_state_checkpoints_total{outcome=\"rejected\"}", 2), 2);
  EXPECT_EQ(detect.terminate(), 0);
}

}  // namespace
}  // namespace vigil::testing
