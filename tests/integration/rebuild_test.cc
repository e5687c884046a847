// State rebuild (reliability tests 1 and 2): `vigil detect` killed at random
// moments, or its group changing under it, while input arrives. Each time a
// partition is assigned its windows are rebuilt from the offset kept in the
// commit metadata, and the lifecycles by judging again up to where the events
// were delivered, silently. The distinct events on the failures topic must be
// those of `vigil replay` on the same input: none lost, none invented, and an
// event delivered twice has the same event_id (and the same text). Last, a
// rebuild whose input is gone to retention.

#include <gtest/gtest.h>
#include <librdkafka/rdkafkacpp.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "tests/integration/support.h"

namespace vigil::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kChunks = 24;  // one minute of event time each
// Replay judges through the last record's step; detect judges the tail on the
// clock later: compare up to here (past the last fault's end).
constexpr char kCompareThrough[] = "2025-01-15T14:22:00Z";

// One dataset `name` on topic `name`.events, consumed by group `name`.
struct Input {
  std::string name;
  int pipelines;
  bool spikes_everywhere = false;  // the latency spikes hit every pipeline
};

std::string config(const Input& s, const std::string& bootstrap) {
  return "kafka:\n  bootstrap.servers: " + bootstrap +
         "\n  session.timeout.ms: 3000\n  heartbeat.interval.ms: 300\n"
         "  reconnect.backoff.max.ms: 500\n"
         "detect:\n  group_id: " + s.name + "\n  failures_topic: vigil.failures\n"
         "  listen: 127.0.0.1:0\n"
         "datasets:\n  - name: " + s.name + "\n    topic: " + s.name + ".events\n"
         "    series_key: pipeline_id\n    event_time: ts\n"
         "    window: 1m\n    step: 10s\n"
         "    checks:\n      latency: { field: latency_ms, unit: ms, p99_max: 1s }\n"
         "      volume: { min: 5 }\n"
         "    alert: { for: 20s, keep_firing_for: 20s }\n";
}

// `vigil gen` for chunk i (one minute of event time from 14:00 + i minutes),
// with the faults that fall in it; to Kafka, or to `output`.
std::vector<std::string> genChunk(const Input& s, const TempDir& dir, int i,
                                  const std::string& output = "") {
  char start[32];
  std::snprintf(start, sizeof start, "2025-01-15T14:%02d:00Z", i);
  std::vector<std::string> args = {vigilBinary(), "gen", "--config", dir.file("vigil.yaml"),
                                   "--start", start, "--duration", "1m", "--rate",
                                   std::to_string(5 * s.pipelines), "--pipelines",
                                   std::to_string(s.pipelines), "--seed", std::to_string(100 + i)};
  const auto pipeline = [&](int n) {
    char id[64];
    std::snprintf(id, sizeof id, ":etl_%s_%02d", s.name.c_str(), n);
    return std::string(id);
  };
  const auto spiking = [&](int n) { return s.spikes_everywhere ? std::string() : pipeline(n); };
  // A latency spike of one pipeline over minutes 5-7, a stall of another over
  // 11-13 (a volume drop), a second spike over 17-18.
  if (i >= 5 && i <= 7) args.insert(args.end(), {"--fault", "latency_spike" + spiking(1) + "@0s+1m"});
  if (i >= 11 && i <= 13) args.insert(args.end(), {"--fault", "stall" + pipeline(2) + "@0s+1m"});
  if (i >= 17 && i <= 18) args.insert(args.end(), {"--fault", "latency_spike" + spiking(3) + "@0s+1m"});
  if (!output.empty()) args.insert(args.end(), {"--output", output});
  return args;
}

// The events `vigil replay` finds in all the chunks, judged on windows.
std::vector<std::string> expectedEvents(const Input& s, const TempDir& dir) {
  std::ofstream all(dir.file("input.ndjson"), std::ios::trunc);
  for (int i = 0; i < kChunks; ++i) {
    const std::string chunk = dir.file("chunk.ndjson");
    const RunResult r = run(genChunk(s, dir, i, chunk));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    all << std::ifstream(chunk).rdbuf();
  }
  all.close();
  const RunResult replay = run({vigilBinary(), "replay", "--config", dir.file("vigil.yaml"),
                                "--input", dir.file("input.ndjson")});
  EXPECT_EQ(replay.exit_code, 0) << replay.err;
  return distinctJudgedEvents(lines(replay.out), kCompareThrough);
}

// Produces the chunks, a minute of event time every 1.2 s.
std::thread produceChunks(const Input& s, const TempDir& dir) {
  return std::thread([&s, &dir] {
    for (int i = 0; i < kChunks; ++i) {
      const RunResult r = run(genChunk(s, dir, i));
      EXPECT_EQ(r.exit_code, 0) << r.err;
      std::this_thread::sleep_for(milliseconds(1200));
    }
  });
}

