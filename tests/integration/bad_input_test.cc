#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "stream/record_producer.h"
#include "stream/topic_reader.h"
#include "tests/integration/support.h"

namespace vigil::testing {
namespace {

using std::chrono::seconds;

// The value of one sample of the metrics text, or -1 when absent.
double metricValue(const std::string& metrics, const std::string& sample) {
  const auto at = metrics.find(sample + " ");
  if (at == std::string::npos) return -1;
  return std::stod(metrics.substr(at + sample.size() + 1));
}

// Every kind of malformed record is counted under its reason, the good ones
// are consumed, and detection keeps running. With a dead_letter_topic, every
// record not used at all is copied there unchanged, its reason in a header.
class BadInputTest : public ::testing::TestWithParam<bool> {};

TEST_P(BadInputTest, EveryMalformedRecordIsCountedByReason) {
  const bool dead_letters = GetParam();
  TempDir dir;
  Process broker({vigilBinary(), "broker", "--topic", "bad.events:1", "--topic", "vigil.failures:1",
                  "--topic", "bad.dead:1"});
  const auto line = broker.readLine(seconds(20));
  ASSERT_TRUE(line && line->rfind("bootstrap.servers=", 0) == 0);
  const std::string bootstrap = line->substr(18);

  struct Case {
    std::string value;
    std::string reason;  // empty: valid
  };
  const std::string good = R"({"pipeline_id":"p1","ts":"2025-01-15T14:00:01Z","latency_ms":12})";
  const std::vector<Case> cases = {
      {good, ""},
      {R"({"pipeline_id":"p2","ts":1736949601000,"latency_ms":3.5})", ""},
      {"", "empty"},
      {std::string(5000, ' ') + good, "too_large"},
      {"{\"pipeline_id\":\"p\xff\",\"ts\":\"2025-01-15T14:00:01Z\"}", "invalid_utf8"},
      {R"({"pipeline_id":"p1","ts":)", "invalid_json"},
      {"not json at all", "invalid_json"},
      {"[1,2,3]", "not_object"},
      {R"({"ts":"2025-01-15T14:00:01Z","latency_ms":1})", "missing_series_key"},
      {R"({"pipeline_id":{"a":1},"ts":"2025-01-15T14:00:01Z"})", "missing_series_key"},
      {R"({"pipeline_id":"p1","latency_ms":1})", "missing_event_time"},
      {R"({"pipeline_id":"p1","ts":"yesterday"})", "bad_event_time"},
      {R"({"pipeline_id":"p1","ts":"2025-01-15T14:00:02Z","latency_ms":"slow"})", "wrong_type"},
      // Held back until evaluation reached it, it would stall the partition.
      {R"({"pipeline_id":"p1","ts":"2999-01-01T00:00:00Z","latency_ms":1})", "future"},
      {std::string("{\"pipeline_id\":\"p1\",\"x\":") + std::string(2000, '[') + std::string(2000, ']') +
           ",\"ts\":\"2025-01-15T14:00:01Z\"}",
       "invalid_json"},
  };
  std::string error;
  auto producer = stream::RecordProducer::create({{"bootstrap.servers", bootstrap}}, error);
  ASSERT_TRUE(producer) << error;
  for (int round = 0; round < 3; ++round) {
    for (const Case& c : cases) {
      ASSERT_TRUE(producer->produce("bad.events", "k", c.value, detectors::Timestamp{}));
    }
  }
  ASSERT_TRUE(producer->flush(seconds(20)));

  dir.write("vigil.yaml", "kafka:\n  bootstrap.servers: " + bootstrap +
                              "\ndetect:\n  group_id: bad\n  listen: 127.0.0.1:0\n"
                              "datasets:\n  - name: bad\n    topic: bad.events\n"
                              "    series_key: pipeline_id\n    event_time: ts\n"
                              "    window: 10s\n    step: 5s\n    max_record_bytes: 4096\n" +
                              (dead_letters ? "    dead_letter_topic: bad.dead\n" : "") +
                              "    checks:\n      latency: { field: latency_ms, p99_max: 1s }\n");
  Process detect({vigilBinary(), "detect", "--config", dir.file("vigil.yaml")});
  const auto listening = detect.waitForErr("listening on", seconds(20));
  ASSERT_TRUE(listening);
  const int port = std::stoi(listening->substr(listening->rfind(':') + 1));

  std::map<std::string, double> expected;
  double consumed = 0;
  for (const Case& c : cases) {
    if (c.reason.empty() || c.reason == "wrong_type") consumed += 3;
    if (!c.reason.empty()) expected[c.reason] += 3;
  }
  std::string metrics;
  const auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    metrics = httpGet(port, "/metrics").body;
    if (metricValue(metrics, "vigil_records_consumed_total{dataset=\"bad\"}") >= consumed) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(metricValue(metrics, "vigil_records_consumed_total{dataset=\"bad\"}"), consumed);
  for (const auto& [reason, n] : expected) {
    EXPECT_EQ(metricValue(metrics, "vigil_records_invalid_total{dataset=\"bad\",reason=\"" + reason + "\"}"), n)
        << reason;
  }
  EXPECT_EQ(httpGet(port, "/healthz").status, 200);
  EXPECT_EQ(detect.terminate(), 0);
  if (!dead_letters) return;

  // Each unused record once per round, unchanged, with its reason; a
  // wrong_type record is still used, so it is not among them.
  std::multiset<std::pair<std::string, std::string>> want;  // (reason, value)
  for (int round = 0; round < 3; ++round) {
    for (const Case& c : cases) {
      if (!c.reason.empty() && c.reason != "wrong_type") want.emplace(c.reason, c.value);
    }
  }
  auto reader = stream::TopicReader::create({{"bootstrap.servers", bootstrap}}, "bad.dead", error);
  ASSERT_TRUE(reader) << error;
  std::vector<stream::TopicReader::Item> items;
  const auto read_until = std::chrono::steady_clock::now() + seconds(20);
  while (items.size() < want.size() && std::chrono::steady_clock::now() < read_until) {
    reader->poll(items, seconds(1));
  }
  std::multiset<std::pair<std::string, std::string>> got;
  for (const auto& item : items) {
    std::string reason;
    for (const auto& [k, v] : item.headers) {
      if (k == "vigil.reason") reason = v;
    }
    got.emplace(reason, item.value);
  }
  EXPECT_EQ(got, want);
  EXPECT_EQ(metricValue(metrics, "vigil_records_dead_lettered_total{dataset=\"bad\"}"),
            static_cast<double>(want.size()));
}

// Reliability test 6: 1 % of the input malformed, of every kind that leaves a
// record unused, mixed into real input with faults. Nothing crashes or
// stalls; the dead-letter topic holds exactly the injected records; the
// events are those of `vigil replay` on the clean input.
TEST(MalformedMixTest, OnePercentMalformedChangesNoEvent) {
  TempDir dir;
  const Broker broker({"mix.events:1", "vigil.failures:1", "mix.dead:1"});
  ASSERT_FALSE(broker.bootstrap().empty());
  dir.write("vigil.yaml", "kafka:\n  bootstrap.servers: " + broker.bootstrap() +
                              "\ndetect:\n  group_id: mix\n  listen: 127.0.0.1:0\n"
                              "datasets:\n  - name: mix\n    topic: mix.events\n"
                              "    series_key: pipeline_id\n    event_time: ts\n"
                              "    window: 1m\n    step: 10s\n    max_record_bytes: 4096\n"
                              "    dead_letter_topic: mix.dead\n"
                              "    checks:\n      latency: { field: latency_ms, unit: ms, p99_max: 1s }\n"
                              "      volume: { min: 5 }\n");
  const RunResult gen = run({vigilBinary(), "gen", "--config", dir.file("vigil.yaml"), "--start",
                             "2025-01-15T14:00:00Z", "--duration", "10m", "--rate", "20",
                             "--pipelines", "4", "--seed", "3", "--fault", "latency_spike@3m+2m",
                             "--fault", "stall:etl_mix_02@6m+2m", "--output", dir.file("clean.ndjson")});
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  const RunResult replay = run({vigilBinary(), "replay", "--config", dir.file("vigil.yaml"),
                                "--input", dir.file("clean.ndjson")});
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  constexpr char kThrough[] = "2025-01-15T14:09:00Z";
  const std::vector<std::string> expected = distinctJudgedEvents(lines(replay.out), kThrough);
  ASSERT_GE(expected.size(), 4u);

  // Every kind of record a dataset cannot use, with its reason. Past the
  // first 500 records every partition has placed some, so a record from
  // 2000 is late, not a new beginning.
  const std::string ok_ts = R"("ts":"2025-01-15T14:05:00Z")";
  const std::vector<std::pair<std::string, std::string>> kinds = {
      {"not json at all", "invalid_json"},
      {R"({"pipeline_id":"etl_mix_01",)" + ok_ts, "invalid_json"},
      {"{\"pipeline_id\":\"etl_mix_01\",\"x\":" + std::string(100, '[') + std::string(100, ']') +
           "," + ok_ts + "}",
       "invalid_json"},
      {"{\"pipeline_id\":\"etl_mix_\xff\"," + ok_ts + "}", "invalid_utf8"},
      {R"({"pipeline_id":"etl_mix_01","pad":")" + std::string(5000, 'x') + "\"," + ok_ts + "}",
       "too_large"},
      {"", "empty"},
      {"[1,2,3]", "not_object"},
      {R"({"pipeline_id":{"id":1},)" + ok_ts + "}", "missing_series_key"},
      {R"({"pipeline_id":"etl_mix_01","latency_ms":1})", "missing_event_time"},
      {R"({"pipeline_id":"etl_mix_01","ts":true})", "bad_event_time"},
      {R"({"pipeline_id":"etl_mix_01","ts":"2000-01-01T00:00:00Z","latency_ms":1})", "late"},
      {R"({"pipeline_id":"etl_mix_01","ts":"2999-01-01T00:00:00Z","latency_ms":1})", "future"},
  };
  std::string error;
  auto producer = stream::RecordProducer::create({{"bootstrap.servers", broker.bootstrap()}}, error);
  ASSERT_TRUE(producer) << error;
  std::map<std::string, double> injected;  // by reason
  std::multiset<std::string> injected_values;
  std::size_t clean = 0, next_kind = 0;
  std::ifstream in(dir.file("clean.ndjson"));
  for (std::string line; std::getline(in, line); ++clean) {
    ASSERT_TRUE(producer->produce("mix.events", "k", line, detectors::Timestamp{}));
    if (clean >= 500 && clean % 100 == 0) {
      const auto& [value, reason] = kinds[next_kind++ % kinds.size()];
      ASSERT_TRUE(producer->produce("mix.events", "k", value, detectors::Timestamp{}));
      injected[reason] += 1;
      injected_values.insert(value);
    }
  }
  ASSERT_TRUE(producer->flush(seconds(30)));
  ASSERT_GE(next_kind, 8 * kinds.size()) << "every kind, several times";

