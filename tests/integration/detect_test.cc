// End to end on the embedded broker: `vigil broker`, `vigil gen`, `vigil detect`
// and `vigil replay` as separate processes, the way a user runs them.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <regex>
#include <thread>

#include "stream/topic_reader.h"
#include "tests/integration/support.h"

namespace vigil::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kStart = "2025-01-15T14:00:00Z";

std::string configText(const std::string& bootstrap, const std::string& group) {
  return "kafka:\n"
         "  bootstrap.servers: " + bootstrap + "\n"
         "detect:\n"
         "  group_id: " + group + "\n"
         "  failures_topic: vigil.failures\n"
         "  listen: 127.0.0.1:0\n"
         "datasets:\n"
         "  - name: orders\n"
         "    topic: orders.events\n"
         "    series_key: pipeline_id\n"
         "    event_time: ts\n"
         "    window: 30s\n"
         "    step: 5s\n"
         "    checks:\n"
         "      latency:\n"
         "        field: latency_ms\n"
         "        unit: ms\n"
         "        p99_max: 1s\n";
}

std::vector<std::string> genArgs(const std::string& config) {
  return {vigilBinary(), "gen",      "--config", config, "--start",    kStart,
          "--rate",      "100",      "--duration", "4m", "--seed",     "11",
          "--fault",     "latency_spike@90s+40s"};
}

// One broker and one generated input shared by the tests of this suite.
class DetectEndToEnd : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    broker_ = new Process({vigilBinary(), "broker", "--topic", "orders.events:3", "--topic",
                           "vigil.failures:1"});
    const auto line = broker_->readLine(seconds(20));
    ASSERT_TRUE(line && line->rfind("bootstrap.servers=", 0) == 0) << line.value_or("(nothing)");
    bootstrap_ = line->substr(std::string("bootstrap.servers=").size());

    dir_->write("gen.yaml", configText(bootstrap_, "unused"));
    auto args = genArgs(dir_->file("gen.yaml"));
    const RunResult produced = run(args);
    ASSERT_EQ(produced.exit_code, 0) << produced.err;
    const std::smatch m = [&] {
      std::smatch match;
      std::regex_search(produced.err, match, std::regex("delivered (\\d+) record"));
      return match;
    }();
    ASSERT_FALSE(m.empty()) << produced.err;
    produced_ = std::stoull(m[1]);

    args.push_back("--output");
    args.push_back(dir_->file("input.ndjson"));
    const RunResult written = run(args);
    ASSERT_EQ(written.exit_code, 0) << written.err;
  }

  static void TearDownTestSuite() {
    delete broker_;
    delete dir_;
  }

  // Reads the failures topic from the beginning in its own consumer group.
  class FailureReader {
   public:
    FailureReader() {
      std::string error;
      reader_ = stream::TopicReader::create({{"bootstrap.servers", bootstrap_}}, "vigil.failures",
                                            error);
      EXPECT_TRUE(reader_) << error;
    }
    // Everything read so far, polling until `count` values arrived or the timeout.
    const std::vector<std::string>& readUntil(std::size_t count, milliseconds timeout) {
      std::vector<stream::TopicReader::Item> items;
      const auto deadline = std::chrono::steady_clock::now() + timeout;
      while (reader_ && values_.size() < count && std::chrono::steady_clock::now() < deadline) {
        items.clear();
        reader_->poll(items, milliseconds(500));
        for (auto& item : items) values_.push_back(item.value);
      }
      return values_;
    }

   private:
    std::unique_ptr<stream::TopicReader> reader_;
    std::vector<std::string> values_;
  };

  // The metrics once `vigil_records_consumed_total` reached every produced record.
  static std::string metricsWhenAllConsumed(int port) {
    const std::string sample =
        "vigil_records_consumed_total{dataset=\"orders\"} " + std::to_string(produced_) + "\n";
    std::string body;
    const auto deadline = std::chrono::steady_clock::now() + seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      body = httpGet(port, "/metrics").body;
      if (body.find(sample) != std::string::npos) break;
      std::this_thread::sleep_for(milliseconds(200));
    }
    return body;
  }

  static inline TempDir* dir_ = nullptr;
  static inline Process* broker_ = nullptr;
  static inline std::string bootstrap_;
  static inline std::uint64_t produced_ = 0;
};

int listeningPort(Process& detect) {
  const auto line = detect.waitForErr("listening on", seconds(20));
  if (!line) return 0;
  return std::stoi(line->substr(line->rfind(':') + 1));
}