// Reads the failures topic until every expected event came, then a little
// longer: anything invented would come with or after the last of them.
std::vector<std::string> awaitEvents(const std::string& bootstrap, std::size_t expected) {
  std::vector<std::string> events = readTopic(
      bootstrap, "vigil.failures",
      [&](const std::vector<std::string>& v) {
        return distinctJudgedEvents(v, kCompareThrough).size() >= expected;
      },
      seconds(90));
  std::this_thread::sleep_for(seconds(3));
  const std::vector<std::string> more = readTopic(
      bootstrap, "vigil.failures",
      [&](const std::vector<std::string>& v) { return v.size() >= events.size(); }, seconds(10));
  return more.size() > events.size() ? more : events;
}

// Every event_id stands for one text: a redelivery repeats the event exactly.
void expectOneTextPerId(const std::vector<std::string>& events) {
  std::map<std::string, std::string> by_id;
  for (const std::string& e : events) {
    const std::string id = nlohmann::json::parse(e)["event_id"].get<std::string>();
    const auto [it, fresh] = by_id.emplace(id, e);
    EXPECT_TRUE(fresh || it->second == e) << "event_id " << id << " with two texts:\n"
                                          << it->second << "\n" << e;
  }
}

std::unique_ptr<Process> startDetect(const TempDir& dir) {
  return std::make_unique<Process>(
      std::vector<std::string>{vigilBinary(), "detect", "--config", dir.file("vigil.yaml")});
}

int metricsPort(Process& detect) {
  const auto listening = detect.waitForErr("listening on", seconds(20));
  return listening ? std::stoi(listening->substr(listening->rfind(':') + 1)) : 0;
}

TEST(RebuildTest, KilledAtRandomMomentsLosesAndInventsNothing) {
  const Input s{"rb", 4};
  TempDir dir;
  Broker broker({"rb.events:2", "vigil.failures:1"});
  ASSERT_FALSE(broker.bootstrap().empty());
  dir.write("vigil.yaml", config(s, broker.bootstrap()));
  const std::vector<std::string> expected = expectedEvents(s, dir);
  ASSERT_GE(expected.size(), 6u) << "the faults must give events to lose";

  std::thread producer = produceChunks(s, dir);
  std::mt19937 rng(20261122);
  std::uniform_int_distribution<int> delay_ms(300, 3000);
  int rebuilt = 0;
  for (int kill = 0; kill < 10; ++kill) {
    auto detect = startDetect(dir);
    ASSERT_TRUE(detect->waitForErr("assigned", seconds(30))) << detect->drainErr();
    std::this_thread::sleep_for(milliseconds(delay_ms(rng)));
    detect->kill();
    if (detect->drainErr().find("rebuilding its windows") != std::string::npos) ++rebuilt;
  }
  producer.join();

  auto detect = startDetect(dir);
  const int port = metricsPort(*detect);
  ASSERT_NE(port, 0);
  const std::vector<std::string> events = awaitEvents(broker.bootstrap(), expected.size());
  EXPECT_EQ(distinctJudgedEvents(events, kCompareThrough), expected);
  expectOneTextPerId(events);
  EXPECT_GT(rebuilt, 0) << "some restart must have rebuilt windows from the commit metadata";
  // (The last start may find nothing to re-read: once the input is idle the
  // evaluation follows the clock past it.)
  const std::string metrics = httpGet(port, "/metrics").body;
  EXPECT_TRUE(sampleValue(metrics, "vigil_records_replayed_total{dataset=\"rb\"}"));
  EXPECT_EQ(detect->terminate(), 0) << detect->drainErr();
}