  Process detect({vigilBinary(), "detect", "--config", dir.file("vigil.yaml")});
  const auto listening = detect.waitForErr("listening on", seconds(20));
  ASSERT_TRUE(listening);
  const int port = std::stoi(listening->substr(listening->rfind(':') + 1));
  const auto events = readTopic(
      broker.bootstrap(), "vigil.failures",
      [&](const std::vector<std::string>& v) {
        return distinctJudgedEvents(v, kThrough).size() >= expected.size();
      },
      seconds(60));
  EXPECT_EQ(distinctJudgedEvents(events, kThrough), expected);

  std::string metrics;
  const auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    metrics = httpGet(port, "/metrics").body;
    if (metricValue(metrics, "vigil_records_consumed_total{dataset=\"mix\"}") >= clean) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(metricValue(metrics, "vigil_records_consumed_total{dataset=\"mix\"}"),
            static_cast<double>(clean));
  for (const auto& [reason, n] : injected) {
    EXPECT_EQ(metricValue(metrics, "vigil_records_invalid_total{dataset=\"mix\",reason=\"" + reason + "\"}"), n)
        << reason;
  }
  auto reader = stream::TopicReader::create({{"bootstrap.servers", broker.bootstrap()}}, "mix.dead", error);
  ASSERT_TRUE(reader) << error;
  std::vector<stream::TopicReader::Item> items;
  const auto read_until = std::chrono::steady_clock::now() + seconds(20);
  while (items.size() < injected_values.size() && std::chrono::steady_clock::now() < read_until) {
    reader->poll(items, seconds(1));
  }
  std::multiset<std::string> dead;
  for (const auto& item : items) dead.insert(item.value);
  EXPECT_EQ(dead, injected_values);
  EXPECT_EQ(httpGet(port, "/healthz").status, 200);
  EXPECT_EQ(detect.terminate(), 0);
}

INSTANTIATE_TEST_SUITE_P(DeadLetters, BadInputTest, ::testing::Bool(),
                         [](const auto& param) { return param.param ? "WithDeadLetterTopic" : "Counted"; });

}  // namespace
}  // namespace vigil::testing