// The injected spike yields exactly one firing and one resolved event, equal
// byte for byte to what `vigil replay` computes from the same input; a second
// consumer group re-reading the topic emits the same event ids; the metrics,
// health and readiness endpoints answer; SIGTERM exits 0.
TEST_F(DetectEndToEnd, SpikeFiresAndResolvesLikeReplay) {
  const RunResult replay = run({vigilBinary(), "replay", "--config", dir_->file("gen.yaml"),
                                "--input", dir_->file("input.ndjson")});
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  const auto expected = lines(replay.out);
  ASSERT_EQ(expected.size(), 2u) << replay.out;
  const auto firing = nlohmann::json::parse(expected[0]);
  const auto resolved = nlohmann::json::parse(expected[1]);
  EXPECT_EQ(firing["status"], "firing");
  EXPECT_EQ(firing["failure_type"], "latency_spike");
  EXPECT_EQ(firing["pipeline_id"], "etl_orders_01");
  EXPECT_EQ(firing["metric"], "latency_p99_seconds");
  EXPECT_GT(firing["actual_value"].get<double>(), 1.0);
  EXPECT_EQ(firing["threshold"], 1);
  EXPECT_EQ(resolved["status"], "resolved");
  EXPECT_LE(resolved["actual_value"].get<double>(), 1.0);
  // The fault runs from 14:01:30 to 14:02:10; a 30 s window clears by 14:02:45.
  EXPECT_GE(firing["timestamp"].get<std::string>(), "2025-01-15T14:01:30Z");
  EXPECT_LE(firing["timestamp"].get<std::string>(), "2025-01-15T14:02:10Z");
  EXPECT_GE(resolved["timestamp"].get<std::string>(), "2025-01-15T14:02:10Z");
  EXPECT_LE(resolved["timestamp"].get<std::string>(), "2025-01-15T14:02:45Z");

  dir_->write("detect1.yaml", configText(bootstrap_, "group-one"));
  {
    Process detect({vigilBinary(), "detect", "--config", dir_->file("detect1.yaml")});
    const int port = listeningPort(detect);
    ASSERT_GT(port, 0);
    EXPECT_EQ(httpGet(port, "/healthz").status, 200);

    FailureReader failures;
    const auto events = failures.readUntil(2, seconds(60));
    ASSERT_EQ(events, expected) << "detect must emit what replay computes";

    const auto ready = httpGet(port, "/readyz");
    EXPECT_EQ(ready.status, 200) << ready.body;
    const std::string metrics = metricsWhenAllConsumed(port);
    EXPECT_NE(metrics.find("vigil_records_consumed_total{dataset=\"orders\"} " +
                           std::to_string(produced_)),
              std::string::npos)
        << metrics;
    EXPECT_NE(metrics.find("vigil_failure_events_total{dataset=\"orders\","
                                "failure_type=\"latency_spike\",status=\"firing\"} 1"),
              std::string::npos);
    EXPECT_EQ(httpGet(port, "/nope").status, 404);
    EXPECT_EQ(detect.terminate(), 0);
  }

  // A second group reads the same input from the start: same ids, no third event.
  dir_->write("detect2.yaml", configText(bootstrap_, "group-two"));
  Process detect({vigilBinary(), "detect", "--config", dir_->file("detect2.yaml")});
  ASSERT_GT(listeningPort(detect), 0);
  FailureReader failures;
  const auto all = failures.readUntil(4, seconds(60));
  ASSERT_EQ(all.size(), 4u);
  // Give a spurious fifth event time to show up before calling it absent.
  EXPECT_EQ(failures.readUntil(5, seconds(5)).size(), 4u);
  EXPECT_EQ(detect.terminate(), 0);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(nlohmann::json::parse(all[i + 2])["event_id"],
              nlohmann::json::parse(all[i])["event_id"]);
  }
}

// A bad configuration stops `detect` with exit 2 and the key path, before Kafka.
TEST(DetectConfig, BadConfigExitsTwoWithKeyPath) {
  TempDir dir;
  std::string text = configText("127.0.0.1:1", "g");
  text.replace(text.find("p99_max: 1s"), 11, "p99_max: fast");
  dir.write("bad.yaml", text);
  const RunResult r = run({vigilBinary(), "detect", "--config", dir.file("bad.yaml")},
                          seconds(10));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("datasets[0].checks.latency.p99_max"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("kafka"), std::string::npos) << "must not have touched Kafka: " << r.err;
}

}  // namespace
}  // namespace vigil::testing
