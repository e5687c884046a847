// Delivery faults on the failures topic (reliability test 4): Produce errors
// (retried by librdkafka, failing a delivery, or fatal to the idempotent
// producer), then the failures partition's leader down for longer than the
// message timeout. `vigil detect` commits no input offset past a record it
// processed after an event it could not deliver; once the leader is back,
// every event arrives (those of `vigil replay` on the same input) and the
// commits reach the end. Then a lost assignment (test 3) and a slow broker
// (test 5).

#include <gtest/gtest.h>
#include <librdkafka/rdkafkacpp.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "detectors/time.h"
#include "stream/decoder.h"
#include "stream/topic_reader.h"
#include "tests/integration/support.h"

namespace vigil::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kPartitions = 2;

// The group's committed offsets of the input partitions (support.h).
std::map<int, std::int64_t> committedOffsets(const std::string& bootstrap, const std::string& group,
                                             const std::string& topic) {
  return testing::committedOffsets(bootstrap, group, topic, kPartitions);
}

// Per partition, the (offset, event time in ms) of every input record.
using InputTimes = std::map<int, std::vector<std::pair<std::int64_t, std::int64_t>>>;

// The input's times, read by assignment (no consumer group to join: the
// embedded broker now and then answers a new group's JoinGroup only after
// about 45 s).
InputTimes inputTimes(const std::string& bootstrap, const std::string& topic, std::size_t expected) {
  std::string error;
  auto reader = stream::TopicReader::create({{"bootstrap.servers", bootstrap}}, topic, error);
  InputTimes out;
  if (!reader) return out;
  std::vector<stream::TopicReader::Item> items;
  std::size_t n = 0;
  const auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (n < expected && std::chrono::steady_clock::now() < deadline) {
    items.clear();
    reader->poll(items, milliseconds(500));
    for (const auto& item : items) {
      const auto ts =
          stream::parseRfc3339(nlohmann::json::parse(item.value)["ts"].get<std::string>());
      out[item.partition].emplace_back(item.offset, ts ? detectors::toMillis(*ts) : 0);
      ++n;
    }
  }
  return out;
}

// On every partition, `group` committed nothing past the first record whose
// event time is at or after `bound_ms` (`what` caused at that time is not
// acknowledged), and the input does run past that record.
void expectNothingCommittedFrom(const std::string& bootstrap, const std::string& group,
                                const std::string& topic, const InputTimes& times,
                                std::int64_t bound_ms, const std::string& what) {
  const auto committed = committedOffsets(bootstrap, group, topic);
  for (const auto& [partition, offsets] : times) {
    std::int64_t limit = offsets.back().first + 1;
    for (const auto& [offset, ts] : offsets) {
      if (ts >= bound_ms) {
        limit = offset;
        break;
      }
    }
    const auto it = committed.find(partition);
    const std::int64_t at = it == committed.end() ? -1 : it->second;
    EXPECT_LE(at, limit) << "partition " << partition << " committed past " << what;
    EXPECT_LT(limit, offsets.back().first + 1) << "the input must run past " << what;
  }
}

// Waits up to 30 s for `group` to commit the end of every partition of
// `times`, calling `each_round` between polls; expects it did.
void expectCommitsReachTheEnd(const std::string& bootstrap, const std::string& group,
                              const std::string& topic, const InputTimes& times,
                              const std::function<void()>& each_round = [] {}) {
  std::map<int, std::int64_t> done;
  const auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    each_round();
    done = committedOffsets(bootstrap, group, topic);
    bool all = true;
    for (const auto& [partition, offsets] : times) all &= done[partition] == offsets.back().first + 1;
    if (all) break;
    std::this_thread::sleep_for(milliseconds(500));
  }
  for (const auto& [partition, offsets] : times) {
    EXPECT_EQ(done[partition], offsets.back().first + 1) << "partition " << partition;
  }
}

// Every partition of `topic` led by broker `id`.
void placeLeaders(const Broker& broker, const std::string& topic, int partitions, int id) {
  for (int p = 0; p < partitions; ++p) {
    ASSERT_EQ(broker.control("POST", "/leader",
                             R"({"topic":")" + topic + R"(","partition":)" + std::to_string(p) +
                                 R"(,"broker":)" + std::to_string(id) + "}")
                  .status,
              200);
  }
}