// Reliability test 2: three detect processes, one added or removed (SIGTERM)
// every few seconds while input arrives. Partitions move between processes
// that are already evaluating: each catches up on its rebuilt windows, then
// joins. No event lost or invented; no committed offset ever goes back.
TEST(RebuildTest, MembersJoiningAndLeavingLoseAndInventNothing) {
  const Input s{"rg", 6, /*spikes_everywhere=*/true};
  constexpr int kPartitions = 6;
  TempDir dir;
  Broker broker({"rg.events:" + std::to_string(kPartitions), "vigil.failures:1"});
  ASSERT_FALSE(broker.bootstrap().empty());
  dir.write("vigil.yaml", config(s, broker.bootstrap()));
  const std::vector<std::string> expected = expectedEvents(s, dir);
  ASSERT_GE(expected.size(), 6u) << "the faults must give events to lose";

  // Watches the group's commits all along.
  std::atomic<bool> done{false};
  std::vector<std::string> backwards;
  std::thread watcher([&] {
    std::map<int, std::int64_t> last;
    while (!done.load()) {
      for (const auto& [p, offset] : committedOffsets(broker.bootstrap(), "rg", "rg.events", kPartitions)) {
        const auto seen = last.emplace(p, offset).first;
        if (offset < seen->second) {
          backwards.push_back("partition " + std::to_string(p) + ": " +
                              std::to_string(seen->second) + " -> " + std::to_string(offset));
        }
        seen->second = std::max(seen->second, offset);
      }
      std::this_thread::sleep_for(milliseconds(200));
    }
  });

  std::vector<std::unique_ptr<Process>> members;
  members.push_back(startDetect(dir));
  ASSERT_TRUE(members.back()->waitForErr("assigned", seconds(30)));
  std::thread producer = produceChunks(s, dir);
  std::mt19937 rng(7);
  int joins = 1, leaves = 0;
  std::string logs;  // of the members that left
  for (int change = 0; change < 10; ++change) {
    std::this_thread::sleep_for(milliseconds(std::uniform_int_distribution<int>(2000, 4000)(rng)));
    const bool add = members.size() == 1 || (members.size() < 3 && rng() % 2 == 0);
    if (add) {
      members.push_back(startDetect(dir));
      ++joins;
    } else {
      const std::size_t victim = rng() % members.size();
      EXPECT_EQ(members[victim]->terminate(), 0);
      logs += members[victim]->drainErr();
      members.erase(members.begin() + static_cast<std::ptrdiff_t>(victim));
      ++leaves;
    }
  }
  producer.join();

  const std::vector<std::string> events = awaitEvents(broker.bootstrap(), expected.size());
  done = true;
  watcher.join();
  EXPECT_EQ(distinctJudgedEvents(events, kCompareThrough), expected);
  expectOneTextPerId(events);
  EXPECT_TRUE(backwards.empty()) << ::testing::PrintToString(backwards);
  EXPECT_GE(joins, 3);
  EXPECT_GE(leaves, 3);
  for (auto& member : members) {
    EXPECT_EQ(member->terminate(), 0);
    logs += member->drainErr();
  }
  // The paths this test is about were taken.
  EXPECT_NE(logs.find("rebuilding its windows"), std::string::npos);
  EXPECT_NE(logs.find("joins dataset"), std::string::npos) << "no partition caught up";
}

