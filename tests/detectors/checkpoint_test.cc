// Checkpoints of long-lived series state through DatasetDetector: a detector
// restored from a checkpoint, with its window rebuilt from the input, judges
// exactly as the one that wrote it would have.

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

#include "detectors/dataset_detector.h"
#include "tests/detectors/replay_harness.h"

namespace vigil::detectors {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

const Timestamp kT0 = timestampFromMillis(1'736'950'000'000);  // a multiple of 10 s
constexpr Duration kCheckpointAt = hours(6);

struct Rec {
  std::string series;
  Timestamp t;
  double latency_s;
  std::uint32_t null_mask;
  std::vector<FieldSeen> fields;
};

DatasetSpec adaptiveSpec() {
  DatasetSpec spec = testing::baseSpec();  // window 60 s, step 10 s
  spec.latency = LatencySpec{};
  spec.latency->field = "latency_ms";
  spec.latency->adaptive = AdaptiveSpec{};
  spec.volume = VolumeSpec{std::nullopt, std::nullopt, std::nullopt, AdaptiveSpec{}};
  spec.nulls = NullsSpec{{"user_id"}, std::nullopt, AdaptiveSpec{}};
  spec.schema = SchemaSpec{{"user_id"}, true};
  return spec;
}

// Two series, a record every 2 s each, for 7 hours; at 6 h 30 m series "b"
// gets a latency spike and a burst of nulls, at 6 h 40 m a new field.
std::vector<Rec> input(FieldDictionary& dictionary) {
  std::mt19937_64 rng(3);
  std::lognormal_distribution<double> latency(std::log(0.1), 0.3);
  std::bernoulli_distribution null(0.02);
  const FieldId user = *dictionary.intern("user_id");
  const FieldId discount = *dictionary.intern("discount");
  std::vector<Rec> out;
  for (Duration t{0}; t < hours(7); t += seconds(1)) {
    const std::string series = t.count() / 1000 % 2 ? "b" : "a";
    const bool spike = series == "b" && t >= hours(6) + minutes(30) && t < hours(6) + minutes(35);
    Rec r{series, kT0 + t, latency(rng) * (spike ? 20 : 1), 0, {{user, kJsonString}}};
    if (null(rng) || spike) r.null_mask = 1;
    if (series == "b" && t >= hours(6) + minutes(40)) r.fields.push_back({discount, kJsonNumber});
    out.push_back(std::move(r));
  }
  return out;
}

Observation toObservation(const Rec& r) {
  return Observation{r.series, r.t, r.latency_s, 1, r.null_mask, r.fields};
}

// Replays `records` from `from` on into `detector` with a store of its own,
// returning the events at step ends after `after`.
std::vector<FailureEvent> replayFrom(DatasetDetector& detector, const std::vector<Rec>& records,
                                     Timestamp from, Timestamp after) {
  std::vector<Rec> tail;
  for (const Rec& r : records) {
    if (r.t >= from) tail.push_back(r);
  }
  auto events = testing::replayThrough(detector, tail, toObservation, kT0 + hours(7));
  std::erase_if(events, [&](const FailureEvent& e) { return e.timestamp <= after; });
  return events;
}

class CheckpointTest : public ::testing::Test {
 protected:
  CheckpointTest() : writer_(adaptiveSpec()), records_(input(writer_.fields())) {
    // The writer judges the first 6 hours and checkpoints every series.
    std::vector<Rec> head;
    for (const Rec& r : records_) {
      if (r.t < kT0 + kCheckpointAt) head.push_back(r);
    }
    head_events_ = testing::replayThrough(writer_, head, toObservation, kT0 + kCheckpointAt);
    writer_.takeCheckpoints(checkpoints_, true);
  }

  // Replays the rest of the input from one window before the checkpoint into
  // `detector`, rebuilding the window; the step end of the checkpoint is
  // judged again by the rebuilt window, and must not be learned twice.
  std::vector<FailureEvent> resume(DatasetDetector& detector) {
    const Timestamp from = kT0 + kCheckpointAt - adaptiveSpec().window;
    return replayFrom(detector, records_, from, kT0 + kCheckpointAt);
  }