// Two brokers with the control channel: `name`.events (kPartitions
// partitions) led by broker `input`, vigil.failures by `failures`, and group
// `name`'s coordinator on `coordinator`.
std::unique_ptr<Broker> twoBrokers(const std::string& name, int input, int failures,
                                   int coordinator) {
  BrokerOptions options;
  options.topics = {name + ".events:" + std::to_string(kPartitions), "vigil.failures:1"};
  options.brokers = 2;
  options.control = true;
  auto broker = std::make_unique<Broker>(options);
  if (broker->bootstrap().empty()) return broker;
  placeLeaders(*broker, name + ".events", kPartitions, input);
  placeLeaders(*broker, "vigil.failures", 1, failures);
  EXPECT_EQ(broker->control("POST", "/coordinator",
                            R"({"key":")" + name + R"(","broker":)" + std::to_string(coordinator) + "}")
                .status,
            200);
  return broker;
}

// `vigil replay`'s events on the input `gen` writes to a file (gen's args, no --output).
std::vector<std::string> replayed(const TempDir& dir, std::vector<std::string> gen) {
  gen.insert(gen.end(), {"--output", dir.file("input.ndjson")});
  EXPECT_EQ(run(gen).exit_code, 0);
  const RunResult replay = run({vigilBinary(), "replay", "--config", dir.file("vigil.yaml"),
                                "--input", dir.file("input.ndjson")});
  EXPECT_EQ(replay.exit_code, 0) << replay.err;
  return lines(replay.out);
}

TEST(DeliveryFaultsTest, NothingCommittedPastAnUndeliveredEvent) {
  TempDir dir;
  // Input, group coordinator on broker 1; the failures partition on broker 2.
  const auto owned_broker = twoBrokers("df", 1, 2, 1);
  Broker& broker = *owned_broker;
  ASSERT_FALSE(broker.bootstrap().empty());

  dir.write("vigil.yaml", "kafka:\n  bootstrap.servers: " + broker.bootstrap() +
                              "\n  message.timeout.ms: 3000\n  reconnect.backoff.max.ms: 500\n"
                              "detect:\n  group_id: df\n  failures_topic: vigil.failures\n"
                              "  listen: 127.0.0.1:0\n"
                              "datasets:\n  - name: df\n    topic: df.events\n"
                              "    series_key: pipeline_id\n    event_time: ts\n"
                              "    window: 1m\n    step: 10s\n"
                              "    checks:\n      latency: { field: latency_ms, unit: ms, p99_max: 1s }\n"
                              "      volume: { min: 5 }\n");
  const std::vector<std::string> gen = {
      vigilBinary(), "gen", "--config", dir.file("vigil.yaml"), "--start", "2025-01-15T14:00:00Z",
      "--rate", "20", "--pipelines", "4", "--duration", "20m", "--seed", "7",
      "--fault", "latency_spike@5m+2m", "--fault", "stall:etl_df_02@9m+3m"};
  const RunResult produced = run(gen);
  ASSERT_EQ(produced.exit_code, 0) << produced.err;
  std::vector<std::string> expected;
  for (const std::string& line : replayed(dir, gen)) {
    // Replay judges through the last record's step; detect may judge the
    // tail on the clock later: compare what both judged.
    if (nlohmann::json::parse(line)["timestamp"].get<std::string>() <= "2025-01-15T14:20:00Z") {
      expected.push_back(line);
    }
  }
  ASSERT_GE(expected.size(), 2u);
  const detectors::Timestamp first_event =
      *stream::parseRfc3339(nlohmann::json::parse(expected.front())["timestamp"].get<std::string>());
  std::size_t records = 0;
  for (const std::string& line : lines(produced.err)) {
    if (const auto at = line.find("delivered "); at != std::string::npos) {
      records = std::stoul(line.substr(at + 10));
    }
  }
  ASSERT_GT(records, 0u) << produced.err;
  const auto times = inputTimes(broker.bootstrap(), "df.events", records);

  ASSERT_EQ(broker.control("POST", "/brokers/2/down").status, 200);
  Process detect({vigilBinary(), "detect", "--config", dir.file("vigil.yaml")});
  const auto listening = detect.waitForErr("listening on", seconds(20));
  ASSERT_TRUE(listening);
  const int port = std::stoi(listening->substr(listening->rfind(':') + 1));

  // Wait until detect has read everything and holds undelivered events, and
  // the message timeout has expired on some of them.
  const auto deadline = std::chrono::steady_clock::now() + seconds(60);
  double consumed = 0, in_flight = 0, failures = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string metrics = httpGet(port, "/metrics").body;
    consumed = sampleValue(metrics, "vigil_records_consumed_total{dataset=\"df\"}").value_or(0);
    in_flight = sampleValue(metrics, "vigil_failure_events_in_flight").value_or(0);
    failures = sampleValue(metrics, "vigil_failure_event_delivery_failures_total").value_or(0);
    if (consumed >= static_cast<double>(records) && in_flight > 0 && failures > 0) break;
    std::this_thread::sleep_for(milliseconds(200));
  }
  ASSERT_GE(consumed, static_cast<double>(records));
  ASSERT_GT(in_flight, 0);
  ASSERT_GT(failures, 0) << "the message timeout must have expired while the leader was down";

  // A record placed after the first event was decided lies at least the
  // lookahead (2 steps + the lateness of one step) past that step end: the
  // commit must not have reached it.
  const std::int64_t bound = detectors::toMillis(first_event) + 4 * 10'000;
  expectNothingCommittedFrom(broker.bootstrap(), "df", "df.events", times, bound,
                             "an undelivered event");

  // The leader comes back: every event arrives, and the commits reach the end.
  ASSERT_EQ(broker.control("POST", "/brokers/2/up").status, 200);
  const auto events = readTopic(
      broker.bootstrap(), "vigil.failures",
      [&](const std::vector<std::string>& v) { return v.size() >= expected.size(); }, seconds(60));
  EXPECT_EQ(distinctJudgedEvents(events, "2025-01-15T14:20:00Z"),
            distinctJudgedEvents(expected, "2025-01-15T14:20:00Z"));
  expectCommitsReachTheEnd(broker.bootstrap(), "df", "df.events", times);
  EXPECT_EQ(detect.terminate(), 0);
}