// The records a rebuild needs are gone (retention): the embedded broker keeps
// at most 5 MiB per partition and drops the oldest record batches beyond it,
// as retention.bytes does. Series `p` is spread over both partitions; while
// detect is stopped, big records on partition 0 push out everything it would
// re-read there and the first records after its commit. The gap is counted
// exactly (vigil_records_missing_total), logged, and the windows reaching
// back into it emit nothing, though they hold only partition 1's half of the
// volume (judged aloud, they end in a `resolved` whose `firing` was never
// sent). A real volume drop after the gap is still found.
TEST(RebuildTest, RecordsGoneToRetentionAreCountedAndTheirWindowsEmitNothing) {
  TempDir dir;
  Broker broker({"rt.events:2", "vigil.failures:1"});
  ASSERT_FALSE(broker.bootstrap().empty());
  dir.write("vigil.yaml",
            "kafka:\n  bootstrap.servers: " + broker.bootstrap() +
                "\n  session.timeout.ms: 3000\n  heartbeat.interval.ms: 300\n"
                "detect:\n  group_id: rt\n  failures_topic: vigil.failures\n"
                "  listen: 127.0.0.1:0\n  idle_timeout: 10m\n"  // judged on event time only
                "datasets:\n  - name: rt\n    topic: rt.events\n"
                "    series_key: pipeline_id\n    event_time: ts\n"
                "    window: 1m\n    step: 10s\n"
                "    checks:\n      volume: { min: 900 }\n"  // 1,200 a window; one partition's 600
                "    alert: { for: 20s, keep_firing_for: 20s }\n");

  // One record batch per record, so the broker drops records one by one.
  std::string error;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  for (const auto& [k, v] : std::map<std::string, std::string>{{"bootstrap.servers", broker.bootstrap()},
                                                               {"batch.num.messages", "1"},
                                                               {"linger.ms", "0"},
                                                               {"compression.type", "none"}}) {
    ASSERT_EQ(conf->set(k, v, error), RdKafka::Conf::CONF_OK) << error;
  }
  std::unique_ptr<RdKafka::Producer> producer(RdKafka::Producer::create(conf.get(), error));
  ASSERT_TRUE(producer) << error;
  // Series p on `partition` from minute `from` to `to` after 14:00, `per_second` a second.
  const auto produce = [&](int partition, double from, double to, int per_second, std::size_t pad) {
    const std::string padding(pad, 'x');
    const long long first = std::llround(from * 60000), last = std::llround(to * 60000);
    for (long long ms = first; ms < last; ms += 1000 / per_second) {
      char value[128];
      std::snprintf(value, sizeof value, R"({"pipeline_id":"p","ts":"2025-01-15T14:%02lld:%02lld.%03lldZ")",
                    ms / 60000, ms / 1000 % 60, ms % 1000);
      std::string record = value + (pad ? R"(,"pad":")" + padding + "\"}" : std::string("}"));
      ASSERT_EQ(producer->produce("rt.events", partition, RdKafka::Producer::RK_MSG_COPY, record.data(),
                                  record.size(), nullptr, 0, 0, nullptr),
                RdKafka::ERR_NO_ERROR);
      producer->poll(0);
    }
  };
  const auto flushed = [&] { return producer->flush(30000) == RdKafka::ERR_NO_ERROR; };

  // Five minutes on both partitions, all read and committed.
  for (int partition : {0, 1}) produce(partition, 0, 5, 10, 0);
  ASSERT_TRUE(flushed());
  auto detect = startDetect(dir);
  const auto deadline = std::chrono::steady_clock::now() + seconds(60);
  while (committedOffsets(broker.bootstrap(), "rt", "rt.events", 2) !=
             std::map<int, std::int64_t>{{0, 3000}, {1, 3000}} &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(200));
  }
  EXPECT_EQ(detect->terminate(), 0) << detect->drainErr();
  const auto before = committed(broker.bootstrap(), "rt", "rt.events", 2);
  ASSERT_EQ(before.size(), 2u);
  const auto meta = nlohmann::json::parse(before.at(0).metadata, nullptr, false);
  ASSERT_TRUE(meta.is_object() && meta.contains("reread")) << before.at(0).metadata;
  const std::int64_t reread = meta["reread"].get<std::int64_t>();
  const std::int64_t committed_at = before.at(0).offset;
  ASSERT_LT(reread, committed_at);

  // Five more minutes, with a real drop to 2 records a second over 14:08-14:09;
  // partition 0's records now carry 3 KB each and push the oldest out.
  for (int partition : {0, 1}) {
    const std::size_t pad = partition == 0 ? 2900 : 0;
    produce(partition, 5, 8, 10, pad);
    produce(partition, 8, 9, 2, pad);
    produce(partition, 9, 10, 10, pad);
  }
  ASSERT_TRUE(flushed());
  std::int64_t low = -1, high = -1;
  ASSERT_EQ(producer->query_watermark_offsets("rt.events", 0, &low, &high, 10000), RdKafka::ERR_NO_ERROR);
  // The gap reaches past the commit (past where events were delivered), and
  // ends before 14:07:10 (its windows, a minute more, end before the drop's).
  ASSERT_GT(low, committed_at + 300) << "partition 0 keeps " << low << ".." << high;
  ASSERT_LT(low, 3000 + 1300) << "partition 0 keeps " << low << ".." << high;

  detect = startDetect(dir);
  const int port = metricsPort(*detect);
  ASSERT_NE(port, 0);
  const std::vector<std::string> events = readTopic(
      broker.bootstrap(), "vigil.failures",
      [](const std::vector<std::string>& v) {
        return std::any_of(v.begin(), v.end(), [](const std::string& e) {
          return e.find("\"volume_drop\"") != std::string::npos;
        });
      },
      seconds(60));
  std::this_thread::sleep_for(seconds(2));  // anything else would have come with it
  const std::vector<std::string> all = readTopic(
      broker.bootstrap(), "vigil.failures",
      [&](const std::vector<std::string>& v) { return v.size() >= events.size(); }, seconds(10));
  ASSERT_FALSE(all.empty()) << "the real drop was not found";
  for (const std::string& e : all) {
    const auto event = nlohmann::json::parse(e);
    EXPECT_EQ(event["failure_type"], "volume_drop") << e;
    EXPECT_GE(event["timestamp"].get<std::string>(), "2025-01-15T14:08:00Z")
        << "an event from windows that miss records:\n" << e;
  }
  const std::string metrics = httpGet(port, "/metrics").body;
  EXPECT_EQ(sampleValue(metrics, "vigil_records_missing_total{dataset=\"rt\"}"),
            static_cast<double>(low - reread));
  EXPECT_EQ(detect->terminate(), 0);
  EXPECT_NE(detect->drainErr().find("needed to rebuild the windows are gone"), std::string::npos);
}

}  // namespace
}  // namespace vigil::testing