  DatasetDetector writer_;
  std::vector<Rec> records_;
  std::vector<FailureEvent> head_events_;
  std::vector<std::pair<std::string, std::string>> checkpoints_;
};

// What the writer judges after the checkpoint, with all its history, is what
// a fresh detector restored from the checkpoint judges: the same events, byte
// for byte. Without the checkpoint the fresh detector is still warming up
// and misses the incidents.
TEST_F(CheckpointTest, RestoredDetectorJudgesLikeTheOriginal) {
  ASSERT_EQ(checkpoints_.size(), 2u);
  // Alert lifecycles are not checkpointed (a restart rebuilds them from the
  // input): the test needs nothing firing at the checkpoint.
  std::map<std::string, EventStatus> last;
  for (const FailureEvent& e : head_events_) last[e.key() + std::string(failureTypeName(e.failure_type)) + e.field] = e.status;
  for (const auto& [alert, status] : last) {
    ASSERT_EQ(status, EventStatus::kResolved) << alert << " fires at the checkpoint";
  }

  DatasetDetector restored(adaptiveSpec());
  (void)input(restored.fields());  // the records carry the writer's field ids
  for (const auto& [series, bytes] : checkpoints_) {
    ASSERT_TRUE(restored.offerCheckpoint(series, bytes));
  }
  EXPECT_EQ(restored.pendingCheckpoints(), 2u);
  const auto resumed = resume(restored);
  EXPECT_EQ(restored.restoredCheckpoints(), 2u);

  // The original, from the beginning: its judgements after the checkpoint.
  DatasetDetector original(adaptiveSpec());
  (void)input(original.fields());
  const auto expected = replayFrom(original, records_, kT0, kT0 + kCheckpointAt);

  ASSERT_FALSE(expected.empty());
  ASSERT_EQ(resumed.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(resumed[i].toJson(), expected[i].toJson());
  }
  bool latency = false, nulls = false, schema = false;
  for (const FailureEvent& e : expected) {
    latency |= e.failure_type == FailureType::kLatencySpike;
    nulls |= e.failure_type == FailureType::kNullSpike;
    schema |= e.failure_type == FailureType::kSchemaDrift;
  }
  EXPECT_TRUE(latency && nulls && schema);

  DatasetDetector cold(adaptiveSpec());
  (void)input(cold.fields());
  const auto without = resume(cold);
  EXPECT_NE(without.size(), expected.size());
}

// A checkpoint that is cut short, has a wrong version or corrupt bytes is
// refused whole; a later good offer still applies.
TEST_F(CheckpointTest, BadCheckpointsAreRefused) {
  const std::string good = checkpoints_.front().second;
  DatasetDetector d(adaptiveSpec());
  for (std::size_t n = 0; n < good.size(); n += 97) {
    EXPECT_FALSE(d.offerCheckpoint("a", good.substr(0, n))) << n;
  }
  std::string wrong_version = good;
  wrong_version[0] = static_cast<char>(99);
  EXPECT_FALSE(d.offerCheckpoint("a", wrong_version));
  EXPECT_FALSE(d.offerCheckpoint("a", good + "x"));
  std::mt19937_64 rng(5);
  for (int i = 0; i < 300; ++i) {
    std::string corrupt = good;
    corrupt[rng() % corrupt.size()] ^= static_cast<char>(1 + rng() % 255);
    (void)d.offerCheckpoint("a", corrupt);  // may or may not be readable; must not crash
  }
  EXPECT_TRUE(d.offerCheckpoint("a", good));
}

// A series forgotten for being idle keeps what it learned: its checkpoint is
// written out with the next ones and restored when it comes back.
TEST(CheckpointEvictionTest, EvictedSeriesKeepsWhatItLearned) {
  DatasetSpec spec = testing::baseSpec();
  spec.latency = LatencySpec{};
  spec.latency->field = "latency_ms";
  spec.latency->adaptive = AdaptiveSpec{};  // an empty window judges nothing: silence does not fire
  DatasetDetector d(spec);
  SeriesStore store(spec);
  const SeriesStore* stores[] = {&store};
  std::vector<FailureEvent> events;
  std::vector<std::pair<std::string, std::string>> checkpoints;
  // "gone" sends for 2 hours, is silent for 2 hours (evicted after 1), then returns.
  for (int i = 0; i < 5 * 3600; ++i) {
    const Timestamp t = kT0 + seconds(i);
    d.advanceTo(t, stores, events);
    for (const std::string& key : d.takeEvicted()) store.evict(key);
    if (i == 4 * 3600) {
      EXPECT_EQ(d.trackedSeries(), 1u);
      d.takeCheckpoints(checkpoints);
      EXPECT_EQ(d.pendingCheckpoints(), 1u);
    }
    store.add(Observation{"busy", t, 0.1});
    if (i < 2 * 3600 || i >= 4 * 3600) store.add(Observation{"gone", t, 0.1});
  }
  const auto gone = std::find_if(checkpoints.begin(), checkpoints.end(),
                                 [](const auto& c) { return c.first == "gone"; });
  EXPECT_NE(gone, checkpoints.end()) << "the evicted series' checkpoint is written out";
  EXPECT_EQ(d.restoredCheckpoints(), 1u);
  EXPECT_EQ(d.pendingCheckpoints(), 0u);
}

// Without any adaptive bound or schema check there is nothing to keep.
TEST(CheckpointSpecTest, NothingToKeepWithoutLearnedState) {
  DatasetSpec spec = testing::baseSpec();
  spec.volume = VolumeSpec{std::nullopt, 1.0, std::nullopt, std::nullopt};
  DatasetDetector d(spec);
  EXPECT_FALSE(d.checkpointed());
  EXPECT_TRUE(adaptiveSpec().schema.has_value());
  EXPECT_TRUE(DatasetDetector(adaptiveSpec()).checkpointed());
}

}  // namespace
}  // namespace vigil::detectors