// The event_ids of the judged events (see judgedEvents) up to `last`.
std::set<std::string> judgedIds(const std::vector<std::string>& events, const std::string& last) {
  std::set<std::string> out;
  for (const std::string& e : distinctJudgedEvents(events, last)) {
    out.insert(nlohmann::json::parse(e)["event_id"].get<std::string>());
  }
  return out;
}

// The first half of reliability test 4: Produce errors injected on the
// failures partition's leader while detect emits events (errors librdkafka
// retries by itself, errors that fail a delivery, and one that leaves the
// idempotent producer unusable for good), then that leader down for longer
// than message.timeout.ms. Nothing is committed past a record processed after
// an unacknowledged event; every event of `vigil replay` arrives once the
// leader is back; the producer was replaced and the failures counted.
TEST(DeliveryFaultsTest, ProduceErrorsThenLeaderDownLoseNothing) {
  TempDir dir;
  // Input, group coordinator on broker 1; the failures partition on broker 2.
  const auto owned_broker = twoBrokers("pe", 1, 2, 1);
  Broker& broker = *owned_broker;
  ASSERT_FALSE(broker.bootstrap().empty());
  // A long idle_timeout: between the two runs of input the partitions are
  // silent for a while, and the watermark must not follow the clock then.
  dir.write("vigil.yaml", "kafka:\n  bootstrap.servers: " + broker.bootstrap() +
                              "\n  message.timeout.ms: 3000\n  reconnect.backoff.max.ms: 500\n"
                              "detect:\n  group_id: pe\n  failures_topic: vigil.failures\n"
                              "  listen: 127.0.0.1:0\n  idle_timeout: 10m\n"
                              "datasets:\n  - name: pe\n    topic: pe.events\n"
                              "    series_key: pipeline_id\n    event_time: ts\n"
                              "    window: 1m\n    step: 10s\n"
                              "    checks:\n      latency: { field: latency_ms, unit: ms, p99_max: 1s }\n"
                              "      volume: { min: 5 }\n");
  // Two runs of input: the first goes through the Produce errors, the second
  // is read while the failures partition's leader is down.
  const auto genArgs = [&](bool second, const std::string& output) {
    const char* start = second ? "2025-01-15T14:10:00Z" : "2025-01-15T14:00:00Z";
    const char* fault = second ? "stall:etl_pe_02@3m+3m" : "latency_spike@3m+2m";
    std::vector<std::string> args = {vigilBinary(), "gen", "--config", dir.file("vigil.yaml"),
                                     "--start", start, "--duration", "10m", "--rate", "20",
                                     "--pipelines", "4", "--seed", second ? "13" : "12",
                                     "--fault", fault};
    if (!output.empty()) args.insert(args.end(), {"--output", output});
    return args;
  };
  const auto delivered = [](const RunResult& r) {
    std::size_t n = 0;
    for (const std::string& line : lines(r.err)) {
      if (const auto at = line.find("delivered "); at != std::string::npos) {
        n = std::stoul(line.substr(at + 10));
      }
    }
    return n;
  };
  ASSERT_EQ(run(genArgs(false, dir.file("a.ndjson"))).exit_code, 0);
  ASSERT_EQ(run(genArgs(true, dir.file("b.ndjson"))).exit_code, 0);
  {
    std::ifstream a(dir.file("a.ndjson")), b(dir.file("b.ndjson"));
    std::ofstream all(dir.file("input.ndjson"));
    all << a.rdbuf() << b.rdbuf();
  }
  const RunResult replay = run({vigilBinary(), "replay", "--config", dir.file("vigil.yaml"),
                                "--input", dir.file("input.ndjson")});
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  // detect judges up to the step its slowest partition has reached; compare
  // what both judged well before the end of the input.
  const std::string last = "2025-01-15T14:19:30Z";
  const std::vector<std::string> expected = distinctJudgedEvents(lines(replay.out), last);
  const std::set<std::string> expected_ids = judgedIds(lines(replay.out), last);
  ASSERT_GE(expected.size(), 4u);

  const RunResult first_run = run(genArgs(false, ""));
  ASSERT_EQ(first_run.exit_code, 0) << first_run.err;
  const std::size_t records_a = delivered(first_run);
  ASSERT_GT(records_a, 0u) << first_run.err;

  // Every Produce request to broker 2 takes the next of these errors, in
  // order. An out-of-order sequence number on the producer's first request
  // (the head of the line: nothing can have come before it) is fatal to the
  // idempotent producer; the rest reach the producer that replaces it:
  // librdkafka retries NOT_LEADER_FOR_PARTITION and REQUEST_TIMED_OUT by
  // itself, and each of the others fails the batch it answers (a delivery
  // report with the error), which the sink produces again.
  const std::string errors =
      R"(["OUT_OF_ORDER_SEQUENCE_NUMBER","NOT_LEADER_FOR_PARTITION","REQUEST_TIMED_OUT",)"
      R"("MSG_SIZE_TOO_LARGE","INVALID_MSG","INVALID_RECORD","NOT_LEADER_FOR_PARTITION",)"
      R"("MSG_SIZE_TOO_LARGE","INVALID_MSG","INVALID_RECORD"])";
  const HttpResult injected =
      broker.control("POST", "/errors", R"({"api":"Produce","broker":2,"errors":)" + errors + "}");
  ASSERT_EQ(injected.status, 200) << injected.body;

  Process detect({vigilBinary(), "detect", "--config", dir.file("vigil.yaml")});
  const auto listening = detect.waitForErr("listening on", seconds(20));
  ASSERT_TRUE(listening);
  const int port = std::stoi(listening->substr(listening->rfind(':') + 1));
  std::string log;
  struct Metrics {
    double consumed = 0, in_flight = 0, failures = 0, recreations = 0, emitted = 0;
  };
  const auto metrics = [&] {
    log += detect.drainErr();  // keeps its stderr pipe from filling up
    const std::string text = httpGet(port, "/metrics").body;
    Metrics m;
    m.consumed = sampleValue(text, "vigil_records_consumed_total{dataset=\"pe\"}").value_or(0);
    m.in_flight = sampleValue(text, "vigil_failure_events_in_flight").value_or(-1);
    m.failures = sampleValue(text, "vigil_failure_event_delivery_failures_total").value_or(0);
    m.recreations = sampleValue(text, "vigil_failure_event_producer_recreations_total").value_or(0);
    for (const std::string& line : lines(text)) {
      if (line.rfind("vigil_failure_events_total{", 0) == 0) {
        m.emitted += std::stod(line.substr(line.rfind(' ') + 1));
      }
    }
    return m;
  };

  // The first run goes through every injected error: each one is taken by a
  // request retrying what the previous one left undelivered, so once nothing
  // is in flight they are all spent.
  Metrics m;
  auto deadline = std::chrono::steady_clock::now() + seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    m = metrics();
    if (m.consumed >= static_cast<double>(records_a) && m.in_flight == 0 && m.recreations >= 1) {
      break;
    }
    std::this_thread::sleep_for(milliseconds(200));
  }
  ASSERT_GE(m.consumed, static_cast<double>(records_a));
  ASSERT_EQ(m.in_flight, 0) << log;
  EXPECT_GE(m.recreations, 1) << log;
  EXPECT_GE(m.failures, 3) << "six errors fail a delivery each\n" << log;
  EXPECT_NE(log.find("failed fatally"), std::string::npos) << log;
  EXPECT_NE(log.find("recreated the producer to vigil.failures"), std::string::npos) << log;
  const Metrics after_errors = m;
  // Everything emitted so far is acknowledged: read all of it back.
  ASSERT_GT(m.emitted, 0);
  const auto events_a = readTopic(
      broker.bootstrap(), "vigil.failures",
      [&](const std::vector<std::string>& v) {
        std::set<std::string> distinct;
        for (const std::string& e : v) {
          distinct.insert(nlohmann::json::parse(e)["event_id"].get<std::string>());
        }
        return static_cast<double>(distinct.size()) >= m.emitted;
      },
      seconds(30));
  const std::set<std::string> ids_a = judgedIds(events_a, last);
  ASSERT_FALSE(ids_a.empty());
  for (const std::string& id : ids_a) EXPECT_TRUE(expected_ids.count(id)) << id;

  // The leader goes down; the second run is read and judged meanwhile.
  ASSERT_EQ(broker.control("POST", "/brokers/2/down").status, 200);
  const RunResult second_run = run(genArgs(true, ""));
  ASSERT_EQ(second_run.exit_code, 0) << second_run.err;
  const std::size_t records = records_a + delivered(second_run);
  deadline = std::chrono::steady_clock::now() + seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    m = metrics();
    if (m.consumed >= static_cast<double>(records) && m.in_flight > 0 &&
        m.failures > after_errors.failures) {
      break;
    }
    std::this_thread::sleep_for(milliseconds(200));
  }
  ASSERT_GE(m.consumed, static_cast<double>(records));
  ASSERT_GT(m.in_flight, 0);
  ASSERT_GT(m.failures, after_errors.failures)
      << "the message timeout must have expired while the leader was down";

  // The first event the second run decided is unacknowledged: no record
  // processed after it (one a lookahead past its step end) may be committed.
  const std::string* first_undelivered = nullptr;
  for (const std::string& e : expected) {
    if (!ids_a.count(nlohmann::json::parse(e)["event_id"].get<std::string>())) {
      first_undelivered = &e;
      break;
    }
  }
  ASSERT_NE(first_undelivered, nullptr) << "the second run must decide events";
  const detectors::Timestamp decided_at = *stream::parseRfc3339(
      nlohmann::json::parse(*first_undelivered)["timestamp"].get<std::string>());
  const std::int64_t bound = detectors::toMillis(decided_at) + 4 * 10'000;
  const auto times = inputTimes(broker.bootstrap(), "pe.events", records);
  ASSERT_EQ(times.size(), static_cast<std::size_t>(kPartitions));
  expectNothingCommittedFrom(broker.bootstrap(), "pe", "pe.events", times, bound,
                             "an unacknowledged event");

  // The leader comes back: every event arrives, and the commits reach the end.
  ASSERT_EQ(broker.control("POST", "/brokers/2/up").status, 200);
  std::set<std::string> ids;
  const auto events = readTopic(
      broker.bootstrap(), "vigil.failures",
      [&](const std::vector<std::string>& v) {
        log += detect.drainErr();
        ids = judgedIds(v, last);
        return std::includes(ids.begin(), ids.end(), expected_ids.begin(), expected_ids.end());
      },
      seconds(60));
  EXPECT_EQ(ids, expected_ids) << log;
  expectCommitsReachTheEnd(broker.bootstrap(), "pe", "pe.events", times,
                           [&] { log += detect.drainErr(); });
  m = metrics();
  EXPECT_EQ(m.in_flight, 0);
  EXPECT_EQ(m.recreations, after_errors.recreations) << "a leader down is no fatal error";
  EXPECT_EQ(detect.terminate(), 0);
}

// The group coordinator unreachable for longer than the session timeout
// (reliability test 3): the assignment is lost, nothing is committed for it
// while it is lost, and after recovery every event arrives.
TEST(DeliveryFaultsTest, LostAssignmentCommitsNothing) {
  TempDir dir;
  // Data on broker 1, the group's coordinator on broker 2.
  const auto owned_broker = twoBrokers("co", 1, 1, 2);
  Broker& broker = *owned_broker;
  ASSERT_FALSE(broker.bootstrap().empty());
  dir.write("vigil.yaml", "kafka:\n  bootstrap.servers: " + broker.bootstrap() +
                              "\n  session.timeout.ms: 6000\n  heartbeat.interval.ms: 500\n"
                              "  reconnect.backoff.max.ms: 500\n"
                              "detect:\n  group_id: co\n  failures_topic: vigil.failures\n"
                              "  listen: 127.0.0.1:0\n"
                              "datasets:\n  - name: co\n    topic: co.events\n"
                              "    series_key: pipeline_id\n    event_time: ts\n"
                              "    window: 1m\n    step: 10s\n"
                              "    checks:\n      latency: { field: latency_ms, unit: ms, p99_max: 1s }\n"
                              "      volume: { min: 5 }\n");
  // Two runs of input: the second goes in while the coordinator is away, so
  // detect has new records it must not commit then.
  const auto genArgs = [&](const char* start, const char* duration, const std::string& output) {
    std::vector<std::string> args = {vigilBinary(), "gen", "--config", dir.file("vigil.yaml"),
                                     "--start", start, "--duration", duration, "--rate", "20",
                                     "--pipelines", "4", "--seed", "11"};
    if (std::string(start) == "2025-01-15T14:00:00Z") {
      args.insert(args.end(), {"--fault", "latency_spike@5m+2m", "--fault", "stall:etl_co_02@14m+3m"});
    }
    if (!output.empty()) args.insert(args.end(), {"--output", output});
    return args;
  };
  ASSERT_EQ(run(genArgs("2025-01-15T14:00:00Z", "20m", "")).exit_code, 0);
  ASSERT_EQ(run(genArgs("2025-01-15T14:00:00Z", "20m", dir.file("a.ndjson"))).exit_code, 0);
  ASSERT_EQ(run(genArgs("2025-01-15T14:20:00Z", "5m", dir.file("b.ndjson"))).exit_code, 0);
  {
    std::ifstream a(dir.file("a.ndjson")), b(dir.file("b.ndjson"));
    std::ofstream all(dir.file("input.ndjson"));
    all << a.rdbuf() << b.rdbuf();
  }
  const RunResult replay = run({vigilBinary(), "replay", "--config", dir.file("vigil.yaml"),
                                "--input", dir.file("input.ndjson")});
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  const auto judged = [](const std::vector<std::string>& v) {
    return distinctJudgedEvents(v, "2025-01-15T14:25:00Z");
  };
  const auto expected = judged(lines(replay.out));
  ASSERT_GE(expected.size(), 2u);

  Process detect({vigilBinary(), "detect", "--config", dir.file("vigil.yaml")});
  ASSERT_TRUE(detect.waitForErr("listening on", seconds(30)));
  ASSERT_TRUE(detect.waitForErr("assigned", seconds(30)));
  // Let it commit what it has, then take the coordinator away.
  std::this_thread::sleep_for(seconds(3));
  const auto before = committedOffsets(broker.bootstrap(), "co", "co.events");
  ASSERT_EQ(before.size(), static_cast<std::size_t>(kPartitions));
  ASSERT_EQ(broker.control("POST", "/brokers/2/down").status, 200);
  ASSERT_EQ(run(genArgs("2025-01-15T14:20:00Z", "5m", "")).exit_code, 0);
  const auto lost = detect.waitForErr(" lost", seconds(40));
  EXPECT_TRUE(lost) << "the assignment should be lost after the session timeout";
  ASSERT_EQ(broker.control("POST", "/brokers/2/up").status, 200);
  // Nothing was committed while the coordinator was gone (a commit then
  // would be for a lost assignment): what is committed right after it comes
  // back, before detect has rejoined (the group join takes seconds), is what
  // was committed before.
  EXPECT_EQ(committedOffsets(broker.bootstrap(), "co", "co.events"), before);

  const auto events = readTopic(
      broker.bootstrap(), "vigil.failures",
      [&](const std::vector<std::string>& v) { return judged(v).size() >= expected.size(); },
      seconds(90));
  EXPECT_EQ(judged(events), expected);
  EXPECT_EQ(detect.terminate(), 0);
}

// The peak resident memory of a running process, in KiB (VmHWM); -1 if unknown.
long peakRssKib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// A broker answering every request seconds late (reliability test 5): detect
// keeps running, loses nothing and its memory stays bounded.
TEST(DeliveryFaultsTest, SlowBrokerLosesNothing) {
  TempDir dir;
  BrokerOptions options;
  options.topics = {"rtt.events:2", "vigil.failures:1"};
  options.control = true;
  Broker broker(options);
  ASSERT_FALSE(broker.bootstrap().empty());
  dir.write("vigil.yaml", "kafka:\n  bootstrap.servers: " + broker.bootstrap() +
                              "\ndetect:\n  group_id: rtt\n  failures_topic: vigil.failures\n"
                              "  listen: 127.0.0.1:0\n"
                              "datasets:\n  - name: rtt\n    topic: rtt.events\n"
                              "    series_key: pipeline_id\n    event_time: ts\n"
                              "    window: 1m\n    step: 10s\n"
                              "    checks:\n      latency: { field: latency_ms, unit: ms, p99_max: 1s }\n"
                              "      volume: { min: 5 }\n");
  const std::vector<std::string> gen = {
      vigilBinary(), "gen", "--config", dir.file("vigil.yaml"), "--start", "2025-01-15T14:00:00Z",
      "--rate", "20", "--pipelines", "4", "--duration", "20m", "--seed", "9",
      "--fault", "latency_spike@5m+2m", "--fault", "stall:etl_rtt_03@11m+3m"};
  ASSERT_EQ(run(gen).exit_code, 0);
  const auto judged = [](const std::vector<std::string>& v) {
    return distinctJudgedEvents(v, "2025-01-15T14:20:00Z");
  };
  const auto expected = judged(replayed(dir, gen));
  ASSERT_GE(expected.size(), 2u);

  ASSERT_EQ(broker.control("POST", "/brokers/all/rtt?ms=3000").status, 200);
  Process detect({vigilBinary(), "detect", "--config", dir.file("vigil.yaml")});
  const auto listening = detect.waitForErr("listening on", seconds(30));
  ASSERT_TRUE(listening);
  const int port = std::stoi(listening->substr(listening->rfind(':') + 1));
  std::this_thread::sleep_for(seconds(12));  // a while of slow answers
  EXPECT_EQ(httpGet(port, "/healthz").status, 200);
  ASSERT_EQ(broker.control("POST", "/brokers/all/rtt?ms=0").status, 200);

  const auto events = readTopic(
      broker.bootstrap(), "vigil.failures",
      [&](const std::vector<std::string>& v) { return judged(v).size() >= expected.size(); },
      seconds(90));
  EXPECT_EQ(judged(events), expected);
  // Bounded: the input is ~4 MB; a generous ceiling catches a queue that grows without end.
  const long rss = peakRssKib(detect.pid());
  EXPECT_GT(rss, 0);
  EXPECT_LT(rss, 400 * 1024) << "peak RSS " << rss << " KiB";
  EXPECT_EQ(detect.terminate(), 0);
}

}  // namespace
}  // namespace vigil::testing
